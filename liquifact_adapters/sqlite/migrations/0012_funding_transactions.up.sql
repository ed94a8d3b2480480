-- Funding through the chain (issue 12, item 3): a commitment keeps the funding transaction
-- it stands for. submission_status gains the signing modes' states (requires_signature,
-- submitted, confirmed, failed; see the PostgreSQL migration of the same number);
-- transaction_xdr is the base64 TransactionEnvelope (unsigned, then the signed one),
-- transaction_expires_at its time bound, submission_error the stable code of a failure.
-- SQLite cannot alter a CHECK constraint: the table is rebuilt (its indexes and trigger too).
CREATE TABLE investor_commitments_new (
    tenant_id                    TEXT    NOT NULL,
    id                           TEXT    NOT NULL,
    invoice_id                   TEXT    NOT NULL,
    investor_address             TEXT    NOT NULL,
    amount_stroops               INTEGER NOT NULL
        CHECK (amount_stroops > 0 AND amount_stroops <= 1000000000000000000),
    status                       TEXT    NOT NULL
        CHECK (status IN ('pending', 'confirmed', 'released')),
    investor_effective_yield_bps INTEGER NOT NULL,
    claim_not_before             TEXT    NOT NULL,
    submission_status            TEXT    NOT NULL
        CHECK (submission_status IN
            ('stubbed', 'requires_signature', 'submitted', 'confirmed', 'failed')),
    tx_hash                      TEXT,
    actor_id                     TEXT    NOT NULL,
    created_at                   TEXT    NOT NULL,
    updated_at                   TEXT    NOT NULL,
    transaction_xdr              TEXT    CHECK (length(transaction_xdr) <= 65536),
    transaction_expires_at       TEXT,
    submission_error             TEXT    CHECK (length(submission_error) <= 64),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

INSERT INTO investor_commitments_new (
    tenant_id, id, invoice_id, investor_address, amount_stroops, status,
    investor_effective_yield_bps, claim_not_before, submission_status, tx_hash,
    actor_id, created_at, updated_at
)
SELECT
    tenant_id, id, invoice_id, investor_address, amount_stroops, status,
    investor_effective_yield_bps, claim_not_before, submission_status, tx_hash,
    actor_id, created_at, updated_at
FROM investor_commitments;

DROP TABLE investor_commitments;
ALTER TABLE investor_commitments_new RENAME TO investor_commitments;

CREATE INDEX investor_commitments_by_invoice
    ON investor_commitments (tenant_id, invoice_id, status);

CREATE INDEX investor_commitments_by_investor
    ON investor_commitments (tenant_id, investor_address, invoice_id);

CREATE TRIGGER investor_commitments_terms_immutable
    BEFORE UPDATE OF amount_stroops, invoice_id, investor_address, tenant_id
    ON investor_commitments
    WHEN NEW.amount_stroops IS NOT OLD.amount_stroops
        OR NEW.invoice_id IS NOT OLD.invoice_id
        OR NEW.investor_address IS NOT OLD.investor_address
        OR NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'investor_commitments terms are immutable');
END;
