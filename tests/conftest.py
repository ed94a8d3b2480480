"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.redis_support import require_redis


@pytest.fixture
def redis_url() -> str:
    """The real Redis server's URL (fails under CI=true when it is missing, else skips)."""
    return require_redis()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
