-- Dropping a table drops its indexes, policies and grants; the functions and the policies
-- they need on other tables go first.
DROP FUNCTION reminder_tenants(date, date);
DROP FUNCTION kyc_subject_of(text);
DROP POLICY reminder_scan ON invoices;
DROP INDEX invoices_by_due_date;
DROP TABLE maturity_reminder_dead_letters;
DROP TABLE maturity_reminders;
DROP TABLE contacts;
DROP TABLE kyc_webhook_events;
DROP TABLE kyc_history;
DROP TABLE kyc_records;
