-- The documents go; the objects they named stay in the object store (remove them there).
DROP TABLE invoice_files;
ALTER TABLE invoices DROP COLUMN attestation_digest;
