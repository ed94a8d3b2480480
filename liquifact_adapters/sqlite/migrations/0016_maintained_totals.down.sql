-- Dropping a table drops the triggers on it, not those writing into it from another table.
DROP TRIGGER invoices_count_inserted;
DROP TRIGGER invoices_count_deleted;
DROP TRIGGER invoices_count_updated;
DROP TRIGGER invoices_generation_inserted;
DROP TRIGGER invoices_generation_deleted;
DROP TRIGGER invoices_generation_updated;
DROP TRIGGER sme_profiles_generation_inserted;
DROP TRIGGER sme_profiles_generation_updated;
DROP TRIGGER sme_profiles_generation_deleted;
DROP TABLE market_generations;
DROP TABLE invoice_sme_counts;
DROP TABLE invoice_counts;
