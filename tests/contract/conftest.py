"""The stores every contract suite runs against.

To cover a new adapter, add one entry to ``STORE_FACTORIES`` (with marks such as
``pytest.mark.postgres`` if it needs a server); every suite then runs against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest

from liquifact_adapters.memory import InMemoryStore
from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.ports import Store

from .contract_support import new_tenant


@attrs.frozen
class StoreFactory:
    # The request lets a factory pull in the fixtures it needs (the postgres database).
    build: Callable[[pytest.FixtureRequest, Path], Store]
    marks: tuple[pytest.MarkDecorator, ...] = ()


def _memory_store(_request: pytest.FixtureRequest, _tmp_path: Path) -> Store:
    # The fake's unit of work declares its repositories with their concrete types, which the
    # UnitOfWork protocol's (invariant) attributes reject; it honours the protocol at run time.
    return InMemoryStore()


def _sqlite_store(_request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return SqliteStore(str(tmp_path / "liquifact.sqlite3"))


def _postgres_store(request: pytest.FixtureRequest, _tmp_path: Path) -> Store:
    # One migrated database per session (tests/conftest.py); tests stay apart by tenant.
    return PostgresStore(request.getfixturevalue("postgres_url"))


STORE_FACTORIES: dict[str, StoreFactory] = {
    "memory": StoreFactory(_memory_store),
    "sqlite": StoreFactory(_sqlite_store),
    "postgres": StoreFactory(_postgres_store, marks=(pytest.mark.postgres,)),
}


@pytest.fixture(
    params=[pytest.param(name, marks=kind.marks, id=name) for name, kind in STORE_FACTORIES.items()]
)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = STORE_FACTORIES[store_kind].build(request, tmp_path)
    yield store
    store.close()


@pytest.fixture
def tenant() -> str:
    return new_tenant()


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[PostgresStore]:
    """The PostgreSQL store on the session's database (PostgreSQL-specific suites)."""
    store = PostgresStore(postgres_url)
    yield store
    store.close()


@pytest.fixture
def owner(postgres_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A raw connection as the DATABASE_URL login (the postgres superuser in tests)."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        yield connection
