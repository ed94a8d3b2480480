"""Domain objects in their JSON (camelCase) form.

The bodies with a ``Representation`` class are built from it: the same class gives the JSON
(``wire.unstructure``) and its schema in the document (``schemas.response_schema``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import attrs

from liquifact_core.amounts import quantize
from liquifact_core.commitments import (
    Commitment,
    CommitmentStatus,
    InvestorLock,
    SubmissionStatus,
)
from liquifact_core.invoices import Invoice, InvoiceDraft, Transition
from liquifact_core.lifecycle import TERMINAL, InvoiceStatus, Role
from liquifact_core.rules import Account, StroopsAmount
from liquifact_core.services.invoices import InvoiceState
from liquifact_core.validation import REASON_MAX
from liquifact_http.schemas import Representation, out
from liquifact_http.wire import unstructure


def timestamp(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-01-01T00:00:00.000Z``."""
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stroops(value: int | None) -> str | None:
    return None if value is None else str(value)


def invoice(item: Invoice) -> dict[str, Any]:
    ratio = item.funded_ratio
    linked = item.funding_target_stroops is not None
    return {
        "id": item.id,
        "tenantId": item.tenant_id,
        "smeId": item.sme_id,
        "smeWallet": item.sme_wallet,
        **draft(item.draft),
        "maturityDate": item.draft.due_date.isoformat(),
        "status": item.status.value,
        "statusReason": item.status_reason,
        "version": item.version,
        "createdAt": timestamp(item.created_at),
        "updatedAt": timestamp(item.updated_at),
        "escrowAddress": item.escrow_address,
        "fundingTargetStroops": _stroops(item.funding_target_stroops),
        "fundedStroops": _stroops(item.funded_stroops) if linked else None,
        "fundedRatio": float(ratio) if ratio is not None else None,
    }


def draft(item: InvoiceDraft) -> dict[str, Any]:
    """The client-supplied fields of an invoice, as they were accepted."""
    return {
        "invoiceNumber": item.invoice_number,
        "buyerName": item.buyer_name,
        "buyerEmail": item.buyer_email,
        "buyerTaxId": item.buyer_tax_id,
        "amount": str(item.amount),
        "currency": item.amount.currency,
        "issueDate": item.issue_date.isoformat(),
        "dueDate": item.due_date.isoformat(),
        "yieldBps": item.yield_bps,
        "description": item.description,
        "metadata": dict(item.metadata),
    }


def money_text(amount: Decimal, currency: str) -> str:
    return format(quantize(amount, currency), "f")


def start_of_day(day: date) -> str:
    return timestamp(datetime.combine(day, time(0), tzinfo=UTC))


def remaining_capacity(item: Invoice) -> str | None:
    """Target minus funded, never below zero (overfunding is normal on chain)."""
    if item.funding_target_stroops is None:
        return None
    return str(max(item.funding_target_stroops - item.funded_stroops, 0))


def market_item(item: Invoice) -> dict[str, Any]:
    """An invoice as investors browse it: no buyer contact or tax data."""
    ratio = item.funded_ratio
    return {
        "id": item.id,
        "status": item.status.value,
        "invoiceNumber": item.draft.invoice_number,
        "buyerName": item.draft.buyer_name,
        "description": item.draft.description,
        "amount": str(item.draft.amount),
        "currency": item.draft.amount.currency,
        "yieldBps": item.draft.yield_bps,
        "issueDate": item.draft.issue_date.isoformat(),
        "maturityDate": item.draft.due_date.isoformat(),
        "escrowAddress": item.escrow_address,
        "fundingTargetStroops": _stroops(item.funding_target_stroops),
        "fundedStroops": _stroops(item.funded_stroops),
        "remainingCapacityStroops": remaining_capacity(item),
        "fundedRatio": float(ratio) if ratio is not None else 0.0,
        "createdAt": timestamp(item.created_at),
    }


SUBMISSION_NOTES = {
    "stubbed": "Stubbed signing mode: no transaction was built, signed or submitted; "
    "the commitment is recorded off-chain only.",
    "submitted": "A funding transaction was submitted to the network.",
}
# Shared field schemas of the bodies below (response side).
_TIMESTAMP = {"format": "date-time", "example": "2026-01-15T09:30:00.000Z"}
_BPS = {"minimum": 0, "maximum": 10_000}
_STATUSES = [s.value for s in InvoiceStatus]


def _at(description: str) -> dict[str, Any]:
    return {**_TIMESTAMP, "description": f"{description} (RFC 3339, UTC, milliseconds)."}


@attrs.frozen
class SubmissionBody(Representation):
    status: str = out(
        {
            "enum": [s.value for s in SubmissionStatus],
            "description": "`stubbed`: the spec's stubbed signing mode; nothing was "
            "sent to the chain.",
        }
    )
    tx_hash: str | None = out(
        {"pattern": "^[0-9a-f]{64}$", "description": "Only when a transaction was submitted."},
        nullable=True,
    )
    note: str = out()


