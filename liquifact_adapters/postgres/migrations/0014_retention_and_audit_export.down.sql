-- Dropping a table drops its indexes, policies, triggers and grants; the function and the
-- policy it needs go first.
DROP FUNCTION retention_tenants();
DROP POLICY retention_scan ON retention_policies;
DROP TABLE legal_holds;
DROP FUNCTION legal_holds_release_only();
DROP TABLE retention_policies;
DROP INDEX audit_log_events_by_invoice;
ALTER TABLE audit_log_events DROP COLUMN invoice_id;
