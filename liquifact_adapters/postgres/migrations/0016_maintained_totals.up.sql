-- Issue 13, item 1: meta.total without a scan (docs/performance.md#totals).
--
-- invoice_counts and invoice_sme_counts hold how many LIVE invoices (deleted_at IS NULL) each
-- tenant, and each SME of a tenant, has in each status; market_generations changes whenever
-- a tenant's investable live invoices (status linked_escrow or partially_funded) or its SME
-- profiles (the marketplace's name search reads them) change, so a filtered marketplace total
-- counted once can be reused while the generation it was counted at is still the current one.
-- Triggers keep all three in the same transaction as the change that moves them; the
-- application role may only read them (its own tenant's rows).
--
-- Three mechanisms keep this exact, cheap and free of lock trouble under concurrency:
--   * Statement-level triggers with transition tables (REFERENCING NEW TABLE / OLD TABLE):
--     a statement changing a million rows adds one aggregated entry per (tenant, SME,
--     status), not a million.
--   * The entries are noted in invoice_totals_pending and applied once per transaction, at
--     commit, by a deferred constraint trigger (invoice_totals_flush): a transaction of many
--     single-row statements (a bulk load, the buyer-name backfill) updates each counter row
--     once, where updating the same row once per statement would grow its version chain and
--     make the transaction quadratic. The counter rows are locked only from the flush to the
--     end of the commit, and in one order (tenant, SME, status; then the generations), so
--     two flushing transactions never deadlock on them.
--   * Each counter is striped over 16 slots (pg_backend_pid() % 16, one per backend): two
--     concurrent transactions of one tenant usually update different rows, so they do not
--     queue behind each other's commit. A total is the sum of its slots (at most 16 rows per
--     status). A generation is the vector of its slots' values, which come from a sequence:
--     a value is never reused, even by a transaction that rolled back.
-- Increments are INSERT ... ON CONFLICT DO UPDATE SET n = n + delta: an upsert waiting on a
-- concurrent one re-reads the committed row, so no increment is lost.

CREATE TABLE invoice_counts (
    tenant_id text     NOT NULL,
    status    text     NOT NULL,
    slot      smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    n         bigint   NOT NULL,
    PRIMARY KEY (tenant_id, status, slot)
);

CREATE TABLE invoice_sme_counts (
    tenant_id text     NOT NULL,
    sme_id    text     NOT NULL,
    status    text     NOT NULL,
    slot      smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    n         bigint   NOT NULL,
    PRIMARY KEY (tenant_id, sme_id, status, slot)
);

CREATE SEQUENCE market_generation_seq;

CREATE TABLE market_generations (
    tenant_id  text     NOT NULL,
    slot       smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    generation bigint   NOT NULL,
    PRIMARY KEY (tenant_id, slot)
);

-- What a transaction has changed and not yet applied: count deltas (status set), generation
-- bumps (status NULL) and one flush marker (tenant_id NULL), keyed by the transaction id.
-- Rows live only inside their transaction (the flush deletes them before commit; an abort
-- discards them), so the table never holds a committed row: UNLOGGED (nothing to recover
-- after a crash), no row-level security, and no grant to the application role, which can
-- neither read nor forge entries.
CREATE UNLOGGED TABLE invoice_totals_pending (
    xid       xid8   NOT NULL,
    tenant_id text,
    sme_id    text,
    status    text,
    delta     bigint NOT NULL
);

CREATE INDEX invoice_totals_pending_xid ON invoice_totals_pending (xid);

-- Notes changes of the current transaction and, for its first note, the marker whose
-- deferred trigger applies them all at commit. Runs as the owner (it is only called from the
-- SECURITY DEFINER trigger functions below); the application role may not call it.
CREATE FUNCTION invoice_totals_note(
    tenants text[], smes text[], statuses text[], deltas bigint[], bumped text[]
)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = public, pg_temp
AS $$
DECLARE
    me xid8 := pg_current_xact_id();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM invoice_totals_pending WHERE xid = me) THEN
        INSERT INTO invoice_totals_pending (xid, tenant_id, sme_id, status, delta)
        VALUES (me, NULL, NULL, NULL, 0);
    END IF;
    INSERT INTO invoice_totals_pending (xid, tenant_id, sme_id, status, delta)
    SELECT me, c.tenant_id, c.sme_id, c.status, c.delta
    FROM unnest(tenants, smes, statuses, deltas) AS c (tenant_id, sme_id, status, delta)
    WHERE c.tenant_id IS NOT NULL
    UNION ALL
    SELECT me, b.tenant_id, NULL, NULL, 0 FROM unnest(bumped) AS b (tenant_id)
    WHERE b.tenant_id IS NOT NULL;
END
$$;

REVOKE ALL ON FUNCTION invoice_totals_note(text[], text[], text[], bigint[], text[]) FROM PUBLIC;

-- One statement's changes to invoices: +1 per live row after it, -1 per live row before it,
-- summed per (tenant, SME, status) (an update that moves no row between groups nets to
-- nothing), and the tenants with an investable live row before or after it.
CREATE FUNCTION invoices_note_totals() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
DECLARE
    tenants text[];
    smes text[];
    statuses text[];
    deltas bigint[];
    bumped text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(c.tenant_id), array_agg(c.sme_id), array_agg(c.status),
               array_agg(c.delta)
        INTO tenants, smes, statuses, deltas
        FROM (
            SELECT r.tenant_id, r.sme_id, r.status, count(*) AS delta
            FROM new_rows AS r WHERE r.deleted_at IS NULL
            GROUP BY r.tenant_id, r.sme_id, r.status
        ) AS c;
        SELECT array_agg(DISTINCT r.tenant_id) INTO bumped
        FROM new_rows AS r
        WHERE r.deleted_at IS NULL AND r.status IN ('linked_escrow', 'partially_funded');
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(c.tenant_id), array_agg(c.sme_id), array_agg(c.status),
               array_agg(c.delta)
        INTO tenants, smes, statuses, deltas
        FROM (
            SELECT m.tenant_id, m.sme_id, m.status, sum(m.delta) AS delta
            FROM (
                SELECT r.tenant_id, r.sme_id, r.status, 1 AS delta
                FROM new_rows AS r WHERE r.deleted_at IS NULL
                UNION ALL
                SELECT r.tenant_id, r.sme_id, r.status, -1
                FROM old_rows AS r WHERE r.deleted_at IS NULL
            ) AS m
            GROUP BY m.tenant_id, m.sme_id, m.status
            HAVING sum(m.delta) <> 0
        ) AS c;
        SELECT array_agg(DISTINCT t.tenant_id) INTO bumped
        FROM (
            SELECT r.tenant_id FROM new_rows AS r
            WHERE r.deleted_at IS NULL AND r.status IN ('linked_escrow', 'partially_funded')
            UNION ALL
            SELECT r.tenant_id FROM old_rows AS r
            WHERE r.deleted_at IS NULL AND r.status IN ('linked_escrow', 'partially_funded')
        ) AS t;
    ELSE
        SELECT array_agg(c.tenant_id), array_agg(c.sme_id), array_agg(c.status),
               array_agg(c.delta)
        INTO tenants, smes, statuses, deltas
        FROM (
            SELECT r.tenant_id, r.sme_id, r.status, -count(*) AS delta
            FROM old_rows AS r WHERE r.deleted_at IS NULL
            GROUP BY r.tenant_id, r.sme_id, r.status
        ) AS c;
        SELECT array_agg(DISTINCT r.tenant_id) INTO bumped
        FROM old_rows AS r
        WHERE r.deleted_at IS NULL AND r.status IN ('linked_escrow', 'partially_funded');
    END IF;
    IF tenants IS NOT NULL OR bumped IS NOT NULL THEN
        PERFORM invoice_totals_note(tenants, smes, statuses, deltas, bumped);
    END IF;
    RETURN NULL;
END
$$;

-- A transition table is allowed on a trigger of one event only: one trigger per event.
CREATE TRIGGER invoices_note_inserted
    AFTER INSERT ON invoices REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION invoices_note_totals();
CREATE TRIGGER invoices_note_updated
    AFTER UPDATE ON invoices REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION invoices_note_totals();
CREATE TRIGGER invoices_note_deleted
    AFTER DELETE ON invoices REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION invoices_note_totals();

-- A profile's display name is what the marketplace's name search reads.
CREATE FUNCTION sme_profiles_note_generation() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM invoice_totals_note(NULL, NULL, NULL, NULL, ARRAY[OLD.tenant_id]);
    ELSE
        PERFORM invoice_totals_note(NULL, NULL, NULL, NULL, ARRAY[NEW.tenant_id]);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sme_profiles_note_generation
    AFTER INSERT OR UPDATE OR DELETE ON sme_profiles
    FOR EACH ROW EXECUTE FUNCTION sme_profiles_note_generation();

-- Applies what the transaction noted: one upsert per table, rows in one fixed order, then the
-- generations of the tenants it touched (each set to a new value of the sequence). The
-- counters are written by the owner of this function for any tenant of the noted rows, which
-- the tenant policy alone would refuse when no tenant is set (the owner's backfill of
-- derived columns): as for the SECURITY DEFINER functions of 0002, a second policy lets the
-- owner role write them while this function has set liquifact.totals_maintenance in its
-- transaction (and it clears it before returning; a failure aborts the transaction, which
-- clears it too). A function's own SET clause cannot name a custom setting unless a
-- superuser creates it.
CREATE FUNCTION invoice_totals_flush() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
DECLARE
    me xid8 := pg_current_xact_id();
    my_slot smallint := pg_backend_pid() % 16;
BEGIN
    -- Summed in SQL, whatever the number of notes (a bulk load may leave millions).
    PERFORM set_config('liquifact.totals_maintenance', 'on', true);
    INSERT INTO invoice_counts AS c (tenant_id, status, slot, n)
    SELECT p.tenant_id, p.status, my_slot, sum(p.delta)
    FROM invoice_totals_pending AS p
    WHERE p.xid = me AND p.status IS NOT NULL
    GROUP BY p.tenant_id, p.status
    HAVING sum(p.delta) <> 0
    ORDER BY p.tenant_id COLLATE "C", p.status COLLATE "C"
    ON CONFLICT (tenant_id, status, slot) DO UPDATE SET n = c.n + excluded.n;

    INSERT INTO invoice_sme_counts AS c (tenant_id, sme_id, status, slot, n)
    SELECT p.tenant_id, p.sme_id, p.status, my_slot, sum(p.delta)
    FROM invoice_totals_pending AS p
    WHERE p.xid = me AND p.status IS NOT NULL
    GROUP BY p.tenant_id, p.sme_id, p.status
    HAVING sum(p.delta) <> 0
    ORDER BY p.tenant_id COLLATE "C", p.sme_id COLLATE "C", p.status COLLATE "C"
    ON CONFLICT (tenant_id, sme_id, status, slot) DO UPDATE SET n = c.n + excluded.n;

    INSERT INTO market_generations AS g (tenant_id, slot, generation)
    SELECT b.tenant_id, my_slot, nextval('market_generation_seq')
    FROM (
        SELECT DISTINCT p.tenant_id FROM invoice_totals_pending AS p
        WHERE p.xid = me AND p.tenant_id IS NOT NULL AND p.status IS NULL
    ) AS b
    ORDER BY b.tenant_id COLLATE "C"
    ON CONFLICT (tenant_id, slot) DO UPDATE SET generation = excluded.generation;

    DELETE FROM invoice_totals_pending WHERE xid = me;
    PERFORM set_config('liquifact.totals_maintenance', '', true);
    RETURN NULL;
END
$$;

-- Fires at commit (or at SET CONSTRAINTS invoice_totals_flush IMMEDIATE), once per
-- transaction: only the marker row queues an event.
CREATE CONSTRAINT TRIGGER invoice_totals_flush
    AFTER INSERT ON invoice_totals_pending
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.tenant_id IS NULL)
    EXECUTE FUNCTION invoice_totals_flush();

