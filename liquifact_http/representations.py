"""Domain objects in their JSON (camelCase) form.

Each body is a ``Representation`` class: the same class gives the JSON (``wire.unstructure``)
and its schema in the document (``schemas.response_schema``).
"""

from __future__ import annotations

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
from liquifact_core.escrow import EscrowStatus
from liquifact_core.invoices import Invoice, InvoiceDraft, Transition
from liquifact_core.lifecycle import INVESTABLE, TERMINAL, InvoiceStatus, Role
from liquifact_core.marketplace import MarketItem
from liquifact_core.profiles import ProfileUpdate, SmeProfile
from liquifact_core.rules import Account, Contract, StroopsAmount
from liquifact_core.services.escrows import EscrowView
from liquifact_core.services.invoices import InvoiceState
from liquifact_core.validation import REASON_MAX
from liquifact_http.response_fields import Representation, out
from liquifact_http.wire import unstructure


def timestamp(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-01-01T00:00:00.000Z``."""
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stroops(value: int | None) -> str | None:
    return None if value is None else str(value)


def money_text(amount: Decimal, currency: str) -> str:
    return format(quantize(amount, currency), "f")


def _linked(value: str | None) -> str:
    """A value every investable (hence linked) invoice has."""
    if value is None:
        raise ValueError("A marketplace invoice has no linked escrow.")
    return value


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


def start_of_day(day: date) -> str:
    return timestamp(datetime.combine(day, time(0), tzinfo=UTC))


def remaining_capacity(item: Invoice) -> str | None:
    """Target minus funded, never below zero (overfunding is normal on chain)."""
    if item.funding_target_stroops is None:
        return None
    return str(max(item.funding_target_stroops - item.funded_stroops, 0))


SUBMISSION_NOTES = {
    "stubbed": "Stubbed signing mode: no transaction was built, signed or submitted; "
    "the commitment is recorded off-chain only.",
    "requires_signature": "Sign transactionXdr with the investor's wallet before expiresAt "
    "and POST it to /v1/invest/commitments/{id}/submit.",
    "submitted": "The signed funding transaction is queued or sent; its final status follows.",
    "confirmed": "The funding transaction succeeded on the network.",
    "failed": "The funding transaction failed, was refused or expired (errorCode says why); "
    "the commitment was released.",
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
            "description": "Where the funding transaction is (ESCROW_SIGNING_MODE): "
            "`stubbed` (nothing sent), `requires_signature` (delegated: the wallet must "
            "sign `transactionXdr`), `submitted`, `confirmed` or `failed`.",
        }
    )
    tx_hash: str | None = out(
        {
            "pattern": "^[0-9a-f]{64}$",
            "description": "The funding transaction's hash (delegated and custodial modes).",
        },
        nullable=True,
    )
    transaction_xdr: str | None = out(
        {
            "description": "The prepared, unsigned TransactionEnvelope (base64 XDR), only "
            "while `requires_signature`: the investor's account is its source."
        },
        nullable=True,
    )
    expires_at: str | None = out(
        _at("When the funding transaction stops being valid"), nullable=True
    )
    error_code: str | None = out(
        {"description": "Why the submission failed (a stable code), when it did."},
        nullable=True,
    )
    note: str = out()

    @classmethod
    def of(cls, item: Commitment) -> SubmissionBody:
        status = item.submission_status
        expires = item.transaction_expires_at
        return cls(
            status=status.value,
            tx_hash=item.tx_hash,
            transaction_xdr=(
                item.transaction_xdr if status is SubmissionStatus.REQUIRES_SIGNATURE else None
            ),
            expires_at=None if expires is None else timestamp(expires),
            error_code=item.submission_error,
            note=SUBMISSION_NOTES[status.value],
        )


@attrs.frozen
class CommitmentBody(Representation):
    """A recorded investor commitment (``FundingIntent`` in the document)."""

    component = "FundingIntent"

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
            submission=SubmissionBody.of(item),
        )


def commitment(item: Commitment) -> dict[str, Any]:
    body: dict[str, Any] = unstructure(CommitmentBody.of(item))
    return body


@attrs.frozen
class LockBody(Representation):
    """An investor lock (``InvestorLock`` in the document)."""

    component = "InvestorLock"

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

    @classmethod
    def of(cls, item: InvestorLock) -> LockBody:
        return cls(
            invoice_id=item.invoice_id,
            funder_address=item.investor_address,
            amount_stroops=str(item.amount_stroops),
            commitment_count=item.commitment_count,
            claim_not_before=start_of_day(item.claim_not_before),
            investor_effective_yield_bps=item.investor_effective_yield_bps,
            updated_at=timestamp(item.updated_at),
            stale=True,  # from the backend's records, never read live from the chain
        )


def lock(item: InvestorLock) -> dict[str, Any]:
    body: dict[str, Any] = unstructure(LockBody.of(item))
    return body


@attrs.frozen
class PublicTransitionBody(Representation):
    """One step of an invoice's public history, as investors see it: the state change and its
    time, never who took it or why (internal actors and reasons stay with the SME and admins)."""

    component = "PublicTransition"

    sequence: int = out({"minimum": 1, "description": "1 for creation."})
    from_status: str | None = out(
        {"enum": _STATUSES, "description": "The previous status; null for creation."},
        wire="from",
        nullable=True,
    )
    to_status: str = out(ref="InvoiceStatus", wire="to")
    at: str = out(_at("When the step happened"))

    @classmethod
    def of(cls, step: Transition) -> PublicTransitionBody:
        return cls(
            sequence=step.sequence,
            from_status=step.from_status.value if step.from_status else None,
            to_status=step.to_status.value,
            at=timestamp(step.at),
        )


@attrs.frozen
class TransitionBody(PublicTransitionBody):
    """One step of an invoice's history with who took it and why (``Transition`` in the
    document): the SME's and operators' view."""

    component = "Transition"

    actor_id: str = out({"minLength": 1})
    actor_role: str = out({"enum": [r.value for r in Role]})
    reason: str | None = out({"minLength": 1, "maxLength": REASON_MAX}, nullable=True)

    @classmethod
    def of(cls, step: Transition) -> TransitionBody:
        public = PublicTransitionBody.of(step)
        return cls(
            **attrs.asdict(public, recurse=False),
            actor_id=step.actor_id,
            actor_role=step.actor_role.value,
            reason=step.reason,
        )


@attrs.frozen
class StateBody(Representation):
    """Where an invoice is in its lifecycle and where it can go next."""

    component = "InvoiceState"

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


_D = InvoiceDraft
_LINKED_ONLY = "; null until an escrow is linked."
_STROOPS_OR_ZERO = {"pattern": "^(?:0|[1-9][0-9]{0,17}|1000000000000000000)$"}


@attrs.frozen
class InvoiceBody(Representation):
    """An invoice (``Invoice`` in the document)."""

    component = "Invoice"

    id: str = out(ref="InvoiceId")
    tenant_id: str = out(ref="TenantId")
    sme_id: str = out({"minLength": 1, "description": "The principal that submitted it."})
    sme_wallet: str | None = out(
        {"description": "The submitting SME's bound Stellar account, if any."},
        rule=Account(),
        nullable=True,
    )
    invoice_number: str = out(like=(_D, "invoice_number"))
    buyer_name: str = out(like=(_D, "buyer_name"))
    buyer_email: str | None = out(like=(_D, "buyer_email"))
    buyer_tax_id: str | None = out(like=(_D, "buyer_tax_id"))
    amount: str = out(like=(_D, "amount"))
    currency: str = out(like=(_D, "amount"))
    issue_date: str = out(like=(_D, "issue_date"))
    due_date: str = out(like=(_D, "due_date"))
    yield_bps: int = out(like=(_D, "yield_bps"))
    description: str | None = out(like=(_D, "description"))
    metadata: dict[str, Any] = out({"type": "object", "additionalProperties": True})
    maturity_date: str = out({"format": "date", "description": "Equal to dueDate."})
    status: str = out(ref="InvoiceStatus")
    status_reason: str | None = out(
        {
            "minLength": 1,
            "maxLength": REASON_MAX,
            "description": "The reason given for the last transition, if it took one.",
        },
        nullable=True,
    )
    version: int = out(
        {"minimum": 1, "description": "Increases on every change; the ETag is derived from it."}
    )
    created_at: str = out(_at("When the invoice was submitted"))
    updated_at: str = out(_at("When the invoice last changed"))
    escrow_address: str | None = out(
        {"description": "The Soroban escrow contract, once linked."},
        rule=Contract(),
        nullable=True,
    )
    funding_target_stroops: str | None = out(
        {"description": "The escrow's funding target in stroops, once linked."},
        rule=StroopsAmount(),
        nullable=True,
    )
    funded_stroops: str | None = out(
        {**_STROOPS_OR_ZERO, "description": f"Stroops funded so far{_LINKED_ONLY}"},
        nullable=True,
    )
    funded_ratio: float | None = out(
        {
            "minimum": 0,
            "maximum": 100,
            "description": f"Percent of the funding target reached (two decimals){_LINKED_ONLY}",
        },
        nullable=True,
    )
    attestation_digest: str | None = out(
        {
            "pattern": "^[0-9a-f]{64}$",
            "description": "SHA-256 (hex) of the invoice's primary document, for the escrow's "
            "bind_primary_attestation_hash; sent once a primary document is stored.",
        },
        omit_none=True,
    )

    @classmethod
    def of(cls, item: Invoice) -> InvoiceBody:
        ratio = item.funded_ratio
        linked = item.funding_target_stroops is not None
        draft = item.draft
        return cls(
            id=item.id,
            tenant_id=item.tenant_id,
            sme_id=item.sme_id,
            sme_wallet=item.sme_wallet,
            invoice_number=draft.invoice_number,
            buyer_name=draft.buyer_name,
            buyer_email=draft.buyer_email,
            buyer_tax_id=draft.buyer_tax_id,
            amount=str(draft.amount),
            currency=draft.amount.currency,
            issue_date=draft.issue_date.isoformat(),
            due_date=draft.due_date.isoformat(),
            yield_bps=draft.yield_bps,
            description=draft.description,
            metadata=dict(draft.metadata),
            maturity_date=draft.due_date.isoformat(),
            status=item.status.value,
            status_reason=item.status_reason,
            version=item.version,
            created_at=timestamp(item.created_at),
            updated_at=timestamp(item.updated_at),
            escrow_address=item.escrow_address,
            funding_target_stroops=_stroops(item.funding_target_stroops),
            funded_stroops=_stroops(item.funded_stroops) if linked else None,
            funded_ratio=float(ratio) if ratio is not None else None,
            attestation_digest=item.attestation_digest,
        )


def invoice(item: Invoice) -> dict[str, Any]:
    body: dict[str, Any] = unstructure(InvoiceBody.of(item))
    return body


@attrs.frozen
class ProfileBody(Representation):
    """An SME's profile (``SmeProfile`` in the document)."""

    component = "SmeProfile"

    display_name: str = out(like=(ProfileUpdate, "display_name"))
    country: str = out(like=(ProfileUpdate, "country"))
    updated_at: str = out(_at("When the profile was last set"))

    @classmethod
    def of(cls, item: SmeProfile) -> ProfileBody:
        return cls(
            display_name=item.display_name,
            country=item.country,
            updated_at=timestamp(item.updated_at),
        )


