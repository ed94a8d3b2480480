"""Use cases (application services). Each runs inside one unit of work."""

from __future__ import annotations

import attrs

from liquifact_core.ports import Clock, IdGenerator, Store
from liquifact_core.services.invoices import InvoiceService


@attrs.frozen
class Services:
    """Every use case of the domain, built from the ports the caller picks."""

    store: Store
    clock: Clock
    ids: IdGenerator
    invoices: InvoiceService

    @classmethod
    def from_ports(cls, store: Store, clock: Clock, ids: IdGenerator) -> Services:
        return cls(
            store=store,
            clock=clock,
            ids=ids,
            invoices=InvoiceService(store.unit_of_work, clock, ids),
        )

    def close(self) -> None:
        self.store.close()


__all__ = ["InvoiceService", "Services"]
