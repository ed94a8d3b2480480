"""``liquifact worker`` and the embedded worker of ``liquifact serve`` as real processes: the
hourly idempotency purge slot runs, the metrics show it, SIGTERM stops the worker cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.jobs import JobQuery, JobStatus
from liquifact_core.schedules import SYSTEM_TENANT
from tests.auth_helpers import TEST_SECRET
from tests.integration.server import LIQUIFACT, free_port, running_server

pytestmark = [pytest.mark.slow]
PURGE_SUCCESS = 'liquifact_job_successes_total{type="maintenance.idempotency_purge"} 1.0'


def system_jobs(path: Path) -> list[tuple[str, JobStatus]]:
    store = SqliteStore(str(path))
    try:
        with store.read_unit(SYSTEM_TENANT) as uow:
            page = uow.jobs.list(JobQuery(tenant_id=SYSTEM_TENANT))
        return [(job.id, job.status) for job in page.items]
    finally:
        store.close()


def test_worker_once_runs_the_due_schedule_slot(tmp_path: Path) -> None:
    database = tmp_path / "jobs.db"
    done = subprocess.run(
        [LIQUIFACT, "worker", "--once"],
        env={**os.environ, "DATABASE_URL": f"sqlite:///{database}", "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    jobs = sorted(system_jobs(database))
    # The slots this worker has handlers for (no chain configured): each once, done. The
    # daily ones (reminders, retention) are due whatever the time: a period began already.
    assert [job_id.rsplit("_", 1)[0] for job_id, _ in jobs] == [
        "job_sched_idempotency_purge",
        "job_sched_maturity_reminders",
        "job_sched_retention_purge",
    ]
    assert {status for _, status in jobs} == {JobStatus.SUCCEEDED}


def test_worker_serves_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [LIQUIFACT, "worker"],
        env={
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
            "LOG_FORMAT": "json",
            "WORKER_METRICS_PORT": str(port),
            "WORKER_POLL_INTERVAL_MS": "50",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        text = ""
        while PURGE_SUCCESS not in text:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, text
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
            except httpx.TransportError:
                time.sleep(0.1)
        assert "liquifact_job_queue_depth" in text
        assert 'liquifact_worker_inflight_count{type="maintenance.idempotency_purge"} 0.0' in text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        output = process.stdout.read() if process.stdout else ""
        assert '"signal": "SIGTERM"' in output or '"signal":"SIGTERM"' in output, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def test_serve_on_sqlite_runs_the_embedded_worker(tmp_path: Path) -> None:
    database = tmp_path / "data.db"
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "JWT_SECRET": TEST_SECRET,
        "WORKER_POLL_INTERVAL_MS": "50",
    }
    with running_server(env, cwd=tmp_path) as base:
        deadline = time.monotonic() + 20
        while PURGE_SUCCESS not in (text := httpx.get(base + "/metrics", timeout=5).text):
            assert time.monotonic() < deadline, text
            time.sleep(0.1)
    purges = [s for job, s in system_jobs(database) if job.startswith("job_sched_idempotency")]
    assert purges == [JobStatus.SUCCEEDED]
