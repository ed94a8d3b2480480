"""Fixed-window hit counters in this process's memory (the rate limiter's default store).

Bounded and expiring through ``cachetools.TLRUCache``: each window is an entry that expires
when the window ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import TLRUCache

DEFAULT_MAX_KEYS = 100_000

# A window: (when it ends, in seconds on the counter's clock; hits so far).
_Window = tuple[float, int]


def _window_end(_key: str, window: _Window, _now: float) -> float:
    return window[0]


class InProcessWindowCounter:
    """``hit(key, window_ms)`` counts hits in the current fixed window of ``key``.

    A window starts at a key's first hit and lasts ``window_ms`` milliseconds. At most
    ``max_keys`` windows are kept: ended ones are dropped first, then the least recently hit
    (their clients start a fresh window), so many distinct clients cannot exhaust memory.
    ``now`` is the clock in seconds (monotonic).
    """

    def __init__(
        self, *, now: Callable[[], float] = time.monotonic, max_keys: int = DEFAULT_MAX_KEYS
    ) -> None:
        self._windows: TLRUCache[str, _Window, float] = TLRUCache(max_keys, _window_end, now)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Nothing to release: the counters live in this process."""

    def hit(self, key: str, window_ms: int) -> tuple[int, int]:
        """Count one hit; return (hits in the current window, milliseconds until it ends)."""
        # The cache's timer, entered, holds one reading of the clock for the whole call: the
        # window cannot expire between the lookup and the update.
        with self._lock, self._windows.timer as now:
            ends_at, hits = self._windows.get(key) or (now + window_ms / 1000, 0)
            hits += 1
            self._windows[key] = (ends_at, hits)
            return hits, max(0, round((ends_at - now) * 1000))
