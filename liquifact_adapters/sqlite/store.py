"""The SQLite store: one file, WAL journaling, one pooled connection per unit of work."""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from datetime import date, datetime
from typing import Self

from liquifact_adapters.sql import escrows, wallets
from liquifact_adapters.sql.repositories import SqlUnitOfWork
from liquifact_adapters.sql.rows import Params, Row
from liquifact_adapters.sqlite import schema
from liquifact_adapters.sqlite.connection import (
    DEFAULT_BUSY_TIMEOUT_MS,
    ConnectionPool,
    discard_transaction,
    open_database,
    unavailable_on_failure,
)
from liquifact_adapters.sqlite.jobs import SqliteJobQueue, SqliteJobRepository
from liquifact_adapters.sqlite.mapping import ROWS, utc_text
from liquifact_adapters.sqlite.repositories import (
    PURGE_CHALLENGES,
    PURGE_EXPIRED,
    PURGE_KYC_EVENTS,
    SELECT_KYC_SUBJECT,
    SELECT_RECONCILIATION_TENANTS,
    SELECT_REMINDER_TENANTS,
    SELECT_RETENTION_TENANTS,
    SELECT_WALLET_ANY_TENANT,
    SqliteAuditLog,
    SqliteCommitmentRepository,
    SqliteContactRepository,
    SqliteEscrowProjectionRepository,
    SqliteIdempotencyRepository,
    SqliteInvoiceFileRepository,
    SqliteInvoiceRepository,
    SqliteKycRepository,
    SqliteProfileRepository,
    SqliteReconciliationRepository,
    SqliteReminderRepository,
    SqliteRetentionRepository,
    SqliteWalletRepository,
    SqliteWebhookRepository,
    constraint_violations,
)
from liquifact_core.errors import schema_not_current, store_unavailable
from liquifact_core.indexing import IndexerProgress, LinkedEscrow
from liquifact_core.totals import FilteredTotals
from liquifact_core.wallets import WalletBinding

# A readiness probe must answer fast: it waits at most this long for the write lock.
DEFAULT_PING_TIMEOUT_MS = 2000


