"""Funding intents: investor commitments against an invoice's escrow, listed one by one or
grouped as investor locks, and their funding transactions in the spec's signing modes
(``liquifact_core.submissions``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from liquifact_core.addresses import AccountAddress
from liquifact_core.chain import FundingChain
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
    SigningMode,
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
from liquifact_core.invoices import Actor, Invoice
from liquifact_core.kyc import KycRole
from liquifact_core.lifecycle import INVESTABLE, Role
from liquifact_core.ports import (
    ChangeListener,
    Clock,
    IdGenerator,
    UnitOfWork,
    UnitOfWorkFactory,
)
from liquifact_core.services.idempotency import IdempotencyService
from liquifact_core.services.kyc import KycGate
from liquifact_core.submissions import (
    SUBMISSION_ERRORS,
    PreparedFunding,
    SignedSubmission,
    Step,
    TransactionState,
    expiry_check_at,
    failure_code,
    finished,
    is_expired,
    next_step,
    submission_job,
)

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


@attrs.frozen
class _Prepared:
    """A funding transaction prepared for one request, outside any transaction: for which
    escrow contract, and the envelope to store (signed already in custodial mode)."""

    contract: str
    funding: PreparedFunding
    envelope: str = attrs.field(repr=False)
    signed: bool


@attrs.define
class _Preparation:
    """What the idempotency ``before`` hook prepared for one request: ``None`` until the hook
    runs (it does not run when a stored outcome is replayed), and in stubbed mode."""

    prepared: _Prepared | None = None

    def hold(self, prepared: _Prepared | None) -> None:
        self.prepared = prepared


class FundingService:
    """Funding intents and their transactions. ``mode`` is ESCROW_SIGNING_MODE; ``chain``
    builds, checks and signs funding transactions (required by the delegated and custodial
    modes: without it funding answers 503 ESCROW_CHAIN_UNAVAILABLE). ``kyc`` is the gate an
    investor passes before funding (default: the mock's, verifying subjects without a record)."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        chain: FundingChain | None,
        idempotency: IdempotencyService,
        changes: ChangeListener,
        read_unit: UnitOfWorkFactory | None = None,
        mode: SigningMode = SigningMode.STUBBED,
        kyc: KycGate | None = None,
    ) -> None:
        self._uow = unit_of_work
        self._kyc = kyc or KycGate()
        self._read = read_unit or unit_of_work
        self._clock = clock
        self._ids = ids
        self._chain = chain
        self._idempotency = idempotency
        self._changes = changes
        self.mode = mode

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
        caller's bound wallet; then the investor's KYC: Forbidden INVESTOR_KYC_NOT_VERIFIED
        unless verified or exempted), so a replay is never served to a caller who could not
        make the request now, and nothing is prepared or recorded for an unverified investor.
        ``context`` is kept with the outcome for the caller's replays (``FundingOutcome``).

        Signing modes: ``stubbed`` records the intent only. ``delegated`` and ``custodial``
        first prepare the escrow's ``fund`` transaction on the chain, after the key is claimed
        and outside any database transaction (the escrow's own refusals come back as their
        domain errors: legal hold 423, not open 409, caps 422; the chain down: 503
        retryable); the commitment then keeps it: unsigned with ``requires_signature``
        (delegated: the investor's wallet signs it, see ``submit_signed``), or signed by the
        platform with ``submitted`` and an ``escrow_submission`` job in the same transaction
        (custodial; Forbidden WALLET_NOT_CUSTODIED for a wallet whose key the platform does
        not hold).
        """
        key = parse_idempotency_key(idempotency_key)
        self.check_can_fund(actor)
        if request.investor.value != actor.wallet:
            raise Forbidden(
                "investorAddress must be the wallet bound to this account.",
                code="WALLET_MISMATCH",
            )
        self.check_kyc(tenant_id, actor)
        if self.mode is SigningMode.CUSTODIAL and not self._chain_port().custodies(
            request.investor.value
        ):
            raise Forbidden(
                "The platform holds no signing key for this wallet; custodial funding is "
                "only for the accounts it custodies.",
                code="WALLET_NOT_CUSTODIED",
            )
        preparation = _Preparation()
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
            lambda uow: self._record_intent(uow, tenant_id, actor, request, preparation.prepared),
            context,
            before=lambda: preparation.hold(self._prepare(tenant_id, request)),
        )
        commitment = outcome.result
        assert isinstance(commitment, Commitment)  # the fingerprint binds the key to funding
        if not outcome.replayed:
            self._changes.changed(_changed(commitment))
        return FundingOutcome(commitment, outcome.replayed, outcome.context)

    def _prepare(self, tenant_id: str, request: FundingRequest) -> _Prepared | None:
        """The funding transaction of ``request`` (none in stubbed mode): the invoice's escrow
        read in a read unit, then the chain asked with no unit open. Custodial mode signs it
        here (local, no network)."""
        if self.mode is SigningMode.STUBBED:
            return None
        chain = self._chain_port()
        with self._read(tenant_id) as uow:
            invoice = uow.invoices.get(tenant_id, request.invoice_id)
        if invoice is None:
            raise invoice_not_found(request.invoice_id)
        contract = _investable_escrow(invoice)
        investor = request.investor.value
        funding = chain.prepare_funding(contract, investor, request.amount.value)
        if self.mode is SigningMode.CUSTODIAL:
            return _Prepared(contract, funding, chain.sign_custodial(funding, investor), True)
        return _Prepared(contract, funding, funding.envelope, False)

    def _record_intent(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        actor: Actor,
        request: FundingRequest,
        prepared: _Prepared | None,
    ) -> Commitment:
        """Check and record a funding intent inside ``uow`` (the caller commits).

        Only on investable invoices (the caller's wallet was checked before), and never beyond
        the escrow's capacity: target - funded - pending commitments. The capacity read and
        the insert happen in this one unit, which serialises them per invoice. ``prepared``:
        the funding transaction (delegated, custodial), which must be for the invoice's
        escrow as it is now (Conflict ESCROW_CHANGED, retryable, if it was relinked since),
        and not the very transaction another pending commitment holds (Conflict
        FUNDING_TRANSACTION_DUPLICATE, retryable: two requests prepared in the same second).
        """
        pending = uow.commitments.pending_total_for_update(tenant_id, request.invoice_id)
        invoice = uow.invoices.get(tenant_id, request.invoice_id)
        if invoice is None:
            raise invoice_not_found(request.invoice_id)
        contract = _investable_escrow(invoice)
        if prepared is not None and prepared.contract != contract:
            raise Conflict(
                "The invoice's escrow changed while the funding was prepared; retry.",
                code="ESCROW_CHANGED",
                retryable=True,
            )
        assert invoice.funding_target_stroops is not None
        available = max(invoice.funding_target_stroops - invoice.funded_stroops - pending, 0)
        if request.amount.value > available:
            raise Conflict(
                f"amountStroops exceeds the escrow's remaining capacity of {available} stroops "
                "(target, minus funded, minus pending commitments).",
                code="FUNDING_EXCEEDS_CAPACITY",
            )
        if prepared is not None and _holds_transaction(
            uow, tenant_id, request, prepared.funding.tx_hash
        ):
            # The same source, sequence number, call and time bound (prepared in the same
            # second): one landing would confirm both submissions for one deposit.
            raise Conflict(
                "An identical funding transaction was prepared for another pending commitment "
                "a moment ago; retry in a second.",
                code="FUNDING_TRANSACTION_DUPLICATE",
                retryable=True,
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
        if prepared is not None:
            commitment = attrs.evolve(
                commitment,
                submission_status=(
                    SubmissionStatus.SUBMITTED
                    if prepared.signed
                    else SubmissionStatus.REQUIRES_SIGNATURE
                ),
                tx_hash=prepared.funding.tx_hash,
                transaction_xdr=prepared.envelope,
                transaction_expires_at=prepared.funding.expires_at,
            )
        uow.commitments.add(commitment)
        if prepared is not None:
            # Signed: send it now. Unsigned: look again once it expired, to release the
            # capacity it holds if the investor never signs.
            due = None if prepared.signed else expiry_check_at(commitment)
            uow.jobs.enqueue(
                submission_job(self._ids.new_id("job_"), commitment, now, run_after=due)
            )
        self._audit(uow, commitment, actor, "commitment.created")
        return commitment

    # ---- delegated signing -----------------------------------------------------------------
    def submit_signed(
        self, tenant_id: str, actor: Actor, commitment_id: str, signed: SignedSubmission
    ) -> Commitment:
        """Take the investor's wallet-signed funding transaction of a ``requires_signature``
        commitment and queue its submission (``submitted`` plus an ``escrow_submission`` job,
        in one transaction; the job sends it, never this request).

        Only the investor whose wallet the commitment names may submit (any other caller's
        view: NotFound; not an investor: Forbidden; an investor whose KYC is not verified or
        exempted: Forbidden INVESTOR_KYC_NOT_VERIFIED). The envelope must be the prepared
        transaction itself signed by that wallet's key (``FundingChain.check_signed``:
        422 SIGNED_TRANSACTION_UNREADABLE / SIGNED_TRANSACTION_MISMATCH / SIGNATURE_INVALID).
        Submitting again the same transaction once it was taken answers the commitment as it
        is (idempotent); a commitment not awaiting a signature, or released (its invoice was
        cancelled, say: its transaction must never be sent), is Conflict
        COMMITMENT_NOT_AWAITING_SIGNATURE. Past its time bound the chain is asked first (the
        wallet may have sent it itself): applied, the commitment is recorded as the chain has
        it and answered; never seen, it is failed and released, then Conflict
        TRANSACTION_EXPIRED.
        """
        self.check_can_fund(actor)
        self.check_kyc(tenant_id, actor)
        with self._read(tenant_id) as uow:
            current = uow.commitments.get(tenant_id, commitment_id)
        if current is None or current.investor_address != actor.wallet:
            raise commitment_not_found(commitment_id)
        if current.transaction_xdr is None or current.submission_status is SubmissionStatus.STUBBED:
            raise _not_awaiting(current)
        # Local crypto only: the signature and the transaction are checked before any write.
        chain = self._chain_port()
        envelope = chain.check_signed(
            current.transaction_xdr, signed.signed_transaction_xdr, current.investor_address
        )
        now = self._clock.now()
        expired = is_expired(current, now)
        # Past its time bound: whether it landed is the chain's to say (no unit open).
        status = None
        if expired and current.submission_status is SubmissionStatus.REQUIRES_SIGNATURE:
            assert current.tx_hash is not None
            status = chain.transaction_status(current.tx_hash)
        with self._uow(tenant_id) as uow:
            uow.commitments.pending_total_for_update(tenant_id, current.invoice_id)
            latest = uow.commitments.get(tenant_id, commitment_id)
            assert latest is not None  # commitments are never deleted
            if latest.submission_status is not SubmissionStatus.REQUIRES_SIGNATURE:
                if latest.submission_status in _TAKEN:
                    return latest  # the same transaction (same hash) was taken already
                raise _not_awaiting(latest)
            if latest.status is CommitmentStatus.RELEASED:
                raise _not_awaiting(latest)
            if status is not None:
                step = next_step(latest, status, now)  # CONFIRM or FAIL: it expired
                done = finished(latest, step, now, failure_code(status))
                if step is Step.CONFIRM:
                    done = attrs.evolve(done, transaction_xdr=envelope)
                uow.commitments.update(done)
                action = (
                    "commitment.submission_confirmed"
                    if step is Step.CONFIRM
                    else "commitment.submission_failed"
                )
                self._audit(uow, done, actor, action)
                uow.commit()
                self._changes.changed(_changed(done))
                if status.state is TransactionState.NOT_FOUND:
                    raise Conflict(
                        SUBMISSION_ERRORS["TRANSACTION_EXPIRED"]
                        + " The commitment was released; fund again to get a new transaction.",
                        code="TRANSACTION_EXPIRED",
                    )
                return done
            updated = attrs.evolve(
                latest,
                submission_status=SubmissionStatus.SUBMITTED,
                transaction_xdr=envelope,
                updated_at=now,
            )
            uow.commitments.update(updated)
            uow.jobs.enqueue(submission_job(self._ids.new_id("job_"), updated, now))
            self._audit(uow, updated, actor, "commitment.signed")
            uow.commit()
        self._changes.changed(_changed(updated))
        return updated

    def check_can_fund(self, actor: Actor) -> None:
        """Forbidden unless ``actor`` is an investor with a bound wallet."""
        if actor.role is not Role.INVESTOR:
            raise Forbidden("Only investors may fund invoices.")
        if actor.wallet is None:
            raise Forbidden(
                "No Stellar wallet is bound to this account; bind one before funding.",
                code="WALLET_NOT_BOUND",
            )

    def check_kyc(self, tenant_id: str, actor: Actor) -> None:
        """Forbidden INVESTOR_KYC_NOT_VERIFIED unless the investor ``actor`` is verified or
        exempted (``KycGate``); read in a read unit of its own, before anything else."""
        with self._read(tenant_id) as uow:
            self._kyc.require(uow, tenant_id, actor.id, KycRole.INVESTOR)

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
            # Lock the invoice's commitments (as every commitment writer does), then read
            # again: a concurrent writer's change is never overwritten.
            uow.commitments.pending_total_for_update(tenant_id, current.invoice_id)
            current = uow.commitments.get(tenant_id, commitment_id)
            assert current is not None  # commitments are never deleted
            updated = attrs.evolve(current, updated_at=self._clock.now())
            if "status" in changes:
                updated = attrs.evolve(updated, status=_next_status(current, changes["status"]))
            if "tx_hash" in changes:
                if current.transaction_xdr is not None:
                    # Its transaction is the submission job's: a hash set by hand would part
                    # it from the envelope the job sends and follows.
                    raise Conflict(
                        "This commitment's funding transaction is managed by the submission "
                        "job; its tx_hash cannot be set.",
                        code="TRANSACTION_MANAGED",
                    )
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

    def _chain_port(self) -> FundingChain:
        if self._chain is None:
            raise Unavailable(
                "No escrow chain is configured for funding.", code="ESCROW_CHAIN_UNAVAILABLE"
            )
        return self._chain

    def _audit(self, uow: UnitOfWork, commitment: Commitment, actor: Actor, action: str) -> None:
        uow.audit.append(
            commitment_audit_event(self._ids.new_id("aud_"), commitment, actor, action)
        )


_TAKEN = frozenset({SubmissionStatus.SUBMITTED, SubmissionStatus.CONFIRMED})


def _holds_transaction(
    uow: UnitOfWork, tenant_id: str, request: FundingRequest, tx_hash: str
) -> bool:
    """Whether a pending commitment of this investor on this invoice holds ``tx_hash``."""
    page_size, offset = 100, 0
    while True:
        page = uow.commitments.list(
            CommitmentListing(
                tenant_id,
                investor_address=request.investor.value,
                invoice_id=request.invoice_id,
                statuses=frozenset({CommitmentStatus.PENDING}),
                limit=page_size,
                offset=offset,
            )
        )
        if any(commitment.tx_hash == tx_hash for commitment in page.items):
            return True
        if len(page.items) < page_size:
            return False
        offset += page_size


def _investable_escrow(invoice: Invoice) -> str:
    """The escrow contract of an investable invoice; Conflict INVOICE_NOT_INVESTABLE else."""
    if invoice.status not in INVESTABLE or invoice.escrow_address is None:
        raise Conflict(
            f"Invoice is '{invoice.status.value}'; only invoices with a linked escrow that "
            "is still open for funding can be funded.",
            code="INVOICE_NOT_INVESTABLE",
        )
    return invoice.escrow_address


def _not_awaiting(commitment: Commitment) -> Conflict:
    return Conflict(
        f"This commitment's submission is '{commitment.submission_status.value}'; only a "
        "commitment whose transaction requires a signature takes one.",
        code="COMMITMENT_NOT_AWAITING_SIGNATURE",
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
