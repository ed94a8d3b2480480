"""Black-box tests of real processes sharing one PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx2 as httpx
import pytest

from liquifact_adapters.postgres import known_migrations
from tests.auth_helpers import TEST_SECRET, bearer
from tests.factories import invoice_payload, new_tenant
from tests.integration.server import LIQUIFACT, free_port, running_server
from tests.pg import fresh_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _liquifact(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIQUIFACT, *args],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def empty_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_db_commands_migrate_report_and_roll_back(empty_url: str) -> None:
    labels = [f"{m.version:04d}_{m.name}" for m in known_migrations()]
    # Two migrators at once: the advisory lock lets one apply everything, the other nothing.
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(lambda _: _liquifact(empty_url, "db", "migrate"), range(2))

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    outputs = sorted([first.stdout.strip(), second.stdout.strip()])
    assert outputs == sorted(
        ["Applied: " + ", ".join(labels), "Applied: nothing; schema is current"]
    )

    applied = _liquifact(empty_url, "db", "status")
    expected = [(f"{m.version:04d}", m.name, "applied") for m in known_migrations()]
    assert applied.stdout.split() == [word for row in expected for word in row]

    undone = _liquifact(empty_url, "db", "rollback")
    assert undone.stdout.strip() == f"Rolled back: {labels[-1]}"
    assert _liquifact(empty_url, "db", "status").stdout.split()[-1] == "pending"


def test_server_refuses_an_outdated_schema_before_binding(empty_url: str) -> None:
    port = free_port()
    result = _liquifact(empty_url, "serve", "--port", str(port))

    assert result.returncode == 3
    assert "liquifact db migrate" in result.stderr
    assert "older than this code" in result.stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)


def test_server_refuses_an_unreachable_database_without_leaking_it() -> None:
    url = f"postgresql://postgres:s3cret-pw@127.0.0.1:{free_port()}/liquifact"
    result = _liquifact(url, "serve", "--port", str(free_port()))

    assert result.returncode == 3
    assert "unreachable" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


@pytest.fixture(scope="module")
def two_servers(postgres_url: str) -> Iterator[tuple[str, str]]:
    """Two `liquifact serve` processes on two ports, sharing the session database."""
    env = {"DATABASE_URL": postgres_url, "DATABASE_POOL_MAX_SIZE": "4", "JWT_SECRET": TEST_SECRET}
    with running_server(env) as one, running_server(env) as two:
        yield one, two


def test_two_servers_share_one_database(two_servers: tuple[str, str]) -> None:
    one, two = two_servers
    headers = bearer("admin", new_tenant())
    assert httpx.get(one + "/readyz").json()["status"] == "ready"
    assert httpx.get(two + "/readyz").json()["status"] == "ready"

    created = httpx.post(one + "/v1/invoices", json=invoice_payload(), headers=headers)
    assert created.status_code == 201
    invoice_id = created.json()["id"]
    assert httpx.get(f"{two}/v1/invoices/{invoice_id}", headers=headers).json() == (created.json())

    approved = httpx.post(
        f"{two}/v1/invoices/{invoice_id}/approve", headers={**headers, "If-Match": '"v1"'}
    )
    assert approved.status_code == 200
    seen = httpx.get(f"{one}/v1/invoices/{invoice_id}", headers=headers)
    assert seen.json() == approved.json()
    assert seen.headers["etag"] == '"v2"'
    history = httpx.get(f"{one}/v1/invoices/{invoice_id}/history", headers=headers).json()
    assert [step["to"] for step in history["data"]] == ["pending", "approved"]

    # Someone else's tenant sees nothing of it, through either process.
    other = bearer("admin", new_tenant())
    assert httpx.get(f"{one}/v1/invoices/{invoice_id}", headers=other).status_code == 404
    assert httpx.get(two + "/v1/invoices", headers=other).json()["meta"]["total"] == 0


def _race(*requests: tuple[str, dict[str, str] | None, dict[str, str]]) -> list[httpx.Response]:
    """POST each (url, body, headers) from its own thread, all released at the same moment."""
    start = Barrier(len(requests))

    def send(request: tuple[str, dict[str, str] | None, dict[str, str]]) -> httpx.Response:
        url, body, headers = request
        start.wait()
        return httpx.post(url, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


@pytest.mark.parametrize("if_match", [False, True])
def test_racing_transitions_through_two_servers_succeed_once(
    two_servers: tuple[str, str], if_match: bool
) -> None:
    one, two = two_servers
    tenant = bearer("admin", new_tenant())
    headers = {**tenant, **({"If-Match": '"v1"'} if if_match else {})}
    for _ in range(5):
        created = httpx.post(one + "/v1/invoices", json=invoice_payload(), headers=tenant)
        item = f"/v1/invoices/{created.json()['id']}"

        responses = _race(
            (f"{one}{item}/approve", None, headers),
            (f"{two}{item}/reject", {"reason": "Unknown buyer"}, headers),
        )

        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200, 412 if if_match else 409], [r.text for r in responses]
        final = httpx.get(one + item, headers=tenant).json()
        assert final["version"] == 2
        winner = next(r for r in responses if r.status_code == 200)
        assert final["status"] == winner.json()["status"]
