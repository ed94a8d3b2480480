-- Back to one number per tenant, compared as stored. Fails (and changes nothing) when two
-- SMEs of a tenant now use the same number: undoing the rule must not drop an invoice.
DROP INDEX invoices_live_number_key;

CREATE UNIQUE INDEX invoices_live_number
    ON invoices (tenant_id, invoice_number)
    WHERE deleted_at IS NULL;

ALTER TABLE invoices DROP COLUMN invoice_number_key;
