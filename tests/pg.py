"""The PostgreSQL server the test suites use, in one place.

Every suite that needs PostgreSQL gets a database through ``fresh_database`` (or the
session-wide ``postgres_url`` fixture in tests/conftest.py): a new database with a random
name on 127.0.0.1:5432, dropped at the end. Each pytest-xdist worker has its own session, so
workers never share a database.

When the server is unreachable the tests are skipped with a loud reason, except under
``CI=true``, where they fail: CI must never pass by silently skipping the production store.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import psycopg
import pytest
from psycopg import sql

# Trust authentication as the postgres superuser, as on developer machines and in CI.
# TEST_POSTGRES_ADMIN_URL points the suites at another server.
ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@cache
def unreachable_reason() -> str | None:
    """Why the test server cannot be used, or None when it answers."""
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
    return None


def require_postgres() -> None:
    """Skip (locally) or fail (under CI=true) when PostgreSQL is not reachable."""
    reason = unreachable_reason()
    if reason is None:
        return
    where = (
        "TEST_POSTGRES_ADMIN_URL"
        if "TEST_POSTGRES_ADMIN_URL" in os.environ
        else "127.0.0.1:5432 as user postgres"
    )
    message = (
        f"PostgreSQL is not reachable at {where} ({reason}). "
        "Start it (.ci/run does) to run the production-store tests."
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(f"SKIPPING POSTGRES TESTS: {message}")


def url_for(database: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@contextmanager
def fresh_database(prefix: str = "liquifact_test") -> Iterator[str]:
    """Create an empty database, yield its URL, drop it (closing any leftover sessions)."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_for(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
