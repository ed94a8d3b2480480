"""The real clock and id source, from the standard library."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

from liquifact_core.ids import sortable_id

_ENTROPY_MAX = 2**80 - 1


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIdGenerator:
    """Time-sortable ids with 80 bits of OS randomness.

    Within one millisecond (or if the wall clock steps back) the previous id's random part is
    incremented instead, so ids made by one process always sort in creation order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_millis = -1
        self._last_entropy = 0

    def new_id(self, prefix: str) -> str:
        with self._lock:
            millis = time.time_ns() // 1_000_000
            if millis <= self._last_millis and self._last_entropy < _ENTROPY_MAX:
                millis, entropy = self._last_millis, self._last_entropy + 1
            else:
                entropy = int.from_bytes(os.urandom(10), "big")
            self._last_millis, self._last_entropy = millis, entropy
        return sortable_id(prefix, millis, entropy.to_bytes(10, "big"))
