-- Issue 13, item 1: meta.total without a scan. See the PostgreSQL migration of the same
-- number for what each table holds. SQLite has one writer at a time and no row versions, so
-- row-level triggers update the counters in place, in the writing transaction, with neither
-- striping nor deferral; an upsert (n = n + delta) covers a group's first row.
--
--   invoice_counts       live invoices (deleted_at IS NULL) per (tenant, status)
--   invoice_sme_counts   live invoices per (tenant, SME, status)
--   market_generations   per tenant, moves on with every change to its investable live
--                        invoices (linked_escrow, partially_funded) or its SME profiles; a
--                        tenant's first value comes from the clock (microseconds), so values
--                        handed out before a rollback of this migration never come back.
CREATE TABLE invoice_counts (
    tenant_id TEXT    NOT NULL,
    status    TEXT    NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, status)
) WITHOUT ROWID;

CREATE TABLE invoice_sme_counts (
    tenant_id TEXT    NOT NULL,
    sme_id    TEXT    NOT NULL,
    status    TEXT    NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, sme_id, status)
) WITHOUT ROWID;

CREATE TABLE market_generations (
    tenant_id  TEXT    NOT NULL PRIMARY KEY,
    generation INTEGER NOT NULL
) WITHOUT ROWID;

-- Backfill from the rows already there (this migration holds the write lock: nothing changes
-- in between).
INSERT INTO invoice_counts (tenant_id, status, n)
SELECT tenant_id, status, count(*) FROM invoices WHERE deleted_at IS NULL
GROUP BY tenant_id, status;

INSERT INTO invoice_sme_counts (tenant_id, sme_id, status, n)
SELECT tenant_id, sme_id, status, count(*) FROM invoices WHERE deleted_at IS NULL
GROUP BY tenant_id, sme_id, status;

INSERT INTO market_generations (tenant_id, generation)
SELECT DISTINCT tenant_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000000 FROM invoices;

CREATE TRIGGER invoices_count_inserted AFTER INSERT ON invoices
WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO invoice_counts (tenant_id, status, n) VALUES (NEW.tenant_id, NEW.status, 1)
    ON CONFLICT (tenant_id, status) DO UPDATE SET n = n + 1;
    INSERT INTO invoice_sme_counts (tenant_id, sme_id, status, n)
    VALUES (NEW.tenant_id, NEW.sme_id, NEW.status, 1)
    ON CONFLICT (tenant_id, sme_id, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER invoices_count_deleted AFTER DELETE ON invoices
WHEN OLD.deleted_at IS NULL
BEGIN
    INSERT INTO invoice_counts (tenant_id, status, n) VALUES (OLD.tenant_id, OLD.status, -1)
    ON CONFLICT (tenant_id, status) DO UPDATE SET n = n - 1;
    INSERT INTO invoice_sme_counts (tenant_id, sme_id, status, n)
    VALUES (OLD.tenant_id, OLD.sme_id, OLD.status, -1)
    ON CONFLICT (tenant_id, sme_id, status) DO UPDATE SET n = n - 1;
END;

-- Only an update that moves a row between groups, or in or out of the live rows, counts.
CREATE TRIGGER invoices_count_updated AFTER UPDATE ON invoices
WHEN (OLD.deleted_at IS NULL OR NEW.deleted_at IS NULL)
    AND (OLD.tenant_id IS NOT NEW.tenant_id OR OLD.sme_id IS NOT NEW.sme_id
         OR OLD.status IS NOT NEW.status
         OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
BEGIN
    INSERT INTO invoice_counts (tenant_id, status, n)
    SELECT OLD.tenant_id, OLD.status, -1 WHERE OLD.deleted_at IS NULL
    ON CONFLICT (tenant_id, status) DO UPDATE SET n = n - 1;
    INSERT INTO invoice_sme_counts (tenant_id, sme_id, status, n)
    SELECT OLD.tenant_id, OLD.sme_id, OLD.status, -1 WHERE OLD.deleted_at IS NULL
    ON CONFLICT (tenant_id, sme_id, status) DO UPDATE SET n = n - 1;
    INSERT INTO invoice_counts (tenant_id, status, n)
    SELECT NEW.tenant_id, NEW.status, 1 WHERE NEW.deleted_at IS NULL
    ON CONFLICT (tenant_id, status) DO UPDATE SET n = n + 1;
    INSERT INTO invoice_sme_counts (tenant_id, sme_id, status, n)
    SELECT NEW.tenant_id, NEW.sme_id, NEW.status, 1 WHERE NEW.deleted_at IS NULL
    ON CONFLICT (tenant_id, sme_id, status) DO UPDATE SET n = n + 1;
END;

-- The generation moves on when an investable live row is written, before or after.
CREATE TRIGGER invoices_generation_inserted AFTER INSERT ON invoices
WHEN NEW.deleted_at IS NULL AND NEW.status IN ('linked_escrow', 'partially_funded')
BEGIN
    INSERT INTO market_generations (tenant_id, generation)
    VALUES (NEW.tenant_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000000)
    ON CONFLICT (tenant_id) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER invoices_generation_deleted AFTER DELETE ON invoices
WHEN OLD.deleted_at IS NULL AND OLD.status IN ('linked_escrow', 'partially_funded')
BEGIN
    INSERT INTO market_generations (tenant_id, generation)
    VALUES (OLD.tenant_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000000)
    ON CONFLICT (tenant_id) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER invoices_generation_updated AFTER UPDATE ON invoices
WHEN (OLD.deleted_at IS NULL AND OLD.status IN ('linked_escrow', 'partially_funded'))
    OR (NEW.deleted_at IS NULL AND NEW.status IN ('linked_escrow', 'partially_funded'))
BEGIN
    INSERT INTO market_generations (tenant_id, generation)
    SELECT tenant_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000000
    FROM (SELECT NEW.tenant_id AS tenant_id UNION SELECT OLD.tenant_id) WHERE true
    ON CONFLICT (tenant_id) DO UPDATE SET generation = generation + 1;
END;

-- A profile's display name is what the marketplace's name search reads.
CREATE TRIGGER sme_profiles_generation_inserted AFTER INSERT ON sme_profiles
BEGIN
    INSERT INTO market_generations (tenant_id, generation)
    VALUES (NEW.tenant_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000000)
    ON CONFLICT (tenant_id) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER sme_profiles_generation_updated AFTER UPDATE ON sme_profiles
BEGIN
    INSERT INTO market_generations (tenant_id, generation)
    SELECT tenant_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000000
    FROM (SELECT NEW.tenant_id AS tenant_id UNION SELECT OLD.tenant_id) WHERE true
    ON CONFLICT (tenant_id) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER sme_profiles_generation_deleted AFTER DELETE ON sme_profiles
BEGIN
    INSERT INTO market_generations (tenant_id, generation)
    VALUES (OLD.tenant_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000000)
    ON CONFLICT (tenant_id) DO UPDATE SET generation = generation + 1;
END;
