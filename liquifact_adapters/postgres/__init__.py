"""The production store: PostgreSQL through psycopg 3 and psycopg_pool.

``PostgresStore(url)`` serves units of work from a pool; ``migrate``, ``rollback`` and
``status`` manage its schema (``migrate`` ends with ``backfill``, which fills the derived
columns SQL cannot compute) (run them as the schema owner) from the CLI or from code.
"""

from liquifact_adapters.postgres.connection import (
    DEFAULT_APP_ROLE,
    DEFAULT_POOL_MAX_SIZE,
    DEFAULT_POOL_MIN_SIZE,
    DEFAULT_STATEMENT_TIMEOUT_MS,
)
from liquifact_adapters.postgres.schema import (
    backfill,
    known_migrations,
    migrate,
    rollback,
    status,
)
from liquifact_adapters.postgres.store import PostgresStore, PostgresUnitOfWork
from liquifact_adapters.sql_migrations import Migration, MigrationStatus

__all__ = [
    "DEFAULT_APP_ROLE",
    "DEFAULT_POOL_MAX_SIZE",
    "DEFAULT_POOL_MIN_SIZE",
    "DEFAULT_STATEMENT_TIMEOUT_MS",
    "Migration",
    "MigrationStatus",
    "PostgresStore",
    "PostgresUnitOfWork",
    "backfill",
    "known_migrations",
    "migrate",
    "rollback",
    "status",
]
