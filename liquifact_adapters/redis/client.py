"""One Redis client per process, with short timeouts: a slow Redis must not stall requests."""

from __future__ import annotations

import redis

DEFAULT_TIMEOUT_SECONDS = 0.5


def connect(url: str, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> redis.Redis:
    """A client for ``url`` (redis://, rediss:// or unix://). Connects lazily, on first use."""
    client: redis.Redis = redis.Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        health_check_interval=30,
        decode_responses=False,
    )
    return client
