"""The one exception-handler table: domain errors and HTTP errors become problem+json."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.errors import LiquifactError
from liquifact_http import problems
from liquifact_http.logs import get_logger

_HTTP_CODES = {
    400: "VALIDATION_ERROR",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
_log = get_logger("liquifact.errors")


def _render(request: Request, problem: problems.Problem) -> Response:
    return problems.render_in(problem, request.scope)


async def on_domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, LiquifactError)
    problem = problems.problem_from_error(error)
    if problem.status >= 500:
        _log.error("domain_error", code=error.code, error_type=type(error).__name__)
    return _render(request, problem)


async def on_problem(request: Request, error: Exception) -> Response:
    assert isinstance(error, problems.Problem)
    return _render(request, error)


async def on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    status = error.status_code
    if status == 404:
        detail = f"No resource at {request.url.path}."
    elif status == 405:
        detail = f"Method {request.method} is not allowed here."
    else:
        detail = problems.PROBLEM_TITLES.get(status, "Error")
    problem = problems.Problem(
        status=status,
        code=_HTTP_CODES.get(status, "HTTP_ERROR"),
        detail=detail,
        headers=dict(error.headers or {}),
    )
    return _render(request, problem)


Handler = Callable[[Request, Exception], Awaitable[Response]]
EXCEPTION_HANDLERS: Mapping[Any, Handler] = {
    LiquifactError: on_domain_error,
    problems.Problem: on_problem,
    HTTPException: on_http_error,
}
