-- Schedules (one per tenant; -1 is the instance's dump schedule).
CREATE TABLE schedules (
    tenant_id        INTEGER PRIMARY KEY,
    body             TEXT NOT NULL,
    last_backup_time TEXT,
    last_error       TEXT,
    last_error_time  TEXT
);
