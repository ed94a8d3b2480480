-- Back to stored HTTP responses. A completed record's outcome cannot be turned back into the
-- response bytes the old code replays, so completed records are dropped (in-progress claims
-- are kept); commitments recorded since 0004 have no idempotency key of their own.
CREATE TABLE idempotency_records_0002 (
    tenant_id        TEXT    NOT NULL,
    key              TEXT    NOT NULL,
    fingerprint      TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('in_progress', 'completed')),
    claim_id         TEXT    NOT NULL,
    response_status  INTEGER,
    response_headers TEXT,
    response_body    BLOB,
    created_at       TEXT    NOT NULL,
    expires_at       TEXT    NOT NULL,
    locked_until     TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, key),
    CHECK (state = 'in_progress' OR (response_status IS NOT NULL AND response_body IS NOT NULL))
);

INSERT INTO idempotency_records_0002 (
    tenant_id, key, fingerprint, state, claim_id, created_at, expires_at, locked_until
)
SELECT tenant_id, key, fingerprint, state, claim_id, created_at, expires_at, locked_until
FROM idempotency_records
WHERE state = 'in_progress';

DROP TABLE idempotency_records;

ALTER TABLE idempotency_records_0002 RENAME TO idempotency_records;

CREATE INDEX idempotency_records_expires_at ON idempotency_records (expires_at);

ALTER TABLE investor_commitments ADD COLUMN idempotency_key TEXT;

CREATE UNIQUE INDEX investor_commitments_idempotency_key
    ON investor_commitments (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
