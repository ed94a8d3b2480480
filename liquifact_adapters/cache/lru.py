"""A bounded LRU cache with per-entry TTL (the spec's MemoryCacheStore, maxEntries 5000).

The bookkeeping (recency order, per-entry expiry, eviction) is ``cachetools.TLRUCache``; this
module adds the port's shape, a lock, and the eviction observer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import TLRUCache

DEFAULT_MAX_ENTRIES = 5000

EvictionObserver = Callable[[list[str]], None]

# A stored entry: (ttl in seconds, value). The TTL rides along so ``ttu`` can compute expiry.
_Entry = tuple[float, bytes]


def _expires_at(_key: str, entry: _Entry, now: float) -> float:
    return now + entry[0]


class _ObservedTLRU(TLRUCache[str, _Entry, float]):
    """``TLRUCache`` remembering which keys it evicted for room (``popitem``: cachetools' hook
    for evictions; entries dropped because they expired do not pass through it)."""

    def __init__(self, maxsize: int, timer: Callable[[], float]) -> None:
        super().__init__(maxsize, _expires_at, timer)
        self.evicted: list[str] = []

    def popitem(self) -> tuple[str, _Entry]:
        key, entry = super().popitem()
        self.evicted.append(key)
        return key, entry


class InProcessCache:
    """The ``Cache`` port in this process's memory.

    Least recently used entries are evicted beyond ``max_entries``; expired entries are dropped
    when read, and first when room is needed. ``on_evict(keys)`` is told of every LRU eviction
    (for the ``response_cache_evictions_total`` counter), never of expiries. ``now`` is the
    clock in seconds (monotonic). Thread safe (cachetools' caches are not: one lock guards it).
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
        self._on_evict = on_evict
        self._entries = _ObservedTLRU(max_entries, now)
        self._lock = threading.Lock()

    def entry_count(self) -> int:
        """Entries held now, fresh or expired (no ``__len__``: an empty cache must stay truthy)."""
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        # One reading of the clock for the lookup (an entry cannot expire between cachetools'
        # membership test and its read).
        with self._lock, self._entries.timer:
            entry = self._entries.get(key)
            if entry is None:
                self._entries.expire()
                return None
            return entry[1]

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            return
        with self._lock:
            self._entries[key] = (ttl_seconds, value)
            evicted, self._entries.evicted = self._entries.evicted, []
        if evicted and self._on_evict is not None:
            self._on_evict(evicted)

    def close(self) -> None:
        """Nothing to release: the entries live in this process."""

    def invalidate_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                self._entries.pop(key, None)
