"""The job queue on SQLite (migration 0008): the shared SQL logic (``sql.jobs``) with SQLite's
statements and transactions.

One file has one writer at a time: a claim runs inside ``BEGIN IMMEDIATE``, so it holds the
write lock from its first read, and two claimers (threads or processes) take turns instead of
both reading the same due row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from liquifact_adapters.sql import jobs as shared
from liquifact_adapters.sql.jobs import SqlJobQueue, SqlJobRepository
from liquifact_adapters.sql.rows import Params, Row
from liquifact_adapters.sqlite.connection import ConnectionPool, unavailable_on_failure
from liquifact_adapters.sqlite.mapping import ROWS

_WRITE_STATE = shared.write_state("lease_owner IS :expected_owner")

_FILTER = """
WHERE tenant_id = :tenant_id
    AND (:any_status OR status IN (SELECT value FROM json_each(:statuses)))
    AND (:job_type IS NULL OR type = :job_type)
"""
_PAGE = """    AND (:after IS NULL OR id < :after)
ORDER BY id DESC
LIMIT :limit
"""
# Constant parts only (no caller text is ever joined in).
_LIST = " ".join(("SELECT", shared.JOB_COLUMNS, "FROM jobs", _FILTER, _PAGE))
_COUNT = " ".join(("SELECT count(*) AS total FROM jobs", _FILTER))

_DUE = (
    "SELECT " + shared.JOB_COLUMNS + " FROM jobs"  # noqa: S608 - constant column names
    """
WHERE type IN (SELECT value FROM json_each(:types))
    AND ((status = 'pending' AND run_after <= :now)
        OR (status = 'running' AND lease_expires_at <= :now))
ORDER BY run_after, id
LIMIT :limit
"""
)

_COUNTS = """
SELECT type AS job_type,
    sum(status = 'pending' AND run_after <= :now) AS queue_depth,
    sum(status = 'pending' AND attempts > 0) AS retry_queue,
    sum(status = 'running' AND lease_expires_at > :now) AS inflight,
    sum(status = 'dead') AS dead
FROM jobs
GROUP BY type
"""


class SqliteJobRepository(SqlJobRepository):
    rows = ROWS
    INSERT = shared.INSERT_JOB
    SELECT = SELECT_FOR_WRITE = shared.SELECT_JOB  # BEGIN IMMEDIATE already serialises
    LIST = _LIST
    COUNT = _COUNT
    WRITE_STATE = _WRITE_STATE

    def status_set(self, statuses: tuple[str, ...]) -> str:
        return json.dumps(statuses)


class _Session:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def fetch_all(self, sql: str, params: Params) -> list[Row]:
        with unavailable_on_failure():
            return [dict(row) for row in self._connection.execute(sql, params).fetchall()]


class SqliteJobQueue(SqlJobQueue):
    """The workers' side on one SQLite file; each call is one BEGIN IMMEDIATE transaction."""

    rows = ROWS
    DUE = _DUE
    # RETURNING: the workers' session tells a written row by the id it returns.
    WRITE = _WRITE_STATE + "RETURNING id"
    COUNTS = _COUNTS

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    @contextmanager
    def transaction(self) -> Iterator[_Session]:
        # Leaving the pool's block rolls back whatever was not committed.
        with self._pool.connection() as connection:
            with unavailable_on_failure():
                connection.execute("BEGIN IMMEDIATE")
            yield _Session(connection)
            with unavailable_on_failure():
                connection.execute("COMMIT")

    def type_set(self, job_types: tuple[str, ...]) -> str:
        return json.dumps(job_types)
