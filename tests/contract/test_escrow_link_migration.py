"""Migration 0005 (one escrow contract per invoice: a unique index on the non-null escrow
address, across tenants) on both SQL stores: it refuses, with a clear message and changing
nothing, to run over invoices that already share a contract; it applies once they do not; and
it rolls back."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from liquifact_adapters import postgres, sqlite
from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.postgres import mapping as pg_mapping
from liquifact_adapters.sql_migrations import MigrationRefused
from liquifact_adapters.sqlite import SqliteStore
from liquifact_adapters.sqlite import mapping as sqlite_mapping
from liquifact_core.errors import Conflict
from liquifact_core.invoices import Invoice
from liquifact_core.ports import Store
from tests.factories import contract_address
from tests.pg import fresh_database

from .contract_support import invoice, load, new_tenant, save
from .market_support import listed

ESCROW_UNIQUE = 5
INDEX = "invoices_escrow_address_key"


class Dialect:
    """One SQL store's migration entry points and a raw connection (as the migrating login)."""

    def __init__(
        self,
        target: str,
        migrations: Any,
        connect: Callable[[], Any],
        placeholder: Callable[[str], str],
        params: Callable[[Invoice], dict[str, Any]],
        store: Callable[[], Store],
    ) -> None:
        self.target, self.migrations, self.connect = target, migrations, connect
        self.placeholder, self.params, self.store = placeholder, params, store

    def back_to(self, version: int) -> None:
        newer = [m for m in self.migrations.known_migrations() if m.version > version]
        for migration in reversed(newer):
            assert self.migrations.rollback(self.target) == migration

    def applied(self) -> set[int]:
        return {s.version for s in self.migrations.status(self.target) if s.applied}

    def execute(self, statement: str, params: Any = ()) -> list[Any]:
        with closing(self.connect()) as connection:
            cursor = connection.execute(statement, params)
            rows = cursor.fetchall() if cursor.description else []
            connection.commit()
            return [tuple(row) for row in rows]

    def insert(self, row: Invoice) -> None:
        """Write a row as stored, past every check of the application."""
        params = self.params(row)
        del params["buyer_name_key"]  # a column of migration 0007, after this one
        del params["attestation_digest"]  # and one of 0013
        columns = ", ".join(params)
        values = ", ".join(self.placeholder(name) for name in params)
        self.execute(f"INSERT INTO invoices ({columns}) VALUES ({values})", params)

    def has_index(self) -> bool:
        if self.migrations is sqlite:
            found = "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?"
        else:
            found = "SELECT count(*) FROM pg_indexes WHERE indexname = %s"
        [(count,)] = self.execute(found, (INDEX,))
        return bool(count)

    def escrows(self) -> dict[str, str | None]:
        return dict(self.execute("SELECT id, escrow_address FROM invoices"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def dialect(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dialect]:
    if request.param == "sqlite":
        path = str(tmp_path / "escrows.sqlite3")
        yield Dialect(
            path,
            sqlite,
            lambda: sqlite3.connect(path),
            lambda name: f":{name}",
            sqlite_mapping.invoice_params,
            lambda: SqliteStore(path, migrate=False),
        )
        return
    with fresh_database() as url:
        yield Dialect(
            url,
            postgres,
            lambda: psycopg.connect(url),
            lambda name: f"%({name})s",
            pg_mapping.invoice_params,
            lambda: PostgresStore(url),
        )


def test_0005_refuses_shared_contracts_with_a_clear_message_and_changes_nothing(
    dialect: Dialect,
) -> None:
    dialect.migrations.migrate(dialect.target)
    dialect.back_to(ESCROW_UNIQUE - 1)
    shared = contract_address()
    # Possible before 0005: two tenants' invoices on one contract, beside a well-linked one.
    first = listed(new_tenant(), escrow_address=shared)
    second = listed(new_tenant(), escrow_address=shared)
    alone = listed(new_tenant())
    for row in (first, second, alone):
        dialect.insert(row)

    with pytest.raises(MigrationRefused) as raised:
        dialect.migrations.migrate(dialect.target)

    assert raised.value.label == "0005_escrow_address_unique"
    assert str(raised.value).startswith("Migration 0005 stopped")
    assert "linked to more than one invoice" in str(raised.value)
    assert ESCROW_UNIQUE not in dialect.applied()
    assert not dialect.has_index()
    # Neither invoice was picked: both keep the contract for an operator to sort out.
    assert dialect.escrows() == {
        first.id: shared,
        second.id: shared,
        alone.id: alone.escrow_address,
    }

    dialect.execute(
        f"UPDATE invoices SET escrow_address = {dialect.placeholder('escrow')}"
        f" WHERE id = {dialect.placeholder('id')}",
        {"escrow": contract_address(), "id": second.id},
    )
    applied = [m.version for m in dialect.migrations.migrate(dialect.target)]
    assert applied[0] == ESCROW_UNIQUE  # then the later migrations
    assert dialect.has_index()


def test_0005_holds_across_tenants_and_rolls_back(dialect: Dialect) -> None:
    dialect.migrations.migrate(dialect.target)
    holder = listed(new_tenant())
    store = dialect.store()
    try:
        save(store, holder)
        intruder = listed(new_tenant(), escrow_address=holder.escrow_address)
        with store.unit_of_work(intruder.tenant_id) as uow, pytest.raises(Conflict) as refused:
            uow.invoices.add(intruder)
        assert refused.value.code == "ESCROW_ALREADY_LINKED"
        assert load(store, intruder.tenant_id, intruder.id) is None
    finally:
        store.close()
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        dialect.insert(intruder)

    dialect.back_to(ESCROW_UNIQUE - 1)

    assert not dialect.has_index()
    dialect.insert(intruder)  # the fault 0005 closed is back
    unlinked = invoice(new_tenant())
    dialect.insert(unlinked)
    assert dialect.escrows()[intruder.id] == holder.escrow_address


@pytest.mark.postgres
def test_0005_keeps_row_level_security_on_invoices_whether_it_fails_or_not() -> None:
    with fresh_database() as url:
        postgres.migrate(url)
        for migration in reversed(postgres.known_migrations()[ESCROW_UNIQUE - 1 :]):
            assert postgres.rollback(url) == migration

        def flags() -> tuple[Any, ...] | None:
            with psycopg.connect(url) as connection:
                return connection.execute(
                    "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
                    " WHERE relname = 'invoices'"
                ).fetchone()

        shared = contract_address()
        with psycopg.connect(url, autocommit=True) as connection:
            for row in (listed("t1", escrow_address=shared), listed("t2", escrow_address=shared)):
                params = pg_mapping.invoice_params(row)
                del params["buyer_name_key"]  # a column of migration 0007, after this one
                del params["attestation_digest"]  # and one of 0013
                columns = ", ".join(params)
                values = ", ".join(f"%({name})s" for name in params)
                connection.execute(f"INSERT INTO invoices ({columns}) VALUES ({values})", params)
        with pytest.raises(MigrationRefused):
            postgres.migrate(url)
        assert flags() == (True, True)

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("DELETE FROM invoices WHERE tenant_id = 't2'")
        postgres.migrate(url)
        assert flags() == (True, True)
