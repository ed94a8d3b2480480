from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import bearer, test_settings
from tests.factories import new_tenant


@pytest.fixture
def app() -> Starlette:
    return create_app(test_settings(), store=InMemoryStore())


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
