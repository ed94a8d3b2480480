-- KYC and maturity reminders (issue 15).
--
-- kyc_records: one per (tenant, subject), the subject being the JWT sub of an SME or an
-- investor; status is one of the spec's KYC_STATUSES. reference is our id of the record, the
-- one the provider echoes in its webhook events: unique across tenants. version counts
-- changes (optimistic concurrency).
CREATE TABLE kyc_records (
    tenant_id          text        NOT NULL,
    subject            text        NOT NULL,
    reference          text        NOT NULL UNIQUE,
    status             text        NOT NULL
        CHECK (status IN ('pending', 'verified', 'rejected', 'exempted')),
    role               text        CHECK (role IN ('sme', 'investor')),
    provider_reference text        CHECK (length(provider_reference) <= 128),
    verification_url   text        CHECK (length(verification_url) <= 2048),
    reason             text        CHECK (length(reason) <= 1024),
    provider_event_at  timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    version            integer     NOT NULL CHECK (version >= 1),
    PRIMARY KEY (tenant_id, subject)
);

-- kyc_history: each change of a record, in order (what caused it, the provider's own status
-- word, the reason, the provider event's id). The application may only add rows.
CREATE TABLE kyc_history (
    tenant_id       text        NOT NULL,
    subject         text        NOT NULL,
    sequence        integer     NOT NULL CHECK (sequence >= 1),
    status          text        NOT NULL
        CHECK (status IN ('pending', 'verified', 'rejected', 'exempted')),
    source          text        NOT NULL CHECK (source IN ('submission', 'provider', 'admin')),
    actor_id        text        NOT NULL,
    at              timestamptz NOT NULL,
    provider_status text        CHECK (length(provider_status) <= 64),
    reason          text        CHECK (length(reason) <= 1024),
    event_id        text        CHECK (length(event_id) <= 128),
    PRIMARY KEY (tenant_id, subject, sequence),
    FOREIGN KEY (tenant_id, subject) REFERENCES kyc_records (tenant_id, subject)
);

-- kyc_webhook_events: the provider events applied, by the provider's event id (global: an
-- event is refused a second time whichever tenant it concerns). Not tenant data (an id and two
-- times), so no row-level security, like redeemed_challenges (0006). Purged after expires_at,
-- when the event's signature is refused by its timestamp anyway.
CREATE TABLE kyc_webhook_events (
    event_id    text        NOT NULL PRIMARY KEY,
    received_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

CREATE INDEX kyc_webhook_events_expires_at ON kyc_webhook_events (expires_at);

-- contacts: where a subject (SME or investor) receives notices such as maturity reminders.
CREATE TABLE contacts (
    tenant_id  text        NOT NULL,
    subject    text        NOT NULL,
    email      text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);

-- maturity_reminders: one per (tenant, invoice, recipient). The primary key makes a second
-- plan of the same reminder a no-op (the daily job may run twice); its job_id is the
-- deterministic id of its maturity_reminder job.
CREATE TABLE maturity_reminders (
    tenant_id     text        NOT NULL,
    invoice_id    text        NOT NULL,
    recipient     text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('sme', 'investor')),
    maturity_date date        NOT NULL,
    job_id        text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('planned', 'sent', 'dead', 'skipped')),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    sent_at       timestamptz,
    dry_run       boolean     NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, recipient),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

-- maturity_reminder_dead_letters (the spec's table): reminders not delivered, with
-- sanitised fields only: the recipient's subject and a masked e-mail hint (never the
-- address), why (permanent_error: an SMTP 5xx or invalid recipient; max_retries_exceeded),
-- the SMTP reply code, the error text without credentials or the address.
CREATE TABLE maturity_reminder_dead_letters (
    id             text        NOT NULL PRIMARY KEY,
    tenant_id      text        NOT NULL,
    invoice_id     text        NOT NULL,
    recipient      text        NOT NULL,
    role           text        NOT NULL CHECK (role IN ('sme', 'investor')),
    recipient_hint text        NOT NULL CHECK (length(recipient_hint) <= 260),
    reason         text        NOT NULL
        CHECK (reason IN ('permanent_error', 'max_retries_exceeded')),
    smtp_code      integer     CHECK (smtp_code BETWEEN 100 AND 599),
    error          text        NOT NULL CHECK (length(error) <= 500),
    attempts       integer     NOT NULL CHECK (attempts >= 0),
    job_id         text        NOT NULL,
    created_at     timestamptz NOT NULL
);

