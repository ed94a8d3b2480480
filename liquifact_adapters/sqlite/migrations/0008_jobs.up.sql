-- Durable background jobs (liquifact_core.jobs): the transactional outbox. A job row is
-- inserted by the unit of work that causes it, so it exists exactly when its cause committed.
-- Workers claim due rows inside BEGIN IMMEDIATE (the file's single write lock), so two
-- claimers never take the same row.
CREATE TABLE jobs (
    id               TEXT    NOT NULL PRIMARY KEY,
    tenant_id        TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,  -- a JSON object
    status           TEXT    NOT NULL
        CHECK (status IN ('pending', 'running', 'succeeded', 'dead')),
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts BETWEEN 1 AND 10),
    run_after        TEXT    NOT NULL,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    last_error       TEXT    CHECK (length(last_error) <= 500),
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    CHECK (attempts <= max_attempts),
    -- A lease exists exactly while the job runs.
    CHECK ((status = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (status = 'running' OR (lease_owner IS NULL AND lease_expires_at IS NULL))
);

-- What a claim scans: due pending jobs, and running jobs whose lease may have expired.
CREATE INDEX jobs_pending_due ON jobs (run_after, id) WHERE status = 'pending';
CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE status = 'running';
-- A tenant's listing, newest first (ids are time-sortable), optionally by status.
CREATE INDEX jobs_tenant ON jobs (tenant_id, id);
CREATE INDEX jobs_tenant_status ON jobs (tenant_id, status, id);
