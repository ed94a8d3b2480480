-- Dropping a table drops its indexes, policies and grants; the function and the policy it
-- needs on invoices go first.
DROP FUNCTION reconciliation_tenants();
DROP POLICY reconciliation_scan ON invoices;
DROP TABLE reconciliation_results;
DROP TABLE reconciliation_runs;
