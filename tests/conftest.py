"""Fixtures shared by every suite."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
import redis
from hypothesis import settings

from liquifact_adapters.postgres import migrate
from tests.pg import fresh_database
from tests.redis_support import require_redis
from tests.soroban_peer import PeerServer

# Under CI every property test draws the same examples each run, so a commit's verdict does not
# depend on luck; local runs keep drawing new ones, which is where new counterexamples are found
# (each then becomes an explicit @example or a unit test).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")


def hermetic_resolver(host: str, port: int) -> list[str]:
    """What webhook URL checks resolve in tests: ``localhost`` names only (RFC 6761), never
    the machine's DNS server, so a fuzzed or made-up host name sends no query anywhere."""
    if host == "localhost" or host.endswith(".localhost"):
        return ["127.0.0.1"]
    raise socket.gaierror(socket.EAI_NONAME, "not resolved in tests")


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhook address checks (``DnsAddressPolicy`` without a resolver of its own) use
    ``hermetic_resolver`` in this process; tests that need other answers give a resolver."""
    monkeypatch.setattr("liquifact_adapters.webhooks.guard.system_resolver", hermetic_resolver)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated database for this test session (one per xdist worker), dropped at the end.

    Suites share it and stay apart by using a random tenant per test; a test that changes the
    schema itself must use ``tests.pg.fresh_database`` instead.
    """
    with fresh_database() as url:
        migrate(url)
        yield url


@pytest.fixture
def redis_url() -> str:
    """The real Redis server's URL (fails under CI=true when it is missing, else skips)."""
    return require_redis()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def soroban_peer() -> Iterator[PeerServer]:
    """A fresh Soroban JSON-RPC peer (tests/soroban_peer) on a free port of 127.0.0.1.

    `soroban_peer.url` is for `SorobanServer`; `soroban_peer.control` sets up accounts and
    escrows and injects faults.
    """
    with PeerServer() as peer:
        yield peer
