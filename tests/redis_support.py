"""The one place that decides what happens when the Redis server is missing.

Tests that need Redis use the ``redis_url`` fixture (or ``require_redis()``). With ``CI=true`` a
missing server FAILS the test (CI must never pass by skipping); elsewhere it is skipped with a
loud reason naming the address and how to start a server.
"""

from __future__ import annotations

import os
import uuid

import pytest
import redis

REDIS_URL = os.environ.get("LIQUIFACT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(url: str) -> str | None:
    """None when the server answers PING, else why not."""
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as error:
        return f"{type(error).__name__}: {error}"
    return None


def require_redis() -> str:
    """The test Redis URL; fails (CI) or skips loudly (elsewhere) when it is unreachable."""
    problem = _reachable(REDIS_URL)
    if problem is None:
        return REDIS_URL
    message = (
        f"REDIS NOT AVAILABLE at {REDIS_URL} ({problem}). Start one with "
        "`redis-server --port 6379 --save '' --appendonly no --daemonize yes` "
        "(.ci/run does this) or set LIQUIFACT_TEST_REDIS_URL."
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def unique_namespace(kind: str) -> str:
    """A key namespace no other test uses (random ids per test instead of cleanup)."""
    return f"liquifact-test:{kind}:{uuid.uuid4().hex}:"
