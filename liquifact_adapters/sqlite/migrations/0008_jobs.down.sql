-- Dropping a table drops its indexes.
DROP TABLE jobs;
