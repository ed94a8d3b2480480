-- SME profiles (display name and country) and the folded search keys of the marketplace's
-- `q` filter.
--
-- sme_profiles: one row per SME principal (tenant, subject = the token's sub, which its
-- invoices carry as sme_id). display_name_key is the display name folded by the application
-- (liquifact_core.search.fold: NFKD, case-folded, combining marks dropped), written with
-- every write of the row: SQL never folds, so every store compares the same keys.
CREATE TABLE sme_profiles (
    tenant_id        text        NOT NULL,
    subject          text        NOT NULL,
    display_name     text        NOT NULL,
    display_name_key text        NOT NULL,
    country          text        NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);

-- Row-level security, as in 0001: a row is visible and writable only while app.tenant_id
-- names its tenant; FORCE binds the owner too.
ALTER TABLE sme_profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE sme_profiles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sme_profiles
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- invoices.buyer_name_key: the buyer name folded the same way, rewritten by the repository on
-- every insert and update. Rows written before this migration hold NULL until the store's
-- backfill (run after every migrate, idempotent) fills them with the application's folding;
-- the partial index finds them without reading the table, and is empty once it has run.
-- The column belongs to invoices and its policy; the application role's table-wide grants
-- cover it.
ALTER TABLE invoices ADD COLUMN buyer_name_key text;

CREATE INDEX invoices_buyer_name_unkeyed ON invoices (id) WHERE buyer_name_key IS NULL;

-- Least privilege: profiles are created and replaced, never deleted.
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON sme_profiles TO %I', app_role);
END
$$;
