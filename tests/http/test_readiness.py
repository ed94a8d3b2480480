"""Readiness probes and store outages over HTTP: what a load balancer and a client see."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest.mock import ANY

import psycopg
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.postgres import PostgresStore
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import bearer, test_settings
from tests.factories import invoice_payload
from tests.http.openapi_validation import assert_matches_openapi
from tests.integration.server import free_port
from tests.pg import fresh_database

PROBES = ["/readyz", "/ready"]
NOT_READY = {
    "status": "not_ready",
    "checks": {"database": {"status": "down", "error": "unavailable"}},
}


def _assert_discloses_nothing(text: str, port: int | None = None) -> None:
    for secret in (
        "127.0.0.1",
        "postgres",
        "psycopg",
        "connection",
        *([str(port)] if port else []),
    ):
        assert secret not in text.lower()


@pytest.mark.parametrize("path", PROBES)
def test_probes_are_ready_with_a_working_store(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200, response.text
    assert_matches_openapi(response)
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["database"]["latencyMs"] >= 0
    assert response.headers["cache-control"] == "no-store"


@pytest.fixture
def unreachable() -> Iterator[tuple[Starlette, int]]:
    """An app whose PostgreSQL server does not exist: nothing listens on the port."""
    port = free_port()
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{port}/liquifact", pool_timeout_s=0.3)
    yield create_app(test_settings(), store=store), port
    store.close()


@pytest.mark.parametrize("path", PROBES)
def test_probes_are_not_ready_when_the_database_is_unreachable(
    unreachable: tuple[Starlette, int], path: str
) -> None:
    app, port = unreachable
    with TestClient(app) as client:
        response = client.get(path)

    assert response.status_code == 503
    assert_matches_openapi(response)
    # /ready also says whether the cache is shared (issue 9; these settings: SQLite, no Redis).
    cache: dict[str, Any] = {"cache": {"shared": False}} if path == "/ready" else {}
    # /ready names who decides KYC too (issue 15; no provider configured: the mock).
    if path == "/ready":
        cache["kyc"] = {"provider": "mock", "mockDefaultStatus": "verified", "warning": ANY}
    assert response.json() == {**NOT_READY, **cache}
    _assert_discloses_nothing(response.text, port)


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/v1/invoices", {}),
        ("POST", "/v1/invoices", {"json": invoice_payload()}),
        ("POST", "/v1/invoices/inv_abc/approve", {}),
    ],
)
def test_an_unreachable_database_is_a_retryable_503_problem(
    unreachable: tuple[Starlette, int], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    app, port = unreachable
    with TestClient(app) as client:
        response = client.request(method, path, headers=bearer("admin", "t-outage"), **kwargs)

    assert response.status_code == 503
    assert_matches_openapi(response)
    problem = response.json()
    assert problem["code"] == "SERVICE_UNAVAILABLE"
    assert problem["retryable"] is True
    assert problem["detail"] == "The data store is unavailable."
    _assert_discloses_nothing(response.text, port)


@pytest.mark.postgres
def test_probes_are_not_ready_on_an_unmigrated_database() -> None:
    with fresh_database() as url:
        store = PostgresStore(url)
        try:
            with TestClient(create_app(test_settings(), store=store)) as client:
                response = client.get("/readyz")
        finally:
            store.close()

    assert response.status_code == 503
    assert response.json() == NOT_READY


@pytest.mark.postgres
def test_killed_database_sessions_are_replaced_between_requests(
    postgres_url: str, headers: dict[str, str]
) -> None:
    store = PostgresStore(postgres_url, pool_min_size=2, pool_max_size=2)
    with TestClient(create_app(test_settings(), store=store)) as client:
        created = client.post("/v1/invoices", json=invoice_payload(), headers=headers)
        assert created.status_code == 201
        database = postgres_url.rpartition("/")[2]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND application_name = 'liquifact'",
                (database,),
            ).fetchone()
        assert killed is not None and killed[0] >= 1

        again = client.get(f"/v1/invoices/{created.json()['id']}", headers=headers)
        ready = client.get("/readyz")

    assert again.status_code == 200
    assert again.json() == created.json()
    assert ready.status_code == 200


@pytest.mark.postgres
def test_ready_warns_of_a_process_local_cache_on_postgresql(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, pool_max_size=2)
    app = create_app(test_settings(database_url=postgres_url), store=store)
    try:
        with TestClient(app) as client:
            ready = client.get("/ready")
            readyz = client.get("/readyz")
    finally:
        store.close()
    assert ready.status_code == 200  # a warning, not an outage
    assert_matches_openapi(ready)
    assert ready.json()["cache"]["shared"] is False
    assert "REDIS_URL" in ready.json()["cache"]["warning"]
    assert "cache" not in readyz.json()
