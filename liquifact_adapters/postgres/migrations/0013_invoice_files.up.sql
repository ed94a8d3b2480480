-- Invoice documents (liquifact_core.documents): one row per file of an invoice. The bytes live
-- in the object store under object_key (tenants/{tenantId}/invoices/{invoiceId}/{uuid}-{name});
-- size_bytes and sha256 are the declared ones while a presigned upload is pending, the
-- measured ones once stored. is_primary (requested, while pending) marks the invoice's primary document, whose SHA-256
-- the invoice keeps as its attestation digest (the escrow's bind_primary_attestation_hash).
CREATE TABLE invoice_files (
    tenant_id         text        NOT NULL,
    id                text        NOT NULL,
    invoice_id        text        NOT NULL,
    object_key        text        NOT NULL UNIQUE
        CHECK (char_length(object_key) BETWEEN 1 AND 1024),
    filename          text        NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255),
    content_type      text        NOT NULL
        CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png', 'image/tiff')),
    size_bytes        bigint      NOT NULL CHECK (size_bytes > 0),
    sha256            text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    status            text        NOT NULL CHECK (status IN ('pending', 'stored')),
    is_primary        boolean     NOT NULL,
    uploaded_by       text        NOT NULL,
    created_at        timestamptz NOT NULL,
    stored_at         timestamptz,
    upload_expires_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    CHECK ((status = 'stored') = (stored_at IS NOT NULL))
);

CREATE INDEX invoice_files_by_invoice ON invoice_files (tenant_id, invoice_id, created_at);

ALTER TABLE invoices ADD COLUMN attestation_digest text
    CHECK (attestation_digest ~ '^[0-9a-f]{64}$');

-- Row-level security, as in 0001: a row is visible and writable only while app.tenant_id
-- names its tenant; FORCE binds the owner too. The clean-up jobs run in a unit of work of
-- the job's tenant, so no cross-tenant function is needed.
ALTER TABLE invoice_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoice_files FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invoice_files
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Least privilege: rows are added, confirmed (status, size, hash, stored_at), re-flagged as
-- primary, and deleted with their invoice or when an upload expires; nothing else changes.
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON invoice_files TO %I', app_role);
    EXECUTE format(
        'GRANT UPDATE (status, size_bytes, sha256, stored_at, is_primary) '
        'ON invoice_files TO %I', app_role);
END
$$;
