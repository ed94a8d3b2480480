-- SME profiles (display name and country) and the folded search keys of the marketplace's
-- `q` filter.
--
-- sme_profiles: one row per SME principal (tenant, subject = the token's sub, which its
-- invoices carry as sme_id). display_name_key is the display name folded by the application
-- (liquifact_core.search.fold: NFKD, case-folded, combining marks dropped), written with
-- every write of the row: SQL never folds, so every store compares the same keys.
CREATE TABLE sme_profiles (
    tenant_id        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    country          TEXT NOT NULL CHECK (length(country) = 2 AND country GLOB '[A-Z][A-Z]'),
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);

-- invoices.buyer_name_key: the buyer name folded the same way, rewritten by the repository on
-- every insert and update. Rows written before this migration hold NULL until the store's
-- backfill (run after every migrate, idempotent) fills them with the application's folding;
-- the partial index finds them without reading the table, and is empty once it has run.
ALTER TABLE invoices ADD COLUMN buyer_name_key TEXT;

CREATE INDEX invoices_buyer_name_unkeyed ON invoices (id) WHERE buyer_name_key IS NULL;
