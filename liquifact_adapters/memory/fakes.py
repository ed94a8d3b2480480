"""Deterministic clock and ids for tests."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

from liquifact_core.ids import sortable_id


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


class SequentialIdGenerator:
    """Ids that sort in creation order and are predictable in tests."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new_id(self, prefix: str) -> str:
        with self._lock:
            n = next(self._counter)
        return sortable_id(prefix, n, n.to_bytes(10, "big"))
