"""Prometheus metrics on an app-owned registry (never the global one: tests build many apps).

Label values are bounded: routes are templates (``/v1/invoices/{id}``), never raw paths, and
unmatched paths share one label. docs/operations.md lists every metric; the alert rules and the
Grafana dashboard in docs/ reference only names defined here (a test checks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED_ROUTE = "<unmatched>"
# The job_type label of the reminder counters (the spec's value) and the dead-letter reasons.
REMINDER_JOB_TYPE = "maturity_reminder"
REMINDER_DEAD_LETTER_REASONS = ("permanent_error", "max_retries_exceeded")
BODY_LIMIT_TYPES = ("json", "urlencoded", "invoice", "unknown")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@attrs.frozen
class JobSample:
    """What one job queue or worker reports for one job type when /metrics is scraped."""

    queue_depth: int = 0
    retry_queue_size: int = 0
    inflight: int = 0


JobSampler = Callable[[], Mapping[str, JobSample]]
"""Samples per job type (the ``type`` label; job types are a fixed, small set)."""

_JOB_GAUGES = (
    (
        "liquifact_job_queue_depth",
        "Pending jobs that are due, by job type (the whole queue, every tenant).",
        "queue_depth",
    ),
    (
        "liquifact_job_retry_queue_size",
        "Pending jobs waiting for a retry after a failed attempt, by job type.",
        "retry_queue_size",
    ),
    (
        "liquifact_worker_inflight_count",
        "Jobs being run by this process's worker, by job type.",
        "inflight",
    ),
)


class _JobCollector(Collector):
    """The spec's background-job gauges, sampled from registered queues/workers at scrape
    time; the samples of several sources add up per job type."""

    def __init__(self) -> None:
        self.samplers: dict[str, JobSampler] = {}

    def collect(self) -> Iterator[Metric]:
        totals: dict[str, dict[str, int]] = {}
        for sampler in list(self.samplers.values()):
            try:
                sampled = dict(sampler())
            except Exception:  # noqa: S112 - a broken sampler must not break the scrape
                continue
            for job_type, sample in sampled.items():
                tally = totals.setdefault(job_type, {})
                for _, _, field in _JOB_GAUGES:
                    tally[field] = tally.get(field, 0) + getattr(sample, field)
        for name, documentation, field in _JOB_GAUGES:
            family = GaugeMetricFamily(name, documentation, labels=["type"])
            for job_type in sorted(totals):
                family.add_metric([job_type], totals[job_type][field])
            yield family

    def describe(self) -> Iterable[Metric]:
        return []


IndexerSampler = Callable[[], "tuple[int | None, float | None]"]
"""The escrow indexer's (lag in ledgers, seconds since the last committed pass), None when
unknown (``EscrowService.indexer_status``)."""


class _IndexerCollector(Collector):
    """``liquifact_indexer_lag_ledgers`` and ``liquifact_indexer_last_run_age_seconds``,
    sampled at scrape time from the store's indexer cursors; absent until a sampler is set
    and a pass has committed."""

    def __init__(self) -> None:
        self.sampler: IndexerSampler | None = None

    def collect(self) -> Iterator[Metric]:
        if self.sampler is None:
            return
        try:
            lag, age = self.sampler()
        except Exception:  # a failing store must not break the scrape
            return
        if lag is not None:
            yield GaugeMetricFamily(
                "liquifact_indexer_lag_ledgers",
                "The newest ledger known minus the oldest ledger a tenant's escrow indexer "
                "pass reached (every tenant).",
                value=lag,
            )
        if age is not None:
            yield GaugeMetricFamily(
                "liquifact_indexer_last_run_age_seconds",
                "Seconds since the oldest of the tenants' last committed escrow indexer passes.",
                value=age,
            )

    def describe(self) -> Iterable[Metric]:
        return []


class Metrics:
    """Every metric the API emits, registered on its own ``CollectorRegistry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "http_request_duration_seconds",
            "Time from request start to the end of the response, by route template.",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.readiness = Gauge(
            "readiness_gauge",
            "1 when the named readiness check passed at its last run, else 0.",
            ["check"],
            registry=r,
        )
        self.body_size_rejections = Counter(
            "body_size_limit_rejections_total",
            "Requests refused with 413, by the body parser type whose limit was exceeded.",
            ["type"],
            registry=r,
        )
        self.rate_limited = Counter(
            "rate_limit_rejections_total",
            "Requests refused with 429, by the policy that refused them.",
            ["policy"],
            registry=r,
        )
        self.rate_limit_store_errors = Counter(
            "rate_limit_store_errors_total",
            "Rate-limit store failures; the request was let through (fail open).",
            registry=r,
        )
        self.cache_hits = Counter(
            "response_cache_hits_total", "Responses served from the cache.", ["cache"], registry=r
        )
        self.cache_misses = Counter(
            "response_cache_misses_total",
            "Cacheable requests answered by the handler (miss or bypass).",
            ["cache"],
            registry=r,
        )
        self.cache_evictions = Counter(
            "response_cache_evictions_total",
            "Entries evicted from the in-process cache to stay within its bound.",
            ["cache"],
            registry=r,
        )
        self.cache_errors = Counter(
            "response_cache_errors_total",
            "Cache store failures (the request was answered without the cache).",
            ["cache", "operation"],
            registry=r,
        )
        self.jobs = _JobCollector()
        r.register(self.jobs)
        self.indexer = _IndexerCollector()
        r.register(self.indexer)
        self.job_attempts = Counter(
            "liquifact_job_attempts_total",
            "Job attempts started by this process's worker, by job type.",
            ["type"],
            registry=r,
        )
        self.job_successes = Counter(
            "liquifact_job_successes_total",
            "Job attempts that succeeded, by job type.",
            ["type"],
            registry=r,
        )
        self.job_retries = Counter(
            "liquifact_job_retries_total",
            "Job attempts that failed and were scheduled again, by job type.",
            ["type"],
            registry=r,
        )
        self.job_dead_letters = Counter(
            "liquifact_job_dead_letters_total",
            "Jobs that became dead letters after an attempt of this process, by job type.",
            ["type"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "soroban_circuit_breaker_state_transitions_total",
            "Circuit breaker state transitions, by breaker (dependency) and the state entered "
            "(CLOSED, OPEN, HALF_OPEN).",
            ["breaker_name", "state"],
            registry=r,
        )
        # Reconciliation (the spec's four instruments; issue 12, item 8). No tenant label: the
        # operator's view of every tenant's runs, which carries no tenant's amounts apart.
        self.reconciliation_mismatches = Counter(
            "escrow_reconciliation_mismatches_total",
            "Invoices found mismatched (store funded total != the contract's funded_amount), "
            "summed over every run.",
            registry=r,
        )
        self.reconciliation_mismatched_invoices = Gauge(
            "escrow_reconciliation_mismatched_invoices",
            "Mismatched invoices in the most recent reconciliation (all tenants it visited).",
            registry=r,
        )
        self.reconciliation_drift_magnitude = Gauge(
            "escrow_reconciliation_drift_magnitude",
            "Sum of |chain funded_amount - store funded total| in stroops over the most "
            "recent reconciliation (all tenants it visited).",
            registry=r,
        )
        self.reconciliation_drift_alerts = Counter(
            "escrow_reconciliation_drift_alerts_total",
            "Reconciliation runs whose mismatches met or exceeded RECONCILIATION_DRIFT_THRESHOLD.",
            registry=r,
        )
        # Maturity reminders (issue 15): the spec's three counters and their labels.
        self.reminder_attempts = Counter(
            "maturity_reminder_delivery_attempts_total",
            "Maturity reminder e-mails handed to the mail server (or logged in dry-run mode), "
            "retries included.",
            ["job_type"],
            registry=r,
        )
        self.reminder_successes = Counter(
            "maturity_reminder_delivery_success_total",
            "Maturity reminder e-mails the mail server accepted (or logged in dry-run mode).",
            ["job_type"],
            registry=r,
        )
        self.reminder_dead_letters = Counter(
            "maturity_reminder_dead_letter_total",
            "Maturity reminders written to maturity_reminder_dead_letters, by reason "
            "(permanent_error: an SMTP 5xx or invalid recipient; max_retries_exceeded).",
            ["job_type", "reason"],
            registry=r,
        )
        for kind in BODY_LIMIT_TYPES:  # expose zeros so rate() works from the first scrape
            self.body_size_rejections.labels(type=kind)
        self.reminder_attempts.labels(job_type=REMINDER_JOB_TYPE)
        self.reminder_successes.labels(job_type=REMINDER_JOB_TYPE)
        for reason in REMINDER_DEAD_LETTER_REASONS:
            self.reminder_dead_letters.labels(job_type=REMINDER_JOB_TYPE, reason=reason)

    def register_job_source(self, name: str, sampler: JobSampler) -> None:
        """Add a job queue or worker to the job gauges (sampled per scrape): ``sampler``
        returns a ``JobSample`` per job type."""
        self.jobs.samplers[name] = sampler

    def register_indexer_source(self, sampler: IndexerSampler) -> None:
        """Sample the escrow indexer's lag and last pass age at each scrape."""
        self.indexer.sampler = sampler

    def record_readiness(self, check: str, ok: bool) -> None:
        self.readiness.labels(check=check).set(1 if ok else 0)

    def record_breaker_transition(self, breaker_name: str, state: str) -> None:
        """Count one transition of ``breaker_name`` into ``state`` (the spec's
        ``soroban_circuit_breaker_state_transitions_total``); a plain callback for
        ``open_services(on_breaker_change=...)``."""
        self.breaker_transitions.labels(breaker_name=breaker_name, state=state).inc()


class ReminderMetrics:
    """A ``ReminderObserver`` (``liquifact_core.services.reminders``) counting deliveries in
    the spec's three counters."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def attempted(self) -> None:
        self._metrics.reminder_attempts.labels(job_type=REMINDER_JOB_TYPE).inc()

    def delivered(self) -> None:
        self._metrics.reminder_successes.labels(job_type=REMINDER_JOB_TYPE).inc()

    def dead_lettered(self, reason: str) -> None:
        self._metrics.reminder_dead_letters.labels(
            job_type=REMINDER_JOB_TYPE, reason=str(reason)
        ).inc()


def metrics_of(app_or_metrics: Any) -> Metrics:
    """The ``Metrics`` of an app (``app.state.metrics``), or the argument if it is one."""
    if isinstance(app_or_metrics, Metrics):
        return app_or_metrics
    found = app_or_metrics.state.metrics
    assert isinstance(found, Metrics)
    return found


def record_readiness(app_or_metrics: Any, check: str, ok: bool) -> None:
    """Set ``readiness_gauge{check=...}`` to 1 (passed) or 0 (failed).

    For readiness routes: ``record_readiness(request.app, "database", ok)`` after each check.
    """
    metrics_of(app_or_metrics).record_readiness(check, ok)


def route_template(routes: Iterable[BaseRoute], scope: Scope) -> str:
    """The path template of the route that serves ``scope`` (bounded label cardinality)."""
    partial: str | None = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.NONE:
            continue
        template = _template_of(route)
        if match is Match.FULL:
            return template
        partial = partial or template
    return partial or UNMATCHED_ROUTE


def _template_of(route: BaseRoute) -> str:
    if isinstance(route, Mount):
        return route.path + "/{path}"
    if isinstance(route, Route):
        return route.path
    return UNMATCHED_ROUTE


def served_route_template(scope: Scope) -> str:
    """``route_template`` of a request after the app answered it: Starlette's router leaves
    the route it chose in ``scope["route"]`` (the first full match, else the first partial
    one, as ``route_template`` picks), so only a request answered before routing (a 400, 413,
    429 or CORS refusal from a middleware) is matched against the route table here."""
    route = scope.get("route")
    if isinstance(route, BaseRoute):
        return _template_of(route)
    app = scope.get("app")
    return route_template(app.router.routes if app is not None else [], scope)


_Instruments = tuple[Any, Any]  # (the request counter's child, the latency histogram's child)


class MetricsMiddleware:
    """Counts every request and its latency by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled children by (method, route, status): a bounded set (methods, route
        # templates, statuses), looked up once each instead of through ``labels()`` per request.
        self._children: dict[tuple[str, str, str], _Instruments] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            key = (
                scope["method"] if scope["method"] in _METHODS else "OTHER",
                served_route_template(scope),
                str(status),
            )
            children = self._children.get(key)
            if children is None:
                labels = dict(zip(("method", "route", "status"), key, strict=True))
                children = (
                    self.metrics.http_requests.labels(**labels),
                    self.metrics.http_latency.labels(**labels),
                )
                self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - started)
