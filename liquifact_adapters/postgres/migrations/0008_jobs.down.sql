-- Dropping a table drops its indexes, policies and grants; the functions go first.
DROP FUNCTION job_counts(timestamptz);
DROP FUNCTION write_job_state(
    text, text, integer, text, text, integer, timestamptz, text, timestamptz, text, timestamptz
);
DROP FUNCTION due_jobs(timestamptz, text[], integer);
DROP TABLE jobs;
