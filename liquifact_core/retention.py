"""Data retention (issue 16): policies that say how long an invoice's personal data is kept,
legal holds that stop it being erased, and the pure rules of a purge.

* A **retention policy** names the buyer fields it erases (``piiFields``: a subset of
  ``buyerName``, ``buyerEmail``, ``buyerTaxId``) and how many days (1-36500) after an invoice
  is *closed* they are kept. Every active policy of the tenant applies to every invoice.
* An invoice is **closed** when it is soft-deleted (at ``deleted_at``) or reaches a terminal
  status: rejected, cancelled, settled or defaulted (at that transition). Open invoices are
  never purged: their buyer is still needed.
* A **legal hold** (litigation, regulatory ...) freezes an invoice's data: while a hold is
  active (placed and not released) no purge touches the invoice. One active hold per invoice.
  This is LiquiFact's own hold, in our database. The escrow contract has a legal hold of its
  own, on chain, which blocks funding and payouts; the two are independent (docs/compliance.md).
* A **purge** erases, on each closed invoice past a policy's retention and not held, the
  fields that policy names: ``buyerEmail`` and ``buyerTaxId`` become null; ``buyerName``,
  which every invoice must have, is overwritten with ``PURGED_BUYER_NAME``. The audit event of
  a purge says which fields were erased, never their values.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs

from liquifact_core.errors import Conflict, FieldError, NotFound, ValidationError
from liquifact_core.ids import is_invoice_id
from liquifact_core.invoices import LIST_LIMIT_MAX, LIST_PAGE_MAX, Invoice
from liquifact_core.lifecycle import TERMINAL
from liquifact_core.rules import (
    Checked,
    Cursor,
    Flag,
    Integer,
    InvoiceId,
    MemberList,
    OneOf,
    QueryInteger,
    Reason,
    Text,
    query_error,
    rule_field,
)
from liquifact_core.signed_cursors import SignedCursors, cursor_mismatch, invalid_cursor

RETENTION_DAYS_MIN = 1
RETENTION_DAYS_MAX = 36_500
POLICY_ID_PREFIX = "rpol_"
HOLD_ID_PREFIX = "hold_"
POLICY_ID_PATTERN = "^rpol_[A-Za-z0-9]{1,40}$"
HOLD_ID_PATTERN = "^hold_[A-Za-z0-9]{1,40}$"
_POLICY_ID = re.compile(POLICY_ID_PATTERN[1:-1])
_HOLD_ID = re.compile(HOLD_ID_PATTERN[1:-1])
# What a purged buyer name reads as: an invoice must keep a buyer name (the schema's NOT NULL
# and the draft's 1-255 characters), so the name is replaced rather than nulled.
PURGED_BUYER_NAME = "[purged]"
# Preview pages: the decisions of the next purge, by invoice id.
PREVIEW_LIMIT_DEFAULT = 100
PREVIEW_LIMIT_MAX = 500


class PiiField(enum.StrEnum):
    """The personal data of an invoice that a policy can erase (wire names)."""

    BUYER_NAME = "buyerName"
    BUYER_EMAIL = "buyerEmail"
    BUYER_TAX_ID = "buyerTaxId"


class LegalHoldType(enum.StrEnum):
    LITIGATION = "litigation"
    REGULATORY = "regulatory"
    INVESTIGATION = "investigation"
    AUDIT = "audit"
    OTHER = "other"


# ---- commands ---------------------------------------------------------------------------------
@attrs.frozen
class PolicyDraft(Checked):
    """A retention policy as an admin writes it (create, and full replacement on update)."""

    INVALID_MESSAGE: ClassVar[str] = "Retention policy has invalid fields."

    name: str = rule_field(Text(1, 100))
    retention_days: int = rule_field(
        Integer(RETENTION_DAYS_MIN, RETENTION_DAYS_MAX),
        description="Days an invoice's personal data is kept after it closes.",
    )
    pii_fields: frozenset[PiiField] = rule_field(
        MemberList(PiiField), description="The buyer fields the policy erases."
    )
    active: bool = rule_field(Flag(), default=True)


@attrs.frozen
class HoldRequest(Checked):
    """A legal hold an admin places on an invoice."""

    INVALID_MESSAGE: ClassVar[str] = "Legal hold has invalid fields."

    invoice_id: str = rule_field(InvoiceId())
    type: LegalHoldType = rule_field(OneOf(LegalHoldType))
    reason: str = rule_field(Reason())


@attrs.frozen
class HoldRelease(Checked):
    """Why a legal hold is released (optional)."""

    INVALID_MESSAGE: ClassVar[str] = "The release has invalid fields."

    reason: str | None = rule_field(Reason(), default=None, optional=True)


@attrs.frozen
class PoliciesQuery(Checked):
    """A page of a tenant's policies, newest first: ``page`` (from 1), ``limit`` (1-100)."""

    page: int = rule_field(QueryInteger(1, LIST_PAGE_MAX), default=1)
    limit: int = rule_field(QueryInteger(1, LIST_LIMIT_MAX), default=20)

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The policies query has invalid parameters.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@attrs.frozen
class HoldsQuery(Checked):
    """A page of a tenant's legal holds, newest first, optionally of one invoice."""

    invoice_id: str | None = rule_field(InvoiceId(), default=None, optional=True)
    page: int = rule_field(QueryInteger(1, LIST_PAGE_MAX), default=1)
    limit: int = rule_field(QueryInteger(1, LIST_LIMIT_MAX), default=20)

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The legal holds query has invalid parameters.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@attrs.frozen
class PreviewQuery(Checked):
    """A page of the next purge's decisions, by invoice id: ``limit`` (1-500, default 100)
    and ``cursor`` (``nextCursor`` of the previous page)."""

    limit: int = rule_field(QueryInteger(1, PREVIEW_LIMIT_MAX), default=PREVIEW_LIMIT_DEFAULT)
    cursor: str | None = rule_field(Cursor(), default=None, optional=True)

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The preview query has invalid parameters.")


