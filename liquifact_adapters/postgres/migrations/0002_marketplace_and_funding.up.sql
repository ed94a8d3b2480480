-- Marketplace sort keys, investor commitments and idempotency records (PostgreSQL port of the
-- SQLite migration of the same number). Runs as the DATABASE_URL login (the owner); the
-- application role is named by the session setting liquifact.app_role, as in 0001.
--
-- Each invoice keeps two derived columns, written by the repository on every insert and update
-- (liquifact_core.marketplace.funded_ratio_hundredths is the one definition):
--   funded_ratio_hundredths  percent funded x 100 (0..10000), rounded half-even like
--                            Invoice.funded_ratio; 0 before an escrow is linked.
--   amount_key               the amount as numeric(22, 4): a fixed type, so the sort index
--                            compares one kind of number (amount itself has no typmod). The
--                            CHECK keeps it equal to the amount whatever writes the row.
ALTER TABLE invoices ADD COLUMN funded_ratio_hundredths integer NOT NULL DEFAULT 0
    CHECK (funded_ratio_hundredths BETWEEN 0 AND 10000);
ALTER TABLE invoices ADD COLUMN amount_key numeric(22, 4);

-- Backfill rows written before this migration, with the code's rules in exact numeric
-- arithmetic: q = funded x 10000 div target, rounded half to even on the remainder r.
UPDATE invoices SET
    amount_key = amount,
    funded_ratio_hundredths = CASE
        WHEN funding_target_stroops IS NULL THEN 0
        WHEN funded_stroops >= funding_target_stroops THEN 10000
        ELSE (
            SELECT (q + CASE WHEN 2 * r > t OR (2 * r = t AND mod(q, 2) = 1) THEN 1 ELSE 0 END)
                ::integer
            FROM (
                SELECT div(funded_stroops::numeric * 10000, funding_target_stroops) AS q,
                       mod(funded_stroops::numeric * 10000, funding_target_stroops) AS r,
                       funding_target_stroops::numeric AS t
            ) AS parts
        )
    END;

ALTER TABLE invoices ALTER COLUMN amount_key SET NOT NULL;
ALTER TABLE invoices ADD CONSTRAINT invoices_amount_key_is_amount CHECK (amount_key = amount);

-- One index per marketplace sort, over investable live rows only; the marketplace queries
-- repeat the predicate verbatim (the planner matches partial indexes by the query's WHERE
-- terms). Each serves its sort in both directions. The id tie-break is compared in the "C"
-- collation (code point order, like the reference semantics in Python) whatever the
-- database's default collation, and the queries say COLLATE "C" too.
CREATE INDEX invoices_market_yield_bps
    ON invoices (tenant_id, yield_bps, id COLLATE "C")
    WHERE deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded');
CREATE INDEX invoices_market_maturity_date
    ON invoices (tenant_id, due_date, id COLLATE "C")
    WHERE deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded');
CREATE INDEX invoices_market_funded_ratio
    ON invoices (tenant_id, funded_ratio_hundredths, id COLLATE "C")
    WHERE deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded');
CREATE INDEX invoices_market_amount
    ON invoices (tenant_id, amount_key, id COLLATE "C")
    WHERE deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded');
CREATE INDEX invoices_market_created_at
    ON invoices (tenant_id, created_at, id COLLATE "C")
    WHERE deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded');

-- meta.total counts every matching row: this covering index holds every filter column, so a
-- filtered count is an index-only scan (once VACUUM has set the visibility map) that never
-- reads the table.
CREATE INDEX invoices_market_filters
    ON invoices (tenant_id, yield_bps, due_date, funded_ratio_hundredths, amount_key)
    WHERE deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded');

-- An unfiltered meta.total counts every investable live row of the tenant: an index-only scan
-- of this narrow index (btree deduplication packs 100k entries of one tenant into ~90 pages)
-- costs ~6 ms at 100k rows, against ~15 ms on the wider filters index and ~60 ms for the
-- sequential scan the planner otherwise picks.
CREATE INDEX invoices_market_live
    ON invoices (tenant_id)
    WHERE deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded');

