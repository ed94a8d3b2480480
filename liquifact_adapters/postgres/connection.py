"""The connection pool, and translating driver failures into core errors at the adapter edge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from liquifact_core.errors import STORE_UNAVAILABLE_MESSAGE, concurrent_update, store_unavailable

UNAVAILABLE_MESSAGE = STORE_UNAVAILABLE_MESSAGE

DEFAULT_POOL_MIN_SIZE = 1
DEFAULT_POOL_MAX_SIZE = 10
DEFAULT_STATEMENT_TIMEOUT_MS = 5000
DEFAULT_APP_ROLE = "liquifact_app"
# How long a unit of work waits for a free pooled connection before answering Unavailable.
DEFAULT_POOL_TIMEOUT_S = 5.0
DEFAULT_CONNECT_TIMEOUT_S = 5

Connection = psycopg.Connection[DictRow]


def is_concurrency_failure(error: psycopg.Error) -> bool:
    """The server aborted us to keep concurrent transactions consistent; a retry may work."""
    return isinstance(error, pg_errors.SerializationFailure | pg_errors.DeadlockDetected)


def is_infrastructure_failure(error: psycopg.Error) -> bool:
    """Failures of the server, the network, the pool or a timeout, not of our SQL or data.

    OperationalError covers connection loss, pool timeouts (PoolTimeout, PoolClosed) and
    statement timeouts (QueryCanceled); a server shutting down or out of resources answers
    with class 57 or 53 codes, which psycopg maps to OperationalError subclasses too.
    InterfaceError is a connection already closed on our side.
    """
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


def translate(error: psycopg.Error) -> Exception:
    """The core error for a driver failure that no repository handles itself, or ``error``.

    The driver's text stays only in ``__cause__`` (logs), never in the client-facing message,
    because it can name hosts, roles and SQL.
    """
    if is_concurrency_failure(error):
        return concurrent_update()
    if is_infrastructure_failure(error):
        return store_unavailable()
    return error


@contextmanager
def translated() -> Iterator[None]:
    """Raise core errors for concurrency and infrastructure failures; others pass through."""
    try:
        yield
    except psycopg.Error as error:
        replacement = translate(error)
        if replacement is error:
            raise
        raise replacement from error


def connection_kwargs(statement_timeout_ms: int, connect_timeout_s: int) -> dict[str, Any]:
    """Session settings every pooled connection starts with.

    UTC makes timestamps read back with a fixed offset; the statement timeout bounds how long a
    request can hold a connection (and its row locks) when the server is slow.
    """
    return {
        "connect_timeout": connect_timeout_s,
        "application_name": "liquifact",
        "options": f"-c statement_timeout={int(statement_timeout_ms)} -c TimeZone=UTC",
        "row_factory": dict_row,
    }


def open_pool(
    url: str,
    *,
    min_size: int,
    max_size: int,
    timeout_s: float,
    statement_timeout_ms: int,
    connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S,
) -> ConnectionPool[Connection]:
    """A pool that checks each connection before lending it, so a connection the server
    dropped (restart, failover, pg_terminate_backend) is replaced instead of failing a request.

    The pool opens without waiting: when the server is down the process still starts, and
    each unit of work answers Unavailable until it comes back.
    """
    return ConnectionPool(
        url,
        connection_class=psycopg.Connection[DictRow],
        kwargs=connection_kwargs(statement_timeout_ms, connect_timeout_s),
        min_size=min_size,
        max_size=max_size,
        timeout=timeout_s,
        check=ConnectionPool.check_connection,
        open=True,
        name="liquifact",
    )
