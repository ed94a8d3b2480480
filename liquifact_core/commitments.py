"""Investor commitments: an investor's recorded intent to fund an invoice's escrow.

A commitment does not change the invoice's ``funded_stroops`` (only the chain does, through the
indexer), but pending commitments count against the escrow's remaining capacity, so two intents
can never promise more than the escrow can still take.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import date, datetime

import attrs

from liquifact_core.addresses import AccountAddress
from liquifact_core.amounts import Stroops
from liquifact_core.audit import AuditEvent
from liquifact_core.errors import FieldError, ValidationError
from liquifact_core.invoices import Actor
from liquifact_core.rules import (
    Account,
    Checked,
    InvoiceId,
    QueryInteger,
    SetOf,
    StroopsAmount,
    query_error,
    rule_field,
)

COMMITMENT_ID_PREFIX = "cmt_"
# The codes of the spec's CommitmentValidationError, in the order they are checked.
COMMITMENT_CODES = (
    "INVALID_AMOUNT_TYPE",
    "INVALID_AMOUNT_FORMAT",
    "INVALID_AMOUNT_RANGE",
    "INVALID_AMOUNT_OVERFLOW",
    "INVALID_INVESTOR_ADDRESS",
    "AMOUNT_IMMUTABLE",
)


class CommitmentStatus(enum.StrEnum):
    """``pending``: recorded, not yet seen on chain; counts against the remaining capacity.
    ``confirmed``: the chain reported the funding (now part of the invoice's fundedStroops).
    ``released``: will not happen (refused, cancelled or expired); counts for nothing."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    RELEASED = "released"


class SubmissionStatus(enum.StrEnum):
    """Where the commitment's funding transaction is (``ESCROW_SIGNING_MODE``, the spec's
    signing modes; ``liquifact_core.submissions`` has the rules):

    - ``stubbed``: the stubbed mode; no transaction was built, signed or sent.
    - ``requires_signature``: delegated mode; the prepared transaction waits for the
      investor's wallet signature (``POST /v1/invest/commitments/{id}/submit``).
    - ``submitted``: signed (by the investor, or by the platform in custodial mode) and
      handed to the ``escrow_submission`` job, which sends it and polls its final status.
    - ``confirmed``: the transaction succeeded on the chain.
    - ``failed``: it failed, was refused, or expired unsent (``submission_error`` says why);
      the commitment is released.
    """

    STUBBED = "stubbed"
    REQUIRES_SIGNATURE = "requires_signature"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class SigningMode(enum.StrEnum):
    """``ESCROW_SIGNING_MODE`` (spec): who signs funding transactions. ``stubbed``: nobody,
    nothing is sent; ``delegated``: the investor's wallet signs what the API prepared;
    ``custodial``: the platform signs for the investor accounts it holds the keys of
    (``ESCROW_PLATFORM_SECRET``)."""

    STUBBED = "stubbed"
    DELEGATED = "delegated"
    CUSTODIAL = "custodial"


class CommitmentValidationError(ValidationError):
    """A commitment input breaks a rule; ``code`` is one of ``COMMITMENT_CODES`` (or the
    generic VALIDATION_ERROR when only non-commitment fields are wrong)."""

    code = "VALIDATION_ERROR"


@attrs.frozen
class Commitment:
    id: str
    tenant_id: str
    invoice_id: str
    investor_address: str
    amount_stroops: int
    status: CommitmentStatus
    investor_effective_yield_bps: int
    claim_not_before: date  # the invoice's maturity: the earliest day a payout claim can succeed
    submission_status: SubmissionStatus
    actor_id: str
    created_at: datetime
    updated_at: datetime
    tx_hash: str | None = None
    # The funding transaction (delegated and custodial modes): its base64 XDR envelope, the
    # unsigned one until the signed one replaces it, and when it stops being valid.
    transaction_xdr: str | None = attrs.field(default=None, repr=False)
    transaction_expires_at: datetime | None = None
    submission_error: str | None = None  # a stable domain code, when the submission failed


@attrs.frozen
class FundingRequest(Checked):
    """An investor's request to fund an invoice's escrow (``POST /v1/invest/fund-invoice``,
    ``{invoiceId, investorAddress, amountStroops}``): the invoice, the investor's ``G...``
    wallet (checksum checked; it must be the caller's bound wallet) and the amount in stroops
    (digit string on the wire, 0 < x <= 10^18). Bad fields raise
    ``CommitmentValidationError`` coded by the first commitment rule broken."""

    invoice_id: str = rule_field(InvoiceId())
    investor: AccountAddress = rule_field(
        Account("INVALID_INVESTOR_ADDRESS"), wire="investorAddress"
    )
    amount: Stroops = rule_field(StroopsAmount(), wire="amountStroops")

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return commitment_error(errors)


LOCKS_LIMIT_MAX = 100
LOCKS_PAGE_MAX = 1_000_000


@attrs.frozen
class LocksQuery(Checked):
    """Which investor locks to list: optionally one funder (``G...``) and/or one invoice, and
    a page (``page`` from 1, ``limit`` 1-100)."""

    funder_address: AccountAddress | None = rule_field(
        Account("INVALID_INVESTOR_ADDRESS"), default=None, optional=True
    )
    invoice_id: str | None = rule_field(InvoiceId(), default=None, optional=True)
    page: int = rule_field(QueryInteger(1, LOCKS_PAGE_MAX), default=1)
    limit: int = rule_field(QueryInteger(1, LOCKS_LIMIT_MAX), default=20)

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The locks query has invalid parameters.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@attrs.frozen
class LockQuery(Checked):
    """Whose lock on one invoice to read: a funder (``G...``; an investor's own wallet when
    omitted, required for operators)."""

    funder_address: AccountAddress | None = rule_field(
        Account("INVALID_INVESTOR_ADDRESS"), default=None, optional=True
    )

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The lock query has invalid parameters.")


def commitment_error(errors: Sequence[FieldError]) -> CommitmentValidationError:
    """The CommitmentValidationError for ``errors``, coded by the first commitment rule
    broken (the spec's typed ``.code``)."""
    codes = [e.code for e in errors if e.code in COMMITMENT_CODES]
    return CommitmentValidationError(
        "Funding payload has invalid fields.",
        code=codes[0] if codes else None,
        field_errors=errors,
    )


@attrs.frozen
class CommitmentQuery:
    """Commitments of a tenant, optionally of one investor and/or one invoice."""

    tenant_id: str
    investor_address: str | None = None
    invoice_id: str | None = None
    limit: int = 100
    offset: int = 0


COMMITMENTS_LIMIT_MAX = 100
COMMITMENTS_PAGE_MAX = 1_000_000


@attrs.frozen
class CommitmentsQuery(Checked):
    """Which commitments to list, one by one (``GET /v1/investor/commitments``): optionally
    one investor wallet (``G...``; an investor may name only its own), one invoice and a set
    of statuses (empty: every status), and a page (``page`` from 1, ``limit`` 1-100)."""

    investor_address: AccountAddress | None = rule_field(
        Account("INVALID_INVESTOR_ADDRESS"), default=None, optional=True
    )
    invoice_id: str | None = rule_field(InvoiceId(), default=None, optional=True)
    status: frozenset[CommitmentStatus] = rule_field(SetOf(CommitmentStatus), default=frozenset())
    page: int = rule_field(QueryInteger(1, COMMITMENTS_PAGE_MAX), default=1)
    limit: int = rule_field(QueryInteger(1, COMMITMENTS_LIMIT_MAX), default=20)

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The commitments query has invalid parameters.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@attrs.frozen
class CommitmentListing:
    """One page of a tenant's commitments for ``CommitmentRepository.list``: optionally of
    one investor, of one invoice, and only in ``statuses`` (empty: any status)."""

    tenant_id: str
    investor_address: str | None = None
    invoice_id: str | None = None
    statuses: frozenset[CommitmentStatus] = frozenset()
    limit: int = 20
    offset: int = 0


@attrs.frozen
class CommitmentPage:
    items: Sequence[Commitment]
    total: int  # every commitment matching the filters, on any page


def newest_first(commitment: Commitment) -> tuple[datetime, str]:
    """The listing order, as a descending sort key: the latest ``created_at`` first, then the
    larger id (code point order) among commitments recorded at the same instant."""
    return (commitment.created_at, commitment.id)


def list_in_memory(commitments: Sequence[Commitment], listing: CommitmentListing) -> CommitmentPage:
    """The reference semantics of ``CommitmentRepository.list`` over ``commitments`` (of any
    tenant): the memory store is this, and the contract tests compare the SQL stores to it."""
    matching = sorted(
        (
            c
            for c in commitments
            if c.tenant_id == listing.tenant_id
            and listing.investor_address in (None, c.investor_address)
            and listing.invoice_id in (None, c.invoice_id)
            and (not listing.statuses or c.status in listing.statuses)
        ),
        key=newest_first,
        reverse=True,
    )
    return CommitmentPage(matching[listing.offset : listing.offset + listing.limit], len(matching))


@attrs.frozen
class InvestorLock:
    """An investor's position in one invoice's escrow, as the backend last knew it.

    Built from the pending and confirmed commitments of one (invoice, investor) pair; never
    read live from the chain, hence always reported as stale.
    """

    tenant_id: str
    invoice_id: str
    investor_address: str
    amount_stroops: int
    commitment_count: int
    claim_not_before: date
    investor_effective_yield_bps: int
    updated_at: datetime


@attrs.frozen
class LockPage:
    items: Sequence[InvestorLock]
    total: int


def commitment_audit_event(
    event_id: str, commitment: Commitment, actor: Actor, action: str, **extra: str
) -> AuditEvent:
    """The audit event for something that happened to a commitment, in the one wording every
    use case shares (``commitment.created``, ``commitment.updated``, ``commitment.released``):
    the commitment's terms and state, plus ``extra`` facts (e.g. the invoice's new status)."""
    return AuditEvent.by(
        actor,
        event_id=event_id,
        tenant_id=commitment.tenant_id,
        action=action,
        resource=("commitment", commitment.id),
        at=commitment.updated_at,
        metadata={
            "invoiceId": commitment.invoice_id,
            "investorAddress": commitment.investor_address,
            "amountStroops": str(commitment.amount_stroops),
            "status": commitment.status.value,
            "submissionStatus": commitment.submission_status.value,
            **extra,
        },
    )
