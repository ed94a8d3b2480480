"""The worker engine's threads: a graceful stop lets a job in flight finish; a stop whose grace
runs out abandons it, and the job runs again elsewhere once its lease has expired."""

from __future__ import annotations

import threading
from datetime import timedelta

from liquifact_adapters.memory import InMemoryStore
from liquifact_adapters.memory.fakes import FixedClock
from liquifact_adapters.system.backoff import ExponentialBackoff
from liquifact_adapters.system.worker import Worker, WorkerOptions
from liquifact_core.jobs import Job, JobStatus, new_job
from liquifact_core.worker import WorkerPlan

KIND = "test.engine"
LEASE = timedelta(seconds=30)


def worker(store: InMemoryStore, clock: FixedClock, handler: object, name: str) -> Worker:
    return Worker(
        store.job_queue,
        {KIND: handler},  # type: ignore[dict-item]
        WorkerPlan(worker_id=name, job_types={KIND}, lease=LEASE),
        clock,
        ExponentialBackoff(),
        WorkerOptions(concurrency=2, poll_interval=0.01),
    )


def enqueued(store: InMemoryStore, clock: FixedClock) -> Job:
    job = new_job(job_id="job_engine1", tenant_id="t1", job_type=KIND, payload={}, now=clock.now())
    with store.unit_of_work("t1") as uow:
        uow.jobs.enqueue(job)
        uow.commit()
    return job


def status(store: InMemoryStore, job: Job) -> tuple[JobStatus, int]:
    with store.read_unit("t1") as uow:
        found = uow.jobs.get("t1", job.id)
    assert found is not None
    return found.status, found.attempts


def test_a_graceful_stop_lets_the_job_in_flight_finish() -> None:
    store, clock = InMemoryStore(), FixedClock()
    job = enqueued(store, clock)
    entered, release = threading.Event(), threading.Event()

    def handler(_job: Job) -> None:
        entered.set()
        release.wait(5)

    engine = worker(store, clock, handler, "w1")
    engine.start()
    assert entered.wait(5)
    assert engine.inflight == 1
    threading.Timer(0.2, release.set).start()
    assert engine.stop(grace=5) is True
    assert status(store, job) == (JobStatus.SUCCEEDED, 1)


def test_an_abandoned_job_runs_again_after_its_lease_expires() -> None:
    store, clock = InMemoryStore(), FixedClock()
    job = enqueued(store, clock)
    entered, release = threading.Event(), threading.Event()

    def hanging(_job: Job) -> None:
        entered.set()
        release.wait(5)

    first = worker(store, clock, hanging, "w1")
    first.start()
    assert entered.wait(5)
    assert first.stop(grace=0.05) is False  # abandoned, still leased
    assert status(store, job) == (JobStatus.RUNNING, 1)

    second = worker(store, clock, lambda _job: None, "w2")
    assert second.run_once() == 0  # the lease still holds
    clock.advance(LEASE)
    assert second.run_once() == 1
    assert status(store, job) == (JobStatus.SUCCEEDED, 2)
    release.set()  # the abandoned attempt ends later: its lease was taken over, it writes nothing
