-- Funding through the chain (issue 12, item 3): a commitment keeps the funding transaction
-- it stands for. submission_status gains the signing modes' states:
--   requires_signature  delegated: the prepared transaction waits for the investor's wallet
--   submitted           signed (by the investor, or by the platform in custodial mode) and
--                       handed to the escrow_submission job, which sends and polls it
--   confirmed / failed  the transaction's final status on the chain
-- transaction_xdr is the base64 TransactionEnvelope (unsigned, then the signed one);
-- transaction_expires_at its time bound (after it the network refuses the transaction);
-- submission_error the stable domain code of a failure.
ALTER TABLE investor_commitments DROP CONSTRAINT investor_commitments_submission_status_check;
ALTER TABLE investor_commitments ADD CONSTRAINT investor_commitments_submission_status_check
    CHECK (submission_status IN
        ('stubbed', 'requires_signature', 'submitted', 'confirmed', 'failed'));
ALTER TABLE investor_commitments ADD COLUMN transaction_xdr text
    CHECK (length(transaction_xdr) <= 65536);
ALTER TABLE investor_commitments ADD COLUMN transaction_expires_at timestamptz;
ALTER TABLE investor_commitments ADD COLUMN submission_error text
    CHECK (length(submission_error) <= 64);

DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format(
        'GRANT UPDATE (transaction_xdr, transaction_expires_at, submission_error) '
        'ON investor_commitments TO %I', app_role);
END
$$;
