-- Issue 16: data retention with legal holds, and an invoice's audit trail for export.
--
-- The audit trail of an invoice: the events whose resource is the invoice, or whose metadata
-- names it (commitments, webhook deliveries). A stored generated column states the rule once
-- for the index; the application computes the same value (AuditEvent.invoice_id). Adding it
-- rewrites the table without any UPDATE statement, so the append-only triggers of 0001 are
-- neither fired nor touched, and the application role still may only SELECT and INSERT.
ALTER TABLE audit_log_events ADD COLUMN invoice_id text GENERATED ALWAYS AS (
    CASE
        WHEN resource_type = 'invoice' THEN resource_id
        WHEN jsonb_typeof(metadata -> 'invoiceId') = 'string' THEN metadata ->> 'invoiceId'
    END
) STORED;

-- An export reads one invoice's events in append order (seq), from this index alone.
CREATE INDEX audit_log_events_by_invoice ON audit_log_events (tenant_id, invoice_id, seq);

-- Retention policies (liquifact_core.retention): how long after an invoice closes its buyer's
-- personal data is kept, and which of it a purge erases.
CREATE TABLE retention_policies (
    tenant_id      text        NOT NULL,
    id             text        NOT NULL CHECK (id ~ '^rpol_[A-Za-z0-9]{1,40}$'),
    name           text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    retention_days integer     NOT NULL CHECK (retention_days BETWEEN 1 AND 36500),
    pii_fields     jsonb       NOT NULL CHECK (jsonb_typeof(pii_fields) = 'array'
        AND jsonb_array_length(pii_fields) BETWEEN 1 AND 3
        AND pii_fields <@ '["buyerName", "buyerEmail", "buyerTaxId"]'::jsonb),
    active         boolean     NOT NULL,
    version        integer     NOT NULL CHECK (version >= 1),
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    created_by     text        NOT NULL,
    updated_by     text        NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX retention_policies_name ON retention_policies (tenant_id, name);

-- Legal holds on invoices. A hold is evidence too: never deleted (no DELETE grant, and a
-- trigger for the owner), and once placed only its release is ever written, once.
CREATE TABLE legal_holds (
    tenant_id      text        NOT NULL,
    id             text        NOT NULL CHECK (id ~ '^hold_[A-Za-z0-9]{1,40}$'),
    invoice_id     text        NOT NULL,
    type           text        NOT NULL
        CHECK (type IN ('litigation', 'regulatory', 'investigation', 'audit', 'other')),
    reason         text        NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 1024),
    placed_by      text        NOT NULL,
    placed_at      timestamptz NOT NULL,
    released_at    timestamptz,
    released_by    text,
    release_reason text        CHECK (char_length(release_reason) BETWEEN 1 AND 1024),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    CHECK ((released_at IS NULL) = (released_by IS NULL))
);

-- One active hold per invoice: of two placed at once, exactly one is stored.
CREATE UNIQUE INDEX legal_holds_one_active
    ON legal_holds (tenant_id, invoice_id)
    WHERE released_at IS NULL;

CREATE INDEX legal_holds_newest ON legal_holds (tenant_id, placed_at DESC, id COLLATE "C" DESC);

CREATE FUNCTION legal_holds_release_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'legal_holds are kept: a hold is released, never deleted'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.released_at IS NOT NULL
        OR (NEW.tenant_id, NEW.id, NEW.invoice_id, NEW.type, NEW.reason, NEW.placed_by,
            NEW.placed_at)
           IS DISTINCT FROM
           (OLD.tenant_id, OLD.id, OLD.invoice_id, OLD.type, OLD.reason, OLD.placed_by,
            OLD.placed_at)
    THEN
        RAISE EXCEPTION 'legal_holds: only an active hold''s release may be written'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER legal_holds_release_only
    BEFORE UPDATE OR DELETE ON legal_holds
    FOR EACH ROW EXECUTE FUNCTION legal_holds_release_only();

-- Row-level security, as in 0001: a row is visible and writable only while app.tenant_id
-- names its tenant; FORCE binds the owner too.
ALTER TABLE retention_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE retention_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON retention_policies
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE legal_holds ENABLE ROW LEVEL SECURITY;
ALTER TABLE legal_holds FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON legal_holds
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- The daily purge visits every tenant with an active policy, which no tenant-scoped unit can
-- list. As reconciliation_tenants of 0010 does, that one read runs in a SECURITY DEFINER
-- function owned by this migration's login: a second policy lets the owner role, and only
-- while the function has set liquifact.retention_scan in its transaction, read policy rows.
-- The function returns tenant ids and nothing else.
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY retention_scan ON retention_policies FOR SELECT TO %I '
        'USING (current_setting(''liquifact.retention_scan'', true) = ''on'')',
        current_user);
END
$$;

CREATE FUNCTION retention_tenants()
    RETURNS SETOF text
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('liquifact.retention_scan', 'on', true);
    RETURN QUERY
        SELECT p.tenant_id FROM retention_policies AS p
        WHERE p.active
        GROUP BY p.tenant_id
        ORDER BY p.tenant_id COLLATE "C";
    PERFORM set_config('liquifact.retention_scan', '', true);
END
$$;

REVOKE ALL ON FUNCTION retention_tenants() FROM PUBLIC;

-- Least privilege: policies and holds are created and updated, never deleted; the invoice
-- columns a purge writes are covered by the UPDATE grant of 0001.
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON retention_policies TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON legal_holds TO %I', app_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION retention_tenants() TO %I', app_role);
END
$$;
