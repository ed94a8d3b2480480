"""Migration 0003 (invoice numbers unique per tenant and SME, in canonical form) on both SQL
stores: the backfill computes the code's key, look-alikes stored before the rule survive, the
new rule holds afterwards, and the migration rolls back."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from liquifact_adapters import postgres, sqlite
from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.postgres import mapping as pg_mapping
from liquifact_adapters.sqlite import SqliteStore
from liquifact_adapters.sqlite import mapping as sqlite_mapping
from liquifact_core.errors import Conflict
from liquifact_core.invoice_numbers import canonical_invoice_number
from liquifact_core.invoices import Invoice
from liquifact_core.ports import Store
from tests.pg import fresh_database

from .contract_support import T0, invoice, load, new_tenant

# Fullwidth 'INV-7', sharp s, capital sigmas, padding, a ligature and a fullwidth digit.
NUMBERS = [
    "INV-6B0F0",
    "\uff29\uff2e\uff36\uff0d\uff17",
    "Stra\u00dfe-1",
    "\u03a3\u039f\u03a6\u039f\u03a3-2",
    "  Padded-3\t",
    "\ufb01le-\uff14",
]


class Database:
    """One SQL store's migration tooling and a raw connection that writes rows as stored."""

    def __init__(
        self,
        migrate: Callable[[], object],
        rollback: Callable[[], object],
        execute: Callable[[str, dict[str, Any]], list[tuple[Any, ...]]],
        params: Callable[[Invoice], dict[str, Any]],
        placeholder: Callable[[str], str],
        open_store: Callable[[], Store],
    ) -> None:
        self.migrate, self.rollback, self.execute = migrate, rollback, execute
        self.params, self.placeholder, self.open_store = params, placeholder, open_store

    def insert_before_0003(self, row: Invoice) -> None:
        params = self.params(row)
        del params["invoice_number_key"], params["buyer_name_key"]
        del params["attestation_digest"]  # a column of migration 0013
        columns = ", ".join(params)
        values = ", ".join(self.placeholder(name) for name in params)
        self.execute(f"INSERT INTO invoices ({columns}) VALUES ({values})", params)

    def keys(self) -> dict[str, str]:
        return dict(self.execute("SELECT id, invoice_number_key FROM invoices", {}))


def _undo_0003(migrations: Any, target: str) -> None:
    """Roll back 0003, the newer migrations first (each newest-first, as ``rollback`` does)."""
    for migration in reversed([m for m in migrations.known_migrations() if m.version >= 3]):
        assert migrations.rollback(target) == migration


@contextmanager
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    path = str(tmp_path / "migrations.sqlite3")

    def execute(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(path)
        try:
            with connection:
                return [tuple(row) for row in connection.execute(sql, params).fetchall()]
        finally:
            connection.close()

    yield Database(
        lambda: sqlite.migrate(path),
        lambda: _undo_0003(sqlite, path),
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
            lambda: _undo_0003(postgres, url),
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


def test_0003_backfills_the_codes_key_and_keeps_legacy_look_alikes(database: Database) -> None:
    database.migrate()
    database.rollback()  # 0003 (and anything newer)
    tenant = new_tenant()
    rows = [invoice(tenant, sme_id="sme-a", invoice_number=number) for number in NUMBERS]
    # Legal before 0003 (unique as stored, per tenant): a look-alike of one SME's number.
    legacy = invoice(
        tenant, sme_id="sme-a", invoice_number="inv-6b0f0", created_at=T0 + timedelta(seconds=1)
    )
    for row in [*rows, legacy]:
        database.insert_before_0003(row)

    database.migrate()

    keys = database.keys()
    for row in rows:
        assert keys[row.id] == canonical_invoice_number(row.draft.invoice_number)
    # The newer look-alike is kept, under a key no canonical number can take.
    assert keys[legacy.id] == f"inv-6b0f0\n#{legacy.id}"
    store = database.open_store()
    try:
        assert load(store, tenant, legacy.id) == legacy
        with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as raised:
            uow.invoices.add(invoice(tenant, sme_id="sme-a", invoice_number="Inv-6B0F0"))
        assert raised.value.code == "DUPLICATE_INVOICE_NUMBER"
        with store.unit_of_work(tenant) as uow:
            uow.invoices.add(invoice(tenant, sme_id="sme-b", invoice_number="INV-6B0F0"))
            uow.commit()
    finally:
        store.close()


def test_0003_rolls_back_to_one_number_per_tenant(database: Database) -> None:
    database.migrate()
    tenant = new_tenant()
    row = invoice(tenant, sme_id="sme-a", invoice_number="INV-9")
    store = database.open_store()
    try:
        with store.unit_of_work(tenant) as uow:
            uow.invoices.add(row)
            uow.commit()
    finally:
        store.close()

    database.rollback()

    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        database.insert_before_0003(invoice(tenant, sme_id="sme-b", invoice_number="INV-9"))
    database.migrate()
    assert database.keys()[row.id] == "inv-9"


def test_0003_refuses_to_roll_back_over_numbers_two_smes_share(database: Database) -> None:
    database.migrate()
    tenant = new_tenant()
    store = database.open_store()
    try:
        with store.unit_of_work(tenant) as uow:
            uow.invoices.add(invoice(tenant, sme_id="sme-a", invoice_number="INV-1"))
            uow.invoices.add(invoice(tenant, sme_id="sme-b", invoice_number="INV-1"))
            uow.commit()
    finally:
        store.close()

    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        database.rollback()

    assert len(database.keys()) == 2  # nothing dropped, 0003 still applied


@pytest.mark.postgres
def test_0003_keeps_row_level_security_on_invoices() -> None:
    with fresh_database() as url:
        postgres.migrate(url)
        with psycopg.connect(url) as connection:
            flags = connection.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
                " WHERE relname = 'invoices'"
            ).fetchone()
            policies: dict[str, list[str]] = dict(
                connection.execute(
                    "SELECT policyname, roles::text[] FROM pg_policies WHERE tablename = 'invoices'"
                ).fetchall()
            )
            [(owner,)] = connection.execute("SELECT current_user").fetchall()
    assert flags == (True, True)
    # 0010, 0011 and 0015 add the other policies: reads for the owner role only (the SECURITY
    # DEFINER listings of tenants to reconcile, of escrows to index and of tenants with
    # maturities to remind), never for the application role.
    assert policies == {
        "tenant_isolation": ["public"],
        "reconciliation_scan": [owner],
        "escrow_indexer": [owner],
        "reminder_scan": [owner],
    }
