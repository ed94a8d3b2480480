-- Durable background jobs (liquifact_core.jobs): the transactional outbox. A job row is
-- inserted by the unit of work that causes it, so it exists exactly when its cause committed.
CREATE TABLE jobs (
    id               text        NOT NULL PRIMARY KEY,
    tenant_id        text        NOT NULL,
    type             text        NOT NULL,
    payload          jsonb       NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    status           text        NOT NULL
        CHECK (status IN ('pending', 'running', 'succeeded', 'dead')),
    attempts         integer     NOT NULL CHECK (attempts >= 0),
    max_attempts     integer     NOT NULL CHECK (max_attempts BETWEEN 1 AND 10),
    run_after        timestamptz NOT NULL,
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text        CHECK (char_length(last_error) <= 500),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (attempts <= max_attempts),
    -- A lease exists exactly while the job runs.
    CHECK ((status = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (status = 'running' OR (lease_owner IS NULL AND lease_expires_at IS NULL))
);

-- What a claim scans: due pending jobs, and running jobs whose lease may have expired.
CREATE INDEX jobs_pending_due ON jobs (run_after, id COLLATE "C") WHERE status = 'pending';
CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE status = 'running';
-- A tenant's listing, newest first (ids are time-sortable, compared in code point order).
CREATE INDEX jobs_tenant ON jobs (tenant_id, id COLLATE "C");
CREATE INDEX jobs_tenant_status ON jobs (tenant_id, status, id COLLATE "C");

-- Row-level security, as in 0001: a row is visible and writable only while app.tenant_id
-- names its tenant; FORCE binds the owner too. This covers the outbox side (enqueue inside the
-- tenant's unit of work, listing, requeue).
ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jobs
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Workers serve every tenant, which no tenant-scoped unit may do. As the idempotency purge of
-- 0002 and the wallet lookup of 0006 do, the cross-tenant work runs in SECURITY DEFINER
-- functions owned by this migration's login: a second policy lets the owner role, and only
-- while one of these functions has set liquifact.job_worker in its transaction, see and
-- change job rows. The application role may call the functions, which offer exactly the
-- workers' operations (take due jobs, write a guarded state change, count), but gains no
-- other cross-tenant access: the policy names the owner role, so setting liquifact.job_worker
-- by hand widens nothing.
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY job_worker ON jobs TO %I '
        'USING (current_setting(''liquifact.job_worker'', true) = ''on'') '
        'WITH CHECK (current_setting(''liquifact.job_worker'', true) = ''on'')',
        current_user);
END
$$;

-- The due jobs of the given types, oldest due first, locked FOR UPDATE until the calling
-- transaction ends. SKIP LOCKED: a row another worker is claiming right now is left to it, so
-- concurrent claimers never block on, or get, the same job. Due: pending with run_after <=
-- due_at, or running with an expired lease (its worker stopped).
CREATE FUNCTION due_jobs(due_at timestamptz, job_types text[], max_rows integer)
    RETURNS SETOF jobs
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    IF max_rows IS NULL OR max_rows < 0 THEN
        RAISE EXCEPTION 'max_rows must be a non-negative integer';
    END IF;
    PERFORM set_config('liquifact.job_worker', 'on', true);
    RETURN QUERY
        SELECT * FROM jobs
        WHERE type = ANY(job_types)
            AND ((status = 'pending' AND run_after <= due_at)
                OR (status = 'running' AND lease_expires_at <= due_at))
        ORDER BY run_after, id COLLATE "C"
        LIMIT max_rows
        FOR UPDATE SKIP LOCKED;
    PERFORM set_config('liquifact.job_worker', '', true);
END
$$;

-- One state change decided by the core's rules (claim, complete, fail), written only if the
-- row is still the job the rule was applied to: same status, attempt and lease owner. A
-- worker whose lease expired and was taken over changes nothing. Only the state columns
-- change; the tenant, type and payload never do. Returns the id when the row was written.
CREATE FUNCTION write_job_state(
    job_id text,
    expected_status text,
    expected_attempts integer,
    expected_owner text,
    new_status text,
    new_attempts integer,
    new_run_after timestamptz,
    new_lease_owner text,
    new_lease_expires_at timestamptz,
    new_last_error text,
    new_updated_at timestamptz
)
    RETURNS SETOF text
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('liquifact.job_worker', 'on', true);
    RETURN QUERY
        UPDATE jobs SET
            status = new_status,
            attempts = new_attempts,
            run_after = new_run_after,
            lease_owner = new_lease_owner,
            lease_expires_at = new_lease_expires_at,
            last_error = new_last_error,
            updated_at = new_updated_at
        WHERE id = job_id
            AND status = expected_status
            AND attempts = expected_attempts
            AND lease_owner IS NOT DISTINCT FROM expected_owner
        RETURNING id;
    PERFORM set_config('liquifact.job_worker', '', true);
END
$$;

-- The gauges per job type at one instant: due pending jobs (queue depth), pending jobs after
-- a failed attempt (retry queue), running jobs under a live lease (in flight), dead letters.
-- Counts only: no tenant, id or payload leaves the function.
CREATE FUNCTION job_counts(at_time timestamptz)
    RETURNS TABLE (job_type text, queue_depth bigint, retry_queue bigint, inflight bigint,
        dead bigint)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('liquifact.job_worker', 'on', true);
    RETURN QUERY
        SELECT j.type,
            count(*) FILTER (WHERE j.status = 'pending' AND j.run_after <= at_time),
            count(*) FILTER (WHERE j.status = 'pending' AND j.attempts > 0),
            count(*) FILTER (WHERE j.status = 'running' AND j.lease_expires_at > at_time),
            count(*) FILTER (WHERE j.status = 'dead')
        FROM jobs AS j
        GROUP BY j.type;
    PERFORM set_config('liquifact.job_worker', '', true);
END
$$;

REVOKE ALL ON FUNCTION due_jobs(timestamptz, text[], integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION write_job_state(
    text, text, integer, text, text, integer, timestamptz, text, timestamptz, text, timestamptz
) FROM PUBLIC;
REVOKE ALL ON FUNCTION job_counts(timestamptz) FROM PUBLIC;

-- Least privilege: the application role inserts and reads its tenant's jobs and changes only
-- their state columns (requeue); jobs are never deleted by it.
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT SELECT, INSERT ON jobs TO %I', app_role);
    EXECUTE format(
        'GRANT UPDATE (status, attempts, run_after, lease_owner, lease_expires_at, last_error, '
        'updated_at) ON jobs TO %I', app_role);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION due_jobs(timestamptz, text[], integer) TO %I', app_role);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION write_job_state(text, text, integer, text, text, integer, '
        'timestamptz, text, timestamptz, text, timestamptz) TO %I', app_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION job_counts(timestamptz) TO %I', app_role);
END
$$;