-- Funding intents. Stroops are at most 10^18: bigint, summed exactly in SQL.
CREATE TABLE investor_commitments (
    tenant_id                    text        NOT NULL,
    id                           text        NOT NULL,
    invoice_id                   text        NOT NULL,
    investor_address             text        NOT NULL,
    amount_stroops               bigint      NOT NULL
        CHECK (amount_stroops > 0 AND amount_stroops <= 1000000000000000000),
    status                       text        NOT NULL
        CHECK (status IN ('pending', 'confirmed', 'released')),
    investor_effective_yield_bps integer     NOT NULL,
    claim_not_before             date        NOT NULL,
    submission_status            text        NOT NULL
        CHECK (submission_status IN ('stubbed', 'submitted')),
    tx_hash                      text,
    idempotency_key              text,
    actor_id                     text        NOT NULL,
    created_at                   timestamptz NOT NULL,
    updated_at                   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

CREATE UNIQUE INDEX investor_commitments_idempotency_key
    ON investor_commitments (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE INDEX investor_commitments_by_invoice
    ON investor_commitments (tenant_id, invoice_id, status);

CREATE INDEX investor_commitments_by_investor
    ON investor_commitments (tenant_id, investor_address, invoice_id);

-- What an investor agreed to never changes, whatever code (or the owner in psql) tries.
CREATE FUNCTION investor_commitments_terms_immutable() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.amount_stroops IS DISTINCT FROM OLD.amount_stroops
        OR NEW.invoice_id IS DISTINCT FROM OLD.invoice_id
        OR NEW.investor_address IS DISTINCT FROM OLD.investor_address
        OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id
        OR NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'investor_commitments terms are immutable'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER investor_commitments_terms_immutable
    BEFORE UPDATE ON investor_commitments
    FOR EACH ROW EXECUTE FUNCTION investor_commitments_terms_immutable();

-- Idempotency keys: one per (tenant, key). The response is stored byte for byte.
CREATE TABLE idempotency_records (
    tenant_id        text        NOT NULL,
    key              text        NOT NULL,
    fingerprint      text        NOT NULL,
    state            text        NOT NULL CHECK (state IN ('in_progress', 'completed')),
    claim_id         text        NOT NULL,
    response_status  integer,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    locked_until     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key),
    CHECK (state = 'in_progress' OR (response_status IS NOT NULL AND response_body IS NOT NULL))
);

-- The purge deletes by expiry across tenants.
CREATE INDEX idempotency_records_expires_at ON idempotency_records (expires_at);

-- Row-level security, as in 0001: a row is visible and writable only while app.tenant_id
-- names its tenant; FORCE binds the owner too.
ALTER TABLE investor_commitments ENABLE ROW LEVEL SECURITY;
ALTER TABLE investor_commitments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON investor_commitments
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE idempotency_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_records
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- The purge of expired records spans tenants, which no tenant-scoped unit may do. It runs in
-- purge_expired_idempotency_records(), a SECURITY DEFINER function owned by this migration's
-- login. Because RLS is forced on the owner too (when it is not a superuser), a second policy
-- lets the owner role, and only while that function has set liquifact.purge_before in its
-- transaction, see and delete records expired by then. The application role may call the
-- function (it learns only how many rows went) but gains no other cross-tenant access: the
-- policy names the owner role, not the application role.
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY purge_expired ON idempotency_records FOR SELECT TO %I USING ('
        'expires_at <= nullif(current_setting(''liquifact.purge_before'', true), '''')'
        '::timestamptz)', current_user);
    EXECUTE format(
        'CREATE POLICY purge_expired_delete ON idempotency_records FOR DELETE TO %I USING ('
        'expires_at <= nullif(current_setting(''liquifact.purge_before'', true), '''')'
        '::timestamptz)', current_user);
END
$$;

CREATE FUNCTION purge_expired_idempotency_records(before timestamptz, max_rows integer)
    RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
DECLARE
    removed integer;
BEGIN
    IF max_rows IS NULL OR max_rows < 0 THEN
        RAISE EXCEPTION 'max_rows must be a non-negative integer';
    END IF;
    PERFORM set_config('liquifact.purge_before', before::text, true);
    -- SKIP LOCKED: a record a claim is replacing right now is left for the next purge.
    DELETE FROM idempotency_records
    WHERE (tenant_id, key) IN (
        SELECT tenant_id, key FROM idempotency_records
        WHERE expires_at <= before
        ORDER BY expires_at
        LIMIT max_rows
        FOR UPDATE SKIP LOCKED
    );
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('liquifact.purge_before', '', true);
    RETURN removed;
END
$$;

REVOKE ALL ON FUNCTION purge_expired_idempotency_records(timestamptz, integer) FROM PUBLIC;

-- Least privilege: commitments are never deleted and only their state columns change;
-- idempotency records are deleted when a claim is released (and by the purge function).
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT SELECT, INSERT ON investor_commitments TO %I', app_role);
    EXECUTE format(
        'GRANT UPDATE (status, submission_status, tx_hash, updated_at) '
        'ON investor_commitments TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_records TO %I', app_role);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION purge_expired_idempotency_records(timestamptz, integer) '
        'TO %I', app_role);
END
$$;
