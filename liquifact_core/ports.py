"""Ports: what the core needs from the outside world, as Protocols adapters implement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

import attrs

from liquifact_core.audit import AuditEvent
from liquifact_core.invoices import Invoice, Transition
from liquifact_core.lifecycle import InvoiceStatus


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdGenerator(Protocol):
    def new_id(self, prefix: str) -> str:
        """A new unique, time-sortable id starting with ``prefix``."""
        ...


@attrs.frozen
class InvoiceQuery:
    """A tenant-scoped listing of invoices, newest first."""

    tenant_id: str
    statuses: frozenset[InvoiceStatus] = frozenset()
    sme_id: str | None = None
    limit: int = 20
    offset: int = 0


@attrs.frozen
class Page:
    items: Sequence[Invoice]
    total: int


class InvoiceRepository(Protocol):
    def add(self, invoice: Invoice) -> None:
        """Store a new invoice; Conflict if its invoice number is taken in the tenant."""
        ...

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        """The live (not deleted) invoice of this tenant, or None."""
        ...

    def update(self, invoice: Invoice, expected_version: int) -> None:
        """Replace the stored invoice if still at ``expected_version``; else StaleVersion."""
        ...

    def list(self, query: InvoiceQuery) -> Page:
        """Live invoices matching the query, newest first, with the total count."""
        ...

    def add_transition(self, step: Transition) -> None:
        """Append one step to the invoice's history."""
        ...

    def history(self, tenant_id: str, invoice_id: str) -> Sequence[Transition]:
        """The invoice's transitions in the order they happened."""
        ...


class AuditLog(Protocol):
    def append(self, event: AuditEvent) -> None:
        """Record an event; events are never changed or removed."""
        ...

    def for_resource(
        self, tenant_id: str, resource_type: str, resource_id: str
    ) -> Sequence[AuditEvent]:
        """The events about one resource, oldest first."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``with`` block without ``commit()`` rolls back."""

    invoices: InvoiceRepository
    audit: AuditLog

    def __enter__(self) -> Self:
        """Begin the transaction."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed, and release the connection."""
        ...

    def commit(self) -> None:
        """Make every change of this unit durable at once."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, tenant_id: str) -> UnitOfWork:
        """A new unit of work acting for one tenant."""
        ...


class Cache(Protocol):
    """A shared response/read cache. Errors must never fail the caller: adapters swallow them."""

    def get(self, key: str) -> bytes | None:
        """The fresh value under ``key``, or None."""
        ...

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_seconds``."""
        ...

    def invalidate_prefix(self, prefix: str) -> None:
        """Drop every entry whose key starts with ``prefix``."""
        ...


class Store(Protocol):
    """A persistence backend as a whole: units of work plus its own health and lifecycle."""

    def unit_of_work(self, tenant_id: str) -> UnitOfWork:
        """A new unit of work acting for one tenant."""
        ...

    def ping(self) -> None:
        """Raise Unavailable if the store cannot serve queries now."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
