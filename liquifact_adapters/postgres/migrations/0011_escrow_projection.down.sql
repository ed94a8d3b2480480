-- Dropping a table drops its policies and grants; the invoices policy goes by name.
DROP FUNCTION escrow_indexer_progress();
DROP FUNCTION linked_escrows_to_index();
DROP POLICY escrow_indexer ON invoices;
DROP TABLE escrow_indexer_cursors;
DROP TABLE escrow_projections;
