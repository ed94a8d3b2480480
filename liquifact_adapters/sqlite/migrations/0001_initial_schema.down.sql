-- Dropping a table drops its indexes and triggers too. Children go before their parents
-- because foreign keys are enforced.
DROP TABLE audit_log_events;
DROP TABLE invoice_transitions;
DROP TABLE invoices;
