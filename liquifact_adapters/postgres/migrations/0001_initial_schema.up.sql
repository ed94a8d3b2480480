-- Runs as the DATABASE_URL login, which becomes the owner of every object. The application
-- itself never acts as the owner: each unit of work switches to the NOLOGIN role named by
-- the session setting liquifact.app_role (DATABASE_APP_ROLE), which the migration runner sets
-- before this script. Dynamic SQL (format %I) is only used to splice that role name in.

-- Roles are global to the cluster, so another database may have created it already, possibly
-- at this very moment: both "already exists" errors mean the role is there, which is the goal.
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app_role) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS', app_role);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    -- SET ROLE needs membership; superusers pass this check without it.
    IF NOT pg_has_role(current_user, app_role, 'MEMBER') THEN
        EXECUTE format('GRANT %I TO %I', app_role, current_user);
    END IF;
END
$$;

-- Invoices keep one row per (tenant, id). Soft-deleted rows stay, so history and audit still
-- point at something; every live-row index is partial on deleted_at IS NULL.
CREATE TABLE invoices (
    tenant_id              text        NOT NULL,
    id                     text        NOT NULL CHECK (id ~ '^inv_[A-Za-z0-9_]{1,28}$'),
    sme_id                 text        NOT NULL,
    sme_wallet             text,
    invoice_number         text        NOT NULL,
    buyer_name             text        NOT NULL,
    buyer_email            text,
    buyer_tax_id           text,
    -- numeric without a typmod keeps the scale it was given: 1250.00 reads back as 1250.00.
    amount                 numeric     NOT NULL CHECK (amount > 0),
    currency               text        NOT NULL,
    issue_date             date        NOT NULL,
    due_date               date        NOT NULL,
    yield_bps              integer     NOT NULL,
    description            text,
    metadata               jsonb       NOT NULL DEFAULT '{}'::jsonb
                                       CHECK (jsonb_typeof(metadata) = 'object'),
    status                 text        NOT NULL,
    status_reason          text,
    version                integer     NOT NULL CHECK (version >= 1),
    escrow_address         text,
    -- Stroops are at most 10^18, which bigint holds exactly.
    funding_target_stroops bigint      CHECK (funding_target_stroops > 0),
    funded_stroops         bigint      NOT NULL DEFAULT 0 CHECK (funded_stroops >= 0),
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    deleted_at             timestamptz,
    PRIMARY KEY (tenant_id, id)
);

-- A number is unique among live invoices only: deleting an invoice frees its number.
CREATE UNIQUE INDEX invoices_live_number
    ON invoices (tenant_id, invoice_number)
    WHERE deleted_at IS NULL;

CREATE INDEX invoices_live_newest
    ON invoices (tenant_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

CREATE INDEX invoices_live_by_status
    ON invoices (tenant_id, status, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

CREATE INDEX invoices_live_by_sme
    ON invoices (tenant_id, sme_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

-- The primary key doubles as the optimistic lock of concurrent transitions: two writers that
-- both read version n both try to record step n + 1, and only one insert wins.
CREATE TABLE invoice_transitions (
    tenant_id   text        NOT NULL,
    invoice_id  text        NOT NULL,
    sequence    integer     NOT NULL,
    from_status text,
    to_status   text        NOT NULL,
    actor_id    text        NOT NULL,
    actor_role  text        NOT NULL,
    reason      text,
    at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, sequence),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

-- seq breaks ties between events of the same instant in the order they were appended.
CREATE TABLE audit_log_events (
    seq           bigint      GENERATED ALWAYS AS IDENTITY,
    id            text        NOT NULL PRIMARY KEY,
    tenant_id     text        NOT NULL,
    actor_id      text        NOT NULL,
    actor_role    text        NOT NULL,
    action        text        NOT NULL,
    resource_type text        NOT NULL,
    resource_id   text        NOT NULL,
    at            timestamptz NOT NULL,
    metadata      jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_log_events_by_resource
    ON audit_log_events (tenant_id, resource_type, resource_id, at, seq);

-- The audit trail is evidence: the database itself refuses to change or remove it, whatever
-- code (or person with a shell, the owner included) tries. Statement-level triggers fire even
-- when row-level security hides every row, and TRUNCATE has no row-level form at all.
CREATE FUNCTION audit_log_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_events_no_update
    BEFORE UPDATE ON audit_log_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_events_append_only();

CREATE TRIGGER audit_log_events_no_delete
    BEFORE DELETE ON audit_log_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_events_append_only();

CREATE TRIGGER audit_log_events_no_truncate
    BEFORE TRUNCATE ON audit_log_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_events_append_only();

-- Row-level security: a row is visible and writable only while app.tenant_id names its tenant.
-- FORCE makes the policies bind the table owner too; only superusers and BYPASSRLS roles skip
-- them, and the application role is neither. An unset tenant (current_setting(..., true) is
-- NULL or '') matches nothing.
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invoices
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE invoice_transitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoice_transitions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invoice_transitions
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE audit_log_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log_events
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Least privilege: no DELETE anywhere (invoices are soft-deleted), history and audit are
-- insert-only.
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON invoices TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT ON invoice_transitions TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT ON audit_log_events TO %I', app_role);
    -- Readiness and the start-up check read the ledger as the application role.
    EXECUTE format('GRANT SELECT ON schema_migrations TO %I', app_role);
END
$$;
