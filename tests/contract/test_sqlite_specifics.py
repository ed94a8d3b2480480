"""What only the SQLite store promises: its file, its schema tooling and its failure modes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from liquifact_adapters.sqlite import (
    MigrationStatus,
    SqliteStore,
    SqliteUnitOfWork,
    known_migrations,
    migrate,
    rollback,
    status,
)
from liquifact_adapters.sqlite.connection import DEFAULT_BUSY_TIMEOUT_MS, is_busy, open_database
from liquifact_core.errors import Unavailable

from .contract_support import T0, audit_event, full_invoice, invoice, load, new_tenant, transition

SAFE_MESSAGE = "The data store is unavailable."


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "nested" / "dirs" / "liquifact.sqlite3")


@pytest.fixture
def sqlite_store(db_path: str) -> Iterator[SqliteStore]:
    store = SqliteStore(db_path)
    yield store
    store.close()


@pytest.fixture
def raw(sqlite_store: SqliteStore, db_path: str) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(db_path, isolation_level=None)
    yield connection
    connection.close()


def _table_names(path: str) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}
    finally:
        connection.close()


# ---- the file -------------------------------------------------------------------------------


def test_store_creates_its_directory_and_uses_wal(
    sqlite_store: SqliteStore, raw: sqlite3.Connection, db_path: str
) -> None:
    assert Path(db_path).is_file()
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_data_survives_closing_and_reopening(sqlite_store: SqliteStore, db_path: str) -> None:
    tenant = new_tenant()
    subject = full_invoice(tenant)
    step = transition(subject, 1)
    event = audit_event(tenant, subject.id)
    with sqlite_store.unit_of_work(tenant) as uow:
        uow.invoices.add(subject)
        uow.invoices.add_transition(step)
        uow.audit.append(event)
        uow.commit()
    sqlite_store.close()

    reopened = SqliteStore(db_path)
    try:
        with reopened.unit_of_work(tenant) as uow:
            assert uow.invoices.get(tenant, subject.id) == subject
            assert list(uow.invoices.history(tenant, subject.id)) == [step]
            assert list(uow.audit.for_resource(tenant, "invoice", subject.id)) == [event]
    finally:
        reopened.close()


def test_amounts_are_stored_as_exact_text(
    sqlite_store: SqliteStore, raw: sqlite3.Connection
) -> None:
    subject = full_invoice(new_tenant())
    with sqlite_store.unit_of_work(subject.tenant_id) as uow:
        uow.invoices.add(subject)
        uow.commit()

    row = raw.execute(
        "SELECT amount, typeof(amount), funding_target_stroops, funded_stroops, created_at"
        " FROM invoices WHERE id = ?",
        (subject.id,),
    ).fetchone()

    assert row == (
        "999999999999999999.99",
        "text",
        "1000000000000000000",
        "999999999999999999",
        "2026-03-01T09:30:15.123456+00:00",
    )


def test_naive_timestamps_are_refused(sqlite_store: SqliteStore) -> None:
    tenant = new_tenant()
    naive = invoice(tenant, created_at=T0.replace(tzinfo=None))

    with sqlite_store.unit_of_work(tenant) as uow, pytest.raises(ValueError, match="aware"):
        uow.invoices.add(naive)


# ---- the append-only audit table ------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log_events SET action = 'tampered' WHERE id = ?",
        "DELETE FROM audit_log_events WHERE id = ?",
    ],
)
def test_audit_rows_cannot_be_changed_or_removed(
    sqlite_store: SqliteStore, raw: sqlite3.Connection, statement: str
) -> None:
    event = audit_event(new_tenant(), "inv_x")
    with sqlite_store.unit_of_work(event.tenant_id) as uow:
        uow.audit.append(event)
        uow.commit()

    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute(statement, (event.id,))

    with sqlite_store.unit_of_work(event.tenant_id) as uow:
        assert list(uow.audit.for_resource(event.tenant_id, "invoice", "inv_x")) == [event]


# ---- migrations -----------------------------------------------------------------------------


def test_migrations_ship_in_pairs_numbered_from_one() -> None:
    versions = [migration.version for migration in known_migrations()]

    assert versions == list(range(1, len(versions) + 1))
    assert all(migration.down_sql.strip() for migration in known_migrations())


def test_migrate_rollback_and_status_round_trip(db_path: str) -> None:
    newest = known_migrations()[-1]
    pending = [MigrationStatus(m.version, m.name, applied=False) for m in known_migrations()]
    applied = [MigrationStatus(m.version, m.name, applied=True) for m in known_migrations()]

    assert status(db_path) == pending
    assert migrate(db_path) == list(known_migrations())
    assert status(db_path) == applied
    assert migrate(db_path) == []

    assert rollback(db_path) == newest
    assert status(db_path)[-1] == MigrationStatus(newest.version, newest.name, applied=False)
    assert migrate(db_path) == [newest]
    assert status(db_path) == applied


def test_rolling_everything_back_leaves_only_the_ledger(db_path: str) -> None:
    migrate(db_path)

    while rollback(db_path) is not None:
        pass

    assert _table_names(db_path) == {"schema_migrations"}


def test_migrations_accept_an_open_connection(db_path: str) -> None:
    Path(db_path).parent.mkdir(parents=True)
    connection = sqlite3.connect(db_path)
    try:
        assert migrate(connection) == list(known_migrations())
        assert all(state.applied for state in status(connection))
    finally:
        connection.close()


def test_concurrent_migrators_apply_each_migration_once(db_path: str) -> None:
    Path(db_path).parent.mkdir(parents=True)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(migrate, [db_path] * 4))

    # Migrators may share the work (one applies 0001, another 0002), but each migration runs
    # exactly once overall.
    applied_versions = sorted(m.version for applied in results for m in applied)
    assert applied_versions == [m.version for m in known_migrations()]


def test_unmigrated_store_is_not_current_and_not_ready(db_path: str) -> None:
    store = SqliteStore(db_path, migrate=False)
    try:
        assert not store.schema_is_current()
        with pytest.raises(Unavailable):
            store.ping()

        migrate(db_path)

        assert store.schema_is_current()
        store.ping()
    finally:
        store.close()


def test_migration_from_newer_code_is_not_current_but_still_ready(
    sqlite_store: SqliteStore, raw: sqlite3.Connection
) -> None:
    raw.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', ?)",
        (T0.isoformat(),),
    )

    assert not sqlite_store.schema_is_current()
    sqlite_store.ping()


# ---- failures become Unavailable ------------------------------------------------------------


def _assert_safe(error: Unavailable) -> None:
    assert error.message == SAFE_MESSAGE
    assert error.retryable
    assert isinstance(error.__cause__, sqlite3.Error | OSError)


def test_ping_after_close_is_unavailable(sqlite_store: SqliteStore) -> None:
    sqlite_store.ping()
    sqlite_store.close()

    with pytest.raises(Unavailable) as raised:
        sqlite_store.ping()

    assert raised.value.message == SAFE_MESSAGE


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database file, just some text" * 100)

    with pytest.raises(Unavailable) as raised:
        SqliteStore(str(garbage))

    _assert_safe(raised.value)


def test_a_path_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable) as raised:
        SqliteStore(str(tmp_path))

    _assert_safe(raised.value)


def test_a_locked_database_is_unavailable(db_path: str) -> None:
    impatient = SqliteStore(db_path, busy_timeout_ms=0)
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(Unavailable) as raised, impatient.unit_of_work(new_tenant()):
            pass
        holder.execute("ROLLBACK")

        _assert_safe(raised.value)
        assert load(impatient, new_tenant(), "inv_after_the_lock") is None
    finally:
        holder.close()
        impatient.close()


def test_memory_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="file path"):
        SqliteStore(":memory:")


def test_ping_is_unavailable_while_another_connection_holds_the_database(db_path: str) -> None:
    # Issue 9, item 8: units of work would queue for the lock and answer 503, so readiness
    # must not say ready. The holder is a connection of its own, as another process's is.
    store = SqliteStore(db_path, ping_timeout_ms=50)
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        store.ping()
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(Unavailable) as raised:
            store.ping()
        _assert_safe(raised.value)
        assert raised.value.message == SAFE_MESSAGE

        holder.execute("ROLLBACK")
        store.ping()
        # The probe's short wait is its own: pooled connections keep the store's busy timeout.
        with store.unit_of_work(new_tenant()) as uow:
            assert isinstance(uow, SqliteUnitOfWork)
            assert uow.execute_raw("PRAGMA busy_timeout") == [(DEFAULT_BUSY_TIMEOUT_MS,)]
    finally:
        holder.close()
        store.close()


def test_ping_leaves_no_transaction_or_lock_behind(db_path: str) -> None:
    store = SqliteStore(db_path)
    try:
        store.ping()
        other = sqlite3.connect(db_path, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN EXCLUSIVE")  # would fail at once if ping still held the lock
            other.execute("ROLLBACK")
        finally:
            other.close()
    finally:
        store.close()


def test_connections_racing_to_switch_a_new_file_to_wal_all_succeed(tmp_path: Path) -> None:
    # SQLite may answer "busy" at once to all but one of them; tenacity retries until the
    # busy timeout (issue 8: the library, not a hand-written loop).
    path = str(tmp_path / "race.sqlite3")

    def open_and_report(_n: int) -> str:
        connection = open_database(path)
        try:
            return str(connection.execute("PRAGMA journal_mode").fetchone()[0])
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(open_and_report, range(16))) == ["wal"] * 16


def test_switching_to_wal_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = str(tmp_path / "held.sqlite3")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(Unavailable) as raised:
            open_database(path, busy_timeout_ms=50)
        _assert_safe(raised.value)
        cause = raised.value.__cause__  # the last "busy" answer, kept for the logs
        assert cause is not None and is_busy(cause)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    connection = open_database(path, busy_timeout_ms=50)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()
