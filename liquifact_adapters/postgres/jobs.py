"""The job queue on PostgreSQL (migration 0008): the shared SQL logic (``sql.jobs``) with
PostgreSQL's statements and transactions.

The outbox side runs in the tenant's unit of work under row-level security. The workers' side
serves every tenant, so it goes through the SECURITY DEFINER functions of migration 0008:
``due_jobs`` locks the due rows it returns FOR UPDATE SKIP LOCKED until the worker's
transaction ends (concurrent claimers skip each other's rows instead of waiting or sharing
them), ``write_job_state`` writes a guarded state change, ``job_counts`` counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from liquifact_adapters.postgres.connection import Connection, translated
from liquifact_adapters.postgres.mapping import ROWS, Params, Row
from liquifact_adapters.sql import jobs as shared
from liquifact_adapters.sql.jobs import SqlJobQueue, SqlJobRepository
from liquifact_adapters.sql.statements import pyformat

if TYPE_CHECKING:
    from liquifact_adapters.postgres.store import PostgresStore

_SELECT = pyformat(shared.SELECT_JOB)
_FILTER = """
WHERE tenant_id = %(tenant_id)s
    AND (%(any_status)s OR status = ANY(%(statuses)s))
    AND (%(job_type)s::text IS NULL OR type = %(job_type)s::text)
"""
_PAGE = """    AND (%(after)s::text IS NULL OR id COLLATE "C" < %(after)s::text)
ORDER BY id COLLATE "C" DESC
LIMIT %(limit)s
"""
# Constant parts only (no caller text is ever joined in).
_LIST = " ".join(("SELECT", shared.JOB_COLUMNS, "FROM jobs", _FILTER, _PAGE))
_COUNT = " ".join(("SELECT count(*) AS total FROM jobs", _FILTER))
_DUE = "SELECT * FROM due_jobs(%(now)s, %(types)s, %(limit)s)"
_WRITE = """
SELECT id FROM write_job_state(
    %(id)s, %(expected_status)s, %(expected_attempts)s, %(expected_owner)s, %(status)s,
    %(attempts)s, %(run_after)s, %(lease_owner)s, %(lease_expires_at)s, %(last_error)s,
    %(updated_at)s
) AS id
"""
_COUNTS = "SELECT * FROM job_counts(%(now)s)"


class PostgresJobRepository(SqlJobRepository):
    rows = ROWS
    INSERT = pyformat(shared.INSERT_JOB)
    SELECT = _SELECT
    # The requeue's read-check-write: a concurrent requeue waits, then finds the job pending.
    SELECT_FOR_WRITE = _SELECT + "\nFOR UPDATE"
    LIST = _LIST
    COUNT = _COUNT
    WRITE_STATE = pyformat(shared.write_state("lease_owner IS NOT DISTINCT FROM :expected_owner"))

    def status_set(self, statuses: tuple[str, ...]) -> list[str]:
        return [*statuses]


class _Session:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def fetch_all(self, sql: str, params: Params) -> list[Row]:
        with translated():
            return self._connection.execute(sql, params).fetchall()


class PostgresJobQueue(SqlJobQueue):
    """The workers' side: each call is one transaction as the application role, with no
    tenant set; only the functions of migration 0008 reach across tenants."""

    rows = ROWS
    DUE = _DUE
    WRITE = _WRITE
    COUNTS = _COUNTS

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    @contextmanager
    def transaction(self) -> Iterator[_Session]:
        connection = self._store.acquire()
        try:
            with translated():
                connection.execute("SELECT set_config('role', %s, true)", (self._store.app_role,))
            yield _Session(connection)
            with translated():
                connection.commit()
        finally:
            self._store.release(connection)  # rolls back whatever was not committed

    def type_set(self, job_types: tuple[str, ...]) -> list[str]:
        return [*job_types]
