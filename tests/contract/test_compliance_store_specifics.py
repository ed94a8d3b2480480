"""What the two SQL stores promise about issue 16's tables beyond the shared contract: the
audit table stays append-only with its new column, legal holds are never deleted and only
released, row-level security on the new tables, the tenant listing function, and a CSV export
read through a server-side cursor (PostgreSQL) or fetched in chunks (SQLite)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.ports import Store

from .contract_support import T0, audit_event, invoice, new_invoice_id, new_tenant, save
from .test_retention_contract import _hold, _policy


def _with_hold(store: Store) -> tuple[str, str]:
    tenant = new_tenant()
    found = invoice(tenant)
    save(store, found)
    hold = _hold(found)
    with store.unit_of_work(tenant) as uow:
        uow.retention.add_hold(hold)
        uow.retention.add_policy(_policy(tenant))
        uow.audit.append(audit_event(tenant, found.id))
        uow.commit()
    return tenant, hold.id


# ---- SQLite -----------------------------------------------------------------------------------
@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(str(tmp_path / "compliance.sqlite3"))
    yield store
    store.close()


@pytest.fixture
def raw(sqlite_store: SqliteStore) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(sqlite_store.path, isolation_level=None)
    yield connection
    connection.close()


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("DELETE FROM legal_holds WHERE id = ?", "never deleted"),
        ("UPDATE legal_holds SET reason = 'changed' WHERE id = ?", "release may be written"),
        ("UPDATE legal_holds SET invoice_id = 'inv_other' WHERE id = ?", "release may be written"),
    ],
)
def test_sqlite_legal_holds_are_only_ever_released(
    sqlite_store: SqliteStore, raw: sqlite3.Connection, statement: str, message: str
) -> None:
    _tenant, hold_id = _with_hold(sqlite_store)
    with pytest.raises(sqlite3.IntegrityError, match=message):
        raw.execute(statement, (hold_id,))


def test_sqlite_a_released_hold_cannot_be_released_again(
    sqlite_store: SqliteStore, raw: sqlite3.Connection
) -> None:
    _tenant, hold_id = _with_hold(sqlite_store)
    raw.execute(
        "UPDATE legal_holds SET released_at = '2026-01-01', released_by = 'a' WHERE id = ?",
        (hold_id,),
    )
    with pytest.raises(sqlite3.IntegrityError, match="release may be written"):
        raw.execute("UPDATE legal_holds SET released_by = 'b' WHERE id = ?", (hold_id,))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log_events SET metadata = '{}'",
        "DELETE FROM audit_log_events",
    ],
)
def test_sqlite_the_audit_table_is_still_append_only(
    sqlite_store: SqliteStore, raw: sqlite3.Connection, statement: str
) -> None:
    _with_hold(sqlite_store)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute(statement)


def test_sqlite_the_stream_reads_a_chunk_at_a_time(sqlite_store: SqliteStore) -> None:
    tenant, invoice_id = new_tenant(), new_invoice_id()
    with sqlite_store.unit_of_work(tenant) as uow:
        for n in range(25):
            uow.audit.append(audit_event(tenant, invoice_id, action=f"a.{n}"))
        uow.commit()
    with sqlite_store.read_unit(tenant) as uow:
        chunks = uow.audit.stream_invoice_trail(tenant, invoice_id, 10)
        first = next(chunks)
        # The statement is still stepping: the rest has not been read yet.
        assert len(first) == 10
        assert [len(chunk) for chunk in chunks] == [10, 5]


# ---- PostgreSQL -------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM legal_holds WHERE id = %s",
        "UPDATE legal_holds SET reason = 'changed' WHERE id = %s",
    ],
)
def test_postgres_legal_holds_are_only_ever_released_even_by_the_owner(
    pg_store: PostgresStore, owner: psycopg.Connection[Any], statement: str
) -> None:
    _tenant, hold_id = _with_hold(pg_store)
    with pytest.raises(psycopg.Error, match="legal_holds"):
        owner.execute(statement.encode(), (hold_id,))


@pytest.mark.postgres
def test_postgres_the_application_role_cannot_delete_holds_or_policies(
    pg_store: PostgresStore,
) -> None:
    tenant, _hold_id = _with_hold(pg_store)
    for table in ("legal_holds", "retention_policies"):
        with pg_store.unit_of_work(tenant) as uow, pytest.raises(pg_errors.InsufficientPrivilege):
            uow.execute_unfiltered(f"DELETE FROM {table} RETURNING id")


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["retention_policies", "legal_holds"])
def test_postgres_new_tables_show_only_the_units_tenant(
    pg_store: PostgresStore, owner: psycopg.Connection[Any], table: str
) -> None:
    mine, _ = _with_hold(pg_store)
    theirs, _ = _with_hold(pg_store)
    with pg_store.unit_of_work(mine) as uow:
        rows = uow.execute_unfiltered(f"SELECT tenant_id FROM {table}")
    assert {row["tenant_id"] for row in rows} == {mine}
    [[forced]] = owner.execute(
        "SELECT relforcerowsecurity FROM pg_class WHERE relname = %s", (table,)
    ).fetchall()
    assert forced is True
    assert (theirs,) in owner.execute(f"SELECT DISTINCT tenant_id FROM {table}").fetchall()


@pytest.mark.postgres
def test_postgres_the_audit_column_leaves_the_table_append_only(
    pg_store: PostgresStore, owner: psycopg.Connection[Any]
) -> None:
    tenant, _ = _with_hold(pg_store)
    with pytest.raises(psycopg.Error, match="append-only"):
        owner.execute(b"UPDATE audit_log_events SET action = 'x' WHERE tenant_id = %s", (tenant,))
    grants = owner.execute(
        "SELECT privilege_type FROM information_schema.role_table_grants"
        " WHERE table_name = 'audit_log_events' AND grantee = 'liquifact_app'"
    ).fetchall()
    assert {row[0] for row in grants} == {"SELECT", "INSERT"}


@pytest.mark.postgres
def test_postgres_the_stream_is_a_server_side_cursor(pg_store: PostgresStore) -> None:
    tenant, invoice_id = new_tenant(), new_invoice_id()
    with pg_store.unit_of_work(tenant) as uow:
        for n in range(25):
            uow.audit.append(audit_event(tenant, invoice_id, action=f"a.{n}", at=T0))
        uow.commit()
    with pg_store.read_unit(tenant) as uow:
        chunks = uow.audit.stream_invoice_trail(tenant, invoice_id, 10)
        first = next(chunks)
        open_cursors = uow.execute_unfiltered("SELECT name FROM pg_cursors")
        assert len(first) == 10
        assert any(row["name"].startswith("liquifact_stream_") for row in open_cursors)
        assert [len(chunk) for chunk in chunks] == [10, 5]
        chunks.close()  # type: ignore[attr-defined]
        after = uow.execute_unfiltered("SELECT name FROM pg_cursors")
    assert not any(row["name"].startswith("liquifact_stream_") for row in after)
