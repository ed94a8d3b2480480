"""What only the SQLite store promises for the marketplace and funding tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from liquifact_adapters.sqlite import SqliteStore, known_migrations, migrate, rollback
from liquifact_adapters.sqlite import marketplace as market
from liquifact_adapters.sqlite.connection import open_database
from liquifact_adapters.sqlite.schema import split_statements
from liquifact_core.marketplace import (
    Keyset,
    MarketplaceFilters,
    MarketplaceQuery,
    SortField,
    SortOrder,
    SortValue,
    funded_ratio_hundredths,
)

from .contract_support import T0, money, new_tenant, save
from .market_support import commitment, listed


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "market.sqlite3")


def _roll_back_to(connection: sqlite3.Connection, version: int) -> None:
    """Undo every migration newer than ``version``, newest first."""
    for newer in reversed([m for m in known_migrations() if m.version > version]):
        assert rollback(connection) == newer


@pytest.fixture
def sqlite_store(db_path: str) -> Iterator[SqliteStore]:
    store = SqliteStore(db_path)
    yield store
    store.close()


def _keyset(sort: SortField) -> Keyset:
    values: dict[SortField, SortValue] = {
        SortField.YIELD_BPS: 100,
        SortField.FUNDED_RATIO: 100,
        SortField.MATURITY_DATE: T0.date(),
        SortField.AMOUNT: money("10.00").amount,
        SortField.CREATED_AT: T0,
    }
    return Keyset(values[sort], "inv_x")


@pytest.mark.parametrize("keyset", [False, True])
@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize("sort", list(SortField))
def test_every_marketplace_page_is_an_index_range_scan_without_sorting(
    sqlite_store: SqliteStore, db_path: str, sort: SortField, order: SortOrder, keyset: bool
) -> None:
    query = MarketplaceQuery(
        "t",
        MarketplaceFilters(yield_bps_min=1),
        sort,
        order,
        after=_keyset(sort) if keyset else None,
    )
    connection = sqlite3.connect(db_path)
    try:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN " + market.PAGE_SQL[(sort, order, keyset)], market.params(query)
        ).fetchall()
    finally:
        connection.close()
    details = " | ".join(row[3] for row in plan)
    assert "USING INDEX invoices_market_" in details
    assert "TEMP B-TREE" not in details


def test_commitment_terms_cannot_be_rewritten_in_sql(
    sqlite_store: SqliteStore, db_path: str
) -> None:
    tenant = new_tenant()
    target = listed(tenant)
    save(sqlite_store, target)
    with sqlite_store.unit_of_work(tenant) as uow:
        uow.commitments.add(commitment(target, 100))
        uow.commit()
    connection = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            connection.execute("UPDATE investor_commitments SET amount_stroops = 1")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            connection.execute("UPDATE investor_commitments SET status = 'lost'")
    finally:
        connection.close()


def test_migration_0002_backfills_sort_keys_like_the_code(db_path: str) -> None:
    connection = open_database(db_path)
    try:
        migrate(connection)
        _roll_back_to(connection, 1)
        tenant = new_tenant()
        rows = [
            listed(tenant, target=8, funded=1, amount=money("1250.5")),
            listed(tenant, target=20000, funded=1, amount=money("0.01")),
            listed(tenant, target=3, funded=2, amount=money("999999999999999999.99")),
            listed(tenant, target=10**18, funded=10**18 - 1, amount=money("7", "JPY")),
            listed(tenant, target=1000, funded=1500, amount=money("0.125", "KWD")),
        ]
        from liquifact_adapters.sqlite import mapping

        for row in rows:
            params = mapping.invoice_params(row)
            del (
                params["funded_ratio_hundredths"],
                params["amount_key"],
                params["invoice_number_key"],
                params["buyer_name_key"],
                params["attestation_digest"],  # a column of migration 0013
            )
            columns = ", ".join(params)
            connection.execute(
                f"INSERT INTO invoices ({columns}) VALUES ({', '.join(':' + c for c in params)})",
                params,
            )
        migrate(connection)
        stored = dict(
            connection.execute(
                "SELECT id, funded_ratio_hundredths || '/' || amount_key FROM invoices"
            ).fetchall()
        )
    finally:
        connection.close()
    for row in rows:
        expected = f"{funded_ratio_hundredths(row)}/{mapping.amount_key(row.draft.amount.amount)}"
        assert stored[row.id] == expected


def test_migration_0002_rolls_back_cleanly(db_path: str) -> None:
    connection = open_database(db_path)
    try:
        migrate(connection)
        _roll_back_to(connection, 2)
        assert rollback(connection) == known_migrations()[1]
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        assert "investor_commitments" not in tables
        assert "idempotency_records" not in tables
        assert not [name for name in tables if name.startswith("invoices_market_")]
    finally:
        connection.close()
    assert split_statements(known_migrations()[1].up_sql)
