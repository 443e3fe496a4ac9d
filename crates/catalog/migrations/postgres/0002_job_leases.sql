-- Several nodes on one catalog (as SQLite's 0008): a cancel dismisses a portal's backup jobs
-- from the progress view on every node (`dismissed`); a scheduled backup is marked
-- (`scheduled`) so the node that finds it dead records the schedule's failure; unfinished jobs
-- by heartbeat for expiry (`jobs_live`).
ALTER TABLE jobs ADD COLUMN dismissed boolean NOT NULL DEFAULT false;
ALTER TABLE jobs ADD COLUMN scheduled boolean NOT NULL DEFAULT false;
CREATE INDEX jobs_live ON jobs(heartbeat) WHERE state IN ('created', 'running');
