"""The ``Cache`` port on Redis.

Entries are plain string keys ``<namespace><key>`` with a millisecond TTL (``SET ... PX``), so
Redis expires them itself. Prefix invalidation uses ``SCAN MATCH <namespace><prefix>*`` and
``UNLINK`` in batches. This was chosen over per-prefix generation counters because the port
allows *any* prefix (a generation scheme must know the prefix boundaries when keys are written,
and costs an extra round trip on every read); SCAN costs O(keys in the database) per
invalidation, which is cheap for a cache that only holds short-lived (15 s) read responses. Keep
the cache in a Redis database of its own if that database grows large.

Errors never reach the caller (the port's rule): a failed read is a miss, a failed write or
invalidation is dropped; ``on_error(operation, key or prefix, error)`` is told of each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

DEFAULT_NAMESPACE = "liquifact:cache:"
_SCAN_BATCH = 500
_GLOB_SPECIALS = str.maketrans({c: "\\" + c for c in "*?[]\\"})

ErrorObserver = Callable[[str, str, Exception], None]
_log = logging.getLogger("liquifact.adapters.redis")


def _log_error(operation: str, _key: str, error: Exception) -> None:
    _log.warning("redis cache %s failed: %s", operation, type(error).__name__)


class RedisCache:
    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        on_error: ErrorObserver | None = None,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._on_error = on_error or _log_error

    def get(self, key: str) -> bytes | None:
        try:
            value = self._client.get(self._namespace + key)
        except redis.RedisError as error:
            self._on_error("get", key, error)
            return None
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        ttl_ms = int(ttl_seconds * 1000)
        if ttl_ms <= 0:
            return
        try:
            self._client.set(self._namespace + key, value, px=ttl_ms)
        except redis.RedisError as error:
            self._on_error("set", key, error)

    def invalidate_prefix(self, prefix: str) -> None:
        pattern = (self._namespace + prefix).translate(_GLOB_SPECIALS) + "*"
        try:
            batch: list[bytes] = []
            for key in self._client.scan_iter(match=pattern, count=_SCAN_BATCH):
                batch.append(key)
                if len(batch) >= _SCAN_BATCH:
                    self._client.unlink(*batch)
                    batch = []
            if batch:
                self._client.unlink(*batch)
        except redis.RedisError as error:
            self._on_error("invalidate", prefix, error)

    def close(self) -> None:
        """Close the client's connection pool (the cache owns the client it was given)."""
        self._client.close()
