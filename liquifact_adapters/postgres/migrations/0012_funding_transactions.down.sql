ALTER TABLE investor_commitments DROP COLUMN submission_error;
ALTER TABLE investor_commitments DROP COLUMN transaction_expires_at;
ALTER TABLE investor_commitments DROP COLUMN transaction_xdr;
UPDATE investor_commitments SET submission_status = 'submitted'
    WHERE submission_status NOT IN ('stubbed', 'submitted');
ALTER TABLE investor_commitments DROP CONSTRAINT investor_commitments_submission_status_check;
ALTER TABLE investor_commitments ADD CONSTRAINT investor_commitments_submission_status_check
    CHECK (submission_status IN ('stubbed', 'submitted'));
