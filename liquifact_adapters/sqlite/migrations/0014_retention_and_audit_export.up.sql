-- Issue 16: data retention with legal holds, and an invoice's audit trail for export.
--
-- The audit trail of an invoice: the events whose resource is the invoice, or whose metadata
-- names it (commitments, webhook deliveries). A generated column states the rule once for the
-- index; the application computes the same value (liquifact_core.audit.AuditEvent.invoice_id).
-- Adding a column is no UPDATE of a row: the append-only triggers of 0001 stay as they are.
ALTER TABLE audit_log_events ADD COLUMN invoice_id TEXT GENERATED ALWAYS AS (
    CASE
        WHEN resource_type = 'invoice' THEN resource_id
        WHEN json_type(metadata, '$.invoiceId') = 'text' THEN json_extract(metadata, '$.invoiceId')
    END
) VIRTUAL;

-- An export reads one invoice's events in append order (rowid, which the index carries).
CREATE INDEX audit_log_events_by_invoice ON audit_log_events (tenant_id, invoice_id);

-- Retention policies (liquifact_core.retention): how long after an invoice closes its buyer's
-- personal data is kept. pii_fields is a JSON array of buyerName, buyerEmail, buyerTaxId.
CREATE TABLE retention_policies (
    tenant_id      TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    name           TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    retention_days INTEGER NOT NULL CHECK (retention_days BETWEEN 1 AND 36500),
    pii_fields     TEXT    NOT NULL CHECK (json_valid(pii_fields)
        AND json_type(pii_fields) = 'array' AND json_array_length(pii_fields) BETWEEN 1 AND 3),
    active         INTEGER NOT NULL CHECK (active IN (0, 1)),
    version        INTEGER NOT NULL CHECK (version >= 1),
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    updated_by     TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX retention_policies_name ON retention_policies (tenant_id, name);

-- Legal holds on invoices. A hold is evidence too: never deleted, and once placed only its
-- release is ever written (released_at, released_by, release_reason, once).
CREATE TABLE legal_holds (
    tenant_id      TEXT NOT NULL,
    id             TEXT NOT NULL,
    invoice_id     TEXT NOT NULL,
    type           TEXT NOT NULL
        CHECK (type IN ('litigation', 'regulatory', 'investigation', 'audit', 'other')),
    reason         TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 1024),
    placed_by      TEXT NOT NULL,
    placed_at      TEXT NOT NULL,
    released_at    TEXT,
    released_by    TEXT,
    release_reason TEXT CHECK (release_reason IS NULL OR length(release_reason) BETWEEN 1 AND 1024),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    CHECK ((released_at IS NULL) = (released_by IS NULL))
);

-- One active hold per invoice: of two placed at once, exactly one is stored.
CREATE UNIQUE INDEX legal_holds_one_active
    ON legal_holds (tenant_id, invoice_id)
    WHERE released_at IS NULL;

CREATE INDEX legal_holds_newest ON legal_holds (tenant_id, placed_at DESC, id DESC);

CREATE TRIGGER legal_holds_no_delete
    BEFORE DELETE ON legal_holds
BEGIN
    SELECT RAISE(ABORT, 'legal_holds are kept: a hold is released, never deleted');
END;

CREATE TRIGGER legal_holds_release_only
    BEFORE UPDATE ON legal_holds
    WHEN OLD.released_at IS NOT NULL
        OR NEW.tenant_id IS NOT OLD.tenant_id OR NEW.id IS NOT OLD.id
        OR NEW.invoice_id IS NOT OLD.invoice_id OR NEW.type IS NOT OLD.type
        OR NEW.reason IS NOT OLD.reason OR NEW.placed_by IS NOT OLD.placed_by
        OR NEW.placed_at IS NOT OLD.placed_at
BEGIN
    SELECT RAISE(ABORT, 'legal_holds: only an active hold''s release may be written');
END;
