-- Several nodes on one catalog: a cancel dismisses a portal's backup jobs from the progress
-- view on every node (`dismissed`); a scheduled backup is marked (`scheduled`) so the node
-- that finds it dead records the schedule's failure; any node finds jobs whose node stopped
-- sending heartbeats (`jobs_live`: unfinished jobs by heartbeat).
ALTER TABLE jobs ADD COLUMN dismissed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN scheduled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_live ON jobs(heartbeat) WHERE state IN ('created', 'running');
