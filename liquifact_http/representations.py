"""Domain objects in their JSON (camelCase) form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from liquifact_core.amounts import quantize
from liquifact_core.commitments import Commitment, InvestorLock
from liquifact_core.invoices import Invoice, InvoiceDraft, Transition
from liquifact_core.lifecycle import TERMINAL
from liquifact_core.services.invoices import InvoiceState


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


def commitment(item: Commitment) -> dict[str, Any]:
    return {
        "id": item.id,
        "invoiceId": item.invoice_id,
        "investorAddress": item.investor_address,
        "amountStroops": str(item.amount_stroops),
        "status": item.status.value,
        "investorEffectiveYieldBps": item.investor_effective_yield_bps,
        "claimNotBefore": start_of_day(item.claim_not_before),
        "createdAt": timestamp(item.created_at),
        "submission": {
            "status": item.submission_status.value,
            "txHash": item.tx_hash,
            "note": SUBMISSION_NOTES[item.submission_status.value],
        },
    }


def lock(item: InvestorLock) -> dict[str, Any]:
    return {
        "invoiceId": item.invoice_id,
        "funderAddress": item.investor_address,
        "amountStroops": str(item.amount_stroops),
        "commitmentCount": item.commitment_count,
        "claimNotBefore": start_of_day(item.claim_not_before),
        "investorEffectiveYieldBps": item.investor_effective_yield_bps,
        "updatedAt": timestamp(item.updated_at),
        "stale": True,  # from the backend's records, never read live from the chain
    }


def transition(step: Transition) -> dict[str, Any]:
    return {
        "sequence": step.sequence,
        "from": step.from_status.value if step.from_status else None,
        "to": step.to_status.value,
        "actorId": step.actor_id,
        "actorRole": step.actor_role.value,
        "reason": step.reason,
        "at": timestamp(step.at),
    }


def state(item: InvoiceState) -> dict[str, Any]:
    return {
        "invoiceId": item.invoice_id,
        "status": item.status.value,
        "version": item.version,
        "terminal": item.status in TERMINAL,
        "allowedTransitions": [s.value for s in item.allowed_transitions],
        "allowedForCaller": [s.value for s in item.allowed_for_caller],
    }


def history(steps: Sequence[Transition]) -> dict[str, Any]:
    return {"data": [transition(s) for s in steps], "meta": {"total": len(steps)}}


def etag(version: int) -> str:
    return f'"v{version}"'
