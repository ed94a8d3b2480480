"""Opening SQLite connections, pooling them across threads, and translating driver failures."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from liquifact_core.errors import store_unavailable

DEFAULT_BUSY_TIMEOUT_MS = 5000
IDLE_CONNECTIONS_MAX = 16
WAL_SWITCH_RETRY_S = 0.01


def is_infrastructure_failure(error: sqlite3.Error) -> bool:
    """Failures of the file or the lock (retrying later may work), not of our SQL or data."""
    # A bare DatabaseError is how sqlite3 reports a corrupt file or one that is not a database.
    return isinstance(error, sqlite3.OperationalError) or type(error) is sqlite3.DatabaseError


@contextmanager
def unavailable_on_failure() -> Iterator[None]:
    """Turn infrastructure failures into ``Unavailable``; the driver's text stays in the cause."""
    try:
        yield
    except sqlite3.Error as error:
        if is_infrastructure_failure(error):
            raise store_unavailable() from error
        raise


def connect(path: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A connection in manual transaction mode that waits for locks instead of failing at once.

    ``check_same_thread`` is off because pooled connections move between the server's worker
    threads; the pool guarantees a connection is used by one thread at a time.
    """
    with unavailable_on_failure():
        connection = sqlite3.connect(
            path,
            timeout=busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            connection.row_factory = sqlite3.Row
            connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            connection.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            connection.close()
            raise
    return connection


def open_database(path: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """Connect to ``path``, creating its directory, and switch the file to WAL journaling.

    WAL lets readers go on while one writer commits. The mode is stored in the file, so the
    store does this once, when it opens, not for every pooled connection.
    """
    if path in ("", ":memory:"):
        # Each connection would get a private, empty database of its own.
        raise ValueError("SqliteStore needs a file path: every unit of work opens the file.")
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise store_unavailable() from error
    connection = connect(path, busy_timeout_ms)
    try:
        with unavailable_on_failure():
            _use_wal(connection, busy_timeout_ms)
    except BaseException:
        connection.close()
        raise
    return connection


def is_busy(error: BaseException) -> bool:
    """SQLite answered "busy" (another connection holds the lock it needs)."""
    return isinstance(error, sqlite3.OperationalError) and error.sqlite_errorname.startswith(
        "SQLITE_BUSY"
    )


def _use_wal(connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
    if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    # Switching needs an exclusive lock, and when connections race to switch a new file SQLite
    # may answer "busy" at once without using the busy timeout, so tenacity does the waiting:
    # retry "busy" only, every WAL_SWITCH_RETRY_S, until the busy timeout, then re-raise it.
    retrying = Retrying(
        retry=retry_if_exception(is_busy),
        stop=stop_after_delay(busy_timeout_ms / 1000),
        wait=wait_fixed(WAL_SWITCH_RETRY_S),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            connection.execute("PRAGMA journal_mode = WAL").fetchone()


def discard_transaction(connection: sqlite3.Connection) -> bool:
    """Roll back whatever is open; False if the connection is no longer fit for reuse."""
    if not connection.in_transaction:
        return True
    try:
        connection.execute("ROLLBACK")
    except sqlite3.Error:
        return False
    return not connection.in_transaction


class ConnectionPool:
    """Idle connections kept for reuse, so a unit of work does not reopen the file each time."""

    def __init__(self, path: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self) -> sqlite3.Connection:
        """An idle connection, or a new one; Unavailable once the pool is closed."""
        with self._lock:
            if self._closed:
                raise store_unavailable()
            if self._idle:
                return self._idle.pop()
        return connect(self._path, self._busy_timeout_ms)

    def release(self, connection: sqlite3.Connection) -> None:
        """Take a connection back, rolling back anything its user did not commit."""
        reusable = discard_transaction(connection)
        with self._lock:
            if reusable and not self._closed and len(self._idle) < IDLE_CONNECTIONS_MAX:
                self._idle.append(connection)
                return
        connection.close()

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        connection = self.acquire()
        try:
            yield connection
        finally:
            self.release(connection)

    def close(self) -> None:
        """Close idle connections now; connections in use close when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
