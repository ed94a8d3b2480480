"""A bounded LRU cache with per-entry TTL (the spec's MemoryCacheStore, maxEntries 5000)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_MAX_ENTRIES = 5000

EvictionObserver = Callable[[list[str]], None]


class InProcessCache:
    """The ``Cache`` port in this process's memory.

    Least recently used entries are evicted beyond ``max_entries``; expired entries are dropped
    lazily when read (and first when room is needed). ``on_evict(keys)`` is told of every LRU
    eviction (for the ``response_cache_evictions_total`` counter). Thread safe.
    """

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        *,
        now: Callable[[], float] = time.monotonic,
        on_evict: EvictionObserver | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._now = now
        self._on_evict = on_evict
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def entry_count(self) -> int:
        """Entries held now, fresh or expired (no ``__len__``: an empty cache must stay truthy)."""
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, value = entry
            if expires_at <= self._now():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            return
        evicted: list[str] = []
        with self._lock:
            self._entries[key] = (self._now() + ttl_seconds, value)
            self._entries.move_to_end(key)
            if len(self._entries) > self.max_entries:
                self._drop_expired()
            while len(self._entries) > self.max_entries:
                evicted.append(self._entries.popitem(last=False)[0])
        if evicted and self._on_evict is not None:
            self._on_evict(evicted)

    def invalidate_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                del self._entries[key]

    def _drop_expired(self) -> None:
        now = self._now()
        for key in [k for k, (expires_at, _) in self._entries.items() if expires_at <= now]:
            del self._entries[key]
