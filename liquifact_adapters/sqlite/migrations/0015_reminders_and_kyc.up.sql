-- KYC and maturity reminders (issue 15). See the PostgreSQL migration of the same number for
-- what each table holds; SQLite keeps instants as fixed-width UTC text and dates as
-- YYYY-MM-DD text, as the earlier tables do.

-- One KYC record per (tenant, subject); reference is our id the provider echoes in its
-- events, unique across tenants.
CREATE TABLE kyc_records (
    tenant_id          TEXT    NOT NULL,
    subject            TEXT    NOT NULL,
    reference          TEXT    NOT NULL UNIQUE,
    status             TEXT    NOT NULL
        CHECK (status IN ('pending', 'verified', 'rejected', 'exempted')),
    role               TEXT    CHECK (role IN ('sme', 'investor')),
    provider_reference TEXT    CHECK (length(provider_reference) <= 128),
    verification_url   TEXT    CHECK (length(verification_url) <= 2048),
    reason             TEXT    CHECK (length(reason) <= 1024),
    provider_event_at  TEXT,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    version            INTEGER NOT NULL CHECK (version >= 1),
    PRIMARY KEY (tenant_id, subject)
);

-- Each change of a record, in order; never changed or removed.
CREATE TABLE kyc_history (
    tenant_id       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    sequence        INTEGER NOT NULL CHECK (sequence >= 1),
    status          TEXT    NOT NULL
        CHECK (status IN ('pending', 'verified', 'rejected', 'exempted')),
    source          TEXT    NOT NULL CHECK (source IN ('submission', 'provider', 'admin')),
    actor_id        TEXT    NOT NULL,
    at              TEXT    NOT NULL,
    provider_status TEXT    CHECK (length(provider_status) <= 64),
    reason          TEXT    CHECK (length(reason) <= 1024),
    event_id        TEXT    CHECK (length(event_id) <= 128),
    PRIMARY KEY (tenant_id, subject, sequence),
    FOREIGN KEY (tenant_id, subject) REFERENCES kyc_records (tenant_id, subject)
);

CREATE TRIGGER kyc_history_no_update BEFORE UPDATE ON kyc_history
BEGIN
    SELECT RAISE(ABORT, 'kyc_history is append-only');
END;

CREATE TRIGGER kyc_history_no_delete BEFORE DELETE ON kyc_history
BEGIN
    SELECT RAISE(ABORT, 'kyc_history is append-only');
END;

-- Provider webhook events applied (their ids are the provider's, global); purged once their
-- signatures would be refused by their timestamps anyway.
CREATE TABLE kyc_webhook_events (
    event_id    TEXT NOT NULL PRIMARY KEY,
    received_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE INDEX kyc_webhook_events_expires_at ON kyc_webhook_events (expires_at);

-- Where a subject receives notices (maturity reminders).
CREATE TABLE contacts (
    tenant_id  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    email      TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);

-- One reminder per (tenant, invoice, recipient): the key makes a second plan a no-op.
CREATE TABLE maturity_reminders (
    tenant_id     TEXT    NOT NULL,
    invoice_id    TEXT    NOT NULL,
    recipient     TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('sme', 'investor')),
    maturity_date TEXT    NOT NULL,
    job_id        TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('planned', 'sent', 'dead', 'skipped')),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    sent_at       TEXT,
    dry_run       INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    PRIMARY KEY (tenant_id, invoice_id, recipient),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

-- Reminders that were not delivered, with sanitised fields: no e-mail address (a masked hint
-- only), the SMTP reply code, the error text without credentials or the address.
CREATE TABLE maturity_reminder_dead_letters (
    id             TEXT    NOT NULL PRIMARY KEY,
    tenant_id      TEXT    NOT NULL,
    invoice_id     TEXT    NOT NULL,
    recipient      TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('sme', 'investor')),
    recipient_hint TEXT    NOT NULL CHECK (length(recipient_hint) <= 260),
    reason         TEXT    NOT NULL CHECK (reason IN ('permanent_error', 'max_retries_exceeded')),
    smtp_code      INTEGER CHECK (smtp_code BETWEEN 100 AND 599),
    error          TEXT    NOT NULL CHECK (length(error) <= 500),
    attempts       INTEGER NOT NULL CHECK (attempts >= 0),
    job_id         TEXT    NOT NULL,
    created_at     TEXT    NOT NULL
);

CREATE INDEX maturity_reminder_dead_letters_tenant
    ON maturity_reminder_dead_letters (tenant_id, created_at DESC, id DESC);

-- The daily run looks invoices up by maturity date.
CREATE INDEX invoices_by_due_date ON invoices (due_date, tenant_id) WHERE deleted_at IS NULL;
