"""The Invoice aggregate: its fields, the draft a client submits, and its transitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from liquifact_core import validation as v
from liquifact_core.addresses import ContractAddress
from liquifact_core.amounts import CURRENCY_EXPONENTS, STROOPS_MAX, Money, Stroops
from liquifact_core.errors import FieldError, Forbidden, InvalidTransition, ValidationError
from liquifact_core.lifecycle import InvoiceStatus, Role, check_transition
from liquifact_core.rules import (
    ABSENT,
    Absent,
    Checked,
    Contract,
    Currency,
    Day,
    DecimalAmount,
    Email,
    Integer,
    JsonObject,
    MoneyAmount,
    QueryInteger,
    Reason,
    SetOf,
    StroopsAmount,
    Text,
    WirePair,
    query_error,
    rule_field,
    wire_name,
)

LIST_LIMIT_MAX = 100
LIST_PAGE_MAX = 1_000_000


@attrs.frozen
class InvoiceDraft(Checked):
    """What a client supplies to create an invoice (camelCase on the wire, e.g.
    ``invoiceNumber``). Built directly by library callers and by the HTTP shell's converter
    alike; every bad field is reported at once (``ValidationError.field_errors``).

    ``amount`` is a ``Money``: on the wire the two fields ``amount`` (decimal text such as
    ``"1250.00"``, no more decimals than the currency has) and ``currency`` (ISO 4217).
    ``due_date`` is on or after ``issue_date`` (DUE_BEFORE_ISSUE).
    """

    INVALID_MESSAGE: ClassVar[str] = "Invoice payload has invalid fields."

    invoice_number: str = rule_field(Text(1, 100))
    buyer_name: str = rule_field(Text(1, 255, searchable=True))
    amount: Money = rule_field(MoneyAmount())
    issue_date: date = rule_field(Day())
    due_date: date = rule_field(Day(), description="On or after issueDate.")
    yield_bps: int = rule_field(Integer(0, 10_000))
    buyer_email: str | None = rule_field(Email(), default=None, optional=True)
    buyer_tax_id: str | None = rule_field(Text(1, 64), default=None, optional=True)
    description: str | None = rule_field(
        Text(0, 1000, blank_is_none=True, multiline=True), default=None, optional=True
    )
    metadata: Mapping[str, Any] = rule_field(JsonObject(null_is_empty=True), factory=dict)

    @classmethod
    def cross_field_errors(cls, parsed: Mapping[str, Any]) -> list[FieldError]:
        return _date_order_errors(parsed)


def _date_order_errors(parsed: Mapping[str, Any]) -> list[FieldError]:
    issue, due = parsed.get("issue_date"), parsed.get("due_date")
    if isinstance(issue, date) and isinstance(due, date) and due < issue:
        return [FieldError("dueDate", "must be on or after issueDate", "DUE_BEFORE_ISSUE")]
    return []


@attrs.frozen
class InvoicePatch(Checked):
    """The fields of a pending invoice to change. ``ABSENT`` (the default) leaves a field as it
    is; ``None`` clears an optional field (``buyerEmail``, ``buyerTaxId``, ``description``,
    ``metadata``). ``amount`` and ``currency`` are separate here: a new currency is checked
    against the current amount and the other way round when the patch is applied. At least
    one field must be given."""

    INVALID_MESSAGE: ClassVar[str] = "Invoice payload has invalid fields."

    invoice_number: str | Absent = rule_field(Text(1, 100), default=ABSENT)
    buyer_name: str | Absent = rule_field(Text(1, 255, searchable=True), default=ABSENT)
    # Four decimals at most whatever the currency (the most any currency has); the
    # currency's own number is checked when the patch is applied.
    amount: Decimal | Absent = rule_field(
        DecimalAmount(decimals=max(CURRENCY_EXPONENTS.values())), default=ABSENT
    )
    currency: str | Absent = rule_field(Currency(), default=ABSENT)
    issue_date: date | Absent = rule_field(Day(), default=ABSENT)
    due_date: date | Absent = rule_field(Day(), default=ABSENT)
    yield_bps: int | Absent = rule_field(Integer(0, 10_000), default=ABSENT)
    buyer_email: str | Absent | None = rule_field(Email(), default=ABSENT, optional=True)
    buyer_tax_id: str | Absent | None = rule_field(Text(1, 64), default=ABSENT, optional=True)
    description: str | Absent | None = rule_field(
        Text(0, 1000, blank_is_none=True, multiline=True), default=ABSENT, optional=True
    )
    metadata: Mapping[str, Any] | Absent | None = rule_field(
        JsonObject(), default=ABSENT, optional=True
    )

    def __attrs_post_init__(self) -> None:
        if not self.changed_fields():
            raise ValidationError("Patch must be a non-empty JSON object of invoice fields.")

    def changed_fields(self) -> list[str]:
        """The wire names of the fields this patch sets (or clears), sorted."""
        return sorted(
            wire_name(f) for f in attrs.fields(InvoicePatch) if getattr(self, f.name) is not ABSENT
        )

    def apply(self, draft: InvoiceDraft) -> InvoiceDraft:
        """``draft`` with this patch's changes, checked again as a whole (e.g. a new currency
        against the current amount's decimals, a new due date against the issue date)."""
        changes = {
            f.name: getattr(self, f.name)
            for f in attrs.fields(InvoicePatch)
            if getattr(self, f.name) is not ABSENT and f.name not in ("amount", "currency")
        }
        if changes.get("metadata", ABSENT) is None:
            changes["metadata"] = {}
        amount = draft.amount.amount if self.amount is ABSENT else self.amount
        currency = draft.amount.currency if self.currency is ABSENT else self.currency
        assert not isinstance(amount, Absent) and not isinstance(currency, Absent)
        values = {
            **{f.name: getattr(draft, f.name) for f in attrs.fields(InvoiceDraft)},
            **changes,
            "amount": WirePair(format(amount, "f"), currency),
        }
        return InvoiceDraft(**values)


