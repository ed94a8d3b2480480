DROP TABLE reconciliation_results;
DROP TABLE reconciliation_runs;
