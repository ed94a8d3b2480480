-- The escrow indexer (liquifact_core.indexing): one projection per invoice of its escrow
-- contract as last read (the contract's InvoiceEscrow, legal hold and pause, the ledger it
-- reflects) and one cursor per tenant, written in the tenant's unit of work that also moves
-- the invoices. Contract amounts are i128: kept as decimal digit strings, like stroops in 0001.
CREATE TABLE escrow_projections (
    tenant_id         TEXT    NOT NULL,
    invoice_id        TEXT    NOT NULL,
    contract          TEXT    NOT NULL CHECK (length(contract) = 56 AND contract GLOB 'C*'),
    escrow_invoice_id TEXT    NOT NULL,
    admin             TEXT    NOT NULL,
    sme_address       TEXT    NOT NULL,
    amount            TEXT    NOT NULL,
    funding_target    TEXT    NOT NULL,
    funded_amount     TEXT    NOT NULL,
    yield_bps         INTEGER NOT NULL CHECK (yield_bps BETWEEN 0 AND 10000),
    maturity          TEXT    NOT NULL,
    status            INTEGER NOT NULL CHECK (status BETWEEN 0 AND 4),
    legal_hold        INTEGER NOT NULL CHECK (legal_hold IN (0, 1)),
    paused            INTEGER NOT NULL CHECK (paused IN (0, 1)),
    ledger            INTEGER NOT NULL CHECK (ledger >= 0),
    updated_at        TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

CREATE TABLE escrow_indexer_cursors (
    tenant_id  TEXT    NOT NULL PRIMARY KEY,
    cursor     TEXT,
    ledger     INTEGER NOT NULL CHECK (ledger >= 0),
    updated_at TEXT    NOT NULL
);
