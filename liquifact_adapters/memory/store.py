"""A dict-backed store with real unit-of-work semantics (all or nothing, isolated)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import attrs

from liquifact_core.audit import AuditEvent
from liquifact_core.errors import Conflict, NotFound, StaleVersion
from liquifact_core.invoices import Invoice, Transition
from liquifact_core.ports import AuditLog, InvoiceQuery, InvoiceRepository, Page


@attrs.define
class _State:
    invoices: dict[tuple[str, str], Invoice] = attrs.field(factory=dict)
    transitions: dict[tuple[str, str], tuple[Transition, ...]] = attrs.field(factory=dict)
    audit: tuple[AuditEvent, ...] = ()

    def copy(self) -> _State:
        # Values are frozen, so copying the containers is enough for isolation.
        return _State(dict(self.invoices), dict(self.transitions), self.audit)


class InMemoryStore:
    """Units of work run one at a time; each works on a copy that ``commit`` publishes."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.RLock()

    def unit_of_work(self, tenant_id: str) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self, tenant_id)

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None


class InMemoryUnitOfWork:
    invoices: InvoiceRepository
    audit: AuditLog

    def __init__(self, store: InMemoryStore, tenant_id: str) -> None:
        self._store = store
        self._tenant_id = tenant_id
        self._work = _State()
        self.invoices = _InvoiceRepository(self)
        self.audit = _AuditLog(self)

    def __enter__(self) -> Self:
        self._store._lock.acquire()
        self._work = self._store._state.copy()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._work = _State()
        self._store._lock.release()

    def commit(self) -> None:
        self._store._state = self._work.copy()

    def state(self) -> _State:
        return self._work

    def check_tenant(self, tenant_id: str) -> None:
        # The real stores refuse cross-tenant access in the database; the fake must agree.
        if tenant_id != self._tenant_id:
            raise PermissionError("unit of work used for another tenant")


class _InvoiceRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def add(self, invoice: Invoice) -> None:
        self._uow.check_tenant(invoice.tenant_id)
        state = self._uow.state()
        if (invoice.tenant_id, invoice.id) in state.invoices:
            raise Conflict("An invoice with this id already exists.", code="DUPLICATE_INVOICE_ID")
        self._check_number_free(invoice)
        state.invoices[(invoice.tenant_id, invoice.id)] = invoice

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        self._uow.check_tenant(tenant_id)
        invoice = self._uow.state().invoices.get((tenant_id, invoice_id))
        return invoice if invoice is not None and invoice.deleted_at is None else None

    def update(self, invoice: Invoice, expected_version: int) -> None:
        self._uow.check_tenant(invoice.tenant_id)
        state = self._uow.state()
        current = state.invoices.get((invoice.tenant_id, invoice.id))
        if current is None or current.deleted_at is not None or current.version != expected_version:
            raise StaleVersion("The invoice changed since it was read; re-read it and retry.")
        self._check_number_free(invoice)
        state.invoices[(invoice.tenant_id, invoice.id)] = invoice

    def list(self, query: InvoiceQuery) -> Page:
        self._uow.check_tenant(query.tenant_id)
        matching = [
            invoice
            for (tenant, _), invoice in self._uow.state().invoices.items()
            if tenant == query.tenant_id
            and invoice.deleted_at is None
            and (not query.statuses or invoice.status in query.statuses)
            and (query.sme_id is None or invoice.sme_id == query.sme_id)
        ]
        matching.sort(key=lambda invoice: (invoice.created_at, invoice.id), reverse=True)
        return Page(matching[query.offset : query.offset + query.limit], len(matching))

    def add_transition(self, step: Transition) -> None:
        self._uow.check_tenant(step.tenant_id)
        key = (step.tenant_id, step.invoice_id)
        if key not in self._uow.state().invoices:
            raise NotFound(f"Invoice '{step.invoice_id}' was not found.")
        transitions = self._uow.state().transitions
        if any(t.sequence == step.sequence for t in transitions.get(key, ())):
            raise Conflict("This history step was already recorded.", code="CONCURRENT_UPDATE")
        transitions[key] = (*transitions.get(key, ()), step)

    def history(self, tenant_id: str, invoice_id: str) -> Sequence[Transition]:
        self._uow.check_tenant(tenant_id)
        steps = self._uow.state().transitions.get((tenant_id, invoice_id), ())
        return sorted(steps, key=lambda step: step.sequence)

    def _check_number_free(self, invoice: Invoice) -> None:
        for (tenant, invoice_id), other in self._uow.state().invoices.items():
            if (
                tenant == invoice.tenant_id
                and invoice_id != invoice.id
                and other.deleted_at is None
                and other.draft.invoice_number == invoice.draft.invoice_number
            ):
                raise Conflict(
                    f"Invoice number '{invoice.draft.invoice_number}' is already used.",
                    code="DUPLICATE_INVOICE_NUMBER",
                )


class _AuditLog:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def append(self, event: AuditEvent) -> None:
        self._uow.check_tenant(event.tenant_id)
        state = self._uow.state()
        if any(existing.id == event.id for existing in state.audit):
            raise Conflict("This audit event was already recorded.", code="DUPLICATE_AUDIT_EVENT")
        state.audit = (*state.audit, event)

    def for_resource(
        self, tenant_id: str, resource_type: str, resource_id: str
    ) -> Sequence[AuditEvent]:
        self._uow.check_tenant(tenant_id)
        # Oldest first by time, then in the order appended (sorted() is stable), as the stores do.
        return sorted(
            (
                event
                for event in self._uow.state().audit
                if event.tenant_id == tenant_id
                and event.resource_type == resource_type
                and event.resource_id == resource_id
            ),
            key=lambda event: event.at,
        )
