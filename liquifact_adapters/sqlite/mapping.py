"""Conversions between domain objects and SQLite rows.

Timestamps are ISO-8601 UTC text with microseconds: fixed width, so text order is time order,
and exact, so a value read back equals the value written. Amounts are exact decimal text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from liquifact_core.amounts import Money, quantize
from liquifact_core.audit import AuditEvent
from liquifact_core.commitments import (
    Commitment,
    CommitmentStatus,
    InvestorLock,
    SubmissionStatus,
)
from liquifact_core.idempotency import IdempotencyRecord, IdempotencyState, StoredResponse
from liquifact_core.invoices import Invoice, InvoiceDraft, Transition
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.marketplace import SortField, SortValue, funded_ratio_hundredths

SqlValue = str | int | bytes | None
Params = dict[str, SqlValue]
SqlParams = Mapping[str, SqlValue] | Sequence[SqlValue]


def utc_text(moment: datetime) -> str:
    if moment.utcoffset() is None:
        # A naive time has no defined instant; guessing the zone would corrupt the ordering.
        raise ValueError("Timestamps must be timezone-aware.")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def optional_utc_text(moment: datetime | None) -> str | None:
    return None if moment is None else utc_text(moment)


def parse_utc(text: Any) -> datetime:
    return datetime.fromisoformat(str(text))


def parse_optional_utc(text: Any) -> datetime | None:
    return None if text is None else parse_utc(text)


def json_text(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def parse_json_object(text: Any) -> dict[str, Any]:
    value = json.loads(str(text))
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
        "amount": str(draft.amount),
        "currency": draft.amount.currency,
        "issue_date": draft.issue_date.isoformat(),
        "due_date": draft.due_date.isoformat(),
        "yield_bps": draft.yield_bps,
        "description": draft.description,
        "metadata": json_text(draft.metadata),
        "status": invoice.status.value,
        "status_reason": invoice.status_reason,
        "version": invoice.version,
        "escrow_address": invoice.escrow_address,
        "funding_target_stroops": _optional_int_text(invoice.funding_target_stroops),
        "funded_stroops": str(invoice.funded_stroops),
        "created_at": utc_text(invoice.created_at),
        "updated_at": utc_text(invoice.updated_at),
        "deleted_at": optional_utc_text(invoice.deleted_at),
        "funded_ratio_hundredths": funded_ratio_hundredths(invoice),
        "amount_key": amount_key(draft.amount.amount),
    }


AMOUNT_KEY_SCALE = 4  # the most decimals any ISO 4217 currency has
AMOUNT_KEY_WIDTH = 22  # 18 integer digits + 4 decimals


def amount_key(amount: Decimal, *, rounding: str = "exact") -> str:
    """The amount x 10^4 as fixed-width digits, so text order is numeric order.

    Stored amounts have at most 4 decimals, so the key is exact. A filter bound with more
    decimals is rounded up (``ceiling``, for a lower bound) or down (``floor``, an upper bound),
    which keeps the inclusive comparison exact.
    """
    scaled = amount.scaleb(AMOUNT_KEY_SCALE)
    if rounding == "ceiling":
        whole = int(scaled.to_integral_value(rounding="ROUND_CEILING"))
    elif rounding == "floor":
        whole = int(scaled.to_integral_value(rounding="ROUND_FLOOR"))
    else:
        whole = int(scaled)
        if whole != scaled:
            raise ValueError("An invoice amount has more than 4 decimals.")
    if whole >= 10**AMOUNT_KEY_WIDTH:
        return "9" * AMOUNT_KEY_WIDTH  # beyond any storable amount
    return format(whole, f"0{AMOUNT_KEY_WIDTH}d")


SORT_COLUMNS: Mapping[SortField, str] = {
    SortField.YIELD_BPS: "yield_bps",
    SortField.MATURITY_DATE: "due_date",
    SortField.FUNDED_RATIO: "funded_ratio_hundredths",
    SortField.AMOUNT: "amount_key",
    SortField.CREATED_AT: "created_at",
}


def sort_param(field: SortField, value: SortValue) -> SqlValue:
    """A keyset value in the form of its column."""
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return amount_key(value)
    del field
    return value


def invoice_from_row(row: sqlite3.Row) -> Invoice:
    currency = str(row["currency"])
    draft = InvoiceDraft(
        invoice_number=str(row["invoice_number"]),
        buyer_name=str(row["buyer_name"]),
        amount=Money(quantize(Decimal(str(row["amount"])), currency), currency),
        issue_date=date.fromisoformat(str(row["issue_date"])),
        due_date=date.fromisoformat(str(row["due_date"])),
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
        created_at=parse_utc(row["created_at"]),
        updated_at=parse_utc(row["updated_at"]),
        sme_wallet=optional_text(row["sme_wallet"]),
        escrow_address=optional_text(row["escrow_address"]),
        funding_target_stroops=None if funding_target is None else int(funding_target),
        funded_stroops=int(row["funded_stroops"]),
        deleted_at=parse_optional_utc(row["deleted_at"]),
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
        "at": utc_text(step.at),
    }


def transition_from_row(row: sqlite3.Row) -> Transition:
    from_status = row["from_status"]
    return Transition(
        invoice_id=str(row["invoice_id"]),
        tenant_id=str(row["tenant_id"]),
        sequence=int(row["sequence"]),
        from_status=None if from_status is None else InvoiceStatus(from_status),
        to_status=InvoiceStatus(row["to_status"]),
        actor_id=str(row["actor_id"]),
        actor_role=Role(row["actor_role"]),
        at=parse_utc(row["at"]),
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
        "at": utc_text(event.at),
        "metadata": json_text(event.metadata),
    }


def audit_from_row(row: sqlite3.Row) -> AuditEvent:
    return AuditEvent(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        actor_id=str(row["actor_id"]),
        actor_role=str(row["actor_role"]),
        action=str(row["action"]),
        resource_type=str(row["resource_type"]),
        resource_id=str(row["resource_id"]),
        at=parse_utc(row["at"]),
        metadata=parse_json_object(row["metadata"]),
    )


def _optional_int_text(value: int | None) -> str | None:
    # Text, not INTEGER: stroop amounts reach 10^18 and must never pass through a float.
    return None if value is None else str(value)


def commitment_params(commitment: Commitment) -> Params:
    return {
        "tenant_id": commitment.tenant_id,
        "id": commitment.id,
        "invoice_id": commitment.invoice_id,
        "investor_address": commitment.investor_address,
        "amount_stroops": commitment.amount_stroops,
        "status": commitment.status.value,
        "investor_effective_yield_bps": commitment.investor_effective_yield_bps,
        "claim_not_before": commitment.claim_not_before.isoformat(),
        "submission_status": commitment.submission_status.value,
        "tx_hash": commitment.tx_hash,
        "idempotency_key": commitment.idempotency_key,
        "actor_id": commitment.actor_id,
        "created_at": utc_text(commitment.created_at),
        "updated_at": utc_text(commitment.updated_at),
    }


def commitment_from_row(row: sqlite3.Row) -> Commitment:
    return Commitment(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        invoice_id=str(row["invoice_id"]),
        investor_address=str(row["investor_address"]),
        amount_stroops=int(row["amount_stroops"]),
        status=CommitmentStatus(row["status"]),
        investor_effective_yield_bps=int(row["investor_effective_yield_bps"]),
        claim_not_before=date.fromisoformat(str(row["claim_not_before"])),
        submission_status=SubmissionStatus(row["submission_status"]),
        actor_id=str(row["actor_id"]),
        created_at=parse_utc(row["created_at"]),
        updated_at=parse_utc(row["updated_at"]),
        tx_hash=optional_text(row["tx_hash"]),
        idempotency_key=optional_text(row["idempotency_key"]),
    )


def lock_from_row(tenant_id: str, row: sqlite3.Row) -> InvestorLock:
    return InvestorLock(
        tenant_id=tenant_id,
        invoice_id=str(row["invoice_id"]),
        investor_address=str(row["investor_address"]),
        amount_stroops=int(row["amount_stroops"]),
        commitment_count=int(row["commitment_count"]),
        claim_not_before=date.fromisoformat(str(row["due_date"])),
        investor_effective_yield_bps=int(row["yield_bps"]),
        updated_at=parse_utc(row["updated_at"]),
    )


def idempotency_params(record: IdempotencyRecord) -> Params:
    return {
        "tenant_id": record.tenant_id,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "state": record.state.value,
        "claim_id": record.claim_id,
        "created_at": utc_text(record.created_at),
        "expires_at": utc_text(record.expires_at),
        "locked_until": utc_text(record.locked_until),
    }


def response_params(response: StoredResponse) -> Params:
    return {
        "response_status": response.status,
        "response_headers": json.dumps([list(pair) for pair in response.headers]),
        "response_body": response.body,
    }


def idempotency_from_row(row: sqlite3.Row) -> IdempotencyRecord:
    response = None
    if row["response_status"] is not None:
        headers = json.loads(str(row["response_headers"]))
        response = StoredResponse(
            status=int(row["response_status"]),
            headers=tuple((str(name), str(value)) for name, value in headers),
            body=bytes(row["response_body"]),
        )
    return IdempotencyRecord(
        tenant_id=str(row["tenant_id"]),
        key=str(row["key"]),
        fingerprint=str(row["fingerprint"]),
        state=IdempotencyState(row["state"]),
        claim_id=str(row["claim_id"]),
        created_at=parse_utc(row["created_at"]),
        expires_at=parse_utc(row["expires_at"]),
        locked_until=parse_utc(row["locked_until"]),
        response=response,
    )
