-- Invoice documents (liquifact_core.documents): one row per file of an invoice. The bytes live
-- in the object store under object_key (tenants/{tenantId}/invoices/{invoiceId}/{uuid}-{name});
-- size_bytes and sha256 are the declared ones while a presigned upload is pending, the
-- measured ones once stored. is_primary (requested, while pending) marks the invoice's primary document, whose SHA-256
-- the invoice keeps as its attestation digest (the escrow's bind_primary_attestation_hash).
CREATE TABLE invoice_files (
    tenant_id         TEXT    NOT NULL,
    id                TEXT    NOT NULL,
    invoice_id        TEXT    NOT NULL,
    object_key        TEXT    NOT NULL UNIQUE CHECK (length(object_key) BETWEEN 1 AND 1024),
    filename          TEXT    NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    content_type      TEXT    NOT NULL
        CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png', 'image/tiff')),
    size_bytes        INTEGER NOT NULL CHECK (size_bytes > 0),
    sha256            TEXT    NOT NULL CHECK (length(sha256) = 64),
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'stored')),
    is_primary        INTEGER NOT NULL CHECK (is_primary IN (0, 1)),
    uploaded_by       TEXT    NOT NULL,
    created_at        TEXT    NOT NULL,
    stored_at         TEXT,
    upload_expires_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    CHECK ((status = 'stored') = (stored_at IS NOT NULL))
);

CREATE INDEX invoice_files_by_invoice ON invoice_files (tenant_id, invoice_id, created_at);

ALTER TABLE invoices ADD COLUMN attestation_digest TEXT
    CHECK (attestation_digest IS NULL OR length(attestation_digest) = 64);