def profile(item: SmeProfile) -> dict[str, Any]:
    body: dict[str, Any] = unstructure(ProfileBody.of(item))
    return body


@attrs.frozen
class IssuerBody(Representation):
    """The SME that issued an invoice, as its profile presents it."""

    display_name: str = out(like=(ProfileUpdate, "display_name"))
    country: str = out(like=(ProfileUpdate, "country"))

    @classmethod
    def of(cls, item: SmeProfile | None) -> IssuerBody | None:
        return None if item is None else cls(item.display_name, item.country)


@attrs.frozen
class MarketItemBody(Representation):
    """An investable invoice as investors browse it: no buyer contact or tax data."""

    component = "MarketplaceItem"

    id: str = out(ref="InvoiceId")
    status: str = out({"enum": sorted(s.value for s in INVESTABLE)})
    invoice_number: str = out(like=(_D, "invoice_number"))
    buyer_name: str = out(like=(_D, "buyer_name"))
    description: str | None = out(like=(_D, "description"))
    amount: str = out(like=(_D, "amount"))
    currency: str = out(like=(_D, "amount"))
    yield_bps: int = out(like=(_D, "yield_bps"))
    issue_date: str = out(like=(_D, "issue_date"))
    maturity_date: str = out({"format": "date", "description": "The invoice's due date."})
    escrow_address: str = out(rule=Contract())
    funding_target_stroops: str = out(
        {"description": "The escrow's funding target."}, rule=StroopsAmount()
    )
    funded_stroops: str = out(
        {**_STROOPS_OR_ZERO, "description": "Funded so far, as the chain last reported."}
    )
    remaining_capacity_stroops: str = out(
        {
            **_STROOPS_OR_ZERO,
            "description": "fundingTargetStroops - fundedStroops, never below "
            "0 (pending commitments are not subtracted).",
        }
    )
    funded_ratio: float = out(
        {
            "minimum": 0,
            "maximum": 100,
            "description": "Percent of the funding target reached (two decimals).",
        }
    )
    created_at: str = out(_at("When the invoice was submitted"))
    issuer: IssuerBody | None = out(
        {
            "description": "The issuing SME's display name and country; null while it has no "
            "profile."
        },
        nullable=True,
    )

    @classmethod
    def of(cls, market_item: MarketItem) -> MarketItemBody:
        item = market_item.invoice
        ratio = item.funded_ratio
        draft = item.draft
        return cls(
            id=item.id,
            status=item.status.value,
            invoice_number=draft.invoice_number,
            buyer_name=draft.buyer_name,
            description=draft.description,
            amount=str(draft.amount),
            currency=draft.amount.currency,
            yield_bps=draft.yield_bps,
            issue_date=draft.issue_date.isoformat(),
            maturity_date=draft.due_date.isoformat(),
            escrow_address=_linked(item.escrow_address),
            funding_target_stroops=_linked(_stroops(item.funding_target_stroops)),
            funded_stroops=str(item.funded_stroops),
            remaining_capacity_stroops=_linked(remaining_capacity(item)),
            funded_ratio=float(ratio) if ratio is not None else 0.0,
            created_at=timestamp(item.created_at),
            issuer=IssuerBody.of(market_item.issuer),
        )


