-- Dropping a table drops its indexes, policies, triggers and grants. Children go before their
-- parents because of the foreign key. The application role stays: roles belong to the whole
-- cluster and other databases may still use it (docs/database.md shows how to drop it).
DROP TABLE audit_log_events;
DROP FUNCTION audit_log_events_append_only();
DROP TABLE invoice_transitions;
DROP TABLE invoices;
DO $$
BEGIN
    EXECUTE format('REVOKE USAGE ON SCHEMA public FROM %I', current_setting('liquifact.app_role'));
END
$$;
