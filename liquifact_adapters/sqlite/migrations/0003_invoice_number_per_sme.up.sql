-- Issue 9: invoice numbers are unique per (tenant, SME), compared in one canonical form
-- (NFKC, case-folded, trimmed: liquifact_core.invoice_numbers), so look-alikes such as
-- 'INV-6B0F0', 'inv-6b0f0' and fullwidth forms are duplicates, and one SME learns nothing
-- about another's numbers. The key is computed by the application on every write; here by
-- liquifact_invoice_number_key(), the same Python function, which the migration runner
-- registers on its connection.
ALTER TABLE invoices ADD COLUMN invoice_number_key TEXT NOT NULL DEFAULT '';

UPDATE invoices SET invoice_number_key = liquifact_invoice_number_key(invoice_number);

-- Live look-alikes stored before this rule (e.g. 'INV-1' and 'inv-1' of one SME) are kept,
-- never rewritten or dropped: the newer ones get a key no canonical form can take (a line
-- feed, refused in invoice numbers, then the id). New numbers still collide with the oldest.
UPDATE invoices SET invoice_number_key = invoice_number_key || char(10) || '#' || id
WHERE deleted_at IS NULL AND EXISTS (
    SELECT 1 FROM invoices AS older
    WHERE older.tenant_id = invoices.tenant_id AND older.sme_id = invoices.sme_id
        AND older.deleted_at IS NULL
        AND older.invoice_number_key = invoices.invoice_number_key
        AND (older.created_at, older.id) < (invoices.created_at, invoices.id)
);

DROP INDEX invoices_live_number;

-- A number is unique among one SME's live invoices: deleting an invoice frees its number.
CREATE UNIQUE INDEX invoices_live_number_key
    ON invoices (tenant_id, sme_id, invoice_number_key)
    WHERE deleted_at IS NULL;
