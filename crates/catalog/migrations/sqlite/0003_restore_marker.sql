-- The marker of a portal's last restore (crash recovery tells by it whether the restore's catalog
-- step committed).
ALTER TABLE portals ADD COLUMN last_restore TEXT;
