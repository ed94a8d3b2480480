"""Funding transactions through their life (issue 12, item 3; the spec's signing modes).

A commitment made in the ``delegated`` or ``custodial`` signing mode stands for one funding
transaction: the escrow's ``fund(investor, amount)`` with the investor's account as source, so
the one transaction signature authorises the contract call and its nested token transfer
(spec/escrow-contract.md §4.1 and §9.5). The transaction is prepared once (simulated, its
footprint and fees assembled, valid for ``FUNDING_TIMEOUT_SECONDS``) and never rebuilt: every
send is the same signed envelope, so the same transaction hash, which the network applies at
most once (its sequence number is used up by the first). Resending after a timeout therefore
cannot fund twice.

``submission_status``::

    requires_signature --(investor's signed envelope)--> submitted
    submitted --(SUCCESS on chain)--> confirmed
    submitted --(FAILED on chain, refused at submission, or expired unsent)--> failed
    requires_signature --(expired unsigned)--> failed

A failed submission releases the commitment (it no longer holds escrow capacity). A confirmed
one stays ``pending`` until the escrow indexer sees its ``funded`` event and confirms it (the
invoice's funded amount moves only with the chain's events, so capacity is never counted
twice).

Nothing is failed without asking the chain first: an unsigned transaction may have been signed
and sent by the wallet itself, and a resend refused for its used sequence number may be the
first send having landed where the RPC has not looked yet. Only a released commitment's
transaction is never sent (its invoice is cancelled, say): it is followed until it expires.

``next_step`` is the rule the ``escrow_submission`` job follows after asking the chain;
``SubmissionBackoff`` spreads the job's attempts past the transaction's time bound.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from liquifact_core.commitments import Commitment, CommitmentStatus, SubmissionStatus
from liquifact_core.errors import FieldError, ValidationError
from liquifact_core.jobs import MAX_ATTEMPTS_LIMIT, Job, new_job
from liquifact_core.rules import Checked, Pattern, rule_field

ESCROW_SUBMISSION = "escrow_submission"
# The spec's transaction timeout for prepared funding transactions (escrow contract §9.4).
FUNDING_TIMEOUT_SECONDS = 180
# After its time bound, a transaction not yet seen may still be in a ledger being closed:
# wait this long before calling it expired.
EXPIRY_GRACE = timedelta(seconds=30)
SUBMISSION_ATTEMPTS = MAX_ATTEMPTS_LIMIT
# Refusals at submission that do not prove the transaction never landed: its sequence number is
# used (maybe by itself) or its time bound passed (maybe after it landed). None: unreadable.
UNPROVEN_REFUSALS = frozenset({"txBAD_SEQ", "txTOO_LATE", None})
# A signed envelope: base64 XDR. Its size bound keeps a request body and a stored row small
# (a funding envelope with its footprint and auth is about 1-2 KiB; every JSON string the API
# takes is at most 10,000 characters).
MAX_ENVELOPE_CHARS = 10_000
ENVELOPE_PATTERN = r"^[A-Za-z0-9+/]+={0,2}$"

SUBMISSION_ERRORS = {
    "TRANSACTION_EXPIRED": "The funding transaction expired before it reached the network.",
    "TRANSACTION_REFUSED": "The network refused the funding transaction.",
    "TRANSACTION_FAILED": "The funding transaction failed on the network.",
}


class TransactionState(enum.StrEnum):
    """What the chain says of a transaction hash (Soroban ``getTransaction``)."""

    SUCCESS = "success"
    FAILED = "failed"
    NOT_FOUND = "not_found"


@attrs.frozen
class TransactionStatus:
    """``state`` of one transaction; ``error_code`` (a stable domain code, e.g. an escrow
    contract error's code) when it failed; ``ledger`` it was applied in, when known."""

    state: TransactionState
    error_code: str | None = None
    ledger: int | None = None


class SendState(enum.StrEnum):
    """How the network took a ``sendTransaction`` (Soroban RPC statuses): ``pending``
    (accepted), ``duplicate`` (already pending), ``try_again_later`` (queue full), or
    ``refused`` (invalid now: bad sequence, too late, bad auth, fees)."""

    PENDING = "pending"
    DUPLICATE = "duplicate"
    TRY_AGAIN_LATER = "try_again_later"
    REFUSED = "refused"


@attrs.frozen
class SendResult:
    """``state`` of one send; ``reason`` the network's result code name when refused
    (``txBAD_SEQ``, ``txTOO_LATE``...), for logs and the stored error."""

    state: SendState
    reason: str | None = None


@attrs.frozen
class PreparedFunding:
    """A funding transaction ready to sign: ``envelope`` (base64 XDR, unsigned),
    ``tx_hash`` (64 hex; the network-bound hash every signature signs) and ``expires_at``
    (its upper time bound, UTC)."""

    envelope: str = attrs.field(repr=False)
    tx_hash: str
    expires_at: datetime


class Step(enum.Enum):
    """What the submission job does next (``next_step``)."""

    DONE = "done"  # nothing to do: not submitted, or already final
    CONFIRM = "confirm"  # the chain applied it: submission confirmed
    FAIL = "fail"  # it failed or can never land: submission failed, commitment released
    SEND = "send"  # not seen yet and still valid: send the same envelope (again)
    WAIT = "wait"  # not seen yet, not to be sent (released): ask again once it expired


def is_expired(commitment: Commitment, now: datetime) -> bool:
    """True once the transaction's time bound plus ``EXPIRY_GRACE`` has passed: the network
    refuses it from then on, so it can never land."""
    expires_at = commitment.transaction_expires_at
    return expires_at is not None and now > expires_at + EXPIRY_GRACE


# The submission states whose transaction the job follows on the chain.
_FOLLOWED = frozenset({SubmissionStatus.REQUIRES_SIGNATURE, SubmissionStatus.SUBMITTED})


def asks_chain(commitment: Commitment, now: datetime) -> bool:
    """Whether the submission job must ask the chain about ``commitment``'s transaction: it
    is ``submitted``, or unsigned here and past its time bound (the wallet may have sent it
    itself: it is released only if the chain never saw it)."""
    if commitment.submission_status is SubmissionStatus.SUBMITTED:
        return True
    return commitment.submission_status is SubmissionStatus.REQUIRES_SIGNATURE and is_expired(
        commitment, now
    )


def next_step(commitment: Commitment, status: TransactionStatus | None, now: datetime) -> Step:
    """The submission job's decision for ``commitment`` given the chain's ``status`` of its
    transaction (None when the chain was not asked: see ``asks_chain``; nothing is decided
    then).

    - not ``submitted`` nor ``requires_signature``, not asked, or unsigned and still valid
      (the wallet may sign it yet): DONE;
    - SUCCESS: CONFIRM; FAILED: FAIL;
    - NOT_FOUND: FAIL when expired (it can never land); else SEND when ``submitted`` and the
      commitment still pending, or WAIT (a released commitment's transaction is never sent).
    """
    submission = commitment.submission_status
    expired = is_expired(commitment, now)
    if submission is SubmissionStatus.REQUIRES_SIGNATURE and not expired:
        return Step.DONE
    if status is None or submission not in _FOLLOWED:
        return Step.DONE
    if status.state is TransactionState.SUCCESS:
        return Step.CONFIRM
    if status.state is TransactionState.FAILED:
        return Step.FAIL
    if expired:
        return Step.FAIL
    if submission is SubmissionStatus.SUBMITTED and commitment.status is CommitmentStatus.PENDING:
        return Step.SEND
    return Step.WAIT


def failure_code(status: TransactionStatus) -> str:
    """The stable code a failed submission records for the chain's ``status``: the
    contract's error (or TRANSACTION_FAILED) when it failed on chain, TRANSACTION_EXPIRED when
    it was never seen."""
    if status.state is TransactionState.NOT_FOUND:
        return "TRANSACTION_EXPIRED"
    return status.error_code or "TRANSACTION_FAILED"


def finished(commitment: Commitment, step: Step, now: datetime, error: str | None) -> Commitment:
    """``commitment`` after a final ``step``: CONFIRM sets submission ``confirmed``; FAIL
    sets ``failed`` with ``error`` (a stable code) and releases a pending commitment.
    ValueError for any other step."""
    if step is Step.CONFIRM:
        return attrs.evolve(
            commitment, submission_status=SubmissionStatus.CONFIRMED, updated_at=now
        )
    if step is Step.FAIL:
        released = commitment.status is CommitmentStatus.PENDING
        return attrs.evolve(
            commitment,
            submission_status=SubmissionStatus.FAILED,
            submission_error=error or "TRANSACTION_FAILED",
            status=CommitmentStatus.RELEASED if released else commitment.status,
            updated_at=now,
        )
    raise ValueError(f"{step} is not a final step")


def submission_job(
    job_id: str, commitment: Commitment, now: datetime, run_after: datetime | None = None
) -> Job:
    """The ``escrow_submission`` job of ``commitment`` (payload: its id), due at
    ``run_after`` (default now), with ``SUBMISSION_ATTEMPTS`` attempts."""
    return new_job(
        job_id=job_id,
        tenant_id=commitment.tenant_id,
        job_type=ESCROW_SUBMISSION,
        payload={"commitmentId": commitment.id},
        now=now,
        run_after=run_after,
        max_attempts=SUBMISSION_ATTEMPTS,
    )


@attrs.frozen
class SubmissionBackoff:
    """The ``escrow_submission`` job's own retry schedule (``liquifact_core.jobs.Backoff``):
    ``base`` doubling per failed attempt up to ``cap``. Its ``SUBMISSION_ATTEMPTS`` attempts
    span more than a transaction's validity (``FUNDING_TIMEOUT_SECONDS`` plus
    ``EXPIRY_GRACE``), so an RPC outage shorter than that never kills the job before the
    transaction's fate is known (the worker's default schedule spends them in about a
    minute)."""

    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(seconds=60)

    def delay(self, attempt: int) -> timedelta:
        """The wait after ``attempt`` (>= 1) failed attempts."""
        return min(self.base * (1 << min(max(attempt, 1) - 1, 16)), self.cap)


def expiry_check_at(commitment: Commitment) -> datetime | None:
    """When the submission job should look at an unsigned delegated commitment to release it
    if it was never signed: just after its time bound and grace."""
    expires_at = commitment.transaction_expires_at
    return None if expires_at is None else expires_at + EXPIRY_GRACE + timedelta(seconds=1)


@attrs.frozen
class SignedSubmission(Checked):
    """The body of ``POST /v1/invest/commitments/{id}/submit``: ``signedTransactionXdr``, the
    prepared transaction's envelope (base64 XDR) as the investor's wallet signed it."""

    signed_transaction_xdr: str = rule_field(
        Pattern(ENVELOPE_PATTERN, "must be a base64 transaction envelope", MAX_ENVELOPE_CHARS),
        wire="signedTransactionXdr",
    )

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return ValidationError("The signed transaction is invalid.", field_errors=errors)
