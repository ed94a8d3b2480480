"""SQL-first versioned migrations: ``NNNN_name.up.sql`` / ``NNNN_name.down.sql`` package files.

Migrations run as the ``DATABASE_URL`` login (the owner of the schema). A session-level
advisory lock serialises migrators across processes and hosts, and each migration runs in its
own transaction together with its row in ``schema_migrations``: a failed migration leaves
nothing behind, and two processes migrating at once apply each migration exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import psycopg
from psycopg.rows import TupleRow, tuple_row

from liquifact_adapters.postgres.connection import (
    DEFAULT_APP_ROLE,
    DEFAULT_CONNECT_TIMEOUT_S,
    translated,
)
from liquifact_adapters.sql.profiles import (
    FILL_BUYER_NAME_KEY,
    UNKEYED_BUYER_NAMES,
    backfill_buyer_name_keys,
)
from liquifact_adapters.sql.statements import pyformat
from liquifact_adapters.sql_migrations import (
    Migration,
    MigrationStatus,
    load_migrations,
    newest_applied,
    refusal_of,
    statuses,
)

MIGRATIONS_PACKAGE = "liquifact_adapters.postgres.migrations"
# PostgreSQL folds unquoted names to lower case; refusing anything else keeps the role name the
# same whether it is written quoted (by migrations) or not (by an operator in psql).
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# One fixed advisory-lock key for "the schema of this database is being changed".
# Advisory locks are scoped to the current database, so other databases migrate freely.
MIGRATION_LOCK_KEY = 0x4C49515549464143  # "LIQUIFAC"
# The migration that added invoices.buyer_name_key, which ``backfill`` fills in.
SEARCH_KEYS_VERSION = 7

_CREATE_LEDGER = b"""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def check_role_name(app_role: str) -> str:
    if not ROLE_NAME.fullmatch(app_role):
        raise ValueError("must be 1-63 of [a-z0-9_], not starting with a digit")
    return app_role


@cache
def known_migrations() -> tuple[Migration, ...]:
    """Every migration shipped with this code, oldest first."""
    return load_migrations(MIGRATIONS_PACKAGE)


def migrate(url: str, app_role: str = DEFAULT_APP_ROLE) -> list[Migration]:
    """Apply every pending migration, oldest first, then ``backfill``; returns the migrations
    this call applied."""
    check_role_name(app_role)
    with _locked(url) as connection:
        applied = applied_versions(connection)
        done = []
        for migration in known_migrations():
            if migration.version not in applied:
                _apply(connection, migration, app_role, up=True)
                done.append(migration)
        _backfill(connection)
        return done


def backfill(url: str) -> int:
    """Fill the derived columns SQL cannot compute: the folded buyer names of invoices written
    before migration 0007 (``sql.profiles.backfill_buyer_name_keys``), in one transaction,
    under the migration lock. Idempotent (only NULL keys are written); nothing to do before
    0007. Returns how many distinct buyer names were keyed."""
    with _locked(url) as connection:
        return _backfill(connection)


def _backfill(connection: psycopg.Connection[TupleRow]) -> int:
    if SEARCH_KEYS_VERSION not in applied_versions(connection):
        return 0
    with translated(), connection.transaction():
        # The owner is bound by row-level security too (FORCE, 0001) and no tenant is set, so
        # it would see no row: lifted for this transaction only (DDL is transactional; no
        # other session ever sees it off), which holds the table's lock until commit.
        connection.execute("ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY")
        with connection.cursor() as cursor:
            keyed = backfill_buyer_name_keys(
                lambda: [str(row[0]) for row in cursor.execute(UNKEYED_BUYER_NAMES).fetchall()],
                lambda params: cursor.executemany(_FILL, params),
            )
        connection.execute("ALTER TABLE invoices FORCE ROW LEVEL SECURITY")
    return keyed


_FILL = pyformat(FILL_BUYER_NAME_KEY)


def rollback(url: str, app_role: str = DEFAULT_APP_ROLE) -> Migration | None:
    """Undo the newest applied migration; returns it, or None when nothing is applied."""
    check_role_name(app_role)
    with _locked(url) as connection:
        newest = newest_applied(known_migrations(), applied_versions(connection))
        if newest is not None:
            _apply(connection, newest, app_role, up=False)
        return newest


def status(url: str) -> list[MigrationStatus]:
    """Every known migration with whether it is applied, oldest first."""
    with connected(url) as connection:
        applied = applied_versions(connection)
    return statuses(known_migrations(), applied)


def pending(applied: set[int]) -> list[Migration]:
    """The migrations this code needs that are not in ``applied``."""
    return [migration for migration in known_migrations() if migration.version not in applied]


def applied_versions(connection: psycopg.Connection[Any]) -> set[int]:
    """The versions in the ledger; empty when the ledger does not exist yet."""
    with translated(), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        exists = cursor.fetchone()
        if exists is None or not exists[0]:
            return set()
        cursor.execute("SELECT version FROM schema_migrations")
        return {int(row[0]) for row in cursor.fetchall()}


@contextmanager
def connected(url: str) -> Iterator[psycopg.Connection[TupleRow]]:
    """A short-lived autocommit connection of its own, outside any pool."""
    with translated():
        connection = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=DEFAULT_CONNECT_TIMEOUT_S,
            application_name="liquifact-migrate",
        )
    try:
        yield connection
    finally:
        connection.close()


@contextmanager
def _locked(url: str) -> Iterator[psycopg.Connection[TupleRow]]:
    """A connection holding the migration lock; closing the connection releases it.

    The ledger is created under the lock too: concurrent CREATE TABLE IF NOT EXISTS can still
    collide in the catalog.
    """
    with connected(url) as connection:
        with translated():
            connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
            connection.execute(_CREATE_LEDGER)
        yield connection


def _apply(
    connection: psycopg.Connection[TupleRow],
    migration: Migration,
    app_role: str,
    *,
    up: bool,
) -> None:
    """Run one direction of a migration and update the ledger in one transaction."""
    script = migration.up_sql if up else migration.down_sql
    with translated(), connection.transaction():
        # Local to this transaction; the scripts read it to name the application role.
        connection.execute("SELECT set_config('liquifact.app_role', %s, true)", (app_role,))
        # bytes: a script read from a file is not a literal, and without parameters psycopg
        # sends it as one simple query, so it may hold many statements and DO blocks.
        try:
            connection.execute(script.encode("utf-8"))
        except psycopg.errors.RaiseException as error:
            refused = refusal_of(migration, error.diag.message_primary or "")
            if refused is None:
                raise
            raise refused from error
        if up:
            connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
        else:
            connection.execute(
                "DELETE FROM schema_migrations WHERE version = %s", (migration.version,)
            )
