-- Issue 9: invoice numbers are unique per (tenant, SME), compared in one canonical form
-- (NFKC, case-folded, trimmed: liquifact_core.invoice_numbers), so look-alikes such as
-- 'INV-6B0F0', 'inv-6b0f0' and fullwidth forms are duplicates, and one SME learns nothing
-- about another's numbers. The application computes the key on every write. The backfill
-- below computes it in SQL: NFKC, lower() (Unicode-aware under a UTF-8 ctype), the case
-- foldings lower() lacks for 'ß'/'ẞ' and final sigma, NFKC again, trimmed; docs/database.md.
-- Row-level security is untouched: the column belongs to the invoices table and its policy,
-- and the application role's table-wide grants cover it.
ALTER TABLE invoices ADD COLUMN invoice_number_key text NOT NULL DEFAULT '';

UPDATE invoices SET invoice_number_key = btrim(
    normalize(
        replace(replace(replace(
            lower(normalize(invoice_number, NFKC)), 'ß', 'ss'), 'ẞ', 'ss'), 'ς', 'σ'),
        NFKC),
    E' \t\n\r\f\v');

-- Live look-alikes stored before this rule (e.g. 'INV-1' and 'inv-1' of one SME) are kept,
-- never rewritten or dropped: the newer ones get a key no canonical form can take (a line
-- feed, refused in invoice numbers, then the id). New numbers still collide with the oldest.
UPDATE invoices SET invoice_number_key = invoices.invoice_number_key || E'\n#' || invoices.id
WHERE invoices.deleted_at IS NULL AND EXISTS (
    SELECT 1 FROM invoices AS older
    WHERE older.tenant_id = invoices.tenant_id AND older.sme_id = invoices.sme_id
        AND older.deleted_at IS NULL
        AND older.invoice_number_key = invoices.invoice_number_key
        AND (older.created_at, older.id) < (invoices.created_at, invoices.id)
);

ALTER TABLE invoices ALTER COLUMN invoice_number_key DROP DEFAULT;

DROP INDEX invoices_live_number;

-- A number is unique among one SME's live invoices: deleting an invoice frees its number.
CREATE UNIQUE INDEX invoices_live_number_key
    ON invoices (tenant_id, sme_id, invoice_number_key)
    WHERE deleted_at IS NULL;
