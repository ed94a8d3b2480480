"""The HTTP composition root: settings in, an ASGI app out.

Adapter selection lives in the library (``liquifact_adapters.composition.open_services``); this
module turns ``Settings`` into its ``ServicesConfig``, passes metrics callbacks, and wires
middleware and routes around the result.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from liquifact_adapters.composition import (
    MigrationRunner,
    PostgresMigrations,
    SchemaOutdated,
    SqliteMigrations,
    open_cache,
    open_services,
    open_store,
)
from liquifact_adapters.composition import migration_runner as library_migration_runner
from liquifact_core.chain import EscrowLedger, FundingChain
from liquifact_core.ports import Cache, Clock, IdGenerator, Store
from liquifact_core.services import Services
from liquifact_http.auth import Authenticator
from liquifact_http.background import register_queue_gauges
from liquifact_http.callers import CallerResolver
from liquifact_http.errors import EXCEPTION_HANDLERS
from liquifact_http.gc_tuning import tune_for_serving
from liquifact_http.logs import configure_logging, get_logger
from liquifact_http.metrics import Metrics, MetricsMiddleware, ReminderMetrics
from liquifact_http.middleware.body_limit import BodyLimitMiddleware, BodyLimits
from liquifact_http.middleware.correlation import CorrelationMiddleware
from liquifact_http.middleware.deprecation import DeprecatedAliasMiddleware
from liquifact_http.middleware.forwarded import ForwardedHeadersMiddleware
from liquifact_http.middleware.headers import SingletonHeadersMiddleware
from liquifact_http.middleware.security import CorsMiddleware, SecurityHeadersMiddleware
from liquifact_http.ratelimit import (
    IdentifyPrincipalMiddleware,
    RateLimitMiddleware,
    RateLimits,
    WindowCounter,
)
from liquifact_http.reconciliation_report import ReconciliationReport
from liquifact_http.routes import (
    audit,
    auth,
    docs,
    documents,
    escrow,
    funding,
    health,
    invoices,
    kyc,
    marketplace,
    metrics,
    probes,
    profiles,
    reconciliation,
    retention,
    webhooks,
)
from liquifact_http.sentry import init_sentry
from liquifact_http.sep10 import SignIn
from liquifact_http.settings import Settings, services_config

if TYPE_CHECKING:
    from liquifact_adapters.system.worker import Worker

# The library's names stay importable from here for the CLI and existing callers.
__all__ = [
    "MigrationRunner",
    "PostgresMigrations",
    "SchemaOutdated",
    "SqliteMigrations",
    "build_cache",
    "build_rate_counter",
    "build_services",
    "build_store",
    "create_app",
    "migration_runner",
    "services_config",
]

_cache_log = get_logger("liquifact.cache")
_breaker_log = get_logger("liquifact.soroban")


def build_store(settings: Settings) -> Store:
    """The store ``DATABASE_URL`` names (SQLite by default); see ``open_store``.

    PostgreSQL's schema changes only through ``liquifact db migrate``; a database that lacks a
    migration raises SchemaOutdated here, before anything serves requests.
    """
    return open_store(services_config(settings))


def migration_runner(settings: Settings) -> MigrationRunner:
    """What ``liquifact db`` runs on the store ``DATABASE_URL`` names."""
    return library_migration_runner(services_config(settings))


def _cache_observers(
    metrics: Metrics | None,
) -> tuple[Callable[[list[str]], None], Callable[[str, str, Exception], None]]:
    """Plain callables that log cache failures and count them (and evictions) in Prometheus."""
    from liquifact_http.caching import family_of

    def on_evict(keys: list[str]) -> None:
        if metrics is not None:
            for key in keys:
                metrics.cache_evictions.labels(cache=family_of(key)).inc()

    def on_error(operation: str, key: str, error: Exception) -> None:
        _cache_log.warning(
            "cache_store_failed", operation=operation, error_type=type(error).__name__
        )
        if metrics is not None:
            metrics.cache_errors.labels(cache=family_of(key), operation=operation).inc()

    return on_evict, on_error


def build_cache(settings: Settings, metrics: Metrics | None = None) -> Cache:
    """The response/read cache: Redis when ``REDIS_URL`` is set (shared by every process),
    else an in-process LRU of ``CACHE_MAX_ENTRIES``. ``metrics`` receives evictions and errors."""
    on_evict, on_error = _cache_observers(metrics)
    return open_cache(services_config(settings), on_evict=on_evict, on_error=on_error)


def build_rate_counter(settings: Settings) -> WindowCounter:
    """Rate-limit counters: in Redis when ``REDIS_URL`` is set (limits count across every
    process), else in this process."""
    if settings.redis_url:
        from liquifact_adapters.redis import RedisWindowCounter, connect

        return RedisWindowCounter(
            connect(settings.redis_url), namespace=settings.redis_key_prefix + "ratelimit:"
        )
    from liquifact_adapters.cache import InProcessWindowCounter

    return InProcessWindowCounter()


def build_services(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    cache: Cache | None = None,
    metrics: Metrics | None = None,
    chain: FundingChain | None = None,
    ledger: EscrowLedger | None = None,
) -> Services:
    """``open_services`` over the environment's settings, with cache events and
    reconciliation runs sent to ``metrics`` and the log; pass any port to replace the
    configured one (``ledger``: the escrow reads of link checks, readiness and
    reconciliation and the escrow indexer; default: the Soroban RPC SOROBAN_RPC_URL names,
    if set). Library users
    who do not run the server call ``liquifact_adapters.open_services`` directly."""
    settings = settings or Settings()
    on_evict, on_error = _cache_observers(metrics)
    return open_services(
        services_config(settings),
        store=store,
        clock=clock,
        ids=ids,
        cache=cache,
        chain=chain,
        ledger=ledger,
        on_cache_evict=on_evict,
        on_cache_error=on_error,
        on_breaker_change=_breaker_observer(metrics),
        on_reconciliation=ReconciliationReport(metrics),
        on_reminder=ReminderMetrics(metrics) if metrics is not None else None,
    )


def _breaker_observer(metrics: Metrics | None) -> Callable[[str, str], None]:
    """Logs each circuit breaker transition and counts it in Prometheus."""

    def on_change(breaker_name: str, state: str) -> None:
        _breaker_log.warning("circuit_breaker_transition", breaker=breaker_name, state=state)
        if metrics is not None:
            metrics.record_breaker_transition(breaker_name, state)

    return on_change


def all_routes() -> Sequence[BaseRoute]:
    return [
        *probes.routes,
        *health.routes,
        *metrics.routes,
        *invoices.routes,
        *marketplace.routes,
        *profiles.routes,
        *funding.routes,
        *auth.routes,
        *webhooks.routes,
        *reconciliation.routes,
        *escrow.routes,
        *kyc.routes,
        *documents.routes,
        *audit.routes,
        *retention.routes,
        *docs.routes,
    ]


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    resolve_caller: CallerResolver | None = None,
    metrics: Metrics | None = None,
    rate_counter: WindowCounter | None = None,
    worker: Worker | None = None,
    **overrides: Any,
) -> Starlette:
    """The ASGI app. ``services`` (or port ``overrides`` such as ``store=``) replace adapters;
    ``resolve_caller`` replaces how callers are identified (default: JWT bearer tokens and
    API keys as ``settings`` configure them, see ``auth.Authenticator``); ``metrics`` and
    ``rate_counter`` replace the app's registry and rate-limit store. ``worker`` (the embedded
    job worker, ``liquifact_http.background.build_worker``) starts with the app's lifespan and
    stops with it, its jobs in flight given SHUTDOWN_TIMEOUT_SECONDS to finish."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    init_sentry(settings)
    metrics = metrics or Metrics()
    owns_services = services is None
    wired = services or build_services(settings, metrics=metrics, **overrides)
    built_counter: WindowCounter | None = None  # closed with the app: it opened it
    resolver = resolve_caller or Authenticator(settings)
    operations: list[Middleware] = [
        Middleware(MetricsMiddleware, metrics=metrics),
        # Repeated singleton headers are 400 (counted by metrics) before the rate limiter and
        # the routes read Authorization, X-API-Key, If-Match ...
        Middleware(SingletonHeadersMiddleware),
    ]
    if settings.rate_limit_enabled:
        if rate_counter is None:
            rate_counter = built_counter = build_rate_counter(settings)
        if isinstance(resolver, Authenticator):
            # Count verified users and API clients as themselves, not by their address.
            operations.append(Middleware(IdentifyPrincipalMiddleware, identify=resolver.identify))
        operations.append(
            Middleware(
                RateLimitMiddleware,
                counter=rate_counter,
                limits=RateLimits.from_settings(settings),
                metrics=metrics,
            )
        )
    limits = BodyLimits(
        settings.body_limit_json, settings.body_limit_urlencoded, settings.body_limit_invoice
    )
    operations.append(Middleware(BodyLimitMiddleware, limits=limits, metrics=metrics))

    register_queue_gauges(metrics, wired)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Everything built so far lives as long as the process: out of the collector's way.
        tune_for_serving()
        if worker is not None:
            worker.start()
        yield
        try:
            if worker is not None:
                # Blocking (up to the grace period): off the event loop.
                await anyio.to_thread.run_sync(worker.stop, settings.shutdown_timeout_seconds)
        finally:
            await _close()

    async def _close() -> None:
        try:
            if owns_services:
                wired.close()
        finally:
            if built_counter is not None:
                built_counter.close()

    app = Starlette(
        routes=list(all_routes()),
        # Outermost first. Security headers wrap everything, the last-resort 500 included;
        # CORS answers inside the correlation middleware so its 403s carry the id; metrics,
        # rate limits and body limits see canonical /v1 paths.
        middleware=[
            # TRUST_PROXY applied once, first: every layer below sees the client's address
            # and scheme (uvicorn's ProxyHeadersMiddleware, see middleware/forwarded.py).
            Middleware(ForwardedHeadersMiddleware, trust_proxy=settings.trust_proxy),
            Middleware(SecurityHeadersMiddleware),
            Middleware(CorrelationMiddleware),
            Middleware(CorsMiddleware, allowed_origins=settings.cors_allowed_origins),
            Middleware(DeprecatedAliasMiddleware),
            *operations,
        ],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )
    # Starlette would answer /v1/invoices/ with a 307 to an absolute URL built from the Host
    # header (an open redirect, and clients re-send POST bodies to it). One spelling per
    # route: the other is a plain 404 problem (docs/security.md).
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.services = wired
    app.state.metrics = metrics
    app.state.resolve_caller = resolver
    app.state.sign_in = SignIn(settings)
    return app
