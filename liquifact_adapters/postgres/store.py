"""The PostgreSQL store: a connection pool shared by threads, one transaction per unit of work.

Every transaction runs as the non-owner application role with the unit's tenant set, so
row-level security confines even a query that forgets its tenant filter to that tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Sequence
from contextlib import suppress
from datetime import date, datetime
from typing import Self

import psycopg

from liquifact_adapters.postgres import schema
from liquifact_adapters.postgres.connection import (
    DEFAULT_APP_ROLE,
    DEFAULT_POOL_MAX_SIZE,
    DEFAULT_POOL_MIN_SIZE,
    DEFAULT_POOL_TIMEOUT_S,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    UNAVAILABLE_MESSAGE,
    Connection,
    open_pool,
    translated,
)
from liquifact_adapters.postgres.jobs import PostgresJobQueue, PostgresJobRepository
from liquifact_adapters.postgres.mapping import ROWS, Params, Row, aware
from liquifact_adapters.postgres.repositories import (
    INDEXER_PROGRESS,
    INSERT_CHALLENGE,
    LINKED_ESCROWS,
    PURGE_CHALLENGES,
    PURGE_EXPIRED,
    PURGE_KYC_EVENTS,
    SELECT_KYC_SUBJECT,
    SELECT_RECONCILIATION_TENANTS,
    SELECT_REMINDER_TENANTS,
    SELECT_RETENTION_TENANTS,
    SELECT_WALLET_ANY_TENANT,
    PostgresAuditLog,
    PostgresCommitmentRepository,
    PostgresContactRepository,
    PostgresEscrowProjectionRepository,
    PostgresIdempotencyRepository,
    PostgresInvoiceFileRepository,
    PostgresInvoiceRepository,
    PostgresKycRepository,
    PostgresProfileRepository,
    PostgresReconciliationRepository,
    PostgresReminderRepository,
    PostgresRetentionRepository,
    PostgresWalletRepository,
    PostgresWebhookRepository,
    constraint_violations,
)
from liquifact_adapters.sql import escrows, wallets
from liquifact_adapters.sql.repositories import ConstraintViolation, SqlUnitOfWork
from liquifact_adapters.sql_migrations import Migration
from liquifact_core.errors import schema_not_current
from liquifact_core.indexing import IndexerProgress, LinkedEscrow
from liquifact_core.totals import FilteredTotals
from liquifact_core.wallets import WalletBinding

# A readiness probe must answer fast: it waits this long for a connection and for the query.
PING_TIMEOUT_S = 2.0

# set_config(..., true) is SET LOCAL: both settings end with the transaction, so a pooled
# connection never carries one tenant's identity into the next unit of work. Setting 'role'
# is SET ROLE, with the same membership check.
_BEGIN_AS_TENANT = "SELECT set_config('role', %s, true), set_config('app.tenant_id', %s, true)"
# A read unit: one snapshot for all its statements (REPEATABLE READ; a READ COMMITTED unit
# would see other units' commits between two statements, e.g. a page and its total), READ
# ONLY so that writes fail. Neither takes locks that make writers wait. Set as the
# connection's transaction characteristics, so psycopg opens the transaction with them
# (``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY``) instead of a statement of its own.
_READ_ISOLATION = psycopg.IsolationLevel.REPEATABLE_READ
_SAVEPOINT = "liquifact_write"
_PING_SETUP = "SELECT set_config('statement_timeout', %s, true), set_config('role', %s, true)"


class PostgresStore:
    """The production store; many threads and processes can share one database.

    ``url`` is a libpq URL (``postgresql://user@host:5432/db``). The schema is not migrated
    here: run ``liquifact db migrate`` (or ``schema.migrate``) first; ``pending_migrations``
    tells whether that is needed.
    """

    def __init__(
        self,
        url: str,
        *,
        app_role: str = DEFAULT_APP_ROLE,
        pool_min_size: int = DEFAULT_POOL_MIN_SIZE,
        pool_max_size: int = DEFAULT_POOL_MAX_SIZE,
        pool_timeout_s: float = DEFAULT_POOL_TIMEOUT_S,
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    ) -> None:
        self.app_role = schema.check_role_name(app_role)
        if not 0 <= pool_min_size <= pool_max_size or pool_max_size < 1:
            raise ValueError("Pool sizes must satisfy 0 <= min <= max and max >= 1.")
        self._url = url
        self._ping_timeout_s = min(PING_TIMEOUT_S, pool_timeout_s)
        self._pool = open_pool(
            url,
            min_size=pool_min_size,
            max_size=pool_max_size,
            timeout_s=pool_timeout_s,
            statement_timeout_ms=statement_timeout_ms,
        )
        self.job_queue = PostgresJobQueue(self)
        # Filtered marketplace totals, each valid at one generation (liquifact_core.totals).
        self.totals = FilteredTotals()

    def unit_of_work(self, tenant_id: str) -> PostgresUnitOfWork:
        """A new unit of work acting for one tenant; it connects when its block is entered."""
        return PostgresUnitOfWork(self, tenant_id)

    def read_unit(self, tenant_id: str) -> PostgresUnitOfWork:
        """A read-only unit: one REPEATABLE READ, READ ONLY snapshot, with the same role and
        tenant scoping (row-level security) as a unit of work; it takes no row locks."""
        return PostgresUnitOfWork(self, tenant_id, read_only=True)

    def purge_expired_idempotency(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` idempotency records of any tenant expired at ``now``.

        Runs as the application role, which sees one tenant at a time; the cross-tenant delete
        happens inside the SECURITY DEFINER function purge_expired_idempotency_records of
        migration 0002 (docs/database.md), which returns only a count.
        """
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            row = connection.execute(PURGE_EXPIRED, (aware(now), limit)).fetchone()
            connection.commit()
        return 0 if row is None else int(row["removed"])

    def wallet_binding(self, address: str) -> WalletBinding | None:
        """The binding of ``address`` in any tenant, read as the application role through
        the SECURITY DEFINER function wallet_binding_of of migration 0006, which returns that
        one row and nothing else across tenants."""
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            row = connection.execute(SELECT_WALLET_ANY_TENANT, {"address": address}).fetchone()
            connection.rollback()
        return None if row is None else wallets.wallet_from_row(row, ROWS)

    def linked_escrows(self) -> list[LinkedEscrow]:
        """Every linked escrow to index, of any tenant, read as the application role through
        the SECURITY DEFINER function linked_escrows_to_index of migration 0011, which returns
        (tenant, invoice id, contract) of linked invoices and nothing else."""
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            found = connection.execute(LINKED_ESCROWS).fetchall()
            connection.rollback()
        return [escrows.linked_escrow_from_row(row) for row in found]

    def indexer_progress(self) -> IndexerProgress:
        """The oldest cursor ledger and pass time over every tenant (migration 0011's
        escrow_indexer_progress, numbers only)."""
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            row = connection.execute(INDEXER_PROGRESS).fetchone()
            connection.rollback()
        ledger = None if row is None else row["oldest_ledger"]
        run_at = None if row is None else row["oldest_run_at"]
        newest = None if row is None else row["newest_ledger"]
        return IndexerProgress(
            None if ledger is None else int(ledger),
            None if run_at is None else ROWS.timestamp_from_sql(run_at),
            None if newest is None else int(newest),
        )

    def redeem_challenge(self, digest: str, expires_at: datetime) -> bool:
        """Insert the challenge's record as the application role; the primary key refuses a
        second one (a concurrent insert waits for the first to commit, then does nothing)."""
        params = {"digest": digest, "expires_at": aware(expires_at)}
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            inserted = connection.execute(INSERT_CHALLENGE, params).rowcount
            connection.commit()
        return inserted == 1

    def purge_expired_challenges(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` challenge records expired at ``now``."""
        params = {"now": aware(now), "limit": limit}
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            removed = connection.execute(PURGE_CHALLENGES, params).rowcount
            connection.commit()
        return int(removed)

    def reconciliation_tenants(self) -> list[str]:
        """The tenants with live invoices in a reconciled status, read as the application role
        through the SECURITY DEFINER function reconciliation_tenants of migration 0010, which
        returns tenant ids and nothing else across tenants."""
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            rows = connection.execute(SELECT_RECONCILIATION_TENANTS).fetchall()
            connection.rollback()
        return [str(row["tenant_id"]) for row in rows]

    def kyc_subject(self, reference: str) -> tuple[str, str] | None:
        """The (tenant, subject) of a KYC reference in any tenant, read as the application
        role through the SECURITY DEFINER function kyc_subject_of of migration 0015, which
        returns those two columns of that one record and nothing else."""
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            row = connection.execute(SELECT_KYC_SUBJECT, {"reference": reference}).fetchone()
            connection.rollback()
        return None if row is None else (str(row["tenant_id"]), str(row["subject"]))

    def purge_kyc_events(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` remembered KYC webhook events expired at ``now``."""
        params = {"now": aware(now), "limit": limit}
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            removed = connection.execute(PURGE_KYC_EVENTS, params).rowcount
            connection.commit()
        return int(removed)

    def reminder_tenants(self, start: date, end: date) -> list[str]:
        """The tenants with live invoices maturing from ``start`` to ``end`` in a reminded
        status, read as the application role through the SECURITY DEFINER function
        reminder_tenants of migration 0015 (tenant ids and nothing else)."""
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            rows = connection.execute(
                SELECT_REMINDER_TENANTS, {"first_day": start, "last_day": end}
            ).fetchall()
            connection.rollback()
        return [str(row["tenant_id"]) for row in rows]

    def retention_tenants(self) -> list[str]:
        """The tenants with an active retention policy, read as the application role through
        the SECURITY DEFINER function retention_tenants of migration 0014, which returns
        tenant ids and nothing else across tenants."""
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            rows = connection.execute(SELECT_RETENTION_TENANTS).fetchall()
            connection.rollback()
        return [str(row["tenant_id"]) for row in rows]

    def ping(self) -> None:
        """Run ``SELECT 1`` with a short timeout; raise Unavailable if that fails or the schema
        lacks a migration this code needs."""
        timeout_s = self._ping_timeout_s
        with translated(), self._pool.connection(timeout=timeout_s) as connection:
            connection.execute(_PING_SETUP, (str(int(timeout_s * 1000)), self.app_role))
            connection.execute("SELECT 1")
            missing = schema.pending(schema.applied_versions(connection))
            connection.rollback()
        if missing:
            raise schema_not_current()

    def pending_migrations(self) -> list[Migration]:
        """Migrations this code needs that the database lacks (empty when up to date).

        Meant for start-up: it opens a connection of its own rather than waiting for the
        pool, so an unreachable server is reported at once, not after the pool timeout.
        """
        with schema.connected(self._url) as connection, translated():
            connection.execute("SELECT set_config('role', %s, false)", (self.app_role,))
            return schema.pending(schema.applied_versions(connection))

    def schema_is_current(self) -> bool:
        """Exactly this code's migrations are applied: none pending, none from newer code."""
        known = {migration.version for migration in schema.known_migrations()}
        return self._applied_versions() == known

    def _applied_versions(self) -> set[int]:
        # Read as the application role, like every other query of the running service.
        with translated(), self._pool.connection() as connection:
            connection.execute("SELECT set_config('role', %s, true)", (self.app_role,))
            applied = schema.applied_versions(connection)
            connection.rollback()
        return applied

    def close(self) -> None:
        """Close the pool; later units of work answer Unavailable."""
        self._pool.close()

    def acquire(self) -> Connection:
        with translated():
            return self._pool.getconn()

    def release(self, connection: Connection) -> None:
        """Take a connection back, rolling back anything its user did not commit, with the
        server's default transaction characteristics again (a read unit sets its own)."""
        # A failed rollback means the connection is broken; the pool sees that and drops it.
        with suppress(psycopg.Error):
            connection.rollback()
        with suppress(psycopg.Error):
            _default_characteristics(connection)
        with suppress(psycopg.Error):
            self._pool.putconn(connection)


def _default_characteristics(connection: Connection) -> None:
    """Transactions of ``connection`` (idle) open with the server's defaults again."""
    if connection.isolation_level is not None:
        connection.isolation_level = None
    if connection.read_only is not None:
        connection.read_only = None


class PostgresUnitOfWork(SqlUnitOfWork):
    """One transaction on one pooled connection, as the application role, for one tenant."""

    invoice_repository = PostgresInvoiceRepository
    audit_log = PostgresAuditLog
    commitment_repository = PostgresCommitmentRepository
    idempotency_repository = PostgresIdempotencyRepository
    wallet_repository = PostgresWalletRepository
    job_repository = PostgresJobRepository
    profile_repository = PostgresProfileRepository
    webhook_repository = PostgresWebhookRepository
    reconciliation_repository = PostgresReconciliationRepository
    escrow_repository = PostgresEscrowProjectionRepository
    kyc_repository = PostgresKycRepository
    reminder_repository = PostgresReminderRepository
    contact_repository = PostgresContactRepository
    file_repository = PostgresInvoiceFileRepository
    retention_repository = PostgresRetentionRepository

    def __init__(self, store: PostgresStore, tenant_id: str, *, read_only: bool = False) -> None:
        super().__init__(tenant_id, read_only=read_only, totals=store.totals)
        self._store = store
        self._connection: Connection | None = None
        self._needs_begin = True

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("This unit of work is already in use.")
        connection = self._store.acquire()
        self._connection = connection
        try:
            self._begin(connection)
        except BaseException:
            self._connection = None
            self._store.release(connection)
            raise
        return self

    def __exit__(self, *_exc_info: object) -> None:
        """Roll back what was not committed, and release the connection (whatever ended the
        block: the exception, if any, goes on)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._store.release(connection)

    def commit(self) -> None:
        connection = self._active()
        if self._needs_begin:
            return
        with translated():
            connection.commit()
        # Work after a commit belongs to a new transaction, which leaving the block rolls back
        # unless it is committed too. It begins lazily, with the role and tenant set again.
        self._needs_begin = True

    def fetch_all(self, sql: str, params: Params | Sequence[object]) -> list[Row]:
        """The rows of a statement in this unit's transaction."""
        connection = self._ready()
        with translated():
            return connection.execute(sql, params).fetchall()

    def write(self, sql: str, params: Params) -> int:
        connection = self._ready()
        with translated():
            # A failed statement aborts a PostgreSQL transaction; the savepoint confines the
            # damage to this write, as SQLite does, so the caller may go on after a Conflict.
            connection.execute(f"SAVEPOINT {_SAVEPOINT}")
            try:
                with constraint_violations():
                    cursor = connection.execute(sql, params)
            except ConstraintViolation:
                connection.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                raise
            connection.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            return cursor.rowcount

    def stream(self, sql: str, params: Params, chunk_size: int) -> Generator[list[Row], None, None]:
        """The rows of a query through a server-side cursor (DECLARE ... then FETCH
        ``chunk_size`` at a time): the server keeps the result, the process holds one chunk.
        Each FETCH is a statement of its own (STATEMENT_TIMEOUT applies per chunk). The
        cursor is closed when the generator is, and in any case when the transaction ends."""
        connection = self._ready()
        name = f"liquifact_stream_{uuid.uuid4().hex[:16]}"
        with translated():
            cursor = connection.cursor(name=name)
            cursor.itersize = chunk_size
            cursor.execute(sql, params)
        try:
            while True:
                with translated():
                    rows = cursor.fetchmany(chunk_size)
                if not rows:
                    return
                yield rows
        finally:
            with suppress(psycopg.Error):
                cursor.close()

    def execute_unfiltered(self, sql: str) -> list[Row]:
        """Run raw SQL inside this unit's transaction (role and tenant set). For tests and
        diagnostics that prove what row-level security lets through."""
        return self.fetch_all(sql, ())

    def _begin(self, connection: Connection) -> None:
        with translated():
            # Local settings (no round trip), applied by the BEGIN psycopg sends before the
            # first statement: a read unit's opens in its snapshot mode, a unit of work's in
            # the server's defaults (release puts the defaults back, for every other user).
            if self._read_only:
                connection.isolation_level = _READ_ISOLATION
                connection.read_only = True
            else:
                _default_characteristics(connection)
            connection.execute(_BEGIN_AS_TENANT, (self._store.app_role, self._tenant_id))
        self._needs_begin = False

    def _ready(self) -> Connection:
        connection = self._active()
        if self._needs_begin:
            self._begin(connection)
        return connection

    def _active(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("Use the unit of work inside a 'with' block.")
        return self._connection


__all__ = ["UNAVAILABLE_MESSAGE", "PostgresStore", "PostgresUnitOfWork"]
