"""A job worker process for the tests (never imported by the application): the production
engine (``open_worker``) with the production handlers plus a test job type, every run recorded.

    python -m tests.integration.job_worker_script DATABASE_URL RUNS_DIR [--lease S] [--once]
        [--webhook-key FERNET_KEY]

Each handler call appends ``<job id> <attempt>`` to ``RUNS_DIR/runs-<pid>.log`` before it
runs. ``test.record`` jobs whose payload has ``"hangOnAttempt": n`` write
``RUNS_DIR/hanging-<job id>`` and sleep for a minute on attempt n (the test kills the process
meanwhile). Without ``--once`` the worker runs until SIGTERM, then stops gracefully.
Webhook deliveries go to loopback receivers (WEBHOOK_ALLOW_INSECURE_LOOPBACK) and open
secrets with ``--webhook-key`` (the key the test sealed them with).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from liquifact_adapters import open_services
from liquifact_adapters.composition import ServicesConfig, job_handlers, open_worker
from liquifact_core.jobs import Job, JobHandler

TEST_JOB_TYPE = "test.record"


def recording(runs: Path, handler: JobHandler) -> Callable[[Job], None]:
    log = runs / f"runs-{os.getpid()}.log"

    def run(job: Job) -> None:
        with log.open("a", encoding="utf-8") as out:
            out.write(f"{job.id} {job.attempts}\n")
        handler(job)

    return run


def record_handler(runs: Path) -> Callable[[Job], None]:
    def handle(job: Job) -> None:
        if job.payload.get("hangOnAttempt") == job.attempts:
            (runs / f"hanging-{job.id}").write_text(str(os.getpid()), encoding="utf-8")
            time.sleep(60)

    return handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("runs", type=Path)
    parser.add_argument("--lease", type=int, default=30)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--webhook-key", default=None)
    args = parser.parse_args()
    config = ServicesConfig(
        database_url=args.database_url,
        database_pool_max_size=8,
        webhook_secrets_key=args.webhook_key,
        webhook_allow_insecure_loopback=True,
        webhook_base_delay_ms=10,
        webhook_max_delay_ms=50,
    )
    services = open_services(config)
    handlers: dict[str, JobHandler] = {
        **job_handlers(services, config),
        TEST_JOB_TYPE: record_handler(args.runs),
    }
    worker = open_worker(
        services,
        {job_type: recording(args.runs, handler) for job_type, handler in handlers.items()},
        concurrency=4,
        batch_size=10,
        poll_interval_seconds=0.05,
        lease_seconds=args.lease,
        retry_base_delay_ms=10,
        retry_max_delay_ms=50,
    )
    try:
        if args.once:
            worker.drain()
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        worker.start()
        (args.runs / f"ready-{os.getpid()}").touch()
        while not stop.wait(0.1):
            pass
        worker.stop(5)
    finally:
        services.close()


if __name__ == "__main__":
    main()