@attrs.frozen
class TransitionReason(Checked):
    """Why an invoice is rejected, cancelled or marked defaulted (``{"reason": ...}``):
    1-1024 characters once control characters are stripped."""

    reason: str = rule_field(Reason())

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The reason is not valid.")


@attrs.frozen
class EscrowLink(Checked):
    """The escrow contract an approved invoice is linked to: its ``C...`` address (StrKey
    checksum checked) and the funding target in stroops (the token's smallest unit)."""

    INVALID_MESSAGE: ClassVar[str] = "Escrow link has invalid fields."

    escrow_address: ContractAddress = rule_field(Contract())
    funding_target: Stroops = rule_field(StroopsAmount(), wire="fundingTargetStroops")


@attrs.frozen
class InvoiceListQuery(Checked):
    """Which invoices to list: a status filter (empty: every status the caller may see) and
    a page (``page`` from 1, ``limit`` 1-100 per page)."""

    status: frozenset[InvoiceStatus] = rule_field(SetOf(InvoiceStatus), default=frozenset())
    page: int = rule_field(QueryInteger(1, LIST_PAGE_MAX), default=1)
    limit: int = rule_field(QueryInteger(1, LIST_LIMIT_MAX), default=20)

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The invoice query has invalid parameters.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@attrs.frozen
class Actor:
    """Who performs a use case: a stable id (JWT ``sub``, API client id, ...) and a role."""

    id: str
    role: Role
    wallet: str | None = None


@attrs.frozen
class Transition:
    """One step of an invoice's history. The first step has ``from_status`` None (creation)."""

    invoice_id: str
    tenant_id: str
    sequence: int
    from_status: InvoiceStatus | None
    to_status: InvoiceStatus
    actor_id: str
    actor_role: Role
    at: datetime
    reason: str | None = None


