"""Filtered marketplace totals counted once per (tenant, filter set, generation).

A marketplace search with filters other than statuses has no maintained counter: its
``meta.total`` is a count of the matching rows. That count is remembered here with the
tenant's marketplace generation it was read at (``market_generations``, migration 0016: the
triggers move it on with every change to the tenant's investable live invoices or SME
profiles, in the changing transaction). A later read finds it only when the generation it
reads in its own snapshot is exactly that one, so a total is never served from an older state
of the tenant's marketplace: every page and cursor of one filter set shares one count until a
change makes it stale, and the next read counts again.

Only read units (one snapshot, committed data only) read or fill it; a unit of work that
may have written counts afresh, since its own uncommitted changes are not in any generation.
Every store keeps one (``store.totals``): the SQL stores with their generations read from
``market_generations``, the memory store with the ones it keeps in code.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from cachetools import LRUCache

# Entries are small (a key, a generation, an int); a filter set nobody asks for again ages
# out.
DEFAULT_MAX_ENTRIES = 4096


class FilteredTotals:
    """Exact totals of filtered searches by (tenant, canonical filter text), each with the
    generation it was counted at. One entry per (tenant, filters): storing a newer count
    replaces the older one, and the least recently used entries go beyond ``max_entries``.
    Thread safe (one lock)."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._entries: LRUCache[tuple[str, str], tuple[Hashable, int]] = LRUCache(max_entries)
        self._lock = threading.Lock()

    def get(self, tenant_id: str, filters: str, generation: Hashable) -> int | None:
        """The total counted for ``filters`` at exactly ``generation``, else None."""
        with self._lock:
            entry = self._entries.get((tenant_id, filters))
        if entry is None or entry[0] != generation:
            return None
        return entry[1]

    def entry(self, tenant_id: str, filters: str) -> tuple[Hashable, int] | None:
        """(generation, total) remembered for ``filters``, whatever the generation (for
        diagnostics and tests)."""
        with self._lock:
            return self._entries.get((tenant_id, filters))

    def put(self, tenant_id: str, filters: str, generation: Hashable, total: int) -> None:
        """Remember ``total`` as the count of ``filters`` at ``generation``."""
        with self._lock:
            self._entries[(tenant_id, filters)] = (generation, total)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
