"""The embedded default store: SQLite through the standard library, in one local file.

``SqliteStore(path)`` opens (and by default migrates) the file; ``migrate``, ``rollback`` and
``status`` manage its schema (``migrate`` ends with ``backfill``, which fills the derived
columns SQL cannot compute) from the CLI or from code.
"""

from liquifact_adapters.sql_migrations import Migration, MigrationStatus
from liquifact_adapters.sqlite.schema import (
    backfill,
    known_migrations,
    migrate,
    rollback,
    status,
)
from liquifact_adapters.sqlite.store import SqliteStore, SqliteUnitOfWork

__all__ = [
    "Migration",
    "MigrationStatus",
    "SqliteStore",
    "SqliteUnitOfWork",
    "backfill",
    "known_migrations",
    "migrate",
    "rollback",
    "status",
]