@attrs.frozen
class Invoice:
    id: str
    tenant_id: str
    sme_id: str
    draft: InvoiceDraft
    status: InvoiceStatus
    version: int
    created_at: datetime
    updated_at: datetime
    sme_wallet: str | None = None
    escrow_address: str | None = None
    funding_target_stroops: int | None = None
    funded_stroops: int = 0
    deleted_at: datetime | None = None
    status_reason: str | None = None
    # SHA-256 (hex) of the primary document (liquifact_core.documents), the digest the
    # escrow's bind_primary_attestation_hash takes; None until a primary document is stored.
    attestation_digest: str | None = None

    @property
    def funded_ratio(self) -> Decimal | None:
        """Percent of the funding target reached, 0-100 with two decimals; None before linking."""
        if not self.funding_target_stroops:
            return None
        ratio = Decimal(self.funded_stroops * 100) / Decimal(self.funding_target_stroops)
        return min(ratio, Decimal(100)).quantize(Decimal("0.01"))

    def is_owned_by(self, actor: Actor) -> bool:
        return actor.role is Role.SME and actor.id == self.sme_id

    def move_to(
        self,
        target: InvoiceStatus,
        actor: Actor,
        at: datetime,
        *,
        reason: str | None = None,
        escrow_address: str | None = None,
        funding_target: Stroops | None = None,
    ) -> tuple[Invoice, Transition]:
        """The invoice after the transition, and the history step that records it."""
        rule = check_transition(self.status, target, actor.role, is_owner=self.is_owned_by(actor))
        if reason is not None:
            reason = v.reason(reason)  # every path into a reason state stores a clean reason
        if rule.needs_reason and reason is None:
            raise ValidationError.for_field("reason", "is required for this transition", "REQUIRED")
        changes: dict[str, Any] = {}
        if target is InvoiceStatus.LINKED_ESCROW:
            if escrow_address is None or funding_target is None:
                raise ValidationError("Linking an escrow needs its address and funding target.")
            changes = {
                "escrow_address": escrow_address,
                "funding_target_stroops": funding_target.value,
                "funded_stroops": 0,
            }
        moved = attrs.evolve(
            self,
            status=target,
            version=self.version + 1,
            updated_at=at,
            status_reason=reason,
            **changes,
        )
        step = Transition(
            invoice_id=self.id,
            tenant_id=self.tenant_id,
            sequence=self.version + 1,
            from_status=self.status,
            to_status=target,
            actor_id=actor.id,
            actor_role=actor.role,
            at=at,
            reason=reason,
        )
        return moved, step

    def record_funding(
        self, funded_stroops: int, actor: Actor, at: datetime
    ) -> tuple[Invoice, Transition | None]:
        """The invoice after the chain reports ``funded_stroops`` in its escrow.

        Funding reaching the target makes it ``funded``; any other positive amount makes a
        ``linked_escrow`` invoice ``partially_funded``. The amount is updated either way.
        """
        if self.funding_target_stroops is None:
            raise ValidationError("The invoice has no linked escrow to fund.")
        if type(funded_stroops) is not int or not 0 <= funded_stroops <= STROOPS_MAX:
            raise ValidationError.for_field(
                "fundedStroops", "must be an integer from 0 to 10^18", "INVALID_AMOUNT_RANGE"
            )
        check_transition_actor_is_chain(actor)
        target = self.status
        if funded_stroops >= self.funding_target_stroops:
            target = InvoiceStatus.FUNDED
        elif funded_stroops > 0 and self.status is InvoiceStatus.LINKED_ESCROW:
            target = InvoiceStatus.PARTIALLY_FUNDED
        if target is self.status:
            if funded_stroops == self.funded_stroops:
                return self, None  # a re-applied chain event changes nothing
            if self.status not in (InvoiceStatus.LINKED_ESCROW, InvoiceStatus.PARTIALLY_FUNDED):
                raise InvalidTransition(self.status.value, self.status.value, [])
            updated = attrs.evolve(
                self, funded_stroops=funded_stroops, version=self.version + 1, updated_at=at
            )
            return updated, None
        moved, step = self.move_to(target, actor, at)
        return attrs.evolve(moved, funded_stroops=funded_stroops), step


def check_transition_actor_is_chain(actor: Actor) -> None:
    if actor.role is not Role.CHAIN:
        raise Forbidden("Funding amounts are set only by the escrow indexer or reconciliation.")
