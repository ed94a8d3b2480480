-- Dropping a table drops its indexes, policies and grants.
DROP FUNCTION wallet_binding_of(text);
DROP TABLE redeemed_challenges;
DROP TABLE wallet_bindings;
