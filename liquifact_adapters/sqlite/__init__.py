"""The embedded default store: SQLite through the standard library, in one local file.

``SqliteStore(path)`` opens (and by default migrates) the file; ``migrate``, ``rollback`` and
``status`` manage its schema from the CLI or from code.
"""

from liquifact_adapters.sql_migrations import Migration, MigrationStatus
from liquifact_adapters.sqlite.schema import (
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
    "known_migrations",
    "migrate",
    "rollback",
    "status",
]
