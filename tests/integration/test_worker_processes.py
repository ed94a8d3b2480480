"""Job workers as real processes (tests/integration/job_worker_script.py runs the production
engine with a test job type): a worker killed with SIGKILL mid-job leaves the job to run again
after a restart (SQLite and PostgreSQL); three workers on one PostgreSQL database drain 1,000
jobs, each run exactly once; a schedule slot runs once per period with several workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from liquifact_adapters import open_store
from liquifact_adapters.composition import ServicesConfig
from liquifact_adapters.postgres import migrate
from liquifact_core.jobs import Job, JobStatus, new_job
from liquifact_core.ports import Store
from liquifact_core.schedules import SLOTS, SYSTEM_TENANT
from tests.factories import new_tenant
from tests.integration.job_worker_script import TEST_JOB_TYPE
from tests.pg import fresh_database

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 3


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    with fresh_database() as url:
        migrate(url)
        yield url


@pytest.fixture
def postgres_database() -> Iterator[str]:
    with fresh_database() as url:
        migrate(url)
        yield url


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path


def start_worker(url: str, runs: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.job_worker_script", url, str(runs), *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def recorded_runs(runs: Path) -> list[tuple[str, int, str]]:
    """(job id, attempt, log file) of every handler call the workers made."""
    found = []
    for log in sorted(runs.glob("runs-*.log")):
        for line in log.read_text(encoding="utf-8").splitlines():
            job_id, attempt = line.split()
            found.append((job_id, int(attempt), log.name))
    return found


def stopped_gracefully(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(timeout=20) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


def test_job_interrupted_by_sigkill_runs_again_after_restart(database_url: str, runs: Path) -> None:
    store = open_store(ServicesConfig(database_url=database_url))
    tenant = new_tenant()
    job = record_job(tenant, hangOnAttempt=1)
    try:
        with store.unit_of_work(tenant) as uow:
            uow.jobs.enqueue(job)
            uow.commit()

        first = start_worker(database_url, runs, "--lease", str(LEASE_SECONDS))
        try:
            wait_for((runs / f"hanging-{job.id}").exists, 20, "the handler to start")
            first.send_signal(signal.SIGKILL)  # in the middle of the handler
            assert first.wait(timeout=10) == -signal.SIGKILL
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
            if first.stderr:
                first.stderr.close()
        running = get_job(store, job)
        assert (running.status, running.attempts) == (JobStatus.RUNNING, 1)

        second = start_worker(database_url, runs, "--lease", str(LEASE_SECONDS))
        try:
            wait_for(
                lambda: get_job(store, job).status is JobStatus.SUCCEEDED,
                LEASE_SECONDS + 20,
                "the job to run again",
            )
        finally:
            stopped_gracefully(second)
        done = get_job(store, job)
        assert (done.status, done.attempts, done.lease_owner) == (JobStatus.SUCCEEDED, 2, None)
        calls = [(job_id, attempt) for job_id, attempt, _ in recorded_runs(runs)]
        assert calls.count((job.id, 1)) == 1 and calls.count((job.id, 2)) == 1
    finally:
        store.close()


@pytest.mark.postgres
def test_three_workers_drain_a_thousand_jobs_each_run_once(
    postgres_database: str, runs: Path
) -> None:
    store = open_store(ServicesConfig(database_url=postgres_database))
    tenants = [new_tenant() for _ in range(4)]
    jobs = [record_job(tenants[n % 4]) for n in range(1000)]
    try:
        for tenant in tenants:
            with store.unit_of_work(tenant) as uow:
                for job in jobs:
                    if job.tenant_id == tenant:
                        uow.jobs.enqueue(job)
                uow.commit()
    finally:
        store.close()

    workers = [start_worker(postgres_database, runs) for _ in range(3)]
    try:
        wait_for(
            lambda: status_counts(postgres_database).get("succeeded", 0) == 1000,
            90,
            "1,000 jobs to succeed",
        )
    finally:
        for worker in workers:
            stopped_gracefully(worker)

    assert status_counts(postgres_database) == {"succeeded": 1000}
    ids = {job.id for job in jobs}
    calls = [(job_id, attempt) for job_id, attempt, _ in recorded_runs(runs) if job_id in ids]
    assert len(calls) == len(set(calls)), "a job ran twice in the same attempt"
    assert Counter(job_id for job_id, _ in calls) == Counter({job.id: 1 for job in jobs})
    # The queue was shared, not drained by one process.
    assert len({log for job_id, _, log in recorded_runs(runs) if job_id in ids}) >= 2


@pytest.mark.postgres
def test_a_scheduled_slot_runs_once_per_period_with_three_workers(
    postgres_database: str, runs: Path
) -> None:
    workers = [start_worker(postgres_database, runs, "--once") for _ in range(3)]
    for worker in workers:
        assert worker.wait(timeout=60) == 0
        if worker.stderr:
            worker.stderr.close()

    # The slots with a handler in this worker (no chain: no reconciliation or indexing), in
    # the order of their job ids.
    slots = sorted(
        (
            slot
            for slot in SLOTS
            if slot.name in ("idempotency_purge", "retention_purge", "maturity_reminders")
        ),
        key=lambda slot: slot.name,
    )
    with psycopg.connect(postgres_database) as connection:
        rows = connection.execute(
            "SELECT id, tenant_id, type, status, attempts FROM jobs ORDER BY id"
        ).fetchall()
    assert len(rows) == len(slots), rows  # each slot with a handler, once
    for slot, (job_id, tenant_id, job_type, status, attempts) in zip(slots, rows, strict=True):
        assert job_id.startswith(f"job_sched_{slot.name}_")
        assert (tenant_id, job_type, status, attempts) == (
            SYSTEM_TENANT,
            slot.job_type,
            "succeeded",
            1,
        )
    assert sorted((run_id, attempt) for run_id, attempt, _ in recorded_runs(runs)) == [
        (row[0], 1) for row in rows
    ]


def record_job(tenant: str, **payload: object) -> Job:
    from liquifact_adapters.system import SystemClock

    return new_job(
        job_id=f"job_{uuid4().hex}",
        tenant_id=tenant,
        job_type=TEST_JOB_TYPE,
        payload=payload,
        now=SystemClock().now(),
    )


def get_job(store: Store, job: Job) -> Job:
    with store.read_unit(job.tenant_id) as uow:
        found = uow.jobs.get(job.tenant_id, job.id)
    assert found is not None
    return found


def status_counts(url: str) -> dict[str, int]:
    # The test connects as the superuser, which row-level security does not bind.
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT status, count(*) FROM jobs WHERE type = %s GROUP BY status", (TEST_JOB_TYPE,)
        ).fetchall()
    return {str(status): int(count) for status, count in rows}