# ---- stored things ----------------------------------------------------------------------------
@attrs.frozen
class RetentionPolicy:
    id: str
    tenant_id: str
    name: str
    retention_days: int
    pii_fields: frozenset[PiiField]
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: str
    updated_by: str

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    def snapshot(self) -> dict[str, Any]:
        """What an audit event's before/after records of the policy."""
        return {
            "id": self.id,
            "name": self.name,
            "retentionDays": self.retention_days,
            "piiFields": sorted(field.value for field in self.pii_fields),
            "active": self.active,
            "version": self.version,
        }

    def replaced(self, draft: PolicyDraft, by: str, at: datetime) -> RetentionPolicy:
        """This policy after an update to ``draft``: the next version."""
        return attrs.evolve(
            self,
            name=draft.name,
            retention_days=draft.retention_days,
            pii_fields=draft.pii_fields,
            active=draft.active,
            version=self.version + 1,
            updated_at=at,
            updated_by=by,
        )


def new_policy(
    policy_id: str, tenant_id: str, draft: PolicyDraft, by: str, at: datetime
) -> RetentionPolicy:
    return RetentionPolicy(
        id=policy_id,
        tenant_id=tenant_id,
        name=draft.name,
        retention_days=draft.retention_days,
        pii_fields=draft.pii_fields,
        active=draft.active,
        version=1,
        created_at=at,
        updated_at=at,
        created_by=by,
        updated_by=by,
    )


@attrs.frozen
class LegalHold:
    id: str
    tenant_id: str
    invoice_id: str
    type: LegalHoldType
    reason: str
    placed_by: str
    placed_at: datetime
    released_at: datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "invoiceId": self.invoice_id,
            "type": self.type.value,
            "reason": self.reason,
            "placedBy": self.placed_by,
            "active": self.active,
            "releasedBy": self.released_by,
            "releaseReason": self.release_reason,
        }

    def release(self, by: str, at: datetime, reason: str | None) -> LegalHold:
        """This hold released; Conflict LEGAL_HOLD_RELEASED if it was already."""
        if not self.active:
            raise hold_already_released()
        return attrs.evolve(self, released_at=at, released_by=by, release_reason=reason)


