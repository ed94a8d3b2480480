-- One idempotency mechanism, outcomes in domain terms.
--
-- idempotency_records.outcome holds what the use case came to as a JSON document (the result,
-- or the domain error that answered, plus the caller's context; see
-- liquifact_adapters/sql/outcomes.py) instead of an HTTP response's status, headers and bytes.
-- Records completed before this migration keep no outcome: their fingerprints were taken over
-- the HTTP request and never equal a new one, so until they expire a retry under such a key is
-- refused (409 IDEMPOTENCY_KEY_REUSED) and never funds twice.
--
-- investor_commitments.idempotency_key (the second, commitment-level dedupe) is dropped:
-- idempotency_records alone binds a key to its commitment.
--
-- SQLite cannot drop columns named by a CHECK constraint, so the records table is rebuilt.
CREATE TABLE idempotency_records_0004 (
    tenant_id    TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('in_progress', 'completed')),
    claim_id     TEXT NOT NULL,
    outcome      TEXT CHECK (outcome IS NULL OR json_valid(outcome)),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    locked_until TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

INSERT INTO idempotency_records_0004 (
    tenant_id, key, fingerprint, state, claim_id, outcome, created_at, expires_at, locked_until
)
SELECT tenant_id, key, fingerprint, state, claim_id, NULL, created_at, expires_at, locked_until
FROM idempotency_records;

DROP TABLE idempotency_records;

ALTER TABLE idempotency_records_0004 RENAME TO idempotency_records;

CREATE INDEX idempotency_records_expires_at ON idempotency_records (expires_at);

DROP INDEX investor_commitments_idempotency_key;

ALTER TABLE investor_commitments DROP COLUMN idempotency_key;
