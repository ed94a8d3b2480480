"""The ``escrow_submission`` job: send a commitment's signed funding transaction and follow it
to its final status (``liquifact_core.submissions`` has the rules).

One run, for one commitment:

1. Read the commitment (a read unit). Nothing to ask the chain (``asks_chain``): nothing to
   do. An unsigned transaction past its time bound is asked about too: the wallet may have
   sent it itself, and only one the chain never saw is released.
2. Ask the chain for the transaction's status by its hash, with no unit open. Applied
   (SUCCESS or FAILED): record it. Not found and still valid: send the same signed envelope
   (a resend of a transaction the network already applied is refused, never applied twice),
   then ask again; still not final: fail the attempt (retryable), so the job runs again later.
   A refusal that does not prove the transaction never landed (``UNPROVEN_REFUSALS``) waits
   for its time bound instead of failing it; a released commitment's transaction is never
   sent, only followed until it expires.
3. Record a final status in a short unit that first locks the invoice's commitments
   (``pending_total_for_update``), so it never overwrites the indexer's confirmation.

A network failure fails the attempt (retryable, with ``SubmissionBackoff``); the job's
attempts (``SUBMISSION_ATTEMPTS``) outlast the transaction's validity, and an expired one is
failed for good by the next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from liquifact_core.chain import FundingChain
from liquifact_core.changes import CommitmentChanged
from liquifact_core.commitments import Commitment, SubmissionStatus, commitment_audit_event
from liquifact_core.errors import LiquifactError
from liquifact_core.invoices import Actor
from liquifact_core.jobs import Job, JobFailed, JobFailure
from liquifact_core.lifecycle import Role
from liquifact_core.ports import ChangeListener, Clock, IdGenerator, UnitOfWorkFactory
from liquifact_core.submissions import (
    UNPROVEN_REFUSALS,
    SendState,
    Step,
    SubmissionBackoff,
    TransactionState,
    TransactionStatus,
    asks_chain,
    failure_code,
    finished,
    next_step,
)

log = logging.getLogger("liquifact.submissions")

# Who the audit trail names for what the submission job records.
SUBMITTER = Actor(id="escrow-submitter", role=Role.SERVICE)


class FundingSubmissions:
    """Runs ``escrow_submission`` jobs (``handle``, or the object itself as the worker's
    ``JobHandler``, retried on its ``backoff``) against ``chain``.

    ``poll``: how many times to ask for the status after a send before the attempt is
    failed for a later retry; ``pause``: called with a number of seconds between those asks
    (default ``time.sleep``: 0.5, 1, 1.5, 2 s, about one ledger in all, well inside the
    job's lease).
    """

    def __init__(
        self,
        units: UnitOfWorkFactory,
        read_units: UnitOfWorkFactory,
        chain: FundingChain,
        clock: Clock,
        ids: IdGenerator,
        changes: ChangeListener,
        *,
        poll: int = 5,
        pause: Callable[[float], None] | None = None,
    ) -> None:
        self._units = units
        self._read = read_units
        self._chain = chain
        self._clock = clock
        self._ids = ids
        self._changes = changes
        self._poll = poll
        self._pause = pause or time.sleep
        self.backoff = SubmissionBackoff()

    def __call__(self, job: Job, /) -> None:
        self.handle(job)

    def handle(self, job: Job) -> None:
        """The job handler: ``job.payload["commitmentId"]`` in ``job.tenant_id``."""
        commitment_id = job.payload.get("commitmentId")
        if not isinstance(commitment_id, str):
            raise JobFailed(JobFailure("the payload names no commitment", retryable=False))
        self.run(job.tenant_id, commitment_id, last_attempt=job.attempts >= job.max_attempts)

    def run(
        self, tenant_id: str, commitment_id: str, *, last_attempt: bool = False
    ) -> Commitment | None:
        """One run (see the module docstring); the commitment as it ends (None if unknown).
        Raises JobFailed (retryable) when the transaction is not final yet, and the chain's
        Unavailable when it could not be asked; on the ``last_attempt`` an expired unsigned
        transaction is then released all the same (else it would hold the escrow's capacity
        for good: the wallet sending it itself is the rarer case)."""
        with self._read(tenant_id) as uow:
            commitment = uow.commitments.get(tenant_id, commitment_id)
        if commitment is None:
            raise JobFailed(JobFailure("no such commitment", retryable=False))
        if not asks_chain(commitment, self._clock.now()):
            return commitment
        assert commitment.tx_hash is not None and commitment.transaction_xdr is not None
        try:
            status = self._chain.transaction_status(commitment.tx_hash)
        except LiquifactError as error:
            unsigned = commitment.submission_status is SubmissionStatus.REQUIRES_SIGNATURE
            if not (last_attempt and unsigned and error.retryable):
                raise
            log.warning(
                "expired unsigned funding transaction released unasked: the chain is down",
                extra={"commitment_id": commitment.id},
            )
            return self._finish(commitment, Step.FAIL, "TRANSACTION_EXPIRED")
        step = next_step(commitment, status, self._clock.now())
        if step is Step.SEND:
            sent = self._chain.send(commitment.transaction_xdr)
            log.info(
                "funding transaction sent",
                extra={"commitment_id": commitment.id, "send_state": sent.state.value},
            )
            if sent.state is SendState.TRY_AGAIN_LATER:
                raise JobFailed(JobFailure("the network asked to try again later"))
            if sent.state is SendState.REFUSED:
                # Refused now: either an earlier send of it landed (its sequence number is
                # used), or it can never land as it is.
                status = self._chain.transaction_status(commitment.tx_hash)
                if status.state is TransactionState.NOT_FOUND:
                    if sent.reason in UNPROVEN_REFUSALS:
                        # Maybe landed where the RPC has not looked yet: the chain tells once
                        # the time bound passed.
                        raise JobFailed(JobFailure(f"refused ({sent.reason}); not seen yet"))
                    return self._finish(commitment, Step.FAIL, "TRANSACTION_REFUSED")
            else:
                status = self._await_final(commitment.tx_hash)
            step = next_step(commitment, status, self._clock.now())
        if step in (Step.CONFIRM, Step.FAIL):
            return self._finish(commitment, step, failure_code(status))
        if step is Step.DONE:
            return commitment
        raise JobFailed(JobFailure("the funding transaction is not final yet"))

    def _await_final(self, tx_hash: str) -> TransactionStatus:
        status = self._chain.transaction_status(tx_hash)
        for attempt in range(1, self._poll):
            if status.state is not TransactionState.NOT_FOUND:
                break
            self._pause(min(0.5 * attempt, 2.0))
            status = self._chain.transaction_status(tx_hash)
        return status

    def _finish(self, commitment: Commitment, step: Step, error: str | None) -> Commitment:
        """Record a final ``step`` unless another writer already moved the submission."""
        tenant_id = commitment.tenant_id
        with self._units(tenant_id) as uow:
            uow.commitments.pending_total_for_update(tenant_id, commitment.invoice_id)
            latest = uow.commitments.get(tenant_id, commitment.id)
            assert latest is not None  # commitments are never deleted
            if latest.submission_status is not commitment.submission_status:
                return latest
            done = finished(latest, step, self._clock.now(), error)
            uow.commitments.update(done)
            action = (
                "commitment.submission_confirmed"
                if step is Step.CONFIRM
                else "commitment.submission_failed"
            )
            extra = {"submissionError": done.submission_error} if done.submission_error else {}
            uow.audit.append(
                commitment_audit_event(self._ids.new_id("aud_"), done, SUBMITTER, action, **extra)
            )
            uow.commit()
        self._changes.changed(
            CommitmentChanged(tenant_id, done.invoice_id, done.id, done.investor_address)
        )
        return done
