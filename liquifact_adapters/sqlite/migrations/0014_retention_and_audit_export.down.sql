DROP TABLE legal_holds;
DROP TABLE retention_policies;
DROP INDEX audit_log_events_by_invoice;
ALTER TABLE audit_log_events DROP COLUMN invoice_id;
