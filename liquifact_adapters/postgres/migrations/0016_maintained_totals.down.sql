-- Triggers first (they name the functions), then the functions, then the tables; dropping a
-- table drops its indexes, policies, triggers and grants.
DROP TRIGGER invoices_note_inserted ON invoices;
DROP TRIGGER invoices_note_updated ON invoices;
DROP TRIGGER invoices_note_deleted ON invoices;
DROP TRIGGER invoices_truncated_totals ON invoices;
DROP TRIGGER sme_profiles_note_generation ON sme_profiles;
DROP TABLE invoice_totals_pending;
DROP FUNCTION invoices_note_totals();
DROP FUNCTION sme_profiles_note_generation();
DROP FUNCTION invoices_truncated_totals();
DROP FUNCTION invoice_totals_flush();
DROP FUNCTION invoice_totals_note(text[], text[], text[], bigint[], text[]);
DROP TABLE market_generations;
DROP SEQUENCE market_generation_seq;
DROP TABLE invoice_sme_counts;
DROP TABLE invoice_counts;
