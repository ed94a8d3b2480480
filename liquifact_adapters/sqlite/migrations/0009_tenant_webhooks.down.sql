DROP VIEW webhook_dead_letters;
DROP TABLE tenant_webhooks;
