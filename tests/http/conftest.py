from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.ports import Store
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import bearer, test_settings
from tests.factories import new_tenant


def _sqlite(_request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return SqliteStore(str(tmp_path / "http.sqlite3"))


def _postgres(request: pytest.FixtureRequest, _tmp_path: Path) -> Store:
    # The session's migrated database (tests/conftest.py); each test has its own tenant.
    return PostgresStore(request.getfixturevalue("postgres_url"), pool_max_size=4)


# Every HTTP test runs against the embedded default store and the production store.
HTTP_STORES = {"sqlite": _sqlite, "postgres": _postgres}


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def http_store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app(
    http_store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Starlette]:
    store = HTTP_STORES[http_store_kind](request, tmp_path)
    # Invoice documents go to this test's own folder, never the working directory's var/.
    yield create_app(test_settings(storage_dir=str(tmp_path / "objects")), store=store)
    # The client's lifespan closes it too, but not every test starts one; closing is idempotent.
    store.close()


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def tenant() -> str:
    return new_tenant()


@pytest.fixture
def headers(tenant: str) -> dict[str, str]:
    """An admin of ``tenant``, authenticated with a real bearer token."""
    return bearer("admin", tenant, "test-admin")