CREATE INDEX maturity_reminder_dead_letters_tenant
    ON maturity_reminder_dead_letters (tenant_id, created_at DESC, id COLLATE "C" DESC);

-- The daily run looks invoices up by maturity date.
CREATE INDEX invoices_by_due_date ON invoices (due_date, tenant_id) WHERE deleted_at IS NULL;

-- Row-level security, as in 0001: a row is visible and writable only while app.tenant_id
-- names its tenant; FORCE binds the owner too.
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['kyc_records', 'kyc_history', 'contacts',
                                'maturity_reminders', 'maturity_reminder_dead_letters']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', name);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_setting(''app.tenant_id'', true)) '
            'WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true))', name);
    END LOOP;
END
$$;

-- A provider's webhook event names a record by its reference before any tenant is known, and
-- the daily reminder run visits every tenant with invoices maturing soon. As wallet_binding_of
-- (0006) and reconciliation_tenants (0010) do, those two reads run in SECURITY DEFINER
-- functions owned by this migration's login: second policies let the owner role, and only
-- while one of these functions has set its flag in its transaction, read the rows it needs.
-- kyc_subject_of returns (tenant, subject) of one reference; reminder_tenants returns tenant
-- ids only (the statuses are fixed here: liquifact_core.reminders.REMINDED_STATES).
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY kyc_lookup ON kyc_records FOR SELECT TO %I USING ('
        'reference = nullif(current_setting(''liquifact.kyc_lookup'', true), ''''))',
        current_user);
    EXECUTE format(
        'CREATE POLICY reminder_scan ON invoices FOR SELECT TO %I '
        'USING (current_setting(''liquifact.reminder_scan'', true) = ''on'')',
        current_user);
END
$$;

CREATE FUNCTION kyc_subject_of(wanted text)
    RETURNS TABLE (tenant_id text, subject text)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('liquifact.kyc_lookup', wanted, true);
    RETURN QUERY SELECT k.tenant_id, k.subject FROM kyc_records AS k WHERE k.reference = wanted;
    PERFORM set_config('liquifact.kyc_lookup', '', true);
END
$$;

CREATE FUNCTION reminder_tenants(first_day date, last_day date)
    RETURNS SETOF text
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('liquifact.reminder_scan', 'on', true);
    RETURN QUERY
        SELECT i.tenant_id FROM invoices AS i
        WHERE i.deleted_at IS NULL
            AND i.status IN ('linked_escrow', 'partially_funded', 'funded', 'disbursed')
            AND i.due_date BETWEEN first_day AND last_day
        GROUP BY i.tenant_id
        ORDER BY i.tenant_id COLLATE "C";
    PERFORM set_config('liquifact.reminder_scan', '', true);
END
$$;

REVOKE ALL ON FUNCTION kyc_subject_of(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION reminder_tenants(date, date) FROM PUBLIC;

-- Least privilege: records change only in the columns a change may touch; history and dead
-- letters are written once; webhook events are inserted and purged; contacts are upserted;
-- reminders change only their outcome.
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT SELECT, INSERT ON kyc_records TO %I', app_role);
    EXECUTE format(
        'GRANT UPDATE (status, role, provider_reference, verification_url, reason, '
        'provider_event_at, updated_at, version) ON kyc_records TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT ON kyc_history TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON kyc_webhook_events TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE (email, updated_at) ON contacts TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT ON maturity_reminders TO %I', app_role);
    EXECUTE format(
        'GRANT UPDATE (status, updated_at, sent_at, dry_run) ON maturity_reminders TO %I',
        app_role);
    EXECUTE format('GRANT SELECT, INSERT ON maturity_reminder_dead_letters TO %I', app_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION kyc_subject_of(text) TO %I', app_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION reminder_tenants(date, date) TO %I', app_role);
END
$$;
