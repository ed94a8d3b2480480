-- Dropping a table drops its indexes; the column's partial index must go before the column.
DROP TABLE sme_profiles;
DROP INDEX invoices_buyer_name_unkeyed;
ALTER TABLE invoices DROP COLUMN buyer_name_key;
