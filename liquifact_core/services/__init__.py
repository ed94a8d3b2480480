"""Use cases (application services). Each runs inside one unit of work."""

from __future__ import annotations

import attrs

from liquifact_core.ports import Cache, Clock, IdGenerator, Store
from liquifact_core.services.invoices import InvoiceService


@attrs.frozen
class Services:
    """Every use case of the domain, built from the ports the caller picks."""

    store: Store
    clock: Clock
    ids: IdGenerator
    cache: Cache
    invoices: InvoiceService

    @classmethod
    def from_ports(
        cls, store: Store, clock: Clock, ids: IdGenerator, cache: Cache | None = None
    ) -> Services:
        cache = cache if cache is not None else NoCache()
        return cls(
            store=store,
            clock=clock,
            ids=ids,
            cache=cache,
            invoices=InvoiceService(store.unit_of_work, clock, ids, cache),
        )

    def close(self) -> None:
        self.store.close()


class NoCache:
    """The cache of a deployment that caches nothing: every read misses."""

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        return None

    def invalidate_prefix(self, prefix: str) -> None:
        return None


__all__ = ["InvoiceService", "NoCache", "Services"]
