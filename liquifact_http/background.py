"""The job worker as the server and ``liquifact worker`` run it: settings in, a ``Worker``
out, with its events counted in Prometheus and its in-flight jobs sampled by the gauges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liquifact_adapters.composition import job_handlers, open_worker
from liquifact_core.jobs import Job, JobHandler
from liquifact_core.worker import Outcome
from liquifact_http.metrics import JobSample, Metrics
from liquifact_http.settings import services_config

if TYPE_CHECKING:
    from collections.abc import Mapping

    from liquifact_adapters.system.worker import Worker
    from liquifact_core.services import Services
    from liquifact_http.settings import Settings


class WorkerMetrics:
    """A ``WorkerObserver`` counting attempts and their outcomes per job type."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def claimed(self, job: Job) -> None:
        self._metrics.job_attempts.labels(type=job.type).inc()

    def settled(self, job: Job, outcome: Outcome) -> None:
        counter = {
            Outcome.SUCCEEDED: self._metrics.job_successes,
            Outcome.RETRYING: self._metrics.job_retries,
            Outcome.DEAD: self._metrics.job_dead_letters,
        }.get(outcome)
        if counter is not None:
            counter.labels(type=job.type).inc()


def register_queue_gauges(metrics: Metrics, services: Services) -> None:
    """Sample the queue's depth and retry queue per job type (every tenant), and the escrow
    indexer's lag and last pass age, at each scrape."""

    def sample() -> Mapping[str, JobSample]:
        counts = services.store.job_queue.counts(services.clock.now())
        return {
            job_type: JobSample(queue_depth=c.queue_depth, retry_queue_size=c.retry_queue)
            for job_type, c in counts.items()
        }

    metrics.register_job_source("queue", sample)

    def indexer() -> tuple[int | None, float | None]:
        status = services.escrows.indexer_status()
        return status.lag_ledgers, status.last_run_age_seconds

    metrics.register_indexer_source(indexer)


def build_worker(
    settings: Settings,
    services: Services,
    metrics: Metrics | None = None,
    handlers: Mapping[str, JobHandler] | None = None,
) -> Worker:
    """The worker the settings describe (WORKER_*, JOB_RETRY_*), running ``handlers``
    (default: every registered one, ``liquifact_adapters.composition.job_handlers``) and the
    schedule; with ``metrics`` its attempts, outcomes and in-flight jobs are measured. Not
    started."""
    worker = open_worker(
        services,
        job_handlers(services, services_config(settings)) if handlers is None else handlers,
        batch_size=settings.worker_batch_size,
        concurrency=settings.worker_concurrency,
        poll_interval_seconds=settings.worker_poll_interval_ms / 1000,
        lease_seconds=settings.worker_lease_seconds,
        retry_base_delay_ms=settings.job_retry_base_delay_ms,
        retry_max_delay_ms=settings.job_retry_max_delay_ms,
        observer=WorkerMetrics(metrics) if metrics is not None else None,
    )
    if metrics is not None:
        metrics.register_job_source(
            "worker",
            lambda: {t: JobSample(inflight=n) for t, n in worker.inflight_by_type().items()},
        )
        for job_type in worker.plan.job_types:  # counters exist from 0, so rate() works
            for counter in (
                metrics.job_attempts,
                metrics.job_successes,
                metrics.job_retries,
                metrics.job_dead_letters,
            ):
                counter.labels(type=job_type)
    return worker
