-- One escrow contract links to at most one invoice. The contract holds a single invoice id on
-- chain, so two invoices sharing one would mix their funding capacity and payouts. The chain
-- is global: the index spans every tenant although rows are tenant-scoped under row-level
-- security (a unique index checks every row, whatever the policy lets a session see), and a
-- soft-deleted row keeps its contract too.
--
-- Rows stored before this rule that already share a contract are not resolved here: which
-- invoice the contract really belongs to is for an operator to decide. The migration stops
-- with the message below and changes nothing (docs/database.md says how to find the rows).
-- Row-level security binds the table owner too: lift it for this one cross-tenant check.
ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY;

DO $$
DECLARE
    shared_contracts bigint;
BEGIN
    SELECT count(*) INTO shared_contracts FROM (
        SELECT escrow_address FROM invoices
        WHERE escrow_address IS NOT NULL
        GROUP BY escrow_address
        HAVING count(*) > 1
    ) AS shared;
    IF shared_contracts > 0 THEN
        RAISE EXCEPTION 'Migration 0005 stopped: % escrow contract(s) are linked to more than one invoice.', shared_contracts
            USING HINT = 'Give each invoice its own contract (SELECT escrow_address FROM invoices WHERE escrow_address IS NOT NULL GROUP BY escrow_address HAVING count(*) > 1), then migrate again.';
    END IF;
END $$;

ALTER TABLE invoices FORCE ROW LEVEL SECURITY;

CREATE UNIQUE INDEX invoices_escrow_address_key
    ON invoices (escrow_address)
    WHERE escrow_address IS NOT NULL;
