"""Funding intents: investor commitments against an invoice's escrow, listed one by one or
grouped as investor locks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from liquifact_core.addresses import AccountAddress
from liquifact_core.changes import CommitmentChanged
from liquifact_core.commitments import (
    COMMITMENT_ID_PREFIX,
    Commitment,
    CommitmentListing,
    CommitmentPage,
    CommitmentQuery,
    CommitmentsQuery,
    CommitmentStatus,
    CommitmentValidationError,
    FundingRequest,
    InvestorLock,
    LockPage,
    LockQuery,
    LocksQuery,
    SubmissionStatus,
    commitment_audit_event,
)
from liquifact_core.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    Unavailable,
    ValidationError,
    commitment_not_found,
    invoice_not_found,
)
from liquifact_core.idempotency import copy_context, parse_idempotency_key, request_fingerprint
from liquifact_core.ids import parse_invoice_id
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import INVESTABLE, Role
from liquifact_core.ports import (
    ChangeListener,
    Clock,
    EscrowChain,
    IdGenerator,
    UnitOfWork,
    UnitOfWorkFactory,
)
from liquifact_core.services.idempotency import IdempotencyService

# The operation name in funding fingerprints: a key used for funding is bound to funding.
FUND_INVOICE = "fund_invoice"
_OPERATORS = frozenset({Role.ADMIN, Role.SERVICE})
_UPDATERS = frozenset({Role.ADMIN, Role.SERVICE, Role.CHAIN})
_UPDATABLE = frozenset({"status", "tx_hash"})
_NEXT_STATUS = {
    CommitmentStatus.PENDING: frozenset({CommitmentStatus.CONFIRMED, CommitmentStatus.RELEASED}),
    CommitmentStatus.CONFIRMED: frozenset(),
    CommitmentStatus.RELEASED: frozenset(),
}


@attrs.frozen
class FundingOutcome:
    """What ``fund_invoice`` came to: the ``commitment`` as recorded by the first request
    under the key; ``replayed`` when this call returned that record and changed nothing;
    ``context`` is what the first caller asked to keep (see ``RecordedOutcome.context``)."""

    commitment: Commitment
    replayed: bool
    context: Mapping[str, str] = attrs.field(factory=dict, converter=copy_context, hash=False)


class FundingService:
    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        chain: EscrowChain | None,
        idempotency: IdempotencyService,
        changes: ChangeListener,
        read_unit: UnitOfWorkFactory | None = None,
    ) -> None:
        self._uow = unit_of_work
        self._read = read_unit or unit_of_work
        self._clock = clock
        self._ids = ids
        self._chain = chain
        self._idempotency = idempotency
        self._changes = changes

    # ---- funding ------------------------------------------------------------------------
    def fund_invoice(
        self,
        tenant_id: str,
        actor: Actor,
        request: FundingRequest,
        idempotency_key: str | None,
        *,
        context: Mapping[str, str] | None = None,
    ) -> FundingOutcome:
        """Record a funding intent at most once per ``idempotency_key`` (8-128 of
        ``[A-Za-z0-9._:-]``; required: ValidationError IDEMPOTENCY_KEY_REQUIRED /
        INVALID_IDEMPOTENCY_KEY).

        The key is bound to this principal and this request (``request_fingerprint`` of the
        operation, the actor and the typed request). A repeat of the same request returns the
        first outcome: the same commitment (``replayed``), or the same domain error raised
        again. Another request under the key raises Conflict IDEMPOTENCY_KEY_REUSED; a repeat
        while the first still runs raises RequestInProgress (retryable). Who may fund is
        checked before the key is claimed or a stored outcome replayed (Forbidden: not an
        investor, WALLET_NOT_BOUND, WALLET_MISMATCH when ``investorAddress`` is not the
        caller's bound wallet), so a replay is never served to a caller who could not make
        the request now.
        ``context`` is kept with the outcome for the caller's replays (``FundingOutcome``).
        """
        key = parse_idempotency_key(idempotency_key)
        self.check_can_fund(actor)
        if request.investor.value != actor.wallet:
            raise Forbidden(
                "investorAddress must be the wallet bound to this account.",
                code="WALLET_MISMATCH",
            )
        fingerprint = request_fingerprint(
            FUND_INVOICE,
            f"{actor.role.value}:{actor.id}",
            {
                "invoice_id": request.invoice_id,
                "investor": request.investor.value,
                "amount_stroops": str(request.amount.value),
            },
        )
        outcome = self._idempotency.execute(
            tenant_id,
            key,
            fingerprint,
            lambda uow: self._record_intent(uow, tenant_id, actor, request),
            context,
        )
        commitment = outcome.result
        if not outcome.replayed:
            self._changes.changed(_changed(commitment))
        return FundingOutcome(commitment, outcome.replayed, outcome.context)

    def _record_intent(
        self, uow: UnitOfWork, tenant_id: str, actor: Actor, request: FundingRequest
    ) -> Commitment:
        """Check and record a funding intent inside ``uow`` (the caller commits).

        Only on investable invoices (the caller's wallet was checked before), and never beyond
        the escrow's capacity: target - funded - pending commitments. The capacity read and
        the insert happen in this one unit, which serialises them per invoice.
        """
        pending = uow.commitments.pending_total_for_update(tenant_id, request.invoice_id)
        invoice = uow.invoices.get(tenant_id, request.invoice_id)
        if invoice is None:
            raise invoice_not_found(request.invoice_id)
        if invoice.status not in INVESTABLE or invoice.escrow_address is None:
            raise Conflict(
                f"Invoice is '{invoice.status.value}'; only invoices with a linked escrow that "
                "is still open for funding can be funded.",
                code="INVOICE_NOT_INVESTABLE",
            )
        assert invoice.funding_target_stroops is not None
        available = max(invoice.funding_target_stroops - invoice.funded_stroops - pending, 0)
        if request.amount.value > available:
            raise Conflict(
                f"amountStroops exceeds the escrow's remaining capacity of {available} stroops "
                "(target, minus funded, minus pending commitments).",
                code="FUNDING_EXCEEDS_CAPACITY",
            )
        now = self._clock.now()
        commitment = Commitment(
            id=self._ids.new_id(COMMITMENT_ID_PREFIX),
            tenant_id=tenant_id,
            invoice_id=invoice.id,
            investor_address=request.investor.value,
            amount_stroops=request.amount.value,
            status=CommitmentStatus.PENDING,
            investor_effective_yield_bps=invoice.draft.yield_bps,
            claim_not_before=invoice.draft.due_date,
            submission_status=SubmissionStatus.STUBBED,
            actor_id=actor.id,
            created_at=now,
            updated_at=now,
        )
        uow.commitments.add(commitment)
        submission = self._chain_port().submit_funding(
            invoice.escrow_address, request.investor.value, request.amount, invoice.id
        )
        commitment = attrs.evolve(
            commitment, submission_status=submission.status, tx_hash=submission.tx_hash
        )
        uow.commitments.update(commitment)
        self._audit(uow, commitment, actor, "commitment.created")
        return commitment

    def check_can_fund(self, actor: Actor) -> None:
        """Forbidden unless ``actor`` is an investor with a bound wallet."""
        if actor.role is not Role.INVESTOR:
            raise Forbidden("Only investors may fund invoices.")
        if actor.wallet is None:
            raise Forbidden(
                "No Stellar wallet is bound to this account; bind one before funding.",
                code="WALLET_NOT_BOUND",
            )

    def update_commitment(
        self, tenant_id: str, actor: Actor, commitment_id: str, changes: Mapping[str, Any]
    ) -> Commitment:
        """Change a commitment's status or tx hash. ``amount_stroops`` never changes
        (AMOUNT_IMMUTABLE): a commitment's amount is what the investor agreed to."""
        if "amount_stroops" in changes or "amountStroops" in changes:
            raise CommitmentValidationError(
                "amount_stroops of a commitment cannot be changed.",
                code="AMOUNT_IMMUTABLE",
                field_errors=[
                    FieldError("amount_stroops", "cannot be changed", "AMOUNT_IMMUTABLE")
                ],
            )
        unknown = sorted(set(changes) - _UPDATABLE)
        if unknown:
            raise ValidationError.for_field(unknown[0], "cannot be changed", "UNKNOWN_FIELD")
        if actor.role not in _UPDATERS:
            raise Forbidden("Only operators and the escrow indexer may update commitments.")
        with self._uow(tenant_id) as uow:
            current = uow.commitments.get(tenant_id, commitment_id)
            if current is None:
                raise commitment_not_found(commitment_id)
            updated = attrs.evolve(current, updated_at=self._clock.now())
            if "status" in changes:
                updated = attrs.evolve(updated, status=_next_status(current, changes["status"]))
            if "tx_hash" in changes:
                updated = attrs.evolve(
                    updated,
                    tx_hash=_tx_hash(changes["tx_hash"]),
                    submission_status=SubmissionStatus.SUBMITTED,
                )
            uow.commitments.update(updated)
            self._audit(uow, updated, actor, "commitment.updated")
            uow.commit()
        self._changes.changed(_changed(updated))
        return updated

    # ---- reads ----------------------------------------------------------------------------
    def commitments(
        self, tenant_id: str, actor: Actor, query: CommitmentsQuery | None = None
    ) -> CommitmentPage:
        """The tenant's commitments one by one, newest first, each with its status (pending,
        confirmed or released: released ones are listed too, unlike in locks), filtered by
        ``query`` (invoice, statuses) and paged; ``total`` counts every match.

        Who sees what: an investor sees only its bound wallet's commitments (naming another
        ``investorAddress`` raises Forbidden WALLET_MISMATCH; no bound wallet, Forbidden
        WALLET_NOT_BOUND); operators (admin, API keys) see any investor's, or every
        investor's when none is named; other roles are Forbidden."""
        query = query or CommitmentsQuery()
        investor = self._funder_scope(actor, query.investor_address, "commitments")
        listing = CommitmentListing(
            tenant_id,
            investor_address=investor,
            invoice_id=query.invoice_id,
            statuses=query.status,
            limit=query.limit,
            offset=query.offset,
        )
        with self._read(tenant_id) as uow:
            return uow.commitments.list(listing)

    # ---- locks ----------------------------------------------------------------------------
    def locks(self, tenant_id: str, actor: Actor, query: LocksQuery | None = None) -> LockPage:
        """Investor locks of the tenant. Investors see only their bound wallet's; operators
        see any funder's, or every funder's when none is named."""
        query = query or LocksQuery()
        funder = self._funder_scope(actor, query.funder_address)
        commitments = CommitmentQuery(
            tenant_id, funder, query.invoice_id, query.limit, query.offset
        )
        with self._read(tenant_id) as uow:
            return uow.commitments.locks(commitments)

    def lock(
        self, tenant_id: str, actor: Actor, invoice_id: str, query: LockQuery | None = None
    ) -> InvestorLock:
        """One funder's lock on one invoice (the caller's own wallet by default)."""
        parse_invoice_id(invoice_id, "invoiceId")
        funder = self._funder_scope(actor, (query or LockQuery()).funder_address)
        if funder is None:
            raise ValidationError.for_field(
                "funderAddress", "is required for operators", "REQUIRED"
            )
        commitments = CommitmentQuery(tenant_id, funder, invoice_id, 1, 0)
        with self._read(tenant_id) as uow:
            page = uow.commitments.locks(commitments)
        if not page.items:
            raise NotFound(f"No lock of this funder on invoice '{invoice_id}' was found.")
        return page.items[0]

    # ---- helpers --------------------------------------------------------------------------
    def _funder_scope(
        self, actor: Actor, funder: AccountAddress | None, what: str = "locks"
    ) -> str | None:
        """Whose ``what`` (locks, commitments) ``actor`` reads: the named funder or anyone
        (None) for operators; an investor's own bound wallet (Forbidden WALLET_NOT_BOUND,
        WALLET_MISMATCH for another one); Forbidden for any other role."""
        funder_address = None if funder is None else funder.value
        if actor.role in _OPERATORS:
            return funder_address
        if actor.role is not Role.INVESTOR:
            raise Forbidden(f"Only investors and operators may read investor {what}.")
        if actor.wallet is None:
            raise Forbidden("No Stellar wallet is bound to this account.", code="WALLET_NOT_BOUND")
        if funder_address is not None and funder_address != actor.wallet:
            raise Forbidden(
                f"Investors may read only the {what} of their own bound wallet.",
                code="WALLET_MISMATCH",
            )
        return actor.wallet

    def _chain_port(self) -> EscrowChain:
        if self._chain is None:
            raise Unavailable(
                "No escrow chain is configured for funding.", code="ESCROW_CHAIN_UNAVAILABLE"
            )
        return self._chain

    def _audit(self, uow: UnitOfWork, commitment: Commitment, actor: Actor, action: str) -> None:
        uow.audit.append(
            commitment_audit_event(self._ids.new_id("aud_"), commitment, actor, action)
        )


def _changed(commitment: Commitment) -> CommitmentChanged:
    return CommitmentChanged(
        tenant_id=commitment.tenant_id,
        invoice_id=commitment.invoice_id,
        commitment_id=commitment.id,
        investor_address=commitment.investor_address,
    )


def _next_status(current: Commitment, raw: Any) -> CommitmentStatus:
    try:
        target = CommitmentStatus(raw)
    except ValueError:
        allowed = ", ".join(s.value for s in CommitmentStatus)
        raise ValidationError.for_field("status", f"must be one of {allowed}") from None
    if target is current.status:
        return target
    if target not in _NEXT_STATUS[current.status]:
        raise Conflict(
            f"A '{current.status.value}' commitment cannot become '{target.value}'.",
            code="INVALID_COMMITMENT_TRANSITION",
        )
    return target


def _tx_hash(raw: Any) -> str:
    if not isinstance(raw, str) or len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
        raise ValidationError.for_field("tx_hash", "must be 64 lower-case hex characters")
    return raw
