DROP TABLE idempotency_records;
DROP TABLE investor_commitments;
DROP INDEX invoices_market_created_at;
DROP INDEX invoices_market_amount;
DROP INDEX invoices_market_funded_ratio;
DROP INDEX invoices_market_maturity_date;
DROP INDEX invoices_market_yield_bps;
ALTER TABLE invoices DROP COLUMN amount_key;
ALTER TABLE invoices DROP COLUMN funded_ratio_hundredths;
