"""Builders for the marketplace, commitment and idempotency contract suites."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import attrs

from liquifact_core.commitments import Commitment, CommitmentStatus, SubmissionStatus
from liquifact_core.idempotency import IdempotencyRecord, IdempotencyState
from liquifact_core.invoices import Invoice
from liquifact_core.lifecycle import InvoiceStatus
from tests.factories import contract_address

from .contract_support import T0, invoice, money

INVESTOR = "GAAACAQDAQCQMBYIBEFAWDANBYHRAEISCMKBKFQXDAMRUGY4DUPB7JZX"


def listed(
    tenant_id: str,
    *,
    target: int = 1000,
    funded: int = 0,
    status: InvoiceStatus | None = None,
    **changes: Any,
) -> Invoice:
    """An invoice on the marketplace (linked, or partially funded when ``funded`` > 0)."""
    chosen = status or (InvoiceStatus.PARTIALLY_FUNDED if funded else InvoiceStatus.LINKED_ESCROW)
    # One contract per invoice, across tenants (migration 0005), unless the caller names one.
    changes.setdefault("escrow_address", contract_address())
    return invoice(
        tenant_id,
        status=chosen,
        funding_target_stroops=target,
        funded_stroops=funded,
        **changes,
    )


def varied(tenant_id: str, n: int) -> Invoice:
    """The n-th of a family of listed invoices with repeating sort values (to test ties)."""
    return listed(
        tenant_id,
        target=1000,
        funded=(n * 137) % 1000,
        yield_bps=(n % 4) * 250,
        due_date=date(2026, 6, 1) + timedelta(days=n % 3),
        amount=money(str(Decimal(100 + (n % 5) * 50))),
        created_at=T0 + timedelta(seconds=n % 6),
    )


def commitment(
    invoice_of: Invoice, amount: int = 100, investor: str = INVESTOR, **changes: Any
) -> Commitment:
    minimal = Commitment(
        id=f"cmt_{uuid4().hex}",
        tenant_id=invoice_of.tenant_id,
        invoice_id=invoice_of.id,
        investor_address=investor,
        amount_stroops=amount,
        status=CommitmentStatus.PENDING,
        investor_effective_yield_bps=invoice_of.draft.yield_bps,
        claim_not_before=invoice_of.draft.due_date,
        submission_status=SubmissionStatus.STUBBED,
        actor_id="investor-1",
        created_at=T0,
        updated_at=T0,
    )
    return attrs.evolve(minimal, **changes)


def claim(tenant_id: str, key: str = "key-0001", **changes: Any) -> IdempotencyRecord:
    minimal = IdempotencyRecord(
        tenant_id=tenant_id,
        key=key,
        fingerprint="a" * 64,
        state=IdempotencyState.IN_PROGRESS,
        claim_id=f"idk_{uuid4().hex}",
        created_at=T0,
        expires_at=T0 + timedelta(hours=24),
        locked_until=T0 + timedelta(minutes=2),
    )
    return attrs.evolve(minimal, **changes)
