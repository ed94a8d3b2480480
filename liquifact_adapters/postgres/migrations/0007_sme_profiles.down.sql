-- Dropping a table drops its policies and grants; dropping the column drops its index.
DROP TABLE sme_profiles;
ALTER TABLE invoices DROP COLUMN buyer_name_key;
