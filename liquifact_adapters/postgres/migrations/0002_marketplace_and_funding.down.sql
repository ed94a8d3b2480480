-- Dropping a table drops its indexes, policies, triggers and grants.
DROP FUNCTION purge_expired_idempotency_records(timestamptz, integer);
DROP TABLE idempotency_records;
DROP TABLE investor_commitments;
DROP FUNCTION investor_commitments_terms_immutable();
DROP INDEX invoices_market_live;
DROP INDEX invoices_market_filters;
DROP INDEX invoices_market_created_at;
DROP INDEX invoices_market_amount;
DROP INDEX invoices_market_funded_ratio;
DROP INDEX invoices_market_maturity_date;
DROP INDEX invoices_market_yield_bps;
ALTER TABLE invoices DROP CONSTRAINT invoices_amount_key_is_amount;
ALTER TABLE invoices DROP COLUMN amount_key;
ALTER TABLE invoices DROP COLUMN funded_ratio_hundredths;
