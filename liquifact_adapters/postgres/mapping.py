"""Conversions between domain objects and PostgreSQL rows.

Native types do the work: numeric keeps an amount's exact digits and scale, bigint holds
stroops up to 10^18 exactly, timestamptz keeps microseconds and the instant, jsonb the metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from liquifact_core.amounts import Money, quantize
from liquifact_core.audit import AuditEvent
from liquifact_core.invoices import Invoice, InvoiceDraft, Transition
from liquifact_core.lifecycle import InvoiceStatus, Role

Params = dict[str, Any]
Row = dict[str, Any]


def aware(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        # A naive time has no defined instant; the server would read it in its own zone.
        raise ValueError("Timestamps must be timezone-aware.")
    return moment


def optional_aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else aware(moment)


def json_object(value: Mapping[str, Any]) -> Jsonb:
    return Jsonb(dict(value))


def parse_json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("Stored metadata is not a JSON object.")
    return value


def optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def invoice_params(invoice: Invoice) -> Params:
    draft = invoice.draft
    return {
        "tenant_id": invoice.tenant_id,
        "id": invoice.id,
        "sme_id": invoice.sme_id,
        "sme_wallet": invoice.sme_wallet,
        "invoice_number": draft.invoice_number,
        "buyer_name": draft.buyer_name,
        "buyer_email": draft.buyer_email,
        "buyer_tax_id": draft.buyer_tax_id,
        "amount": draft.amount.amount,
        "currency": draft.amount.currency,
        "issue_date": draft.issue_date,
        "due_date": draft.due_date,
        "yield_bps": draft.yield_bps,
        "description": draft.description,
        "metadata": json_object(draft.metadata),
        "status": invoice.status.value,
        "status_reason": invoice.status_reason,
        "version": invoice.version,
        "escrow_address": invoice.escrow_address,
        "funding_target_stroops": invoice.funding_target_stroops,
        "funded_stroops": invoice.funded_stroops,
        "created_at": aware(invoice.created_at),
        "updated_at": aware(invoice.updated_at),
        "deleted_at": optional_aware(invoice.deleted_at),
    }


def invoice_from_row(row: Row) -> Invoice:
    currency = str(row["currency"])
    # numeric arrives as a Decimal already; Decimal() of it is exact and keeps the scale.
    amount = Decimal(row["amount"])
    draft = InvoiceDraft(
        invoice_number=str(row["invoice_number"]),
        buyer_name=str(row["buyer_name"]),
        amount=Money(quantize(amount, currency), currency),
        issue_date=row["issue_date"],
        due_date=row["due_date"],
        yield_bps=int(row["yield_bps"]),
        buyer_email=optional_text(row["buyer_email"]),
        buyer_tax_id=optional_text(row["buyer_tax_id"]),
        description=optional_text(row["description"]),
        metadata=parse_json_object(row["metadata"]),
    )
    funding_target = row["funding_target_stroops"]
    return Invoice(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        sme_id=str(row["sme_id"]),
        draft=draft,
        status=InvoiceStatus(row["status"]),
        version=int(row["version"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        sme_wallet=optional_text(row["sme_wallet"]),
        escrow_address=optional_text(row["escrow_address"]),
        funding_target_stroops=None if funding_target is None else int(funding_target),
        funded_stroops=int(row["funded_stroops"]),
        deleted_at=row["deleted_at"],
        status_reason=optional_text(row["status_reason"]),
    )


def transition_params(step: Transition) -> Params:
    return {
        "tenant_id": step.tenant_id,
        "invoice_id": step.invoice_id,
        "sequence": step.sequence,
        "from_status": None if step.from_status is None else step.from_status.value,
        "to_status": step.to_status.value,
        "actor_id": step.actor_id,
        "actor_role": step.actor_role.value,
        "reason": step.reason,
        "at": aware(step.at),
    }


def transition_from_row(row: Row) -> Transition:
    from_status = row["from_status"]
    return Transition(
        invoice_id=str(row["invoice_id"]),
        tenant_id=str(row["tenant_id"]),
        sequence=int(row["sequence"]),
        from_status=None if from_status is None else InvoiceStatus(from_status),
        to_status=InvoiceStatus(row["to_status"]),
        actor_id=str(row["actor_id"]),
        actor_role=Role(row["actor_role"]),
        at=row["at"],
        reason=optional_text(row["reason"]),
    )


def audit_params(event: AuditEvent) -> Params:
    return {
        "id": event.id,
        "tenant_id": event.tenant_id,
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "at": aware(event.at),
        "metadata": json_object(event.metadata),
    }


def audit_from_row(row: Row) -> AuditEvent:
    return AuditEvent(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        actor_id=str(row["actor_id"]),
        actor_role=str(row["actor_role"]),
        action=str(row["action"]),
        resource_type=str(row["resource_type"]),
        resource_id=str(row["resource_id"]),
        at=row["at"],
        metadata=parse_json_object(row["metadata"]),
    )
