-- Backup history (removed rows stay, marked; tenant -1 holds dumps).
CREATE TABLE backups (
    id                TEXT PRIMARY KEY,
    tenant_id         INTEGER NOT NULL,
    is_scheduled      INTEGER NOT NULL,
    name              TEXT NOT NULL,
    hash              TEXT NOT NULL,
    size              INTEGER NOT NULL,
    storage_type      INTEGER NOT NULL,
    storage_base_path TEXT NOT NULL,
    storage_path      TEXT NOT NULL,
    storage_params    TEXT NOT NULL,
    created_on        TEXT NOT NULL,
    expires_on        TEXT,
    removed           INTEGER NOT NULL,
    paid              INTEGER NOT NULL
);
CREATE INDEX backups_tenant ON backups(tenant_id, created_on);
