"""The real clock and id source, from the standard library."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from liquifact_core.ids import sortable_id


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIdGenerator:
    """Time-sortable ids with 80 bits of OS randomness."""

    def new_id(self, prefix: str) -> str:
        return sortable_id(prefix, time.time_ns() // 1_000_000, os.urandom(10))
