-- Backup and restore jobs as persisted state machines (created, running, completed, canceled,
-- failed): the catalog is the truth for job state, so progress survives a restart and every
-- node reads the same. `tenant_id` is -1 for whole-instance jobs; `node` is the server process
-- that runs the job and `heartbeat` when it last said so.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    tenant_id   INTEGER NOT NULL,
    started_by  INTEGER NOT NULL,
    state       TEXT NOT NULL,
    progress    INTEGER NOT NULL,
    error       TEXT NOT NULL,
    warning     TEXT,
    link        TEXT NOT NULL,
    node        TEXT NOT NULL,
    heartbeat   TEXT NOT NULL,
    started_on  TEXT NOT NULL,
    finished_on TEXT
);
-- The newest job of a kind for a tenant (last_job).
CREATE INDEX jobs_last ON jobs(kind, tenant_id, started_on);
-- Unfinished jobs, per node (start-up recovery, unfinished_jobs).
CREATE INDEX jobs_unfinished ON jobs(node) WHERE state IN ('created', 'running');
