"""Domain objects in their JSON (camelCase) form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from liquifact_core.invoices import Invoice, Transition
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
        **item.draft.to_json(),
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
