"""The job queue (migration 0008) on every store: jobs are enqueued with the unit of work that
causes them (a rolled-back unit enqueues nothing); workers claim due jobs under a lease, never
the same job twice at once; an expired lease makes a job claimable again; failed attempts are
retried after a backoff, then dead-lettered; admins list and requeue a tenant's jobs.

Every test uses a job type of its own: the PostgreSQL suites share one database, and workers
claim across tenants, so the type keeps one test's jobs out of another's claims and counts.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from liquifact_core.errors import Conflict, NotFound
from liquifact_core.jobs import (
    Job,
    JobCounts,
    JobFailure,
    JobQuery,
    JobStatus,
    new_job,
)
from liquifact_core.ports import Store

from .contract_support import T0, new_tenant

LEASE = timedelta(seconds=30)


class FixedBackoff:
    """A backoff that always waits ``seconds`` (the real one is tested on its own)."""

    def __init__(self, seconds: float = 10) -> None:
        self.wait = timedelta(seconds=seconds)

    def delay(self, attempt: int) -> timedelta:
        assert attempt >= 1
        return self.wait


def job_type() -> str:
    return f"test.{uuid4().hex[:12]}"


def a_job(tenant: str, kind: str, **changes: Any) -> Job:
    values: dict[str, Any] = {
        "job_id": f"job_{uuid4().hex}",
        "tenant_id": tenant,
        "job_type": kind,
        "payload": {"invoiceId": "inv_1", "nested": {"b": 2, "a": [1, "x", None]}},
        "now": T0,
    }
    values.update(changes)
    return new_job(**values)


def enqueue(store: Store, *jobs: Job) -> None:
    with store.unit_of_work(jobs[0].tenant_id) as uow:
        for job in jobs:
            uow.jobs.enqueue(job)
        uow.commit()


def stored(store: Store, job: Job) -> Job | None:
    with store.read_unit(job.tenant_id) as uow:
        return uow.jobs.get(job.tenant_id, job.id)


def test_an_enqueued_job_round_trips(store: Store, tenant: str) -> None:
    job = a_job(tenant, job_type(), max_attempts=5)
    enqueue(store, job)

    found = stored(store, job)
    assert found == job
    assert found is not None and found.payload == job.payload
    other = new_tenant()
    with store.read_unit(other) as uow:
        assert uow.jobs.get(other, job.id) is None


def test_a_duplicate_job_id_is_refused(store: Store, tenant: str) -> None:
    job = a_job(tenant, job_type())
    enqueue(store, job)

    with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as refused:
        uow.jobs.enqueue(job)
    assert refused.value.code == "DUPLICATE_JOB"


def test_a_rolled_back_unit_enqueues_nothing(store: Store, tenant: str) -> None:
    kind = job_type()
    dropped, failed = a_job(tenant, kind), a_job(tenant, kind)
    with store.unit_of_work(tenant) as uow:
        uow.jobs.enqueue(dropped)  # left without commit

    def enqueue_then_fail() -> None:
        with store.unit_of_work(tenant) as uow:
            uow.jobs.enqueue(failed)
            raise RuntimeError("the cause failed after the job was written")

    with pytest.raises(RuntimeError):
        enqueue_then_fail()

    assert stored(store, dropped) is None
    assert stored(store, failed) is None
    assert store.job_queue.claim("w1", [kind], 10, T0 + timedelta(days=1), LEASE) == []
    assert kind not in store.job_queue.counts(T0)


def test_claim_takes_due_jobs_of_its_types_oldest_first_up_to_the_limit(
    store: Store, tenant: str
) -> None:
    kind, other_kind = job_type(), job_type()
    late = a_job(tenant, kind, run_after=T0 + timedelta(minutes=5))
    first = a_job(tenant, kind, run_after=T0 - timedelta(seconds=2))
    second = a_job(tenant, kind, run_after=T0 - timedelta(seconds=1))
    third = a_job(tenant, kind)
    foreign = a_job(tenant, other_kind)
    enqueue(store, late, third, second, first, foreign)

    claimed = store.job_queue.claim("worker-a", [kind], 2, T0, LEASE)

    assert [job.id for job in claimed] == [first.id, second.id]
    for job in claimed:
        assert job.status is JobStatus.RUNNING
        assert (job.attempts, job.lease_owner) == (1, "worker-a")
        assert job.lease_expires_at == T0 + LEASE
        assert stored(store, job) == job
    rest = store.job_queue.claim("worker-b", [kind], 10, T0, LEASE)
    assert [job.id for job in rest] == [third.id]
    assert store.job_queue.claim("worker-b", [kind], 10, T0, LEASE) == []
    assert store.job_queue.claim("worker-b", [], 10, T0, LEASE) == []


def test_a_completed_job_is_done(store: Store, tenant: str) -> None:
    kind = job_type()
    enqueue(store, a_job(tenant, kind))
    [job] = store.job_queue.claim("w1", [kind], 1, T0, LEASE)

    done = store.job_queue.complete(job, T0 + timedelta(seconds=1))

    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert (done.lease_owner, done.lease_expires_at) == (None, None)
    assert stored(store, job) == done
    assert store.job_queue.complete(job, T0) is None  # already settled
    assert store.job_queue.claim("w1", [kind], 1, T0 + timedelta(days=1), LEASE) == []


def test_an_expired_lease_makes_the_job_claimable_again(store: Store, tenant: str) -> None:
    kind = job_type()
    enqueue(store, a_job(tenant, kind))
    [lost] = store.job_queue.claim("crashed", [kind], 1, T0, LEASE)

    assert store.job_queue.claim("w2", [kind], 1, T0 + LEASE - timedelta(seconds=1), LEASE) == []
    [again] = store.job_queue.claim("w2", [kind], 1, T0 + LEASE, LEASE)

    assert (again.id, again.attempts, again.lease_owner) == (lost.id, 2, "w2")
    # The first worker's lease was taken over: nothing it reports is written.
    assert store.job_queue.complete(lost, T0 + LEASE) is None
    assert store.job_queue.fail(lost, JobFailure("late"), T0 + LEASE, FixedBackoff()) is None
    assert stored(store, again) == again
    assert store.job_queue.complete(again, T0 + LEASE) is not None


def test_failed_attempts_retry_after_the_backoff_then_dead_letter(
    store: Store, tenant: str
) -> None:
    kind, backoff = job_type(), FixedBackoff(10)
    job = a_job(tenant, kind, max_attempts=3)
    enqueue(store, job)
    now = T0
    for attempt in (1, 2):
        [running] = store.job_queue.claim("w1", [kind], 1, now, LEASE)
        assert running.attempts == attempt
        failed = store.job_queue.fail(
            running, JobFailure("HTTP 503 from https://user:pw@hooks.example/cb?k=1"), now, backoff
        )
        assert failed is not None and failed.status is JobStatus.PENDING
        assert failed.run_after == now + backoff.wait
        assert failed.last_error == "HTTP 503 from https://[redacted]@hooks.example/cb?[redacted]"
        assert store.job_queue.claim("w1", [kind], 1, now + timedelta(seconds=9), LEASE) == []
        now += backoff.wait

    assert store.job_queue.counts(now)[kind] == JobCounts(queue_depth=1, retry_queue=1)
    [last] = store.job_queue.claim("w1", [kind], 1, now, LEASE)
    dead = store.job_queue.fail(last, JobFailure("timeout", retryable=True), now, backoff)

    assert dead is not None and dead.status is JobStatus.DEAD
    assert (dead.attempts, dead.last_error) == (3, "timeout")
    assert stored(store, job) == dead
    assert store.job_queue.claim("w1", [kind], 1, now + timedelta(days=1), LEASE) == []
    assert store.job_queue.counts(now)[kind] == JobCounts(dead=1)


def test_a_non_retryable_failure_dead_letters_at_once(store: Store, tenant: str) -> None:
    kind = job_type()
    enqueue(store, a_job(tenant, kind, max_attempts=10))
    [job] = store.job_queue.claim("w1", [kind], 1, T0, LEASE)

    dead = store.job_queue.fail(job, JobFailure("HTTP 400", retryable=False), T0, FixedBackoff())

    assert dead is not None and (dead.status, dead.attempts) == (JobStatus.DEAD, 1)


def test_a_lease_expiring_on_the_last_attempt_dead_letters_the_job(
    store: Store, tenant: str
) -> None:
    kind = job_type()
    job = a_job(tenant, kind, max_attempts=1)
    enqueue(store, job)
    store.job_queue.claim("crashed", [kind], 1, T0, LEASE)

    assert store.job_queue.claim("w2", [kind], 1, T0 + LEASE, LEASE) == []

    dead = stored(store, job)
    assert dead is not None and (dead.status, dead.attempts) == (JobStatus.DEAD, 1)
    assert dead.last_error is not None and "lease expired" in dead.last_error


def test_a_dead_letter_is_requeued_with_fresh_attempts(store: Store, tenant: str) -> None:
    kind = job_type()
    job = a_job(tenant, kind, max_attempts=1)
    enqueue(store, job)
    [running] = store.job_queue.claim("w1", [kind], 1, T0, LEASE)
    store.job_queue.fail(running, JobFailure("boom", retryable=False), T0, FixedBackoff())
    later = T0 + timedelta(hours=1)

    with store.unit_of_work(tenant) as uow:
        requeued = uow.jobs.requeue(tenant, job.id, later)
        uow.commit()

    assert (requeued.status, requeued.attempts, requeued.run_after) == (
        JobStatus.PENDING,
        0,
        later,
    )
    assert requeued.last_error == "boom"
    assert stored(store, job) == requeued
    [again] = store.job_queue.claim("w1", [kind], 1, later, LEASE)
    assert again.attempts == 1


def test_only_a_dead_letter_of_the_tenant_can_be_requeued(store: Store, tenant: str) -> None:
    job = a_job(tenant, job_type())
    enqueue(store, job)
    other = new_tenant()

    with store.unit_of_work(tenant) as uow:
        with pytest.raises(Conflict) as not_dead:
            uow.jobs.requeue(tenant, job.id, T0)
        with pytest.raises(NotFound) as missing:
            uow.jobs.requeue(tenant, "job_missing", T0)
    with store.unit_of_work(other) as uow, pytest.raises(NotFound) as foreign:
        uow.jobs.requeue(other, job.id, T0)

    assert not_dead.value.code == "JOB_NOT_DEAD"
    assert missing.value.code == foreign.value.code == "JOB_NOT_FOUND"
    assert stored(store, job) == job


def test_a_tenants_jobs_are_listed_newest_first_with_filters_and_a_cursor(
    store: Store, tenant: str
) -> None:
    kind, other_kind = job_type(), job_type()
    jobs = [a_job(tenant, kind, job_id=f"job_{i:02d}_{uuid4().hex[:8]}") for i in range(5)]
    odd = a_job(tenant, other_kind, job_id=f"job_99_{uuid4().hex[:8]}")
    enqueue(store, *jobs, odd)
    # Another tenant's, never listed; its id sorts after the tenant's jobs, so the claim
    # below takes jobs[0] (ids break ties of due time, and a random hex id could come first).
    enqueue(store, a_job(new_tenant(), kind, job_id=f"job_zz_{uuid4().hex[:8]}"))
    [running] = store.job_queue.claim("w1", [kind], 1, T0, LEASE)  # jobs[0]

    seen: list[str] = []
    after = None
    while True:
        with store.read_unit(tenant) as uow:
            page = uow.jobs.list(JobQuery(tenant, job_type=kind, after=after, limit=2))
        seen += [job.id for job in page.items]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == [job.id for job in reversed(jobs)]

    with store.read_unit(tenant) as uow:
        everything = uow.jobs.list(JobQuery(tenant, limit=100))
        only_running = uow.jobs.list(JobQuery(tenant, statuses=frozenset({JobStatus.RUNNING})))
        pending_or_dead = uow.jobs.list(
            JobQuery(tenant, statuses=frozenset({JobStatus.PENDING, JobStatus.DEAD}), limit=1)
        )
    assert [job.id for job in everything.items] == [odd.id, *(j.id for j in reversed(jobs))]
    assert everything.next_after is None
    assert list(only_running.items) == [running]
    assert [job.id for job in pending_or_dead.items] == [odd.id]
    assert pending_or_dead.next_after == odd.id


def test_counts_are_the_gauges_per_type(store: Store, tenant: str) -> None:
    kind = job_type()
    later = a_job(tenant, kind, run_after=T0 + timedelta(hours=1))
    enqueue(store, *(a_job(tenant, kind) for _ in range(4)), later)
    running = store.job_queue.claim("w1", [kind], 2, T0, LEASE)
    store.job_queue.fail(running[0], JobFailure("x"), T0, FixedBackoff(60))

    assert store.job_queue.counts(T0)[kind] == JobCounts(
        queue_depth=2, retry_queue=1, inflight=1, dead=0
    )
    # Once the lease has expired the job is no longer in flight (it is due again).
    assert store.job_queue.counts(T0 + timedelta(hours=2))[kind] == JobCounts(
        queue_depth=4, retry_queue=1, inflight=0, dead=0
    )


def test_concurrent_claimers_never_get_the_same_job(store: Store, tenant: str) -> None:
    kind, workers, total = job_type(), 4, 40
    enqueue(store, *(a_job(tenant, kind) for _ in range(total)))
    claims: dict[str, list[str]] = {}
    start = threading.Barrier(workers)
    failures: list[BaseException] = []

    def work(name: str) -> None:
        mine: list[str] = []
        try:
            start.wait()
            while batch := store.job_queue.claim(name, [kind], 3, T0, LEASE):
                mine += [job.id for job in batch]
                for job in batch:
                    assert store.job_queue.complete(job, T0) is not None
        except BaseException as error:  # reported below, on the test's thread
            failures.append(error)
        claims[name] = mine

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    taken = Counter(job_id for ids in claims.values() for job_id in ids)
    assert len(taken) == total
    assert set(taken.values()) == {1}
    assert store.job_queue.counts(T0)[kind] == JobCounts()
