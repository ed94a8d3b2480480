"""Migration 0016 on SQLite: it backfills the counters and generations from the rows already
there, rolls back and forward, and its row-level triggers keep the counters exact under bulk
statements written behind the store's back."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from liquifact_adapters import sqlite
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.marketplace import MarketplaceFilters, MarketplaceQuery
from liquifact_core.ports import InvoiceQuery

from .contract_support import T0, invoice, new_tenant, save
from .market_support import listed
from .totals_support import maintained_and_fresh, raw_query

NEW_TABLES = {"invoice_counts", "invoice_sme_counts", "market_generations"}


def _names(path: str, kind: str) -> set[str]:
    with closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
        return {str(row[0]) for row in rows}


def test_0016_backfills_existing_rows_and_rolls_back(tmp_path: Path) -> None:
    path = str(tmp_path / "m16.sqlite3")
    sqlite.migrate(path)
    undone = sqlite.rollback(path)
    assert undone is not None and undone.version == 16
    assert not NEW_TABLES & _names(path, "table")
    assert not {name for name in _names(path, "trigger") if "count" in name or "generation" in name}

    tenant, other = new_tenant(), new_tenant()
    store = SqliteStore(path, migrate=False)  # rows written before 0016: no counters yet
    save(store, listed(tenant), listed(tenant, funded=5), invoice(tenant, sme_id="sme-2"))
    save(store, invoice(tenant, deleted_at=T0))
    save(store, invoice(other))
    store.close()

    store = SqliteStore(path)  # migrates to 0016
    try:
        assert _names(path, "table") >= NEW_TABLES
        query = raw_query("sqlite", None, store)
        for each in (tenant, other):
            maintained, fresh = maintained_and_fresh(store, query, each)
            assert maintained == fresh
        with store.read_unit(tenant) as uow:
            assert uow.invoices.list(InvoiceQuery(tenant)).total == 3
            assert uow.invoices.list(InvoiceQuery(tenant, sme_id="sme-2")).total == 1
            assert uow.invoices.marketplace(MarketplaceQuery(tenant)).total == 2
            yielding = MarketplaceFilters(yield_bps_min=400)
            assert uow.invoices.marketplace(MarketplaceQuery(tenant, yielding)).total == 2
    finally:
        store.close()


def test_bulk_statements_behind_the_store_keep_the_counters_exact(tmp_path: Path) -> None:
    path = str(tmp_path / "bulk.sqlite3")
    store = SqliteStore(path)
    tenant = new_tenant()
    try:
        save(store, *(listed(tenant, sme_id=f"sme-{n % 3}") for n in range(60)))
        save(store, *(invoice(tenant, sme_id=f"sme-{n % 3}") for n in range(40)))
        with closing(sqlite3.connect(path)) as connection, connection:
            connection.execute(
                "UPDATE invoices SET status = 'approved' WHERE status = 'pending'"
                " AND sme_id = 'sme-1'"
            )
            connection.execute(
                "UPDATE invoices SET deleted_at = '2026-01-01' WHERE sme_id = 'sme-2'"
            )
            connection.execute("DELETE FROM invoices WHERE sme_id = 'sme-0' AND status = 'pending'")
        query = raw_query("sqlite", None, store)
        maintained, fresh = maintained_and_fresh(store, query, tenant)
        assert maintained == fresh
        with store.read_unit(tenant) as uow:
            assert uow.invoices.list(InvoiceQuery(tenant)).total == sum(
                count for key, count in fresh.items() if len(key) == 1
            )
    finally:
        store.close()
