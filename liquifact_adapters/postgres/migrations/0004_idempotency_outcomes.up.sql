-- One idempotency mechanism, outcomes in domain terms.
--
-- idempotency_records.outcome holds what the use case came to as a JSON document (the result,
-- or the domain error that answered, plus the caller's context; see
-- liquifact_adapters/sql/outcomes.py) instead of an HTTP response's status, headers and bytes.
-- Records completed before this migration keep no outcome: their fingerprints were taken over
-- the HTTP request and never equal a new one, so until they expire a retry under such a key is
-- refused (409 IDEMPOTENCY_KEY_REUSED) and never funds twice.
--
-- investor_commitments.idempotency_key (the second, commitment-level dedupe) is dropped with
-- its unique index: idempotency_records alone binds a key to its commitment.
--
-- Dropping the response columns drops the CHECK that named them. Grants are per table, so the
-- application role may write the new column; row-level security is unchanged.
ALTER TABLE idempotency_records
    DROP COLUMN response_status,
    DROP COLUMN response_headers,
    DROP COLUMN response_body,
    ADD COLUMN outcome jsonb;

ALTER TABLE investor_commitments DROP COLUMN idempotency_key;
