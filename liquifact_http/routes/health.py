"""Readiness: can this process serve requests now? Unlike liveness, it asks its dependencies.

``/readyz`` runs the critical checks, the ones without which no request can succeed (the
database, and the Soroban RPC when a ledger is configured: ``SOROBAN_RPC_URL``, spec: "Critical:
DB, Soroban RPC"). ``/ready`` runs those plus the checks of optional dependencies; the KYC
provider check (``kyc``) joins them when a provider is configured, and the body says which
provider decides KYC (``kyc_report``: the in-memory mock is named, with a warning). Bodies
name each check and whether it is up, never a host, user or driver message. ``/ready`` also
says whether the response cache is shared across processes (see ``cache_report``) and how far
behind the escrow indexer is (``indexer_report``; information only, never a reason for 503).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import attrs
from starlette.requests import Request
from starlette.responses import Response

from liquifact_adapters.composition import postgres_url_of
from liquifact_core.errors import LiquifactError
from liquifact_core.services import Services
from liquifact_http.logs import get_logger
from liquifact_http.metrics import record_readiness
from liquifact_http.probe_bodies import (
    DOWN,
    NOT_READY,
    READY,
    UNAVAILABLE,
    UP,
    CacheBody,
    IndexerBody,
    KycProviderBody,
    ReadinessBody,
    ReadinessCheckBody,
)
from liquifact_http.routes.common import blocking, ignores_query, json_response, resource, services
from liquifact_http.settings import Settings
from liquifact_http.wire import unstructure

Check = Callable[[Services], None]
_log = get_logger("liquifact.readiness")


def _database(wired: Services) -> None:
    wired.store.ping()


def _chain(wired: Services) -> None:
    # getHealth through the ledger's circuit breaker: an open breaker is "down" at once.
    if wired.ledger is not None:
        wired.ledger.check_health()


def _kyc(wired: Services) -> None:
    # GET {KYC_PROVIDER_URL}/health: the provider must answer for KYC to progress.
    wired.kyc.provider.check()


CRITICAL_CHECKS: Mapping[str, Check] = {"database": _database}
EXTENDED_CHECKS: Mapping[str, Check] = {}


def critical_checks(wired: Services) -> Mapping[str, Check]:
    """The database, and the chain when this process reads one."""
    if wired.ledger is None:
        return CRITICAL_CHECKS
    return {**CRITICAL_CHECKS, "chain": _chain}


def _run(name: str, check: Check, wired: Services) -> ReadinessCheckBody:
    started = time.perf_counter()
    try:
        check(wired)
    except LiquifactError as error:
        _log.warning("readiness_check_failed", check=name, code=error.code)
        return ReadinessCheckBody(DOWN, error=UNAVAILABLE)
    except Exception as error:
        # A probe must answer, and say "not ready", whatever the dependency threw.
        _log.error("readiness_check_failed", check=name, error_type=type(error).__name__)
        return ReadinessCheckBody(DOWN, error=UNAVAILABLE)
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return ReadinessCheckBody(UP, latency_ms=latency_ms)


def _report(checks: Mapping[str, Check], wired: Services) -> ReadinessBody:
    results = {name: _run(name, check, wired) for name, check in checks.items()}
    ready = all(result.up for result in results.values())
    return ReadinessBody(READY if ready else NOT_READY, results)


MOCK_KYC_WARNING = (
    "No KYC provider is configured (KYC_PROVIDER_URL, KYC_PROVIDER_API_KEY): the in-memory "
    "mock decides KYC, treating every subject without a record as its default status."
)


def extended_checks(wired: Services) -> Mapping[str, Check]:
    """The optional dependencies ``/ready`` asks too: the KYC provider when one is configured
    (the mock has nothing to ask)."""
    if wired.kyc.is_mock:
        return EXTENDED_CHECKS
    return {**EXTENDED_CHECKS, "kyc": _kyc}


def kyc_report(wired: Services) -> KycProviderBody:
    """Who decides KYC; the mock with its policy and a warning."""
    provider = wired.kyc.provider
    if not wired.kyc.is_mock:
        return KycProviderBody(provider.name)
    assumed = provider.assumed_status
    return KycProviderBody(
        provider.name, None if assumed is None else assumed.value, MOCK_KYC_WARNING
    )


def indexer_report(wired: Services) -> IndexerBody | None:
    """The escrow indexer's lag and last pass age (``/ready``, information only: a stale
    indexer never makes the process unready, and a failure to read it leaves it out)."""
    try:
        status = wired.escrows.indexer_status()
    except LiquifactError as error:
        _log.warning("indexer_status_unavailable", code=error.code)
        return None
    return IndexerBody(status.lag_ledgers, status.last_run_age_seconds)


async def _answer(
    request: Request,
    checks: Mapping[str, Check],
    cache: CacheBody | None = None,
    *,
    detailed: bool = False,
) -> Response:
    body = await blocking(_report, checks, services(request))
    if detailed and services(request).indexer is not None:  # no chain: nothing to show
        body = attrs.evolve(body, indexer=await blocking(indexer_report, services(request)))
    if detailed:  # /ready: who decides KYC
        body = attrs.evolve(body, kyc=kyc_report(services(request)))
    for name, result in body.checks.items():
        record_readiness(request.app, name, result.up)
    # A cached "ready" would hide an outage from the load balancer.
    return json_response(
        unstructure(attrs.evolve(body, cache=cache)),
        200 if body.status == READY else 503,
        headers={"Cache-Control": "no-store"},
    )


LOCAL_CACHE_WARNING = (
    "PostgreSQL with a process-local cache (no REDIS_URL): other processes' changes can take "
    "up to CACHE_TTL_SECONDS to show here. Set REDIS_URL when running more than one process."
)
WORKERS_CACHE_WARNING = (
    "Several worker processes (--workers, WEB_CONCURRENCY) with a process-local cache (no "
    "REDIS_URL): a change made through one worker can take up to CACHE_TTL_SECONDS to show in "
    "the others' cached reads. Set REDIS_URL to share the cache."
)


def cache_is_process_local(settings: Settings) -> bool:
    """True without ``REDIS_URL`` where other processes share the data: on PostgreSQL (the
    store several API processes share) or with several ``liquifact serve`` workers
    (``WEB_CONCURRENCY`` > 1, the embedded store too). Each process keeps its own cache, so a
    change made through one is invisible to the others' cached reads until the TTL ends
    (issue 9). One process on its SQLite file: a local cache is right there."""
    if settings.redis_url:
        return False
    return postgres_url_of(settings.database_url) is not None or settings.web_concurrency > 1


def local_cache_warning(settings: Settings) -> str | None:
    """Why a process-local cache is a problem for these settings, or None when it is not."""
    if not cache_is_process_local(settings):
        return None
    return WORKERS_CACHE_WARNING if settings.web_concurrency > 1 else LOCAL_CACHE_WARNING


def cache_report(settings: Settings) -> CacheBody:
    """Whether the response cache is shared, with a warning when it should be and is not."""
    return CacheBody(shared=bool(settings.redis_url), warning=local_cache_warning(settings))


@ignores_query
async def readyz(request: Request) -> Response:
    return await _answer(request, critical_checks(services(request)))


@ignores_query
async def ready(request: Request) -> Response:
    return await _answer(
        request,
        {**critical_checks(services(request)), **extended_checks(services(request))},
        cache_report(request.app.state.settings),
        detailed=True,
    )


routes = [
    resource("/readyz", GET=readyz),
    resource("/ready", GET=ready),
]
