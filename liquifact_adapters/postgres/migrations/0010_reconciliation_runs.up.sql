-- Reconciliation runs (liquifact_core.reconciliation): one row per tenant and run, with its
-- counts, the sum of absolute drifts (stroops) and the threshold it was judged by, and one
-- row per invoice it compared. Kept server-side for the tenant's admins. Amounts the chain
-- reports are i128 on the contract, so they and the drifts are numeric, not bigint.
CREATE TABLE reconciliation_runs (
    id                  text          NOT NULL PRIMARY KEY,
    tenant_id           text          NOT NULL,
    started_at          timestamptz   NOT NULL,
    finished_at         timestamptz   NOT NULL,
    total               integer       NOT NULL CHECK (total >= 0),
    matches             integer       NOT NULL CHECK (matches >= 0),
    mismatches          integer       NOT NULL CHECK (mismatches >= 0),
    errors              integer       NOT NULL CHECK (errors >= 0),
    total_drift_stroops numeric(60,0) NOT NULL CHECK (total_drift_stroops >= 0),
    drift_threshold     integer       NOT NULL CHECK (drift_threshold BETWEEN 1 AND 1000000),
    alerted             boolean       NOT NULL,
    CHECK (total = matches + mismatches + errors),
    CHECK (finished_at >= started_at),
    UNIQUE (id, tenant_id)
);

-- A tenant's listing, newest first.
CREATE INDEX reconciliation_runs_tenant
    ON reconciliation_runs (tenant_id, started_at DESC, id COLLATE "C" DESC);

CREATE TABLE reconciliation_results (
    run_id               text          NOT NULL,
    tenant_id            text          NOT NULL,
    invoice_id           text          NOT NULL,
    escrow_address       text,
    store_funded_stroops bigint        NOT NULL CHECK (store_funded_stroops >= 0),
    chain_funded_stroops numeric(39,0) CHECK (chain_funded_stroops >= 0),
    outcome              text          NOT NULL CHECK (outcome IN ('match', 'mismatch', 'error')),
    drift_stroops        numeric(40,0),
    failure              text          CHECK (failure IN ('rpc_unavailable', 'rpc_timeout',
        'escrow_not_initialised', 'contract_error', 'unreadable_answer', 'no_escrow_address')),
    contract_error       integer       CHECK (contract_error >= 0),
    PRIMARY KEY (run_id, invoice_id),
    -- A result belongs to a run of its own tenant.
    FOREIGN KEY (run_id, tenant_id) REFERENCES reconciliation_runs (id, tenant_id),
    CHECK ((outcome = 'error') = (chain_funded_stroops IS NULL)),
    CHECK ((failure IS NULL) = (chain_funded_stroops IS NOT NULL)),
    CHECK ((drift_stroops IS NULL) = (chain_funded_stroops IS NULL)),
    CHECK (contract_error IS NULL OR failure = 'contract_error')
);

-- Row-level security, as in 0001: a row is visible and writable only while app.tenant_id
-- names its tenant; FORCE binds the owner too.
ALTER TABLE reconciliation_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconciliation_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reconciliation_runs
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE reconciliation_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconciliation_results FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reconciliation_results
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- The nightly run visits every tenant with invoices to compare, which no tenant-scoped unit
-- can list. As the job functions of 0008 do, that one read runs in a SECURITY DEFINER
-- function owned by this migration's login: a second policy lets the owner role, and only
-- while the function has set liquifact.reconciliation_scan in its transaction, read invoice
-- rows. The function returns tenant ids and nothing else; the statuses are fixed here
-- (liquifact_core.reconciliation.RECONCILED_STATUSES), so a caller cannot ask about others.
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY reconciliation_scan ON invoices FOR SELECT TO %I '
        'USING (current_setting(''liquifact.reconciliation_scan'', true) = ''on'')',
        current_user);
END
$$;

CREATE FUNCTION reconciliation_tenants()
    RETURNS SETOF text
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('liquifact.reconciliation_scan', 'on', true);
    RETURN QUERY
        SELECT i.tenant_id FROM invoices AS i
        WHERE i.deleted_at IS NULL
            AND i.status IN ('linked_escrow', 'partially_funded', 'funded')
        GROUP BY i.tenant_id
        ORDER BY i.tenant_id COLLATE "C";
    PERFORM set_config('liquifact.reconciliation_scan', '', true);
END
$$;

REVOKE ALL ON FUNCTION reconciliation_tenants() FROM PUBLIC;

-- Least privilege: runs and results are written once and read; never changed or deleted.
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT SELECT, INSERT ON reconciliation_runs TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT ON reconciliation_results TO %I', app_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION reconciliation_tenants() TO %I', app_role);
END
$$;
