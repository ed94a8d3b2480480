-- One escrow contract links to at most one invoice. The contract holds a single invoice id on
-- chain, so two invoices sharing one would mix their funding capacity and payouts. The chain
-- is global: the index spans every tenant, and a soft-deleted row keeps its contract too.
--
-- Rows stored before this rule that already share a contract are not resolved here: which
-- invoice the contract really belongs to is for an operator to decide. The migration stops
-- with the message below and changes nothing (docs/database.md says how to find the rows).
-- SQLite raises a message of its own only inside a trigger, hence the temporary one.
CREATE TEMP TABLE migration_0005_check (duplicates INTEGER NOT NULL);

CREATE TEMP TRIGGER migration_0005_refuse_shared_escrows
BEFORE INSERT ON migration_0005_check
WHEN NEW.duplicates > 0
BEGIN
    SELECT RAISE(ABORT, 'Migration 0005 stopped: some escrow contracts are linked to more than one invoice. Give each invoice its own contract (SELECT escrow_address FROM invoices WHERE escrow_address IS NOT NULL GROUP BY escrow_address HAVING count(*) > 1), then migrate again.');
END;

INSERT INTO migration_0005_check (duplicates)
SELECT count(*) FROM (
    SELECT escrow_address FROM invoices
    WHERE escrow_address IS NOT NULL
    GROUP BY escrow_address
    HAVING count(*) > 1
);

DROP TRIGGER migration_0005_refuse_shared_escrows;

DROP TABLE migration_0005_check;

CREATE UNIQUE INDEX invoices_escrow_address_key
    ON invoices (escrow_address)
    WHERE escrow_address IS NOT NULL;
