"""Response bodies of the audit export, retention policies, legal holds and the purge preview
(``Representation``): the same classes give the JSON and its schema in the document."""

from __future__ import annotations

from typing import Any

import attrs

from liquifact_core.audit_export import AuditPage, AuditRecord
from liquifact_core.retention import (
    HOLD_ID_PATTERN,
    POLICY_ID_PATTERN,
    RETENTION_DAYS_MAX,
    RETENTION_DAYS_MIN,
    HoldPage,
    LegalHold,
    LegalHoldType,
    PiiField,
    PolicyPage,
    PurgeDecision,
    RetentionPolicy,
    Verdict,
)
from liquifact_core.services.retention import InvoiceHolds, PurgePreview
from liquifact_http.pages import PageMeta
from liquifact_http.representations import _at, timestamp
from liquifact_http.response_fields import Representation, out

_INVOICE_ID = {"pattern": "^inv_[A-Za-z0-9_]{1,28}$"}
_FIELDS = {
    "type": "array",
    "items": {"type": "string", "enum": [field.value for field in PiiField]},
}


# ---- the audit export -------------------------------------------------------------------------
@attrs.frozen
class AuditEventBody(Representation):
    """One audit event, with the spec's CSV columns as fields (``statusCode``,
    ``ipAddress``, ``userAgent`` from the metadata when it has them) and the metadata itself
    (redacted when stored; before/after snapshots of changes live there)."""

    component = "AuditEvent"

    id: str = out()
    timestamp: str = out(_at("When it happened"))
    actor: str = out({"description": "Who did it: a user, API client or process id."})
    actor_role: str = out()
    action: str = out({"example": "retention.legal_hold_placed"})
    resource_type: str = out()
    resource_id: str = out()
    status_code: int | None = out({"minimum": 100, "maximum": 599}, nullable=True)
    ip_address: str | None = out(nullable=True)
    user_agent: str | None = out(nullable=True)
    metadata: dict[str, Any] = out({"type": "object", "additionalProperties": True})

    @classmethod
    def of(cls, record: AuditRecord) -> AuditEventBody:
        event = record.event
        metadata = event.metadata
        status = metadata.get("statusCode")
        return cls(
            id=event.id,
            timestamp=timestamp(event.at),
            actor=event.actor_id,
            actor_role=event.actor_role,
            action=event.action,
            resource_type=event.resource_type,
            resource_id=event.resource_id,
            status_code=status if type(status) is int else None,
            ip_address=_text(metadata.get("ipAddress")),
            user_agent=_text(metadata.get("userAgent")),
            metadata=dict(metadata),
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@attrs.frozen
class AuditPageBody(Representation):
    """One page of an invoice's audit trail, oldest first."""

    component = "AuditEventList"

    data: list[AuditEventBody] = out()
    meta: PageMeta = out()

    @classmethod
    def of(cls, page: AuditPage) -> AuditPageBody:
        return cls(
            data=[AuditEventBody.of(record) for record in page.records],
            meta=PageMeta.by_cursor(page.total, page.limit, page.next_cursor),
        )


# ---- retention policies -----------------------------------------------------------------------
@attrs.frozen
class PolicyBody(Representation):
    """A retention policy of the tenant."""

    component = "RetentionPolicy"

    id: str = out({"pattern": POLICY_ID_PATTERN})
    name: str = out()
    retention_days: int = out({"minimum": RETENTION_DAYS_MIN, "maximum": RETENTION_DAYS_MAX})
    pii_fields: list[str] = out({**_FIELDS, "minItems": 1, "uniqueItems": True})
    active: bool = out()
    version: int = out({"minimum": 1})
    created_at: str = out(_at("When it was created"))
    updated_at: str = out(_at("When it last changed"))
    created_by: str = out()
    updated_by: str = out()

    @classmethod
    def of(cls, policy: RetentionPolicy) -> PolicyBody:
        return cls(
            id=policy.id,
            name=policy.name,
            retention_days=policy.retention_days,
            pii_fields=sorted(field.value for field in policy.pii_fields),
            active=policy.active,
            version=policy.version,
            created_at=timestamp(policy.created_at),
            updated_at=timestamp(policy.updated_at),
            created_by=policy.created_by,
            updated_by=policy.updated_by,
        )


@attrs.frozen
class PolicyPageBody(Representation):
    """One page of the tenant's retention policies, newest first."""

    component = "RetentionPolicyList"

    data: list[PolicyBody] = out()
    meta: PageMeta = out()

    @classmethod
    def of(cls, page: PolicyPage, number: int, limit: int) -> PolicyPageBody:
        return cls(
            data=[PolicyBody.of(item) for item in page.items],
            meta=PageMeta.by_number(page.total, number, limit),
        )


# ---- legal holds ------------------------------------------------------------------------------
@attrs.frozen
class HoldBody(Representation):
    """A LiquiFact legal hold on an invoice (not the escrow contract's on-chain hold)."""

    component = "LegalHold"

    id: str = out({"pattern": HOLD_ID_PATTERN})
    invoice_id: str = out(_INVOICE_ID)
    type: str = out({"enum": [kind.value for kind in LegalHoldType]})
    reason: str = out()
    placed_by: str = out()
    placed_at: str = out(_at("When it was placed"))
    active: bool = out({"description": "True until it is released."})
    released_at: str | None = out(_at("When it was released"), nullable=True)
    released_by: str | None = out(nullable=True)
    release_reason: str | None = out(nullable=True)

    @classmethod
    def of(cls, hold: LegalHold) -> HoldBody:
        return cls(
            id=hold.id,
            invoice_id=hold.invoice_id,
            type=hold.type.value,
            reason=hold.reason,
            placed_by=hold.placed_by,
            placed_at=timestamp(hold.placed_at),
            active=hold.active,
            released_at=None if hold.released_at is None else timestamp(hold.released_at),
            released_by=hold.released_by,
            release_reason=hold.release_reason,
        )


@attrs.frozen
class HoldPageBody(Representation):
    """One page of the tenant's legal holds, newest first."""

    component = "LegalHoldList"

    data: list[HoldBody] = out()
    meta: PageMeta = out()

    @classmethod
    def of(cls, page: HoldPage, number: int, limit: int) -> HoldPageBody:
        return cls(
            data=[HoldBody.of(item) for item in page.items],
            meta=PageMeta.by_number(page.total, number, limit),
        )


@attrs.frozen
class ActiveHoldBody(HoldBody):
    """The active LiquiFact hold of an invoice (a ``LegalHold``, written in place so that it
    can be null)."""

    component = None  # type: ignore[assignment]  # written in place, not as a $ref

    @classmethod
    def of(cls, hold: LegalHold) -> ActiveHoldBody:
        return cls(**attrs.asdict(HoldBody.of(hold), recurse=False))


@attrs.frozen
class EscrowHoldBody(Representation):
    """The escrow contract's own legal hold, as the indexer last read it from the chain."""

    legal_hold: bool = out(
        {"description": "The contract's LegalHold flag: it blocks funding and every payout."}
    )
    ledger: int = out({"minimum": 0, "description": "The ledger the reading reflects."})
    checked_at: str = out(_at("When the indexer read it"))


HOLDS_NOTE = (
    "Two different holds. `liquifactHold` is LiquiFact's legal hold, kept in our database: it "
    "stops retention purges from erasing this invoice's personal data, and nothing else. "
    "`escrowHold` is the escrow contract's own legal hold, on chain: it blocks funding and "
    "payouts in the contract and is set and cleared on chain, never by this API. Neither "
    "places, releases or implies the other."
)


@attrs.frozen
class InvoiceHoldsBody(Representation):
    """An invoice's two legal holds side by side (docs/compliance.md)."""

    component = "InvoiceLegalHolds"

    invoice_id: str = out(_INVOICE_ID)
    liquifact_hold: ActiveHoldBody | None = out(
        {"description": "The active LiquiFact hold, or null."}, nullable=True
    )
    escrow_hold: EscrowHoldBody | None = out(
        {"description": "The escrow's on-chain hold as last indexed, or null (no indexed escrow)."},
        nullable=True,
    )
    note: str = out()

    @classmethod
    def of(cls, holds: InvoiceHolds) -> InvoiceHoldsBody:
        escrow = holds.escrow
        return cls(
            invoice_id=holds.invoice_id,
            liquifact_hold=None if holds.hold is None else ActiveHoldBody.of(holds.hold),
            escrow_hold=None
            if escrow is None
            else EscrowHoldBody(escrow.legal_hold, escrow.ledger, timestamp(escrow.checked_at)),
            note=HOLDS_NOTE,
        )


# ---- the purge preview ------------------------------------------------------------------------
@attrs.frozen
class PurgeDecisionBody(Representation):
    """What the next purge does to one invoice."""

    component = "PurgeDecision"

    invoice_id: str = out(_INVOICE_ID)
    verdict: str = out(
        {
            "enum": [verdict.value for verdict in Verdict],
            "description": "`purge`: the fields are erased; `held`: a legal hold keeps them.",
        }
    )
    fields: list[str] = out(_FIELDS)
    policy_ids: list[str] = out({"items": {"type": "string", "pattern": POLICY_ID_PATTERN}})
    closed_at: str = out(_at("When the invoice closed (deleted, or reached a final status)"))
    hold_id: str | None = out({"pattern": HOLD_ID_PATTERN}, nullable=True)

    @classmethod
    def of(cls, decision: PurgeDecision) -> PurgeDecisionBody:
        return cls(
            invoice_id=decision.invoice_id,
            verdict=decision.verdict.value,
            fields=sorted(field.value for field in decision.fields),
            policy_ids=list(decision.policy_ids),
            closed_at=timestamp(decision.closed_at),
            hold_id=decision.hold_id,
        )


@attrs.frozen
class PurgePreviewBody(Representation):
    """What a purge now would do (nothing is written), by invoice id."""

    component = "PurgePreview"

    as_of: str = out(_at("The time the decisions are for"))
    data: list[PurgeDecisionBody] = out()
    meta: PageMeta = out()

    @classmethod
    def of(cls, preview: PurgePreview) -> PurgePreviewBody:
        return cls(
            as_of=timestamp(preview.as_of),
            data=[PurgeDecisionBody.of(item) for item in preview.decisions],
            meta=PageMeta.by_cursor(preview.total, preview.limit, preview.next_cursor),
        )
