"""The composition root: the only place that picks adapters and wires them to the core."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import attrs
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from liquifact_adapters.system import RandomIdGenerator, SystemClock
from liquifact_core.ports import Cache, Clock, EscrowChain, IdGenerator, Store
from liquifact_core.services import Services
from liquifact_http.auth import Authenticator
from liquifact_http.callers import CallerResolver
from liquifact_http.errors import EXCEPTION_HANDLERS
from liquifact_http.logs import configure_logging, get_logger
from liquifact_http.metrics import Metrics, MetricsMiddleware
from liquifact_http.middleware.body_limit import BodyLimitMiddleware, BodyLimits
from liquifact_http.middleware.correlation import CorrelationMiddleware
from liquifact_http.middleware.deprecation import DeprecatedAliasMiddleware
from liquifact_http.middleware.security import CorsMiddleware, SecurityHeadersMiddleware
from liquifact_http.ratelimit import (
    IdentifyPrincipalMiddleware,
    RateLimitMiddleware,
    RateLimits,
    WindowCounter,
)
from liquifact_http.routes import docs, funding, health, invoices, marketplace, metrics, probes
from liquifact_http.sentry import init_sentry
from liquifact_http.settings import Settings

MIGRATE_COMMAND = "liquifact db migrate"


class SchemaOutdated(Exception):
    """The database lacks migrations this code needs; the server must not start on it."""

    def __init__(self, pending: Sequence[str]) -> None:
        super().__init__(
            "The database schema is older than this code (pending migrations: "
            f"{', '.join(pending)}). Run `{MIGRATE_COMMAND}` with the same DATABASE_URL, "
            "then start again."
        )
        self.pending = tuple(pending)


_cache_log = get_logger("liquifact.cache")


def build_store(settings: Settings) -> Store:
    """The store that ``DATABASE_URL`` names (SQLite by default).

    The embedded store migrates its own file on open. PostgreSQL is shared by many processes,
    so its schema changes only through ``liquifact db migrate``; a database that lacks a
    migration raises SchemaOutdated here, before anything serves requests.
    """
    if settings.postgres_url is not None:
        return _postgres_store(settings, settings.postgres_url)
    from liquifact_adapters.sqlite import SqliteStore

    path = settings.sqlite_path
    if path is None:  # pragma: no cover - the settings gate admits only known schemes
        raise ValueError("unsupported DATABASE_URL")
    return SqliteStore(path)


def _postgres_store(settings: Settings, url: str) -> Store:
    from liquifact_adapters.postgres import PostgresStore

    store = PostgresStore(
        url,
        app_role=settings.database_app_role,
        pool_min_size=settings.database_pool_min_size,
        pool_max_size=settings.database_pool_max_size,
        statement_timeout_ms=settings.database_statement_timeout_ms,
    )
    try:
        pending = store.pending_migrations()
    except BaseException:
        store.close()
        raise
    if pending:
        store.close()
        raise SchemaOutdated([migration.label for migration in pending])
    return store


class MigrationRunner(Protocol):
    """Schema management of the configured store, for ``liquifact db``."""

    def migrate(self) -> list[str]: ...
    def rollback(self) -> str | None: ...
    def status(self) -> list[tuple[int, str, bool]]: ...


@attrs.frozen
class SqliteMigrations:
    path: str

    def migrate(self) -> list[str]:
        from liquifact_adapters import sqlite

        return [f"{m.version:04d}_{m.name}" for m in sqlite.migrate(self.path)]

    def rollback(self) -> str | None:
        from liquifact_adapters import sqlite

        undone = sqlite.rollback(self.path)
        return None if undone is None else f"{undone.version:04d}_{undone.name}"

    def status(self) -> list[tuple[int, str, bool]]:
        from liquifact_adapters import sqlite

        return [(row.version, row.name, row.applied) for row in sqlite.status(self.path)]


@attrs.frozen
class PostgresMigrations:
    url: str = attrs.field(repr=False)
    app_role: str

    def migrate(self) -> list[str]:
        from liquifact_adapters import postgres

        return [m.label for m in postgres.migrate(self.url, self.app_role)]

    def rollback(self) -> str | None:
        from liquifact_adapters import postgres

        undone = postgres.rollback(self.url, self.app_role)
        return None if undone is None else undone.label

    def status(self) -> list[tuple[int, str, bool]]:
        from liquifact_adapters import postgres

        return [(row.version, row.name, row.applied) for row in postgres.status(self.url)]


def migration_runner(settings: Settings) -> MigrationRunner:
    if settings.postgres_url is not None:
        return PostgresMigrations(settings.postgres_url, settings.database_app_role)
    path = settings.sqlite_path
    if path is None:  # pragma: no cover - the settings gate admits only known schemes
        raise ValueError("unsupported DATABASE_URL")
    return SqliteMigrations(path)


def build_cache(settings: Settings, metrics: Metrics | None = None) -> Cache:
    """The response/read cache: Redis when ``REDIS_URL`` is set (shared by every process),
    else an in-process LRU of ``CACHE_MAX_ENTRIES``. ``metrics`` receives evictions and errors."""
    from liquifact_http.caching import family_of

    if settings.redis_url:
        from liquifact_adapters.redis import RedisCache, connect

        def on_error(operation: str, key: str, error: Exception) -> None:
            _cache_log.warning(
                "cache_store_failed", operation=operation, error_type=type(error).__name__
            )
            if metrics is not None:
                metrics.cache_errors.labels(cache=family_of(key), operation=operation).inc()

        return RedisCache(
            connect(settings.redis_url),
            namespace=settings.redis_key_prefix + "cache:",
            on_error=on_error,
        )

    from liquifact_adapters.cache import InProcessCache

    def on_evict(keys: list[str]) -> None:
        if metrics is not None:
            for key in keys:
                metrics.cache_evictions.labels(cache=family_of(key)).inc()

    return InProcessCache(settings.cache_max_entries, on_evict=on_evict)


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
    chain: EscrowChain | None = None,
) -> Services:
    """Every use case, ready for library use; pass any port to replace the configured one.

    The cache is the configured one (Redis with ``REDIS_URL``), so writes made through library
    use or workers invalidate what the API processes cached."""
    from datetime import timedelta

    from liquifact_adapters.stubchain import StubbedEscrowChain

    settings = settings or Settings()
    return Services.from_ports(
        store=store or build_store(settings),
        clock=clock or SystemClock(),
        ids=ids or RandomIdGenerator(),
        cache=cache if cache is not None else build_cache(settings, metrics),
        # The spec's "stubbed" signing mode is the only one built so far.
        chain=chain or StubbedEscrowChain(),
        cursor_secret=settings.cursor_secret,
        idempotency_ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
    )


def all_routes() -> Sequence[BaseRoute]:
    return [
        *probes.routes,
        *health.routes,
        *metrics.routes,
        *invoices.routes,
        *marketplace.routes,
        *funding.routes,
        *docs.routes,
    ]


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    resolve_caller: CallerResolver | None = None,
    metrics: Metrics | None = None,
    rate_counter: WindowCounter | None = None,
    **overrides: Any,
) -> Starlette:
    """The ASGI app. ``services`` (or port ``overrides`` such as ``store=``) replace adapters;
    ``resolve_caller`` replaces how callers are identified (default: JWT bearer tokens and
    API keys as ``settings`` configure them, see ``auth.Authenticator``); ``metrics`` and
    ``rate_counter`` replace the app's registry and rate-limit store."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    init_sentry(settings)
    metrics = metrics or Metrics()
    owns_services = services is None
    wired = services or build_services(settings, metrics=metrics, **overrides)
    resolver = resolve_caller or Authenticator(settings)
    operations: list[Middleware] = [Middleware(MetricsMiddleware, metrics=metrics)]
    if settings.rate_limit_enabled:
        if isinstance(resolver, Authenticator):
            # Count verified users and API clients as themselves, not by their address.
            operations.append(Middleware(IdentifyPrincipalMiddleware, identify=resolver.identify))
        operations.append(
            Middleware(
                RateLimitMiddleware,
                counter=rate_counter or build_rate_counter(settings),
                limits=RateLimits.from_settings(settings),
                metrics=metrics,
            )
        )
    limits = BodyLimits(
        settings.body_limit_json, settings.body_limit_urlencoded, settings.body_limit_invoice
    )
    operations.append(Middleware(BodyLimitMiddleware, limits=limits, metrics=metrics))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if owns_services:
            wired.close()

    app = Starlette(
        routes=list(all_routes()),
        # Outermost first. Security headers wrap everything, the last-resort 500 included;
        # CORS answers inside the correlation middleware so its 403s carry the id; metrics,
        # rate limits and body limits see canonical /v1 paths.
        middleware=[
            Middleware(SecurityHeadersMiddleware, trust_proxy=settings.trust_proxy),
            Middleware(CorrelationMiddleware),
            Middleware(
                CorsMiddleware,
                allowed_origins=settings.cors_allowed_origins,
                trust_proxy=settings.trust_proxy,
            ),
            Middleware(DeprecatedAliasMiddleware),
            *operations,
        ],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = wired
    app.state.metrics = metrics
    app.state.resolve_caller = resolver
    return app
