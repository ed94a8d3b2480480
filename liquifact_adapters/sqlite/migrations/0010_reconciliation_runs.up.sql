-- Reconciliation runs (liquifact_core.reconciliation): one row per tenant and run, with its
-- counts, the sum of absolute drifts (stroops) and the threshold it was judged by, and one
-- row per invoice it compared. Amounts are exact integer text, as in invoices (the chain's
-- are i128).
CREATE TABLE reconciliation_runs (
    id                  TEXT    NOT NULL PRIMARY KEY,
    tenant_id           TEXT    NOT NULL,
    started_at          TEXT    NOT NULL,
    finished_at         TEXT    NOT NULL,
    total               INTEGER NOT NULL CHECK (total >= 0),
    matches             INTEGER NOT NULL CHECK (matches >= 0),
    mismatches          INTEGER NOT NULL CHECK (mismatches >= 0),
    errors              INTEGER NOT NULL CHECK (errors >= 0),
    total_drift_stroops TEXT    NOT NULL,
    drift_threshold     INTEGER NOT NULL CHECK (drift_threshold BETWEEN 1 AND 1000000),
    alerted             INTEGER NOT NULL CHECK (alerted IN (0, 1)),
    CHECK (total = matches + mismatches + errors),
    CHECK (finished_at >= started_at),
    UNIQUE (id, tenant_id)
);

CREATE INDEX reconciliation_runs_tenant
    ON reconciliation_runs (tenant_id, started_at DESC, id DESC);

CREATE TABLE reconciliation_results (
    run_id               TEXT    NOT NULL,
    tenant_id            TEXT    NOT NULL,
    invoice_id           TEXT    NOT NULL,
    escrow_address       TEXT,
    store_funded_stroops TEXT    NOT NULL,
    chain_funded_stroops TEXT,
    outcome              TEXT    NOT NULL CHECK (outcome IN ('match', 'mismatch', 'error')),
    drift_stroops        TEXT,
    failure              TEXT    CHECK (failure IN ('rpc_unavailable', 'rpc_timeout',
        'escrow_not_initialised', 'contract_error', 'unreadable_answer', 'no_escrow_address')),
    contract_error       INTEGER CHECK (contract_error >= 0),
    PRIMARY KEY (run_id, invoice_id),
    FOREIGN KEY (run_id, tenant_id) REFERENCES reconciliation_runs (id, tenant_id),
    CHECK ((outcome = 'error') = (chain_funded_stroops IS NULL)),
    CHECK ((failure IS NULL) = (chain_funded_stroops IS NOT NULL)),
    CHECK ((drift_stroops IS NULL) = (chain_funded_stroops IS NULL)),
    CHECK (contract_error IS NULL OR failure = 'contract_error')
);
