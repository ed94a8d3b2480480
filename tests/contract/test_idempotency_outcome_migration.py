"""Migration 0004 (idempotency outcomes in domain terms, one idempotency mechanism) on both
SQL stores: records completed before it stay as tombstones that refuse a retry (never fund
twice), in-progress claims survive, and the commitment-level key column is gone; rolling back
restores the old shape."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from liquifact_adapters import postgres, sqlite
from liquifact_adapters.memory import FixedClock, SequentialIdGenerator
from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.errors import Conflict
from liquifact_core.idempotency import IdempotencyState, RequestInProgress
from liquifact_core.ports import Store
from liquifact_core.services import Services
from tests.pg import fresh_database, require_postgres

from .contract_support import T0
from .market_support import claim, commitment, listed

OUTCOMES = 4
LEGACY_INSERT = """
INSERT INTO idempotency_records (
    tenant_id, key, fingerprint, state, claim_id, response_status, response_headers,
    response_body, created_at, expires_at, locked_until
) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})
"""
FAR = "2999-01-01T00:00:00+00:00"


class Dialect:
    """One SQL store's migration entry points and a raw connection to its database."""

    def __init__(
        self,
        target: str,
        migrations: Any,
        connect: Callable[[], Any],
        placeholder: str,
        store: Callable[[], Store],
    ) -> None:
        self.target = target
        self.migrations = migrations
        self.connect = connect
        self.placeholder = placeholder
        self.store = store

    def back_to(self, version: int) -> None:
        newer = [m for m in self.migrations.known_migrations() if m.version > version]
        for migration in reversed(newer):
            assert self.migrations.rollback(self.target) == migration

    def columns(self, table: str) -> set[str]:
        with closing(self.connect()) as connection:
            if self.placeholder == "?":
                rows = connection.execute(f"PRAGMA table_info({table})").fetchall()
                return {str(row[1]) for row in rows}
            rows = connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                (table,),
            ).fetchall()
            return {str(row[0]) for row in rows}

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with closing(self.connect()) as connection:
            cursor = connection.execute(statement, params)
            rows = cursor.fetchall() if cursor.description else []
            connection.commit()
            return list(rows)


@pytest.fixture(params=["sqlite", "postgres"])
def dialect(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dialect]:
    if request.param == "sqlite":
        path = str(tmp_path / "outcomes.sqlite3")
        yield Dialect(path, sqlite, lambda: sqlite3.connect(path), "?", lambda: SqliteStore(path))
        return
    require_postgres()
    with fresh_database() as url:
        yield Dialect(url, postgres, lambda: psycopg.connect(url), "%s", lambda: PostgresStore(url))


def _legacy_record(dialect: Dialect, tenant: str, key: str, state: str) -> None:
    completed = state == "completed"
    body = b'{"id":"cmt_legacy"}'
    dialect.execute(
        LEGACY_INSERT.format(p=dialect.placeholder),
        (
            tenant,
            key,
            "a" * 64,
            state,
            f"idk_{key}",
            201 if completed else None,
            '[["content-type","application/json"]]' if completed else None,
            body if completed else None,
            T0.isoformat(),
            FAR,
            FAR,
        ),
    )


def test_0004_keeps_old_records_as_tombstones_and_drops_the_commitment_key(
    dialect: Dialect,
) -> None:
    dialect.migrations.migrate(dialect.target)
    dialect.back_to(OUTCOMES - 1)
    assert "idempotency_key" in dialect.columns("investor_commitments")
    _legacy_record(dialect, "t1", "key-legacy-done", "completed")
    _legacy_record(dialect, "t1", "key-legacy-busy", "in_progress")

    applied = [m.version for m in dialect.migrations.migrate(dialect.target)]
    assert applied[0] == OUTCOMES  # and the later migrations after it

    assert "idempotency_key" not in dialect.columns("investor_commitments")
    assert {"response_status", "response_headers", "response_body"}.isdisjoint(
        dialect.columns("idempotency_records")
    )
    assert "outcome" in dialect.columns("idempotency_records")
    store = dialect.store()
    try:
        with store.unit_of_work("t1") as uow:
            done = uow.idempotency.get("t1", "key-legacy-done")
            busy = uow.idempotency.get("t1", "key-legacy-busy")
        assert done is not None and done.state is IdempotencyState.COMPLETED
        assert done.outcome is None
        assert busy is not None and busy.state is IdempotencyState.IN_PROGRESS
        services = Services.from_ports(store, FixedClock(), SequentialIdGenerator())
        ran: list[int] = []

        def work(_uow: Any) -> Any:
            ran.append(1)
            raise AssertionError("a retry under a legacy key must not run")

        # New fingerprints never equal the old HTTP ones: a retry is refused, never re-run.
        with pytest.raises(Conflict) as refused:
            services.idempotency.execute("t1", "key-legacy-done", "b" * 64, work)
        assert refused.value.code == "IDEMPOTENCY_KEY_REUSED" and not ran
        with pytest.raises(RequestInProgress):
            services.idempotency.execute("t1", "key-legacy-busy", "a" * 64, work)
    finally:
        store.close()


def test_0004_rolls_back_to_stored_responses(dialect: Dialect) -> None:
    dialect.migrations.migrate(dialect.target)
    store = dialect.store()
    target = listed("t1")
    try:
        with store.unit_of_work("t1") as uow:
            uow.invoices.add(target)
            uow.commitments.add(commitment(target, 10))
            uow.idempotency.claim(claim("t1", "key-new-busy", expires_at=T0.replace(year=2999)), T0)
            uow.commit()
        services = Services.from_ports(store, FixedClock(), SequentialIdGenerator())
        services.idempotency.execute(
            "t1", "key-new-done", "f" * 64, lambda _uow: commitment(target)
        )
    finally:
        store.close()

    dialect.back_to(OUTCOMES - 1)

    assert "idempotency_key" in dialect.columns("investor_commitments")
    assert "outcome" not in dialect.columns("idempotency_records")
    keys = dialect.execute("SELECT key, state FROM idempotency_records")
    assert [tuple(row) for row in keys] == [("key-new-busy", "in_progress")]
    _legacy_record(dialect, "t1", "key-legacy-done", "completed")  # the old shape works again
    assert len(dialect.execute("SELECT key FROM idempotency_records")) == 2
