"""Migration 0007 (SME profiles, folded search keys) on both SQL stores: invoices written
before it get their buyer-name key from the store's backfill (SQL cannot fold like the core),
the backfill is idempotent, searches find the old rows, and the migration rolls back."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest

from liquifact_adapters import postgres, sqlite
from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.postgres import mapping as pg_mapping
from liquifact_adapters.sqlite import SqliteStore
from liquifact_adapters.sqlite import mapping as sqlite_mapping
from liquifact_core.invoices import Invoice
from liquifact_core.marketplace import MarketplaceFilters, MarketplaceQuery
from liquifact_core.ports import Store
from liquifact_core.search import fold
from tests.pg import fresh_database

from .contract_support import new_tenant
from .market_support import listed

PROFILES = 7


@attrs.frozen
class Database:
    """One SQL store's migration tooling and a raw connection that writes rows as stored."""

    migrate: Callable[[], object]
    backfill: Callable[[], int]
    migrations: Any  # the dialect's schema module
    target: str
    execute: Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]
    params: Callable[[Invoice], dict[str, Any]]
    placeholder: Callable[[str], str]
    open_store: Callable[[], Store]

    def back_to(self, version: int) -> None:
        while (undone := self.migrations.rollback(self.target)) and undone.version > version:
            pass

    def insert_before_0007(self, row: Invoice) -> None:
        params = self.params(row)
        del params["buyer_name_key"]
        del params["attestation_digest"]  # a column of migration 0013
        columns = ", ".join(params)
        values = ", ".join(self.placeholder(name) for name in params)
        self.execute(f"INSERT INTO invoices ({columns}) VALUES ({values})", params)

    def keys(self) -> dict[str, str | None]:
        return dict(self.execute("SELECT id, buyer_name_key FROM invoices", {}))


@contextmanager
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    path = str(tmp_path / "profiles.sqlite3")

    def execute(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(path)) as connection, connection:
            return [tuple(row) for row in connection.execute(sql, params).fetchall()]

    yield Database(
        lambda: sqlite.migrate(path),
        lambda: sqlite.backfill(path),
        sqlite,
        path,
        execute,
        sqlite_mapping.invoice_params,
        lambda name: f":{name}",
        lambda: SqliteStore(path, migrate=False),
    )


@contextmanager
def postgres_database() -> Iterator[Database]:
    with fresh_database() as url:

        def execute(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            with psycopg.connect(url, autocommit=True) as connection:
                cursor = connection.execute(sql, params)
                return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

        yield Database(
            lambda: postgres.migrate(url),
            lambda: postgres.backfill(url),
            postgres,
            url,
            execute,
            pg_mapping.invoice_params,
            lambda name: f"%({name})s",
            lambda: PostgresStore(url),
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    opened = sqlite_database(tmp_path) if request.param == "sqlite" else postgres_database()
    with opened as database:
        yield database


NAMES = ["Société Générale", "MÜLLER & Söhne", "Straße 5 GmbH", "100%_match\\co"]


def test_0007_backfills_buyer_name_keys_with_the_cores_folding(database: Database) -> None:
    database.migrate()
    database.back_to(PROFILES - 1)
    tenant = new_tenant()
    rows = [listed(tenant, buyer_name=name) for name in [*NAMES, NAMES[0]]]
    for row in rows:
        database.insert_before_0007(row)

    database.migrate()  # applies 0007, then the backfill

    keys = database.keys()
    assert {keys[row.id] for row in rows} == {fold(name) for name in NAMES}
    for row in rows:
        assert keys[row.id] == fold(row.draft.buyer_name)
    assert database.backfill() == 0  # idempotent: nothing left to key
    assert database.keys() == keys
    store = database.open_store()
    try:
        with store.read_unit(tenant) as uow:
            found = uow.invoices.marketplace(
                MarketplaceQuery(tenant, MarketplaceFilters(search=fold("societe")))
            )
        assert sorted(item.invoice.id for item in found.items) == sorted(
            row.id for row in rows if row.draft.buyer_name == NAMES[0]
        )
    finally:
        store.close()


def test_the_backfill_keys_only_rows_without_a_key(database: Database) -> None:
    database.migrate()
    tenant = new_tenant()
    row = listed(tenant, buyer_name="Crème")
    database.insert_before_0007(row)  # a row the code did not write (NULL key)
    kept = listed(tenant, buyer_name="Kept")
    params = database.params(kept)
    params["buyer_name_key"] = "stored key"
    columns = ", ".join(params)
    values = ", ".join(database.placeholder(name) for name in params)
    database.execute(f"INSERT INTO invoices ({columns}) VALUES ({values})", params)

    assert database.backfill() == 1
    assert database.backfill() == 0
    keys = database.keys()
    assert (keys[row.id], keys[kept.id]) == ("creme", "stored key")


def test_0007_rolls_back_cleanly_and_forward_again(database: Database) -> None:
    database.migrate()
    tenant = new_tenant()
    row = listed(tenant, buyer_name="Élan")
    store = database.open_store()
    try:
        with store.unit_of_work(tenant) as uow:
            uow.invoices.add(row)
            uow.commit()
    finally:
        store.close()

    database.back_to(PROFILES - 1)
    with pytest.raises((sqlite3.OperationalError, psycopg.errors.Error)):
        database.execute("SELECT buyer_name_key FROM invoices", {})
    with pytest.raises((sqlite3.OperationalError, psycopg.errors.Error)):
        database.execute("SELECT 1 FROM sme_profiles", {})

    database.migrate()
    assert database.keys()[row.id] == "elan"


@pytest.mark.postgres
def test_0007_keeps_row_level_security_on_invoices_and_profiles() -> None:
    with fresh_database() as url:
        postgres.migrate(url)
        with psycopg.connect(url) as connection:
            flags = connection.execute(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
                " WHERE relname IN ('invoices', 'sme_profiles') ORDER BY relname"
            ).fetchall()
            policies = connection.execute(
                "SELECT policyname FROM pg_policies WHERE tablename = 'sme_profiles'"
            ).fetchall()
        assert flags == [("invoices", True, True), ("sme_profiles", True, True)]
        assert policies == [("tenant_isolation",)]
