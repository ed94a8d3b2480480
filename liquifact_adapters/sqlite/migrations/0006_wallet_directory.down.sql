-- Dropping a table drops its indexes.
DROP TABLE redeemed_challenges;
DROP TABLE wallet_bindings;
