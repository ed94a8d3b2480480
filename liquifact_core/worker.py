"""One round of a job worker: claim due jobs with a lease, run their handlers, record the
outcome. Pure orchestration over ports (``JobQueue``, ``Clock``, ``Backoff``): threads,
polling and signals live in the engine (``liquifact_adapters.system.worker``).

No transaction spans a handler call: ``JobQueue.claim`` commits the lease before a handler
runs, and ``complete``/``fail`` are transactions of their own afterwards. A worker that dies
between the two leaves its lease to expire; the job is claimed again (at-least-once).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import timedelta
from typing import Protocol

import attrs

from liquifact_core.jobs import Backoff, Job, JobFailed, JobFailure, JobHandler, JobStatus
from liquifact_core.ports import Clock, JobQueue


class Outcome(enum.StrEnum):
    """What became of one claimed job after its handler ran."""

    SUCCEEDED = "succeeded"
    RETRYING = "retrying"  # failed, pending again after a backoff
    DEAD = "dead"  # failed for good: a dead letter
    LEASE_LOST = "lease_lost"  # another worker took the job over; nothing was written


class WorkerObserver(Protocol):
    """Hears a worker's events (metrics, logs). Must not raise."""

    def claimed(self, job: Job) -> None:
        """An attempt of ``job`` starts (it was claimed)."""
        ...

    def settled(self, job: Job, outcome: Outcome) -> None:
        """The attempt of ``job`` (as claimed) ended with ``outcome``."""
        ...


class IgnoreEvents:
    """The observer of a worker nobody watches."""

    def claimed(self, job: Job) -> None:
        return None

    def settled(self, job: Job, outcome: Outcome) -> None:
        return None


@attrs.frozen
class WorkerPlan:
    """How one worker claims: its id (``lease_owner``), the job types it has handlers for,
    and the lease each claim takes (handlers must finish within it, or the job runs again)."""

    worker_id: str
    job_types: Collection[str]
    lease: timedelta

    def __attrs_post_init__(self) -> None:
        if self.lease <= timedelta(0):
            raise ValueError("A lease must be positive.")


def claim_due(queue: JobQueue, plan: WorkerPlan, clock: Clock, limit: int) -> Sequence[Job]:
    """Up to ``limit`` due jobs of the plan's types, leased to the plan's worker (one short
    transaction); [] when ``limit`` <= 0 or no type is handled."""
    if limit <= 0 or not plan.job_types:
        return []
    return queue.claim(plan.worker_id, plan.job_types, limit, clock.now(), plan.lease)


def run_claimed(
    job: Job,
    queue: JobQueue,
    handlers: Mapping[str, JobHandler],
    clock: Clock,
    backoff: Backoff,
) -> Outcome:
    """Run the handler of the claimed ``job`` and record the outcome through ``queue``.

    Return: completed. ``JobFailed``: its failure (retryable or not). Any other ``Exception``:
    a retryable failure whose text (exception type and message) is sanitised when stored.
    A handler's own ``backoff`` (``JobHandler``) replaces ``backoff``.
    Errors of ``queue`` itself propagate: the job stays leased and runs again when the lease
    expires.
    """
    handler = handlers.get(job.type)
    failure: JobFailure | None
    if handler is None:  # claimed by type, so only a caller's mistake gets here
        failure = JobFailure(f"No handler for job type {job.type}.", retryable=False)
    else:
        try:
            handler(job)
            failure = None
        except JobFailed as failed:
            failure = failed.failure
        except Exception as error:
            failure = JobFailure(f"{type(error).__name__}: {error}")
    if failure is None:
        stored = queue.complete(job, clock.now())
    else:
        own = getattr(handler, "backoff", None)
        stored = queue.fail(job, failure, clock.now(), own if isinstance(own, Backoff) else backoff)
    return outcome_of(stored)


def outcome_of(stored: Job | None) -> Outcome:
    """The outcome a stored successor of a running job stands for."""
    if stored is None:
        return Outcome.LEASE_LOST
    if stored.status is JobStatus.SUCCEEDED:
        return Outcome.SUCCEEDED
    if stored.status is JobStatus.DEAD:
        return Outcome.DEAD
    return Outcome.RETRYING


Runner = Callable[[Sequence[Callable[[], Outcome]]], Sequence[Outcome]]
"""Runs a round's handler calls (sequentially, or on a pool) and returns their outcomes."""


def sequentially(calls: Sequence[Callable[[], Outcome]]) -> Sequence[Outcome]:
    return [call() for call in calls]


def work_round(
    queue: JobQueue,
    handlers: Mapping[str, JobHandler],
    plan: WorkerPlan,
    clock: Clock,
    backoff: Backoff,
    limit: int,
    *,
    run: Runner = sequentially,
    observer: WorkerObserver | None = None,
) -> Sequence[tuple[Job, Outcome]]:
    """One claim-run-record round: claim up to ``limit`` due jobs, run each handler (through
    ``run``), record each outcome; the claimed jobs with their outcomes."""
    watcher = observer or IgnoreEvents()
    claimed = claim_due(queue, plan, clock, limit)
    for job in claimed:
        watcher.claimed(job)

    def attempt(job: Job) -> Callable[[], Outcome]:
        def call() -> Outcome:
            outcome = run_claimed(job, queue, handlers, clock, backoff)
            watcher.settled(job, outcome)
            return outcome

        return call

    outcomes = run([attempt(job) for job in claimed])
    return list(zip(claimed, outcomes, strict=True))
