-- Each tenant's webhook endpoint (liquifact_core.webhook_endpoints): the URL checked by the
-- application (https, public host), its host alone for listings and audit events, and the
-- signing secret sealed with the deployment's key (WEBHOOK_SECRETS_KEY): never in clear.
CREATE TABLE tenant_webhooks (
    tenant_id         TEXT NOT NULL PRIMARY KEY,
    url               TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    host              TEXT NOT NULL CHECK (length(host) BETWEEN 1 AND 253),
    sealed_secret     TEXT,
    secret_rotated_at TEXT,
    updated_at        TEXT NOT NULL
);

-- The spec's webhook_dead_letters: deliveries that ran out of attempts (or met a 4xx). They
-- stay job rows, so an admin replays one by requeuing its job; this view names them.
CREATE VIEW webhook_dead_letters AS
    SELECT id, tenant_id, payload, attempts, max_attempts, last_error, created_at,
        updated_at AS dead_at
    FROM jobs
    WHERE type = 'webhook_delivery' AND status = 'dead';
