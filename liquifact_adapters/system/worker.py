"""The job worker engine: a polling loop and a small pool of handler threads around the pure
round of ``liquifact_core.worker``.

The loop claims at most as many jobs as it has idle threads (so no claimed job waits for a
thread while its lease runs), hands each to a thread, and sleeps ``poll_interval`` when
nothing was due. It ticks the schedule (``liquifact_core.schedules.Scheduler``) every round.

Stopping (``stop``): no new claims; jobs in flight get ``grace`` seconds to finish. Whatever
is still running then is abandoned: the threads are daemons, so the process can exit, and the
job's lease expires and another worker (or this one, restarted) runs it again. The signal
handling that calls ``stop`` belongs to the process (``liquifact worker``, ``liquifact serve``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from liquifact_core.jobs import Backoff, Job, JobHandler
from liquifact_core.worker import (
    IgnoreEvents,
    Outcome,
    WorkerObserver,
    WorkerPlan,
    claim_due,
    run_claimed,
)

if TYPE_CHECKING:
    from liquifact_core.ports import Clock, JobQueue
    from liquifact_core.schedules import Scheduler

_log = logging.getLogger("liquifact.worker")


@attrs.frozen
class WorkerOptions:
    """``batch_size``: most jobs one claim takes; ``concurrency``: handler threads;
    ``poll_interval``: seconds to sleep when nothing is due."""

    batch_size: int = 10
    concurrency: int = 4
    poll_interval: float = 1.0

    def __attrs_post_init__(self) -> None:
        if self.batch_size < 1 or self.concurrency < 1 or self.poll_interval <= 0:
            raise ValueError("batch_size and concurrency >= 1, poll_interval > 0")


class Worker:
    """Runs due jobs of the handled types until stopped. Thread-safe ``inflight``."""

    def __init__(
        self,
        job_queue: JobQueue,
        handlers: Mapping[str, JobHandler],
        plan: WorkerPlan,
        clock: Clock,
        backoff: Backoff,
        options: WorkerOptions | None = None,
        *,
        scheduler: Scheduler | None = None,
        observer: WorkerObserver | None = None,
    ) -> None:
        self._queue = job_queue
        self._handlers = dict(handlers)
        self.plan = plan
        self._clock = clock
        self._backoff = backoff
        self.options = options or WorkerOptions()
        self._scheduler = scheduler
        self._observer = observer or IgnoreEvents()
        self._stopping = threading.Event()
        self._work: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Condition()
        self._inflight = 0
        self._inflight_types: Counter[str] = Counter()
        self._threads: list[threading.Thread] = []
        self._loop: threading.Thread | None = None

    @property
    def inflight(self) -> int:
        """Jobs claimed by this worker whose outcome is not recorded yet."""
        with self._lock:
            return self._inflight

    def inflight_by_type(self) -> dict[str, int]:
        """``inflight`` per handled job type (0 for idle types)."""
        with self._lock:
            return {job_type: self._inflight_types[job_type] for job_type in self.plan.job_types}

    # ---- one round, in the calling thread (``liquifact worker --once``, tests) ----

    def run_once(self) -> int:
        """Tick the schedule, then claim up to ``batch_size`` due jobs and run them here, one
        after another; how many were claimed."""
        self._tick()
        claimed = claim_due(self._queue, self.plan, self._clock, self.options.batch_size)
        for job in claimed:
            self._begin(job)
            self._run(job)
        return len(claimed)

    def drain(self, max_rounds: int = 1000) -> int:
        """``run_once`` until a round claims nothing (at most ``max_rounds``); jobs run."""
        total = 0
        for _ in range(max_rounds):
            ran = self.run_once()
            total += ran
            if ran == 0:
                break
        return total

    # ---- the background engine ----

    def start(self) -> None:
        """Start the loop and the handler threads (daemons) in the background."""
        if self._loop is not None:
            raise RuntimeError("This worker was started already.")
        for number in range(self.options.concurrency):
            thread = threading.Thread(
                target=self._serve, name=f"liquifact-job-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self._loop = threading.Thread(target=self._poll, name="liquifact-worker", daemon=True)
        self._loop.start()
        _log.info("worker_started", extra={"worker_id": self.plan.worker_id})

    def run_forever(self) -> None:
        """``start``, then wait in the calling thread until ``stop`` is called."""
        self.start()
        self._stopping.wait()

    def stop(self, grace: float = 10.0) -> bool:
        """Claim nothing more; wait up to ``grace`` seconds for the jobs in flight. True when
        none was left running (False: those are abandoned; their leases expire)."""
        self._stopping.set()
        with self._lock:
            finished = self._lock.wait_for(lambda: self._inflight == 0, timeout=grace)
        for _ in self._threads:
            self._work.put(None)
        if self._loop is not None:
            self._loop.join(timeout=max(grace, 0.1))
        _log.info(
            "worker_stopped",
            extra={"worker_id": self.plan.worker_id, "abandoned": self.inflight},
        )
        return finished

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            claimed = 0
            try:
                self._tick()
                with self._lock:
                    idle = self.options.concurrency - self._inflight
                limit = min(self.options.batch_size, idle)
                for job in claim_due(self._queue, self.plan, self._clock, limit):
                    self._begin(job)
                    self._work.put(job)
                    claimed += 1
            except Exception:
                # The store is down or refused: log, wait, try again (jobs stay in the table).
                _log.exception("worker_poll_failed")
            if claimed and claimed == limit:
                # A full batch: more may be due. Wait for an idle thread, not for the clock.
                with self._lock:
                    self._lock.wait_for(
                        lambda: (
                            self._inflight < self.options.concurrency or self._stopping.is_set()
                        ),
                        timeout=self.options.poll_interval,
                    )
                continue
            self._stopping.wait(self.options.poll_interval)

    def _tick(self) -> None:
        if self._scheduler is None:
            return
        try:
            for job_id in self._scheduler.tick():
                _log.info("scheduled_job_enqueued", extra={"job_id": job_id})
        except Exception:
            _log.exception("schedule_tick_failed")

    def _serve(self) -> None:
        while True:
            job = self._work.get()
            if job is None:
                return
            self._run(job)

    def _begin(self, job: Job) -> None:
        with self._lock:
            self._inflight += 1
            self._inflight_types[job.type] += 1
        self._observer.claimed(job)

    def _run(self, job: Job) -> None:
        outcome: Outcome | None = None
        try:
            outcome = run_claimed(job, self._queue, self._handlers, self._clock, self._backoff)
        except Exception:
            # Recording failed (the store is unreachable): the lease expires and it runs again.
            _log.exception("job_outcome_not_recorded", extra={"job_id": job.id})
        finally:
            with self._lock:
                self._inflight -= 1
                self._inflight_types[job.type] -= 1
                self._lock.notify_all()
        if outcome is not None:
            self._observer.settled(job, outcome)
            _log.info(
                "job_settled",
                extra={
                    "job_id": job.id,
                    "job_type": job.type,
                    "attempt": job.attempts,
                    "outcome": outcome.value,
                },
            )
