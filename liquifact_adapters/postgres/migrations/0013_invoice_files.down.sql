-- Dropping the table drops its policy, index and grants; the objects it named stay in the
-- object store (remove them there).
DROP TABLE invoice_files;
ALTER TABLE invoices DROP COLUMN attestation_digest;
