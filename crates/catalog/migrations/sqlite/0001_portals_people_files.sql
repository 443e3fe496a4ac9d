-- Portals, members, sessions, keys, folders, files.
CREATE TABLE portals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alias       TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    language    TEXT NOT NULL,
    owner_id    TEXT,
    created_on  TEXT NOT NULL
);
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    portal_id     INTEGER NOT NULL REFERENCES portals(id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_on    TEXT NOT NULL,
    UNIQUE (portal_id, email)
);
CREATE INDEX users_email ON users(email);
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    portal_id   INTEGER NOT NULL REFERENCES portals(id) ON DELETE CASCADE,
    expires_at  TEXT NOT NULL
);
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    portal_id   INTEGER NOT NULL REFERENCES portals(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    key_postfix TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_on  TEXT NOT NULL,
    expires_at  TEXT,
    last_used   TEXT,
    is_active   INTEGER NOT NULL
);
CREATE TABLE folders (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    portal_id   INTEGER NOT NULL REFERENCES portals(id) ON DELETE CASCADE,
    parent_id   INTEGER REFERENCES folders(id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    room_type   INTEGER,
    created_by  TEXT NOT NULL,
    created_on  TEXT NOT NULL
);
CREATE INDEX folders_parent ON folders(parent_id);
CREATE TABLE files (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    portal_id   INTEGER NOT NULL REFERENCES portals(id) ON DELETE CASCADE,
    folder_id   INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    size        INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    created_on  TEXT NOT NULL
);
CREATE INDEX files_folder ON files(folder_id);
