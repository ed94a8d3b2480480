"""Readiness: can this process serve requests now? Unlike liveness, it asks its dependencies.

``/readyz`` runs the critical checks, the ones without which no request can succeed (the
database). ``/ready`` runs those plus the checks of optional dependencies; the Soroban RPC and
KYC provider checks join ``EXTENDED_CHECKS`` when those adapters exist. Bodies name each check
and whether it is up, never a host, user or driver message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.errors import LiquifactError
from liquifact_core.services import Services
from liquifact_http.logs import get_logger
from liquifact_http.routes.common import blocking, json_response, resource, services

Check = Callable[[Services], None]
_log = get_logger("liquifact.readiness")


def _database(wired: Services) -> None:
    wired.store.ping()


CRITICAL_CHECKS: Mapping[str, Check] = {"database": _database}
EXTENDED_CHECKS: Mapping[str, Check] = {}


def _run(name: str, check: Check, wired: Services) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check(wired)
    except LiquifactError as error:
        _log.warning("readiness_check_failed", check=name, code=error.code)
        return {"status": "down", "error": "unavailable"}
    except Exception as error:
        # A probe must answer, and say "not ready", whatever the dependency threw.
        _log.error("readiness_check_failed", check=name, error_type=type(error).__name__)
        return {"status": "down", "error": "unavailable"}
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return {"status": "up", "latencyMs": latency_ms}


def _report(checks: Mapping[str, Check], wired: Services) -> tuple[int, dict[str, Any]]:
    results = {name: _run(name, check, wired) for name, check in checks.items()}
    ready = all(result["status"] == "up" for result in results.values())
    body = {"status": "ready" if ready else "not_ready", "checks": results}
    return (200 if ready else 503), body


async def _answer(request: Request, checks: Mapping[str, Check]) -> Response:
    status, body = await blocking(_report, checks, services(request))
    # A cached "ready" would hide an outage from the load balancer.
    return json_response(body, status, headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> Response:
    return await _answer(request, CRITICAL_CHECKS)


async def ready(request: Request) -> Response:
    return await _answer(request, {**CRITICAL_CHECKS, **EXTENDED_CHECKS})


routes = [
    resource("/readyz", GET=readyz),
    resource("/ready", GET=ready),
]
