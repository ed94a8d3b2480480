"""SQL-first versioned migrations: ``NNNN_name.up.sql`` / ``NNNN_name.down.sql`` package files.

Each migration runs in its own ``BEGIN IMMEDIATE`` transaction together with its row in
``schema_migrations``, so a failed migration leaves nothing behind and two processes
migrating the same file at once apply each migration exactly once.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import cache

from liquifact_adapters.sql.profiles import (
    FILL_BUYER_NAME_KEY,
    UNKEYED_BUYER_NAMES,
    backfill_buyer_name_keys,
)
from liquifact_adapters.sql_migrations import (
    Migration,
    MigrationStatus,
    load_migrations,
    newest_applied,
    refusal_of,
    statuses,
)
from liquifact_adapters.sqlite.connection import open_database, unavailable_on_failure
from liquifact_core.invoice_numbers import canonical_invoice_number

MIGRATIONS_PACKAGE = "liquifact_adapters.sqlite.migrations"
# The migration that added invoices.buyer_name_key, which ``backfill`` fills in.
SEARCH_KEYS_VERSION = 7

Target = str | os.PathLike[str] | sqlite3.Connection

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


@cache
def known_migrations() -> tuple[Migration, ...]:
    """Every migration shipped with this code, oldest first."""
    return load_migrations(MIGRATIONS_PACKAGE)


def migrate(target: Target) -> list[Migration]:
    """Apply every pending migration, oldest first, then ``backfill``; returns the migrations
    applied now."""
    with _connection(target) as connection:
        with unavailable_on_failure():
            connection.execute(_CREATE_LEDGER)
        applied = [
            migration for migration in known_migrations() if _apply(connection, migration, up=True)
        ]
        backfill(connection)
        return applied


def backfill(target: Target) -> int:
    """Fill the derived columns SQL cannot compute: the folded buyer names of invoices written
    before migration 0007 (``sql.profiles.backfill_buyer_name_keys``), in one transaction.
    Idempotent (only NULL keys are written); nothing to do before 0007. Returns how many
    distinct buyer names were keyed."""
    with _connection(target) as connection:
        if SEARCH_KEYS_VERSION not in _applied_versions(connection):
            return 0
        with unavailable_on_failure():
            connection.execute("BEGIN IMMEDIATE")
            try:
                keyed = backfill_buyer_name_keys(
                    lambda: [str(row[0]) for row in connection.execute(UNKEYED_BUYER_NAMES)],
                    lambda params: connection.executemany(FILL_BUYER_NAME_KEY, params),
                )
                connection.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                raise
        return keyed


def rollback(target: Target) -> Migration | None:
    """Undo the newest applied migration; returns it, or None when nothing is applied."""
    with _connection(target) as connection:
        newest = newest_applied(known_migrations(), _applied_versions(connection))
        if newest is not None:
            _apply(connection, newest, up=False)
        return newest


def status(target: Target) -> list[MigrationStatus]:
    """Every known migration with whether it is applied, oldest first."""
    with _connection(target) as connection:
        applied = _applied_versions(connection)
    return statuses(known_migrations(), applied)


def is_current(target: Target) -> bool:
    """Exactly the known migrations are applied: none pending, none from newer code."""
    with _connection(target) as connection:
        applied = _applied_versions(connection)
    return applied == {migration.version for migration in known_migrations()}


def has_pending(target: Target) -> bool:
    """Some migration this code needs is not applied yet."""
    with _connection(target) as connection:
        applied = _applied_versions(connection)
    return any(migration.version not in applied for migration in known_migrations())


@contextmanager
def _connection(target: Target) -> Iterator[sqlite3.Connection]:
    if isinstance(target, sqlite3.Connection):
        # Each migration needs a transaction of its own; it must not swallow the caller's.
        if target.in_transaction:
            raise ValueError("Run migrations on a connection with no open transaction.")
        yield target
        return
    connection = open_database(os.fspath(target))
    try:
        yield connection
    finally:
        connection.close()


def _applied_versions(connection: sqlite3.Connection) -> set[int]:
    with unavailable_on_failure():
        ledger = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if ledger is None:
            return set()
        rows = connection.execute("SELECT version FROM schema_migrations").fetchall()
    return {int(row[0]) for row in rows}


def _apply(connection: sqlite3.Connection, migration: Migration, *, up: bool) -> bool:
    """Run one direction of a migration and update the ledger in one transaction.

    Returns False, changing nothing, when another connection already did it.
    """
    # Migration 0003 backfills canonical invoice-number keys with the application's function.
    connection.create_function(
        "liquifact_invoice_number_key", 1, canonical_invoice_number, deterministic=True
    )
    with unavailable_on_failure():
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Checked only now, under the write lock, so concurrent migrators cannot both run it.
            if _is_applied(connection, migration.version) == up:
                connection.execute("ROLLBACK")
                return False
            for statement in split_statements(migration.up_sql if up else migration.down_sql):
                try:
                    connection.execute(statement)
                except sqlite3.IntegrityError as error:
                    refused = refusal_of(migration, str(error))
                    if refused is None:
                        raise
                    raise refused from error
            _record(connection, migration, up=up)
            connection.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
    return True


def split_statements(script: str) -> list[str]:
    """The statements of a script, one per item, for ``execute``.

    ``executescript`` would be simpler but commits any open transaction first, which would
    split a migration from its ledger row.
    """
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        # complete_statement knows SQLite's grammar, including semicolons inside triggers.
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    leftover = [line for line in pending.splitlines() if line.strip() and not _is_comment(line)]
    if leftover:
        raise RuntimeError(f"Migration script ends inside a statement: {leftover[0]!r}")
    return statements


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("--")


def _is_applied(connection: sqlite3.Connection, version: int) -> bool:
    row = connection.execute(
        "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
    ).fetchone()
    return row is not None


def _record(connection: sqlite3.Connection, migration: Migration, *, up: bool) -> None:
    if not up:
        connection.execute("DELETE FROM schema_migrations WHERE version = ?", (migration.version,))
        return
    connection.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.name, datetime.now(UTC).isoformat(timespec="microseconds")),
    )