@attrs.frozen
class PolicyPage:
    items: Sequence[RetentionPolicy]
    total: int


@attrs.frozen
class HoldPage:
    items: Sequence[LegalHold]
    total: int


@attrs.frozen
class ClosedInvoice:
    """A closed invoice that still holds personal data, with when it closed."""

    invoice: Invoice
    closed_at: datetime


# ---- the purge rules --------------------------------------------------------------------------
class Verdict(enum.StrEnum):
    PURGE = "purge"  # fields are due and the invoice is not held: erase them
    HELD = "held"  # fields are due but a legal hold is active: nothing is touched


@attrs.frozen
class PurgeDecision:
    """What a purge does to one invoice: erase ``fields`` (due under ``policy_ids``), or
    nothing because hold ``hold_id`` is active."""

    invoice_id: str
    closed_at: datetime
    verdict: Verdict
    fields: frozenset[PiiField]
    policy_ids: tuple[str, ...]
    hold_id: str | None = None


def is_closed(invoice: Invoice) -> bool:
    return invoice.deleted_at is not None or invoice.status in TERMINAL


def present_fields(invoice: Invoice) -> frozenset[PiiField]:
    """The PII fields the invoice still holds."""
    draft = invoice.draft
    present = set()
    if draft.buyer_name != PURGED_BUYER_NAME:
        present.add(PiiField.BUYER_NAME)
    if draft.buyer_email is not None:
        present.add(PiiField.BUYER_EMAIL)
    if draft.buyer_tax_id is not None:
        present.add(PiiField.BUYER_TAX_ID)
    return frozenset(present)


def active_policies(policies: Iterable[RetentionPolicy]) -> list[RetentionPolicy]:
    return sorted((p for p in policies if p.active), key=lambda policy: policy.id)


def closed_before(policies: Iterable[RetentionPolicy], now: datetime) -> datetime | None:
    """The latest closing time that any active policy has run out for at ``now`` (None: no
    active policy): only invoices closed at or before it can have fields due."""
    active = active_policies(policies)
    if not active:
        return None
    return now - min(policy.retention for policy in active)


def decide(
    candidate: ClosedInvoice,
    policies: Iterable[RetentionPolicy],
    hold: LegalHold | None,
    now: datetime,
) -> PurgeDecision | None:
    """What the purge at ``now`` does to ``candidate``: None when no active policy has run out
    for it or it holds none of the fields due; HELD (nothing erased) when ``hold`` is an
    active legal hold of the invoice; else PURGE of the fields due that it still holds."""
    invoice = candidate.invoice
    if not is_closed(invoice):
        return None
    due: set[PiiField] = set()
    policy_ids = []
    for policy in active_policies(policies):
        if candidate.closed_at + policy.retention <= now:
            wanted = policy.pii_fields & present_fields(invoice)
            if wanted:
                due |= wanted
                policy_ids.append(policy.id)
    if not due:
        return None
    held = hold is not None and hold.active and hold.invoice_id == invoice.id
    return PurgeDecision(
        invoice_id=invoice.id,
        closed_at=candidate.closed_at,
        verdict=Verdict.HELD if held else Verdict.PURGE,
        fields=frozenset(due),
        policy_ids=tuple(policy_ids),
        hold_id=hold.id if held and hold is not None else None,
    )


