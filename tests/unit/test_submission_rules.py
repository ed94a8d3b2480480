"""The funding transaction rules (liquifact_core.submissions), property-tested: what the
submission job does for every submission status, chain answer and moment, and what a final
step leaves behind."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.commitments import Commitment, CommitmentStatus, SubmissionStatus
from liquifact_core.errors import ValidationError
from liquifact_core.submissions import (
    ESCROW_SUBMISSION,
    EXPIRY_GRACE,
    FUNDING_TIMEOUT_SECONDS,
    SUBMISSION_ATTEMPTS,
    SignedSubmission,
    Step,
    SubmissionBackoff,
    TransactionState,
    TransactionStatus,
    asks_chain,
    expiry_check_at,
    failure_code,
    finished,
    is_expired,
    next_step,
    submission_job,
)
from liquifact_http.wire import structure

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
EXPIRES = T0 + timedelta(seconds=180)


def commitment(
    submission: SubmissionStatus,
    status: CommitmentStatus = CommitmentStatus.PENDING,
    expires_at: datetime | None = EXPIRES,
) -> Commitment:
    return Commitment(
        id="cmt_1",
        tenant_id="t1",
        invoice_id="inv_1",
        investor_address="G" + "A" * 55,
        amount_stroops=10,
        status=status,
        investor_effective_yield_bps=800,
        claim_not_before=date(2027, 1, 1),
        submission_status=submission,
        actor_id="i1",
        created_at=T0,
        updated_at=T0,
        tx_hash="ab" * 32,
        transaction_xdr="AAAA",
        transaction_expires_at=expires_at,
    )


moments = st.integers(-600, 3600).map(lambda s: EXPIRES + timedelta(seconds=s))
answers = st.one_of(
    st.none(),
    st.sampled_from(TransactionState).map(TransactionStatus),
)


@given(st.sampled_from(SubmissionStatus), st.sampled_from(CommitmentStatus), answers, moments)
def test_the_job_acts_only_on_what_can_still_change(
    submission: SubmissionStatus,
    status: CommitmentStatus,
    answer: TransactionStatus | None,
    now: datetime,
) -> None:
    subject = commitment(submission, status)
    step = next_step(subject, answer, now)
    expired = now > EXPIRES + EXPIRY_GRACE
    followed = submission in (SubmissionStatus.SUBMITTED, SubmissionStatus.REQUIRES_SIGNATURE)
    # The chain is asked about a submitted transaction, and about an unsigned one only once
    # it expired (the wallet may have sent it itself).
    assert asks_chain(subject, now) is (
        submission is SubmissionStatus.SUBMITTED
        or (submission is SubmissionStatus.REQUIRES_SIGNATURE and expired)
    )
    if not followed or answer is None:
        assert step is Step.DONE  # final, stubbed, or not asked: nothing to do
    elif submission is SubmissionStatus.REQUIRES_SIGNATURE and not expired:
        assert step is Step.DONE  # the wallet may still sign it
    elif answer.state is TransactionState.SUCCESS:
        assert step is Step.CONFIRM  # whatever the time: it landed
    elif answer.state is TransactionState.FAILED:
        assert step is Step.FAIL
    elif expired:
        assert step is Step.FAIL  # never seen, and it can never land now
    elif submission is SubmissionStatus.SUBMITTED and status is CommitmentStatus.PENDING:
        assert step is Step.SEND  # not seen: send the same envelope while it can still land
    else:
        assert step is Step.WAIT  # a released commitment's transaction is never sent


@given(st.sampled_from(TransactionState), st.sampled_from([None, "ESCROW_LEGAL_HOLD"]))
def test_a_failure_is_recorded_with_what_the_chain_said(
    state: TransactionState, error: str | None
) -> None:
    code = failure_code(TransactionStatus(state, error))
    if state is TransactionState.NOT_FOUND:
        assert code == "TRANSACTION_EXPIRED"
    else:
        assert code == (error or "TRANSACTION_FAILED")


def test_the_jobs_attempts_outlast_the_transaction() -> None:
    backoff = SubmissionBackoff()
    waits = [backoff.delay(attempt) for attempt in range(1, SUBMISSION_ATTEMPTS)]
    assert all(a <= b for a, b in itertools.pairwise(waits))
    # The last two attempts run after the time bound and its grace, counted from preparation.
    lifetime = timedelta(seconds=FUNDING_TIMEOUT_SECONDS) + EXPIRY_GRACE
    assert sum(waits[:-1], timedelta()) > lifetime
    assert backoff.delay(10_000) == backoff.cap  # no overflow for an admin's replays


@given(moments)
def test_a_landed_transaction_is_never_failed_for_its_age(now: datetime) -> None:
    landed = TransactionStatus(TransactionState.SUCCESS, ledger=7)
    assert next_step(commitment(SubmissionStatus.SUBMITTED), landed, now) is Step.CONFIRM


@given(st.integers(-10_000, 10_000))
def test_expiry_waits_for_the_grace_after_the_time_bound(seconds: int) -> None:
    now = EXPIRES + timedelta(seconds=seconds)
    assert is_expired(commitment(SubmissionStatus.SUBMITTED), now) is (
        seconds > EXPIRY_GRACE.total_seconds()
    )
    assert not is_expired(commitment(SubmissionStatus.SUBMITTED, expires_at=None), now)


@given(st.sampled_from(CommitmentStatus), st.sampled_from([None, "ESCROW_LEGAL_HOLD"]))
def test_a_failure_releases_only_a_pending_commitment(
    status: CommitmentStatus, error: str | None
) -> None:
    failed = finished(commitment(SubmissionStatus.SUBMITTED, status), Step.FAIL, T0, error)
    assert failed.submission_status is SubmissionStatus.FAILED
    assert failed.submission_error == (error or "TRANSACTION_FAILED")
    expected = CommitmentStatus.RELEASED if status is CommitmentStatus.PENDING else status
    assert failed.status is expected
    assert failed.amount_stroops == 10 and failed.tx_hash == "ab" * 32  # terms kept


@given(st.sampled_from(CommitmentStatus))
def test_a_confirmation_leaves_the_commitment_to_the_indexer(status: CommitmentStatus) -> None:
    done = finished(commitment(SubmissionStatus.SUBMITTED, status), Step.CONFIRM, T0, None)
    assert done.submission_status is SubmissionStatus.CONFIRMED
    assert done.status is status  # the chain's funded event confirms it, not the job


@pytest.mark.parametrize("step", [Step.DONE, Step.SEND, Step.WAIT])
def test_only_final_steps_finish(step: Step) -> None:
    with pytest.raises(ValueError, match="not a final step"):
        finished(commitment(SubmissionStatus.SUBMITTED), step, T0, None)


def test_the_job_and_its_expiry_check() -> None:
    unsigned = commitment(SubmissionStatus.REQUIRES_SIGNATURE)
    check = expiry_check_at(unsigned)
    assert check is not None and is_expired(unsigned, check)
    job = submission_job("job_1", unsigned, T0, run_after=check)
    assert (job.type, job.payload, job.run_after) == (
        ESCROW_SUBMISSION,
        {"commitmentId": "cmt_1"},
        check,
    )
    assert job.max_attempts == SUBMISSION_ATTEMPTS
    assert expiry_check_at(commitment(SubmissionStatus.STUBBED, expires_at=None)) is None


@pytest.mark.parametrize("raw", ["", "not base64!", "A" * 10_001, 7, None, "AA==="])
def test_a_signed_envelope_must_be_base64_of_bounded_size(raw: object) -> None:
    with pytest.raises(ValidationError):
        structure({"signedTransactionXdr": raw}, SignedSubmission)
