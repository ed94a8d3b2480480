"""Domain objects for the contract suites, built directly (no use case in between), and the
short store round trips the suites repeat."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import attrs

from liquifact_core.amounts import Money, quantize
from liquifact_core.audit import AuditEvent
from liquifact_core.invoices import Invoice, InvoiceDraft, Transition
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.ports import InvoiceQuery, Page, Store
from tests.factories import contract_address

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def new_tenant() -> str:
    return f"tenant-{uuid4().hex}"


def new_invoice_id() -> str:
    # 'inv_' + 28 characters: the longest id the core accepts.
    return f"inv_{uuid4().hex[:28]}"


def money(amount: str, currency: str = "USD") -> Money:
    return Money(quantize(Decimal(amount), currency), currency)


def draft(**changes: Any) -> InvoiceDraft:
    minimal = InvoiceDraft(
        invoice_number=f"INV-{uuid4().hex[:12]}",
        buyer_name="Acme Buyer Ltd",
        amount=money("1250.00"),
        issue_date=date(2026, 3, 1),
        due_date=date(2026, 6, 1),
        yield_bps=450,
    )
    return attrs.evolve(minimal, **changes)


def invoice(tenant_id: str, **changes: Any) -> Invoice:
    """A live pending invoice with only required fields set; ``changes`` override any field."""
    draft_changes = {
        name: changes.pop(name) for name in list(changes) if name in attrs.fields_dict(InvoiceDraft)
    }
    minimal = Invoice(
        id=new_invoice_id(),
        tenant_id=tenant_id,
        sme_id="sme-1",
        draft=draft(**draft_changes),
        status=InvoiceStatus.PENDING,
        version=1,
        created_at=T0,
        updated_at=T0,
    )
    return attrs.evolve(minimal, **changes)


def full_invoice(tenant_id: str) -> Invoice:
    """An invoice with every optional field set, at the edges of its range."""
    return invoice(
        tenant_id,
        sme_id=f"sme-{uuid4().hex}",
        sme_wallet="GAAACAQDAQCQMBYIBEFAWDANBYHRAEISCMKBKFQXDAMRUGY4DUPB7JZX",
        amount=money("999999999999999999.99"),
        buyer_email="payables@buyer.example",
        buyer_tax_id="DE123456789",
        description="Consulting, Q1 — 3 x sprint (ünïcode)",
        metadata={"po": "PO-77", "lines": [1, 2.5, None, True], "nested": {"k": "v"}},
        status=InvoiceStatus.PARTIALLY_FUNDED,
        status_reason="reconciled",
        version=7,
        escrow_address=contract_address(),  # one contract per invoice, across tenants
        funding_target_stroops=10**18,
        funded_stroops=10**18 - 1,
        created_at=T0,
        updated_at=T0 + timedelta(days=3, microseconds=1),
    )


def transition(
    invoice: Invoice,
    sequence: int,
    *,
    from_status: InvoiceStatus | None = InvoiceStatus.PENDING,
    to_status: InvoiceStatus = InvoiceStatus.APPROVED,
    reason: str | None = None,
) -> Transition:
    return Transition(
        invoice_id=invoice.id,
        tenant_id=invoice.tenant_id,
        sequence=sequence,
        from_status=from_status,
        to_status=to_status,
        actor_id="admin-1",
        actor_role=Role.ADMIN,
        at=T0 + timedelta(minutes=sequence, microseconds=sequence),
        reason=reason,
    )


def audit_event(tenant_id: str, resource_id: str, **changes: Any) -> AuditEvent:
    minimal = AuditEvent(
        id=f"aud_{uuid4().hex}",
        tenant_id=tenant_id,
        actor_id="admin-1",
        actor_role="admin",
        action="invoice.pending_to_approved",
        resource_type="invoice",
        resource_id=resource_id,
        at=T0,
    )
    return attrs.evolve(minimal, **changes)


def save(store: Store, *invoices: Invoice) -> None:
    """Add and commit invoices of one tenant in one unit of work."""
    with store.unit_of_work(invoices[0].tenant_id) as uow:
        for each in invoices:
            uow.invoices.add(each)
        uow.commit()


def load(store: Store, tenant_id: str, invoice_id: str) -> Invoice | None:
    with store.unit_of_work(tenant_id) as uow:
        return uow.invoices.get(tenant_id, invoice_id)


def listing(store: Store, query: InvoiceQuery) -> Page:
    with store.unit_of_work(query.tenant_id) as uow:
        return uow.invoices.list(query)
