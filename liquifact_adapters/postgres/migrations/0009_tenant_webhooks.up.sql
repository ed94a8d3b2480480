-- Each tenant's webhook endpoint (liquifact_core.webhook_endpoints): the URL checked by the
-- application (https, public host), its host alone for listings and audit events, and the
-- signing secret sealed with the deployment's key (WEBHOOK_SECRETS_KEY): never in clear.
CREATE TABLE tenant_webhooks (
    tenant_id         text        NOT NULL PRIMARY KEY,
    url               text        NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    host              text        NOT NULL CHECK (char_length(host) BETWEEN 1 AND 253),
    sealed_secret     text,
    secret_rotated_at timestamptz,
    updated_at        timestamptz NOT NULL
);

-- Row-level security, as in 0001: a row is visible and writable only while app.tenant_id
-- names its tenant; FORCE binds the owner too. The delivery handler reads the endpoint in a
-- unit of work of the job's tenant, so no cross-tenant function is needed.
ALTER TABLE tenant_webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_webhooks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_webhooks
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- The spec's webhook_dead_letters: deliveries that ran out of attempts (or met a 4xx). They
-- stay job rows, so an admin replays one by requeuing its job; this view names them.
-- security_invoker: the jobs table's row-level security applies to the view's reader.
CREATE VIEW webhook_dead_letters WITH (security_invoker = true) AS
    SELECT id, tenant_id, payload, attempts, max_attempts, last_error, created_at,
        updated_at AS dead_at
    FROM jobs
    WHERE type = 'webhook_delivery' AND status = 'dead';

DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_webhooks TO %I', app_role);
    EXECUTE format('GRANT SELECT ON webhook_dead_letters TO %I', app_role);
END
$$;