def etag(version: int) -> str:
    return f'"v{version}"'


# ---- GET /v1/escrow/{invoiceId} -----------------------------------------------------------------

_I128_DIGITS = "^(?:0|[1-9][0-9]{0,38})$"
_PERCENT = "^(?:0|[1-9][0-9]*)\\.[0-9]{2}$"


@attrs.frozen
class EscrowBody(Representation):
    """An invoice's escrow as the indexer last read it (``Escrow`` in the document)."""

    component = "Escrow"

    invoice_id: str = out(ref="InvoiceId")
    invoice_status: str = out(ref="InvoiceStatus")
    escrow_status: str = out(
        {
            "enum": [s.label for s in EscrowStatus],
            "description": "The contract's status (0 open, 1 funded, 2 settled, 3 withdrawn, "
            "4 cancelled).",
        }
    )
    funded_amount_stroops: str = out(
        {
            "pattern": _I128_DIGITS,
            "description": "Stroops the contract holds from investors (may exceed the target).",
        }
    )
    funding_target_stroops: str = out({"pattern": _I128_DIGITS})
    remaining_capacity_stroops: str = out(
        {"pattern": _I128_DIGITS, "description": "max(target - funded, 0)."}
    )
    funded_percent: str = out(
        {
            "pattern": _PERCENT,
            "description": "funded / target x 100, two decimals, half-even; above 100 when "
            "overfunded.",
        }
    )
    yield_bps: int = out({"minimum": 0, "maximum": 10_000})
    coupon_percent: str = out(
        {"pattern": _PERCENT, "description": "The flat one-shot coupon: yieldBps / 100."}
    )
    annual_rate_percent: str | None = out(
        {
            "pattern": _PERCENT,
            "description": "The coupon as a simple annual rate over the time left to maturity; "
            "null without a maturity or once it is reached.",
        },
        nullable=True,
    )
    days_to_maturity: int | None = out(
        {
            "description": "Whole days to maturity, floored (negative once overdue); null "
            "without a maturity lock."
        },
        nullable=True,
    )
    legal_hold: bool = out({"description": "A legal hold blocks funding and every payout."})
    paused: bool = out({"description": "A pause blocks fund, settle, withdraw and claim."})
    ledger: int = out(
        {
            "minimum": 0,
            "description": "The ledger sequence this view reflects: the indexer has seen the "
            "contract's events through it.",
        }
    )
    stale: bool = out(
        {
            "description": "True when the indexer last checked the contract longer ago than "
            "ESCROW_STALE_AFTER_SECONDS, or the view is more than ESCROW_STALE_LEDGER_GAP "
            "ledgers behind the newest ledger the indexer reached."
        }
    )
    checked_at: str = out(_at("When the indexer last confirmed this view"))

    @classmethod
    def of(cls, view: EscrowView) -> EscrowBody:
        escrow = view.projection.reading.escrow
        figures = view.figures
        annual = figures.annual_rate_percent
        return cls(
            invoice_id=view.invoice.id,
            invoice_status=view.invoice.status.value,
            escrow_status=escrow.status.label,
            funded_amount_stroops=str(escrow.funded_amount),
            funding_target_stroops=str(escrow.funding_target),
            remaining_capacity_stroops=str(figures.remaining_capacity),
            funded_percent=str(figures.funded_percent),
            yield_bps=escrow.yield_bps,
            coupon_percent=str(figures.coupon_percent),
            annual_rate_percent=None if annual is None else str(annual),
            days_to_maturity=figures.days_to_maturity,
            legal_hold=view.projection.reading.legal_hold,
            paused=view.projection.reading.paused,
            ledger=view.ledger,
            stale=view.stale,
            checked_at=timestamp(view.checked_at),
        )


def escrow(view: EscrowView) -> dict[str, Any]:
    body: dict[str, Any] = unstructure(EscrowBody.of(view))
    return body
