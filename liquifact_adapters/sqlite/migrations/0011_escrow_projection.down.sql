DROP TABLE escrow_indexer_cursors;
DROP TABLE escrow_projections;