@attrs.frozen
class CommitmentBody(Representation):
    """A recorded investor commitment (``FundingIntent`` in the document)."""

    id: str = out({"pattern": "^cmt_[A-Za-z0-9]{1,40}$"})
    invoice_id: str = out(ref="InvoiceId")
    investor_address: str = out(rule=Account())
    amount_stroops: str = out(
        {"description": "The committed amount; never changes."}, rule=StroopsAmount()
    )
    status: str = out({"enum": [s.value for s in CommitmentStatus]})
    investor_effective_yield_bps: int = out(_BPS)
    claim_not_before: str = out(_at("Earliest time a payout claim can succeed (maturity)"))
    created_at: str = out(_at("When the commitment was recorded"))
    submission: SubmissionBody = out()

    @classmethod
    def of(cls, item: Commitment) -> CommitmentBody:
        return cls(
            id=item.id,
            invoice_id=item.invoice_id,
            investor_address=item.investor_address,
            amount_stroops=str(item.amount_stroops),
            status=item.status.value,
            investor_effective_yield_bps=item.investor_effective_yield_bps,
            claim_not_before=start_of_day(item.claim_not_before),
            created_at=timestamp(item.created_at),
            submission=SubmissionBody(
                item.submission_status.value,
                item.tx_hash,
                SUBMISSION_NOTES[item.submission_status.value],
            ),
        )


def commitment(item: Commitment) -> dict[str, Any]:
    body: dict[str, Any] = unstructure(CommitmentBody.of(item))
    return body


@attrs.frozen
class LockBody(Representation):
    """An investor lock (``InvestorLock`` in the document)."""

    invoice_id: str = out(ref="InvoiceId")
    funder_address: str = out(rule=Account())
    amount_stroops: str = out(
        {"description": "Pending and confirmed commitments of this funder."},
        rule=StroopsAmount(),
    )
    commitment_count: int = out({"minimum": 1})
    claim_not_before: str = out(_at("Earliest time a payout claim can succeed (maturity)"))
    investor_effective_yield_bps: int = out(_BPS)
    updated_at: str = out(_at("When a commitment behind it last changed"))
    stale: bool = out(
        {
            "enum": [True],
            "description": "Always true: from the backend's records, not read live from the chain.",
        }
    )


def lock(item: InvestorLock) -> dict[str, Any]:
    body: dict[str, Any] = unstructure(
        LockBody(
            invoice_id=item.invoice_id,
            funder_address=item.investor_address,
            amount_stroops=str(item.amount_stroops),
            commitment_count=item.commitment_count,
            claim_not_before=start_of_day(item.claim_not_before),
            investor_effective_yield_bps=item.investor_effective_yield_bps,
            updated_at=timestamp(item.updated_at),
            stale=True,  # from the backend's records, never read live from the chain
        )
    )
    return body


@attrs.frozen
class TransitionBody(Representation):
    """One step of an invoice's history (``Transition`` in the document)."""

    sequence: int = out({"minimum": 1, "description": "1 for creation."})
    from_status: str | None = out(
        {"enum": _STATUSES, "description": "The previous status; null for creation."},
        wire="from",
        nullable=True,
    )
    to_status: str = out(ref="InvoiceStatus", wire="to")
    actor_id: str = out({"minLength": 1})
    actor_role: str = out({"enum": [r.value for r in Role]})
    reason: str | None = out({"minLength": 1, "maxLength": REASON_MAX}, nullable=True)
    at: str = out(_at("When the step happened"))


def transition(step: Transition) -> dict[str, Any]:
    body: dict[str, Any] = unstructure(
        TransitionBody(
            sequence=step.sequence,
            from_status=step.from_status.value if step.from_status else None,
            to_status=step.to_status.value,
            actor_id=step.actor_id,
            actor_role=step.actor_role.value,
            reason=step.reason,
            at=timestamp(step.at),
        )
    )
    return body


@attrs.frozen
class StateBody(Representation):
    """Where an invoice is in its lifecycle and where it can go next."""

    invoice_id: str = out(ref="InvoiceId")
    status: str = out(ref="InvoiceStatus")
    version: int = out({"minimum": 1})
    terminal: bool = out({"description": "True when no transition is left."})
    allowed_transitions: list[str] = out(
        {
            "items": {"$ref": "#/components/schemas/InvoiceStatus"},
            "description": "Every status reachable in one step.",
        }
    )
    allowed_for_caller: list[str] = out(
        {
            "items": {"$ref": "#/components/schemas/InvoiceStatus"},
            "description": "The statuses this caller may move it to.",
        }
    )


def state(item: InvoiceState) -> dict[str, Any]:
    body: dict[str, Any] = unstructure(
        StateBody(
            invoice_id=item.invoice_id,
            status=item.status.value,
            version=item.version,
            terminal=item.status in TERMINAL,
            allowed_transitions=[s.value for s in item.allowed_transitions],
            allowed_for_caller=[s.value for s in item.allowed_for_caller],
        )
    )
    return body


def history(steps: Sequence[Transition]) -> dict[str, Any]:
    return {"data": [transition(s) for s in steps], "meta": {"total": len(steps)}}


def etag(version: int) -> str:
    return f'"v{version}"'
