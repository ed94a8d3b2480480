-- Back to 0011's table: the transaction columns go, the new states fold into 'submitted'.
CREATE TABLE investor_commitments_old (
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
        CHECK (submission_status IN ('stubbed', 'submitted')),
    tx_hash                      TEXT,
    actor_id                     TEXT    NOT NULL,
    created_at                   TEXT    NOT NULL,
    updated_at                   TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

INSERT INTO investor_commitments_old
SELECT
    tenant_id, id, invoice_id, investor_address, amount_stroops, status,
    investor_effective_yield_bps, claim_not_before,
    CASE WHEN submission_status = 'stubbed' THEN 'stubbed' ELSE 'submitted' END,
    tx_hash, actor_id, created_at, updated_at
FROM investor_commitments;

DROP TABLE investor_commitments;
ALTER TABLE investor_commitments_old RENAME TO investor_commitments;

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