def erase(invoice: Invoice, fields: Iterable[PiiField], at: datetime) -> Invoice:
    """``invoice`` with ``fields`` erased (email and tax id null, the name replaced by
    ``PURGED_BUYER_NAME``), at its next version."""
    wanted = set(fields)
    changes: dict[str, Any] = {}
    if PiiField.BUYER_NAME in wanted:
        changes["buyer_name"] = PURGED_BUYER_NAME
    if PiiField.BUYER_EMAIL in wanted:
        changes["buyer_email"] = None
    if PiiField.BUYER_TAX_ID in wanted:
        changes["buyer_tax_id"] = None
    return attrs.evolve(
        invoice,
        draft=attrs.evolve(invoice.draft, **changes),
        version=invoice.version + 1,
        updated_at=at,
    )


def field_presence(invoice: Invoice, fields: Iterable[PiiField]) -> dict[str, Any]:
    """An audit snapshot of ``fields`` that never holds their values: ``"[present]"`` for a
    field holding data, the stored marker or null otherwise."""
    present = present_fields(invoice)
    snapshot: dict[str, Any] = {}
    for field in sorted(fields):
        if field in present:
            snapshot[field.value] = "[present]"
        elif field is PiiField.BUYER_NAME:
            snapshot[field.value] = PURGED_BUYER_NAME
        else:
            snapshot[field.value] = None
    return snapshot


@attrs.frozen
class PreviewCursorCodec:
    """Signed preview cursors: the tenant and the last invoice id of a page."""

    secret: bytes = attrs.field(repr=False)

    @property
    def _cursors(self) -> SignedCursors:
        return SignedCursors(self.secret, "purge-preview")

    def encode(self, tenant_id: str, after_invoice_id: str) -> str:
        return self._cursors.encode({"v": 1, "t": tenant_id, "a": after_invoice_id})

    def decode(self, tenant_id: str, cursor: str) -> str:
        """The invoice id the page after ``cursor`` starts after (INVALID_CURSOR,
        CURSOR_MISMATCH)."""
        payload = self._cursors.decode(cursor)
        after = payload.get("a")
        if payload.get("v") != 1 or not isinstance(after, str) or not is_invoice_id(after):
            raise invalid_cursor("is not a cursor issued by this API")
        if payload.get("t") != tenant_id:
            raise cursor_mismatch("tenant's preview")
        return after


# ---- ids and errors ---------------------------------------------------------------------------
def parse_policy_id(raw: object, field: str = "policyId") -> str:
    if not isinstance(raw, str) or not _POLICY_ID.fullmatch(raw):
        raise ValidationError.for_field(
            field, "must be a policy id: 'rpol_' then up to 40 of [A-Za-z0-9]", "INVALID_ID"
        )
    return raw


def parse_hold_id(raw: object, field: str = "holdId") -> str:
    if not isinstance(raw, str) or not _HOLD_ID.fullmatch(raw):
        raise ValidationError.for_field(
            field, "must be a legal hold id: 'hold_' then up to 40 of [A-Za-z0-9]", "INVALID_ID"
        )
    return raw


def policy_not_found(policy_id: str) -> NotFound:
    return NotFound(
        f"Retention policy '{policy_id}' was not found.", code="RETENTION_POLICY_NOT_FOUND"
    )


def hold_not_found(hold_id: str) -> NotFound:
    return NotFound(f"Legal hold '{hold_id}' was not found.", code="LEGAL_HOLD_NOT_FOUND")


def policy_name_taken(name: str) -> Conflict:
    return Conflict(
        f"A retention policy named '{name}' already exists.", code="RETENTION_POLICY_NAME_TAKEN"
    )


def hold_already_active(invoice_id: str) -> Conflict:
    return Conflict(
        f"Invoice '{invoice_id}' already has an active legal hold; release it first.",
        code="LEGAL_HOLD_ACTIVE",
    )


def hold_already_released() -> Conflict:
    return Conflict("This legal hold was already released.", code="LEGAL_HOLD_RELEASED")


def holds_by_invoice(holds: Iterable[LegalHold]) -> Mapping[str, LegalHold]:
    """Active holds keyed by invoice id."""
    return {hold.invoice_id: hold for hold in holds if hold.active}