-- TRUNCATE has no rows to count: every counter goes, every generation moves on.
CREATE FUNCTION invoices_truncated_totals() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('liquifact.totals_maintenance', 'on', true);
    DELETE FROM invoice_totals_pending
    WHERE xid = pg_current_xact_id() AND tenant_id IS NOT NULL AND status IS NOT NULL;
    DELETE FROM invoice_counts;
    DELETE FROM invoice_sme_counts;
    UPDATE market_generations SET generation = nextval('market_generation_seq');
    PERFORM set_config('liquifact.totals_maintenance', '', true);
    RETURN NULL;
END
$$;

CREATE TRIGGER invoices_truncated_totals
    AFTER TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION invoices_truncated_totals();

REVOKE ALL ON FUNCTION invoices_note_totals() FROM PUBLIC;
REVOKE ALL ON FUNCTION sme_profiles_note_generation() FROM PUBLIC;
REVOKE ALL ON FUNCTION invoice_totals_flush() FROM PUBLIC;
REVOKE ALL ON FUNCTION invoices_truncated_totals() FROM PUBLIC;

-- Backfill from the rows already there. The owner is bound by the forced policies and no
-- tenant is set, so it would see no invoice: forcing is lifted for this transaction only,
-- which also holds the table's ACCESS EXCLUSIVE lock until commit, so no invoice changes
-- between the counts and the triggers taking over. The generation values start from the
-- clock (microseconds): were this migration rolled back and applied again, no value handed
-- out before could come back.
ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY;
SELECT setval('market_generation_seq', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
INSERT INTO invoice_counts (tenant_id, status, slot, n)
SELECT tenant_id, status, 0, count(*) FROM invoices WHERE deleted_at IS NULL
GROUP BY tenant_id, status;
INSERT INTO invoice_sme_counts (tenant_id, sme_id, status, slot, n)
SELECT tenant_id, sme_id, status, 0, count(*) FROM invoices WHERE deleted_at IS NULL
GROUP BY tenant_id, sme_id, status;
INSERT INTO market_generations (tenant_id, slot, generation)
SELECT t.tenant_id, 0, nextval('market_generation_seq')
FROM (SELECT DISTINCT tenant_id FROM invoices) AS t;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;

-- Row-level security, as in 0001: the application role reads its own tenant's rows only.
-- The owner writes them through the functions above, while liquifact.totals_maintenance is
-- on (they set it for the statements that write), for the tenants of the rows changed.
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['invoice_counts', 'invoice_sme_counts', 'market_generations']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', name);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_setting(''app.tenant_id'', true)) '
            'WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true))', name);
        EXECUTE format(
            'CREATE POLICY totals_maintenance ON %I TO %I '
            'USING (current_setting(''liquifact.totals_maintenance'', true) = ''on'') '
            'WITH CHECK (current_setting(''liquifact.totals_maintenance'', true) = ''on'')',
            name, current_user);
    END LOOP;
END
$$;

-- Least privilege: the application role reads the counters and generations; only the
-- triggers write them.
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT SELECT ON invoice_counts TO %I', app_role);
    EXECUTE format('GRANT SELECT ON invoice_sme_counts TO %I', app_role);
    EXECUTE format('GRANT SELECT ON market_generations TO %I', app_role);
END
$$;
