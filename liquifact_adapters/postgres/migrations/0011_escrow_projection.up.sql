-- The escrow indexer (liquifact_core.indexing): one projection per invoice of its escrow
-- contract as last read (the contract's InvoiceEscrow, legal hold and pause, the ledger it
-- reflects) and one cursor per tenant. The indexer writes both in the tenant's unit of work
-- that also moves the invoices, so a crash never skips or double-applies an event.
--
-- Contract amounts are i128 (stroops): numeric(39, 0) holds every value exactly.
CREATE TABLE escrow_projections (
    tenant_id         text           NOT NULL,
    invoice_id        text           NOT NULL,
    contract          text           NOT NULL CHECK (contract ~ '^C[A-Z2-7]{55}$'),
    escrow_invoice_id text           NOT NULL,
    admin             text           NOT NULL,
    sme_address       text           NOT NULL,
    amount            numeric(39, 0) NOT NULL CHECK (amount > 0),
    funding_target    numeric(39, 0) NOT NULL CHECK (funding_target > 0),
    funded_amount     numeric(39, 0) NOT NULL CHECK (funded_amount >= 0),
    yield_bps         integer        NOT NULL CHECK (yield_bps BETWEEN 0 AND 10000),
    maturity          numeric(20, 0) NOT NULL CHECK (maturity >= 0),
    status            smallint       NOT NULL CHECK (status BETWEEN 0 AND 4),
    legal_hold        boolean        NOT NULL,
    paused            boolean        NOT NULL,
    ledger            bigint         NOT NULL CHECK (ledger >= 0),
    updated_at        timestamptz    NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

CREATE TABLE escrow_indexer_cursors (
    tenant_id  text        NOT NULL PRIMARY KEY,
    cursor     text,
    ledger     bigint      NOT NULL CHECK (ledger >= 0),
    updated_at timestamptz NOT NULL
);

-- Row-level security, as in 0001: a row is visible and writable only while app.tenant_id
-- names its tenant; FORCE binds the owner too.
ALTER TABLE escrow_projections ENABLE ROW LEVEL SECURITY;
ALTER TABLE escrow_projections FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON escrow_projections
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE escrow_indexer_cursors ENABLE ROW LEVEL SECURITY;
ALTER TABLE escrow_indexer_cursors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON escrow_indexer_cursors
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- The indexer serves every tenant: it must learn which escrows to read before it opens a
-- tenant's unit. As due_jobs (0008) and wallet_binding_of (0006) do, that one read runs in a
-- SECURITY DEFINER function owned by this migration's login. Second policies let the owner
-- role, and only while one of these functions has set liquifact.escrow_indexer in its
-- transaction, read invoices and cursors; the functions return three columns of linked
-- invoices (tenant, invoice id, contract) or two numbers, nothing else. The application role
-- may call them but gains no other cross-tenant access (the policies name the owner role).
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY escrow_indexer ON invoices FOR SELECT TO %I '
        'USING (current_setting(''liquifact.escrow_indexer'', true) = ''on'')', current_user);
    EXECUTE format(
        'CREATE POLICY escrow_indexer ON escrow_indexer_cursors FOR SELECT TO %I '
        'USING (current_setting(''liquifact.escrow_indexer'', true) = ''on'')', current_user);
END
$$;

CREATE FUNCTION linked_escrows_to_index()
    RETURNS TABLE (tenant_id text, invoice_id text, contract text)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('liquifact.escrow_indexer', 'on', true);
    RETURN QUERY
        SELECT i.tenant_id, i.id, i.escrow_address FROM invoices i
        WHERE i.escrow_address IS NOT NULL AND i.deleted_at IS NULL
            AND i.status IN ('linked_escrow', 'partially_funded', 'funded', 'disbursed')
        ORDER BY i.tenant_id COLLATE "C", i.id COLLATE "C";
    PERFORM set_config('liquifact.escrow_indexer', '', true);
END
$$;

CREATE FUNCTION escrow_indexer_progress()
    RETURNS TABLE (oldest_ledger bigint, oldest_run_at timestamptz, newest_ledger bigint)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('liquifact.escrow_indexer', 'on', true);
    RETURN QUERY
        SELECT min(c.ledger), min(c.updated_at), max(c.ledger) FROM escrow_indexer_cursors c;
    PERFORM set_config('liquifact.escrow_indexer', '', true);
END
$$;

REVOKE ALL ON FUNCTION linked_escrows_to_index() FROM PUBLIC;
REVOKE ALL ON FUNCTION escrow_indexer_progress() FROM PUBLIC;

-- Least privilege: projections and cursors are upserted, never deleted by the application.
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON escrow_projections TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON escrow_indexer_cursors TO %I', app_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION linked_escrows_to_index() TO %I', app_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION escrow_indexer_progress() TO %I', app_role);
END
$$;
