"""Fixed-window hit counters in this process's memory (the rate limiter's default store)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_MAX_KEYS = 100_000


class InProcessWindowCounter:
    """``hit(key, window_ms)`` counts hits in the current fixed window of ``key``.

    At most ``max_keys`` windows are kept: expired ones are swept first, then the oldest are
    dropped (their clients start a fresh window), so many distinct clients cannot exhaust memory.
    """

    def __init__(
        self, *, now: Callable[[], float] = time.monotonic, max_keys: int = DEFAULT_MAX_KEYS
    ) -> None:
        self._now = now
        self._max_keys = max_keys
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, window_ms: int) -> tuple[int, int]:
        now_ms = self._now() * 1000
        with self._lock:
            ends_at, hits = self._windows.get(key, (0.0, 0))
            if ends_at <= now_ms:
                ends_at, hits = now_ms + window_ms, 0
                self._windows.pop(key, None)
            hits += 1
            self._windows[key] = (ends_at, hits)
            if len(self._windows) > self._max_keys:
                self._shrink(now_ms)
            return hits, max(0, round(ends_at - now_ms))

    def _shrink(self, now_ms: float) -> None:
        for key in [k for k, (ends_at, _) in self._windows.items() if ends_at <= now_ms]:
            del self._windows[key]
        while len(self._windows) > self._max_keys:
            self._windows.popitem(last=False)
