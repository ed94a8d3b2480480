-- Invoices keep one row per (tenant, id). Soft-deleted rows stay, so history and audit
-- still point at something; every live-row index is partial on deleted_at IS NULL.
-- Money and stroop amounts are TEXT: exact decimal strings, never REAL.
CREATE TABLE invoices (
    tenant_id              TEXT    NOT NULL,
    id                     TEXT    NOT NULL,
    sme_id                 TEXT    NOT NULL,
    sme_wallet             TEXT,
    invoice_number         TEXT    NOT NULL,
    buyer_name             TEXT    NOT NULL,
    buyer_email            TEXT,
    buyer_tax_id           TEXT,
    amount                 TEXT    NOT NULL,
    currency               TEXT    NOT NULL,
    issue_date             TEXT    NOT NULL,
    due_date               TEXT    NOT NULL,
    yield_bps              INTEGER NOT NULL,
    description            TEXT,
    metadata               TEXT    NOT NULL DEFAULT '{}',
    status                 TEXT    NOT NULL,
    status_reason          TEXT,
    version                INTEGER NOT NULL,
    escrow_address         TEXT,
    funding_target_stroops TEXT,
    funded_stroops         TEXT    NOT NULL DEFAULT '0',
    created_at             TEXT    NOT NULL,
    updated_at             TEXT    NOT NULL,
    deleted_at             TEXT,
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

-- The primary key doubles as the optimistic lock of concurrent transitions: two writers
-- that both read version n both try to record step n + 1, and only one insert wins.
CREATE TABLE invoice_transitions (
    tenant_id   TEXT    NOT NULL,
    invoice_id  TEXT    NOT NULL,
    sequence    INTEGER NOT NULL,
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL,
    actor_role  TEXT    NOT NULL,
    reason      TEXT,
    at          TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, sequence),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
) WITHOUT ROWID;

CREATE TABLE audit_log_events (
    id            TEXT NOT NULL PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    actor_role    TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    at            TEXT NOT NULL,
    metadata      TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_events_by_resource
    ON audit_log_events (tenant_id, resource_type, resource_id, at);

-- The audit trail is evidence: the database itself refuses to change or remove it, whatever
-- code (or person with a shell) tries.
CREATE TRIGGER audit_log_events_no_update
    BEFORE UPDATE ON audit_log_events
BEGIN
    SELECT RAISE(ABORT, 'audit_log_events is append-only');
END;

CREATE TRIGGER audit_log_events_no_delete
    BEFORE DELETE ON audit_log_events
BEGIN
    SELECT RAISE(ABORT, 'audit_log_events is append-only');
END;
