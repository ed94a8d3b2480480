"""The Invoice aggregate: its fields, the draft a client submits, and its transitions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs

from liquifact_core import validation as v
from liquifact_core.amounts import (
    STROOPS_MAX,
    Money,
    Stroops,
    parse_currency,
    parse_decimal_text,
)
from liquifact_core.errors import Forbidden, InvalidTransition, ValidationError
from liquifact_core.lifecycle import InvoiceStatus, Role, check_transition

DRAFT_FIELDS = frozenset(
    {
        "invoiceNumber", "buyerName", "buyerEmail", "buyerTaxId", "amount", "currency",
        "issueDate", "dueDate", "yieldBps", "description", "metadata",
    }
)  # fmt: skip


@attrs.frozen
class InvoiceDraft:
    """What a client supplies to create (or, merged with the current values, update) an invoice."""

    invoice_number: str
    buyer_name: str
    amount: Money
    issue_date: date
    due_date: date
    yield_bps: int
    buyer_email: str | None = None
    buyer_tax_id: str | None = None
    description: str | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_json(cls, payload: Any) -> InvoiceDraft:
        """Validate a camelCase JSON object, reporting every bad field at once."""
        if not isinstance(payload, Mapping):
            raise ValidationError("Invoice payload must be a JSON object.")
        fields = v.FieldCollector(payload, DRAFT_FIELDS)
        number = fields.take("invoiceNumber", v.text(1, 100))
        buyer = fields.take("buyerName", v.text(1, 255))
        buyer_email = fields.take("buyerEmail", v.email, required=False)
        buyer_tax_id = fields.take("buyerTaxId", v.text(1, 64), required=False)
        currency = fields.take("currency", parse_currency)
        amount = (
            fields.take("amount", lambda raw: Money.parse(raw, currency))
            if currency is not None
            else fields.take("amount", _decimal_text)
        )
        issue_date = fields.take("issueDate", v.iso_date)
        due_date = fields.take("dueDate", v.iso_date)
        if issue_date and due_date and due_date < issue_date:
            fields.fail("dueDate", "must be on or after issueDate", "DUE_BEFORE_ISSUE")
        yield_bps = fields.take("yieldBps", v.integer(0, 10_000))
        description = fields.take("description", v.multiline_text(0, 1000), required=False)
        metadata = fields.take("metadata", v.json_object, required=False)
        fields.raise_if_any("Invoice payload has invalid fields.")
        assert number and buyer and isinstance(amount, Money) and issue_date and due_date
        assert yield_bps is not None
        return cls(
            invoice_number=number,
            buyer_name=buyer,
            amount=amount,
            issue_date=issue_date,
            due_date=due_date,
            yield_bps=yield_bps,
            buyer_email=buyer_email,
            buyer_tax_id=buyer_tax_id,
            description=description or None,
            metadata=metadata or {},
        )

    def to_json(self) -> dict[str, Any]:
        """The draft in its wire form (the inverse of ``from_json``)."""
        return {
            "invoiceNumber": self.invoice_number,
            "buyerName": self.buyer_name,
            "buyerEmail": self.buyer_email,
            "buyerTaxId": self.buyer_tax_id,
            "amount": str(self.amount),
            "currency": self.amount.currency,
            "issueDate": self.issue_date.isoformat(),
            "dueDate": self.due_date.isoformat(),
            "yieldBps": self.yield_bps,
            "description": self.description,
            "metadata": dict(self.metadata),
        }


def _decimal_text(raw: Any) -> Decimal:
    """Checks an amount's form when the currency is unusable, so both errors are reported."""
    return parse_decimal_text(raw, "amount")


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
