-- Back to stored HTTP responses. A completed record's outcome cannot be turned back into the
-- response bytes the old code replays, so completed records are dropped (in-progress claims
-- are kept); commitments recorded since 0004 have no idempotency key of their own.
-- Row-level security binds the table owner too: lift it for this one cross-tenant delete.
ALTER TABLE idempotency_records NO FORCE ROW LEVEL SECURITY;
DELETE FROM idempotency_records WHERE state = 'completed';
ALTER TABLE idempotency_records FORCE ROW LEVEL SECURITY;

ALTER TABLE idempotency_records
    DROP COLUMN outcome,
    ADD COLUMN response_status integer,
    ADD COLUMN response_headers jsonb,
    ADD COLUMN response_body bytea,
    ADD CHECK (state = 'in_progress' OR (response_status IS NOT NULL AND response_body IS NOT NULL));

ALTER TABLE investor_commitments ADD COLUMN idempotency_key text;

CREATE UNIQUE INDEX investor_commitments_idempotency_key
    ON investor_commitments (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