class SqliteStore:
    """The embedded default store; safe to share between threads.

    Every unit of work starts with ``BEGIN IMMEDIATE``: it takes the file's single write lock
    up front, so concurrent units queue (up to the busy timeout) instead of failing or
    deadlocking when a reader later tries to write.
    """

    def __init__(
        self,
        path: str,
        *,
        migrate: bool = True,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        ping_timeout_ms: int = DEFAULT_PING_TIMEOUT_MS,
    ) -> None:
        """Open the file at ``path``, creating it; ``migrate`` applies pending migrations.

        ``busy_timeout_ms``: how long a unit of work waits for the write lock before answering
        Unavailable; ``ping_timeout_ms``: how long ``ping`` waits for it (at most the former).
        """
        self.path = path
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._ping_timeout_ms = int(min(ping_timeout_ms, busy_timeout_ms))
        connection = open_database(path, busy_timeout_ms)
        try:
            if migrate:
                schema.migrate(connection)
        finally:
            connection.close()
        self._pool = ConnectionPool(path, busy_timeout_ms)
        self.job_queue = SqliteJobQueue(self._pool)
        # Filtered marketplace totals, each valid at one generation (liquifact_core.totals).
        self.totals = FilteredTotals()

    def unit_of_work(self, tenant_id: str) -> SqliteUnitOfWork:
        """A new unit of work acting for one tenant; it connects when its block is entered."""
        return SqliteUnitOfWork(self._pool, tenant_id, totals=self.totals)

    def read_unit(self, tenant_id: str) -> SqliteUnitOfWork:
        """A read-only unit: a deferred transaction reads one WAL snapshot without taking the
        write lock, so reads run in parallel with each other and with one writer."""
        return SqliteUnitOfWork(self._pool, tenant_id, read_only=True, totals=self.totals)

    def ping(self) -> None:
        """Raise Unavailable unless a unit of work could start now: the file answers, holds
        every migration this code needs, and its write lock can be taken within the probe's
        timeout (``ping_timeout_ms``). Another process holding the lock (``BEGIN EXCLUSIVE``,
        a long migration) makes units of work queue and answer 503 after the busy timeout, so
        the probe must not call the store ready then (issue 9, item 8). The lock is released
        at once: the probe writes nothing."""
        with self._pool.connection() as connection:
            if schema.has_pending(connection):
                raise schema_not_current()
            with unavailable_on_failure():
                connection.execute(f"PRAGMA busy_timeout = {self._ping_timeout_ms}")
                try:
                    connection.execute("BEGIN IMMEDIATE")
                    connection.execute("ROLLBACK")
                finally:
                    connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")

    def purge_expired_idempotency(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` expired idempotency records of any tenant."""
        with self._pool.connection() as connection, unavailable_on_failure():
            connection.execute("BEGIN IMMEDIATE")
            removed = connection.execute(PURGE_EXPIRED, (utc_text(now), limit)).rowcount
            connection.execute("COMMIT")
        return int(removed)

    def schema_is_current(self) -> bool:
        """Exactly this code's migrations are applied: none pending, none from newer code."""
        with self._pool.connection() as connection:
            return schema.is_current(connection)

    def wallet_binding(self, address: str) -> WalletBinding | None:
        """The binding of ``address`` in any tenant (one file holds every tenant)."""
        with self._pool.connection() as connection, unavailable_on_failure():
            row = connection.execute(SELECT_WALLET_ANY_TENANT, {"address": address}).fetchone()
        return None if row is None else wallets.wallet_from_row(dict(row), ROWS)

    def linked_escrows(self) -> list[LinkedEscrow]:
        """Every linked escrow to index, of any tenant (one file holds every tenant)."""
        with self._pool.connection() as connection, unavailable_on_failure():
            found = connection.execute(escrows.LINKED_ESCROWS).fetchall()
        return [escrows.linked_escrow_from_row(dict(row)) for row in found]

    def indexer_progress(self) -> IndexerProgress:
        """The oldest cursor ledger and pass time over every tenant."""
        with self._pool.connection() as connection, unavailable_on_failure():
            row = connection.execute(escrows.INDEXER_PROGRESS).fetchone()
        ledger, run_at, newest = (None, None, None) if row is None else tuple(row)
        return IndexerProgress(
            None if ledger is None else int(ledger),
            None if run_at is None else ROWS.timestamp_from_sql(run_at),
            None if newest is None else int(newest),
        )

    def redeem_challenge(self, digest: str, expires_at: datetime) -> bool:
        """Insert the challenge's record; the primary key refuses a second one."""
        params = {"digest": digest, "expires_at": utc_text(expires_at)}
        with self._pool.connection() as connection, unavailable_on_failure():
            connection.execute("BEGIN IMMEDIATE")
            inserted = connection.execute(wallets.INSERT_CHALLENGE, params).rowcount
            connection.execute("COMMIT")
        return inserted == 1

    def purge_expired_challenges(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` challenge records expired at ``now``."""
        with self._pool.connection() as connection, unavailable_on_failure():
            connection.execute("BEGIN IMMEDIATE")
            removed = connection.execute(
                PURGE_CHALLENGES, {"now": utc_text(now), "limit": limit}
            ).rowcount
            connection.execute("COMMIT")
        return int(removed)

    def reconciliation_tenants(self) -> list[str]:
        """The tenants with live invoices in a reconciled status (one file holds every
        tenant), sorted."""
        with self._pool.connection() as connection, unavailable_on_failure():
            rows = connection.execute(SELECT_RECONCILIATION_TENANTS).fetchall()
        return [str(row["tenant_id"]) for row in rows]

    def kyc_subject(self, reference: str) -> tuple[str, str] | None:
        """The (tenant, subject) of a KYC reference, in any tenant (one file holds every
        tenant)."""
        with self._pool.connection() as connection, unavailable_on_failure():
            row = connection.execute(SELECT_KYC_SUBJECT, {"reference": reference}).fetchone()
        return None if row is None else (str(row["tenant_id"]), str(row["subject"]))

    def purge_kyc_events(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` remembered KYC webhook events expired at ``now``."""
        with self._pool.connection() as connection, unavailable_on_failure():
            connection.execute("BEGIN IMMEDIATE")
            removed = connection.execute(
                PURGE_KYC_EVENTS, {"now": utc_text(now), "limit": limit}
            ).rowcount
            connection.execute("COMMIT")
        return int(removed)

    def reminder_tenants(self, start: date, end: date) -> list[str]:
        """The tenants with live invoices maturing from ``start`` to ``end`` in a reminded
        status (one file holds every tenant), sorted."""
        params = {"first_day": start.isoformat(), "last_day": end.isoformat()}
        with self._pool.connection() as connection, unavailable_on_failure():
            rows = connection.execute(SELECT_REMINDER_TENANTS, params).fetchall()
        return [str(row["tenant_id"]) for row in rows]

    def retention_tenants(self) -> list[str]:
        """The tenants with an active retention policy (one file holds every tenant)."""
        with self._pool.connection() as connection, unavailable_on_failure():
            rows = connection.execute(SELECT_RETENTION_TENANTS).fetchall()
        return [str(row["tenant_id"]) for row in rows]

    def close(self) -> None:
        """Close idle connections; units still running close theirs when they finish."""
        self._pool.close()


class SqliteUnitOfWork(SqlUnitOfWork):
    """One transaction on one connection, acting for one tenant."""

    invoice_repository = SqliteInvoiceRepository
    audit_log = SqliteAuditLog
    commitment_repository = SqliteCommitmentRepository
    idempotency_repository = SqliteIdempotencyRepository
    wallet_repository = SqliteWalletRepository
    job_repository = SqliteJobRepository
    profile_repository = SqliteProfileRepository
    webhook_repository = SqliteWebhookRepository
    reconciliation_repository = SqliteReconciliationRepository
    escrow_repository = SqliteEscrowProjectionRepository
    kyc_repository = SqliteKycRepository
    reminder_repository = SqliteReminderRepository
    contact_repository = SqliteContactRepository
    file_repository = SqliteInvoiceFileRepository
    retention_repository = SqliteRetentionRepository

    def __init__(
        self,
        pool: ConnectionPool,
        tenant_id: str,
        *,
        read_only: bool = False,
        totals: FilteredTotals | None = None,
    ) -> None:
        super().__init__(
            tenant_id, read_only=read_only, totals=FilteredTotals() if totals is None else totals
        )
        self._pool = pool
        self._begin = "BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE"
        self._connection: sqlite3.Connection | None = None
        self._begin_on_next_statement = False

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("This unit of work is already in use.")
        connection = self._pool.acquire()
        try:
            with unavailable_on_failure():
                if self._read_only:
                    connection.execute("PRAGMA query_only = ON")
                connection.execute(self._begin)
        except BaseException:
            self._pool.release(connection)
            raise
        self._connection = connection
        self._begin_on_next_statement = False
        return self

    def __exit__(self, *_exc_info: object) -> None:
        """Roll back what was not committed, and release the connection (whatever ended the
        block: the exception, if any, goes on)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            if self._read_only:
                discard_transaction(connection)
                try:
                    connection.execute("PRAGMA query_only = OFF")
                except sqlite3.Error:
                    connection.close()  # never hand a read-only connection to a writer
                    return
            self._pool.release(connection)

    def commit(self) -> None:
        connection = self._active()
        if self._begin_on_next_statement:
            return
        self._check_transaction_alive(connection)
        with unavailable_on_failure():
            connection.execute("COMMIT")
        # Work after a commit belongs to a new transaction, which leaving the block rolls
        # back unless it is committed too. It starts lazily, so a unit that ends right after
        # committing does not queue for the write lock again.
        self._begin_on_next_statement = True

    def fetch_all(self, sql: str, params: Params) -> list[Row]:
        return [dict(row) for row in self._execute(sql, params).fetchall()]

    def write(self, sql: str, params: Params) -> int:
        # A refused statement changes nothing in SQLite: the unit stays usable after it.
        with constraint_violations():
            return int(self._execute(sql, params).rowcount)

    def stream(self, sql: str, params: Params, chunk_size: int) -> Generator[list[Row], None, None]:
        """The rows of a query, ``chunk_size`` at a time from one cursor (``fetchmany``):
        SQLite steps through the result as rows are fetched, so only the current chunk is
        ever in memory. The cursor is closed when the generator is."""
        cursor = self._execute(sql, params)
        try:
            while True:
                with unavailable_on_failure():
                    rows = cursor.fetchmany(chunk_size)
                if not rows:
                    return
                yield [dict(row) for row in rows]
        finally:
            cursor.close()

    def execute_raw(self, sql: str) -> list[tuple[object, ...]]:
        """Run raw SQL inside this unit's transaction. For tests and diagnostics."""
        return [tuple(row) for row in self._execute(sql, {}).fetchall()]

    def _execute(self, sql: str, params: Params) -> sqlite3.Cursor:
        connection = self._active()
        with unavailable_on_failure():
            if self._begin_on_next_statement:
                connection.execute(self._begin)
                self._begin_on_next_statement = False
            else:
                self._check_transaction_alive(connection)
            return connection.execute(sql, params)

    def _active(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("Use the unit of work inside a 'with' block.")
        return self._connection

    @staticmethod
    def _check_transaction_alive(connection: sqlite3.Connection) -> None:
        # SQLite itself rolls back on some failures (disk full, I/O error). Going on would run
        # the remaining statements outside any transaction and commit half a unit.
        if not connection.in_transaction:
            raise store_unavailable()
