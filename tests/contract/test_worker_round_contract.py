"""The worker's round (``liquifact_core.worker``) and the schedule (``liquifact_core.schedules``)
on every store, with an injected clock: handlers' outcomes are recorded through the queue, a
worker that lost its lease writes nothing, and a schedule slot is enqueued once per period
however many workers tick it.

Job types and slot names are unique per test (the PostgreSQL suites share one database).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from liquifact_adapters.memory.fakes import FixedClock
from liquifact_core.jobs import Job, JobFailed, JobFailure, JobStatus
from liquifact_core.ports import Store
from liquifact_core.schedules import SYSTEM_TENANT, Scheduler, Slot
from liquifact_core.worker import Outcome, WorkerPlan, work_round

from .test_job_queue_contract import FixedBackoff, a_job, enqueue, job_type, stored

START = datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def plan(kind: str, worker: str = "worker-a") -> WorkerPlan:
    return WorkerPlan(worker_id=worker, job_types={kind}, lease=LEASE)


def test_a_round_records_success_failure_and_dead_letters(store: Store, tenant: str) -> None:
    kind = job_type()
    clock = FixedClock(START)
    ok, flaky, refused = (a_job(tenant, kind, now=START) for _ in range(3))
    enqueue(store, ok, flaky, refused)
    ran: list[str] = []

    def handler(job: Job) -> None:
        ran.append(job.id)
        if job.id == flaky.id:
            raise RuntimeError("receiver down; token=abc123 https://u:pw@example.com/x?k=v")
        if job.id == refused.id:
            raise JobFailed(JobFailure("HTTP 400", retryable=False))

    results = work_round(
        store.job_queue, {kind: handler}, plan(kind), clock, FixedBackoff(5), limit=10
    )

    assert sorted(ran) == sorted([ok.id, flaky.id, refused.id])
    assert {job.id: outcome for job, outcome in results} == {
        ok.id: Outcome.SUCCEEDED,
        flaky.id: Outcome.RETRYING,
        refused.id: Outcome.DEAD,
    }
    retried = stored(store, flaky)
    assert retried is not None and retried.status is JobStatus.PENDING
    assert retried.run_after == START + timedelta(seconds=5)
    assert retried.last_error is not None
    assert "abc123" not in retried.last_error and "pw@" not in retried.last_error
    assert retried.last_error.startswith("RuntimeError: receiver down")
    dead = stored(store, refused)
    assert dead is not None and (dead.status, dead.last_error) == (JobStatus.DEAD, "HTTP 400")
    done = stored(store, ok)
    assert done is not None and done.status is JobStatus.SUCCEEDED

    # Nothing is due until the backoff has passed; then the retry runs and succeeds.
    assert work_round(store.job_queue, {kind: handler}, plan(kind), clock, FixedBackoff(), 10) == []
    clock.advance(timedelta(seconds=5))
    ran.clear()
    results = work_round(
        store.job_queue, {kind: lambda job: None}, plan(kind), clock, FixedBackoff(), 10
    )
    assert [(job.id, job.attempts, outcome) for job, outcome in results] == [
        (flaky.id, 2, Outcome.SUCCEEDED)
    ]


def test_a_worker_whose_lease_expired_writes_nothing(store: Store, tenant: str) -> None:
    kind = job_type()
    clock = FixedClock(START)
    job = a_job(tenant, kind, now=START)
    enqueue(store, job)
    outcomes: list[Outcome] = []

    def slow_handler(claimed: Job) -> None:
        # While the first worker "hangs", its lease expires and a second worker takes over.
        clock.advance(LEASE + timedelta(seconds=1))
        taken = work_round(
            store.job_queue,
            {kind: lambda job: None},
            plan(kind, "worker-b"),
            clock,
            FixedBackoff(),
            10,
        )
        outcomes.extend(outcome for _, outcome in taken)

    first = work_round(
        store.job_queue, {kind: slow_handler}, plan(kind, "worker-a"), clock, FixedBackoff(), 10
    )

    assert outcomes == [Outcome.SUCCEEDED]
    assert [outcome for _, outcome in first] == [Outcome.LEASE_LOST]
    final = stored(store, job)
    assert final is not None and (final.status, final.attempts) == (JobStatus.SUCCEEDED, 2)


def test_a_slot_is_enqueued_once_per_period_by_many_workers(store: Store) -> None:
    kind = job_type()
    slot = Slot(f"test_{uuid4().hex[:10]}", kind, timedelta(hours=1))
    clock = FixedClock(START)
    schedulers = [Scheduler(store.unit_of_work, clock, {kind}, [slot]) for _ in range(4)]
    barrier = threading.Barrier(len(schedulers))
    enqueued: list[list[str]] = []

    def tick(scheduler: Scheduler) -> None:
        barrier.wait()
        enqueued.append(scheduler.tick())

    threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    period_id = slot.job_id(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    assert sorted(enqueued) == [[], [], [], [period_id]]
    # The same period again: nothing new; the next period: one more job.
    assert all(scheduler.tick() == [] for scheduler in schedulers)
    clock.advance(timedelta(hours=1))
    assert sorted(len(scheduler.tick()) for scheduler in schedulers) == [0, 0, 0, 1]

    runs: list[str] = []
    results = work_round(
        store.job_queue,
        {kind: lambda job: runs.append(job.id)},
        plan(kind),
        clock,
        FixedBackoff(),
        10,
    )
    assert sorted(runs) == sorted([period_id, slot.job_id(datetime(2026, 3, 1, 11, 0, tzinfo=UTC))])
    assert {job.tenant_id for job, _ in results} == {SYSTEM_TENANT}
    assert {outcome for _, outcome in results} == {Outcome.SUCCEEDED}


def test_a_slot_without_a_handler_is_not_scheduled(store: Store) -> None:
    slot = Slot(f"test_{uuid4().hex[:10]}", job_type(), timedelta(days=1), timedelta(hours=2))
    scheduler = Scheduler(store.unit_of_work, FixedClock(START), {job_type()}, [slot])
    assert scheduler.slots == ()
    assert scheduler.tick() == []


def test_daily_slots_start_at_their_offset() -> None:
    slot = Slot("nightly", "maintenance.x", timedelta(days=1), timedelta(hours=2))
    assert slot.period_start(datetime(2026, 3, 1, 1, 59, tzinfo=UTC)) == datetime(
        2026, 2, 28, 2, 0, tzinfo=UTC
    )
    assert slot.period_start(datetime(2026, 3, 1, 2, 0, tzinfo=UTC)) == datetime(
        2026, 3, 1, 2, 0, tzinfo=UTC
    )
    assert slot.job_id(datetime(2026, 3, 1, 2, 0, tzinfo=UTC)) == "job_sched_nightly_20260301T0200Z"
