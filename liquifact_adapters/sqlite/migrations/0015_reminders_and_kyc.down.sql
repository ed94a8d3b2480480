DROP INDEX invoices_by_due_date;
DROP TABLE maturity_reminder_dead_letters;
DROP TABLE maturity_reminders;
DROP TABLE contacts;
DROP TABLE kyc_webhook_events;
DROP TABLE kyc_history;
DROP TABLE kyc_records;
