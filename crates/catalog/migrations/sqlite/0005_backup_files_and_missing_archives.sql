-- Backup archives kept in Documents are marked (only portal admins see them; existing ones are
-- found by their history records), and retention's observation of records whose archive was not
-- found (a record is given up only after repeated checks over time).
ALTER TABLE files ADD COLUMN is_backup INTEGER NOT NULL DEFAULT 0;
UPDATE files SET is_backup = 1 WHERE id IN (
    SELECT CAST(storage_path AS INTEGER) FROM backups WHERE storage_type = 0 AND removed = 0
);
ALTER TABLE backups ADD COLUMN missing_since TEXT;
ALTER TABLE backups ADD COLUMN missing_checks INTEGER NOT NULL DEFAULT 0;
