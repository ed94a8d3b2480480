"""Running a use case at most once per idempotency key, and purging expired keys."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import timedelta

import attrs

from liquifact_core.errors import Conflict, LiquifactError
from liquifact_core.idempotency import (
    IdempotencyRecord,
    IdempotencyState,
    IdempotentResult,
    RecordedError,
    RecordedOutcome,
    RequestInProgress,
    copy_context,
    parse_idempotency_key,
)
from liquifact_core.ports import Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory

DEFAULT_TTL = timedelta(hours=24)
# An in-progress claim older than this is taken to be abandoned (its process died) and may be
# claimed again. That is safe: completing needs the claim id, in the same transaction as the
# effect, so a late first attempt that lost its claim rolls its effect back.
DEFAULT_LEASE = timedelta(minutes=2)
PURGE_BATCH = 1000

Work = Callable[[UnitOfWork], IdempotentResult]
Purge = Callable[..., int]


@attrs.frozen
class IdempotentOutcome:
    """The result of a keyed use case: ``replayed`` when it is the recorded result of an
    earlier request with the same key (nothing ran now); ``context`` is what the caller kept
    about the attempt that produced it."""

    result: IdempotentResult
    replayed: bool
    context: Mapping[str, str] = attrs.field(factory=dict, converter=copy_context, hash=False)


class IdempotencyService:
    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        purge: Purge,
        clock: Clock,
        ids: IdGenerator,
        ttl: timedelta = DEFAULT_TTL,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self._uow = unit_of_work
        self._purge = purge
        self._clock = clock
        self._ids = ids
        self.ttl = ttl
        self._lease = lease

    def execute(
        self,
        tenant_id: str,
        key: str | None,
        fingerprint: str,
        work: Work,
        context: Mapping[str, str] | None = None,
        before: Callable[[], object] | None = None,
    ) -> IdempotentOutcome:
        """Run ``work`` once for (tenant, key) and record its outcome with its effect.

        1. Claim the key in a committed transaction of its own. A live record answers instead:
           another fingerprint -> Conflict IDEMPOTENCY_KEY_REUSED; still in progress ->
           RequestInProgress (IDEMPOTENCY_REQUEST_IN_PROGRESS, retryable); completed -> its
           recorded result (``replayed``), or its recorded domain error raised again (with
           ``replayed_context`` set to the first attempt's ``context``).
        2. Run ``before`` (if any) with no unit open: what the work needs from the network
           (e.g. preparing a chain transaction) happens here, once per claimed key, never
           inside a database transaction and never for a replay. Then run ``work`` in a new
           unit and complete the record in that same unit: the effect and its record commit
           together or not at all.
        3. A domain error the request caused (``RecordedError.of``) is recorded as the answer
           too, then raised; anything else releases the claim so that a retry runs again.

        ``key``: 8-128 of ``[A-Za-z0-9._:-]`` (ValidationError otherwise, before any claim).
        """
        key = parse_idempotency_key(key)
        context = dict(context or {})
        now = self._clock.now()
        claim = IdempotencyRecord(
            tenant_id=tenant_id,
            key=key,
            fingerprint=fingerprint,
            state=IdempotencyState.IN_PROGRESS,
            claim_id=self._ids.new_id("idk_"),
            created_at=now,
            expires_at=now + self.ttl,
            locked_until=now + self._lease,
        )
        with self._uow(tenant_id) as uow:
            existing = uow.idempotency.claim(claim, now)
            uow.commit()
        if existing is not None:
            return _answer(existing, fingerprint)
        try:
            if before is not None:
                before()
            with self._uow(tenant_id) as uow:
                result = work(uow)
                recorded = RecordedOutcome(result=result, context=context)
                uow.idempotency.complete(tenant_id, key, claim.claim_id, recorded)
                uow.commit()
            return IdempotentOutcome(result, replayed=False, context=context)
        except RequestInProgress:
            raise  # our claim was taken over; the effect rolled back with the failed completion
        except LiquifactError as error:
            answer = RecordedError.of(error)
            if answer is None:
                self._release(claim)
                raise
            with self._uow(tenant_id) as uow:
                failed = RecordedOutcome(error=answer, context=context)
                uow.idempotency.complete(tenant_id, key, claim.claim_id, failed)
                uow.commit()
            raise
        except BaseException:
            self._release(claim)
            raise

    def purge_expired(self, batch_size: int = PURGE_BATCH) -> int:
        """Delete every record expired by now, in batches; returns how many went."""
        now = self._clock.now()
        purged = 0
        while True:
            removed = self._purge(now, batch_size)
            purged += removed
            if removed < batch_size:
                return purged

    def _release(self, claim: IdempotencyRecord) -> None:
        # Best effort: if this fails too, the lease lapses and the key can be claimed again.
        with contextlib.suppress(Exception), self._uow(claim.tenant_id) as uow:
            uow.idempotency.release(claim.tenant_id, claim.key, claim.claim_id)
            uow.commit()


def _answer(existing: IdempotencyRecord, fingerprint: str) -> IdempotentOutcome:
    if existing.fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used for a different request; use a new key.",
            code="IDEMPOTENCY_KEY_REUSED",
        )
    outcome = existing.outcome
    if existing.state is IdempotencyState.IN_PROGRESS or outcome is None:
        raise RequestInProgress(
            "A request with this Idempotency-Key is still being processed; retry shortly."
        )
    if outcome.error is not None:
        error = outcome.error.to_error()
        error.replayed_context = dict(outcome.context)
        raise error
    assert outcome.result is not None  # RecordedOutcome holds exactly one of the two
    return IdempotentOutcome(outcome.result, replayed=True, context=outcome.context)
