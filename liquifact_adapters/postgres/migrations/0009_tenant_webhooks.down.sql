-- Dropping a table drops its policies and grants.
DROP VIEW webhook_dead_letters;
DROP TABLE tenant_webhooks;
