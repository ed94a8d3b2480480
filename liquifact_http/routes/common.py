"""Helpers shared by route modules."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liquifact_core.errors import ValidationError
from liquifact_core.services import Services
from liquifact_http.access import access_for, authorize
from liquifact_http.problems import Problem

P = ParamSpec("P")
T = TypeVar("T")
_IF_MATCH = re.compile(r'(?:W/)?"v([0-9]{1,18})"')


def services(request: Request) -> Services:
    result: Services = request.app.state.services
    return result


async def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a port-touching call on the thread pool, never on the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def expected_version(request: Request) -> int | None:
    """The version named by ``If-Match`` (an ETag we issued); None when absent or ``*``."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    match = _IF_MATCH.fullmatch(raw.strip())
    if match is None:
        raise Problem(412, "PRECONDITION_FAILED", "If-Match does not name a current ETag.")
    return int(match.group(1))


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # isdigit() admits '²' and Arabic-Indic digits; only ASCII digits are numbers here.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18) or not low <= int(raw) <= high:
        raise ValidationError.for_field(name, f"must be an integer from {low} to {high}")
    return int(raw)


def refuse_unknown_query(request: Request, allowed: frozenset[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ValidationError.for_field(
            unknown[0], "is not a known query parameter", "UNKNOWN_FIELD"
        )


Handler = Callable[[Request], Awaitable[Response]]


def resource(path: str, **handlers: Handler) -> Route:
    """One route per path, dispatching on method, so 405 answers list every allowed method.

    Each method's access rule (``access.ACCESS``) is looked up now, so a route without one
    fails at import, and is enforced before the handler runs.
    """
    rules = {method: access_for(path, method) for method in handlers}

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        authorize(request, rules[method])
        return await handlers[method](request)

    route = Route(path, dispatch, methods=list(handlers))
    route.handlers = handlers  # type: ignore[attr-defined]  # read by the OpenAPI coverage test
    return route
