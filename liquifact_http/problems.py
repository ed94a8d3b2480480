"""RFC 9457 problem+json responses: one format for every error the API returns."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import attrs
from starlette.responses import Response
from starlette.types import Scope

from liquifact_core import errors as core
from liquifact_http.response_fields import Representation, out
from liquifact_http.wire import unstructure

PROBLEM_TYPE_BASE = "https://liquifact.com/probs/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
ERROR_CODE_PATTERN = "^[A-Z][A-Z0-9_]*$"
# Mirrors the ids CorrelationMiddleware accepts from clients (its own are ``req_`` + 24 hex).
CORRELATION_ID_PATTERN = "^[A-Za-z0-9._:\\-]{8,128}$"

PROBLEM_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    423: "Locked",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

_RETRY_HINTS = {
    400: "Fix the request as the detail says and try again.",
    401: "Authenticate and try again.",
    403: "Do not retry; this caller may not perform the action.",
    404: "Check the identifier or path; retrying will not help.",
    405: "Use one of the methods in the Allow header.",
    409: "Re-read the resource, then decide whether to retry.",
    412: "Re-read the resource to get its current version, then retry.",
    413: "Send a smaller body.",
    415: "Send the body as application/json.",
    422: "Do not retry the same request; the detail says what the resource's state refuses.",
    423: "Retry only after the hold on the resource is lifted.",
    429: "Wait for the time in Retry-After, then retry.",
    500: "Do not retry until the issue is resolved or support is contacted.",
    502: "Retry later with backoff.",
    503: "Retry later with backoff.",
}

# Domain error class -> HTTP status. Most specific classes first.
_STATUS_BY_ERROR: Sequence[tuple[type[core.LiquifactError], int]] = (
    (core.ValidationError, 400),
    (core.Unauthenticated, 401),
    (core.Forbidden, 403),
    (core.NotFound, 404),
    (core.StaleVersion, 412),
    (core.Unprocessable, 422),
    (core.Locked, 423),
    (core.Conflict, 409),
    (core.Unavailable, 503),
)


@attrs.frozen
class Problem(Exception):
    """An HTTP error raised by the shell itself (not the domain)."""

    status: int
    code: str
    detail: str
    field_errors: Sequence[core.FieldError] = ()
    retryable: bool = False
    headers: Mapping[str, str] = attrs.field(factory=dict)


def status_for(error: core.LiquifactError) -> int:
    for cls, status in _STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 500


def problem_from_error(error: core.LiquifactError) -> Problem:
    status = status_for(error)
    if status == 500:
        return internal_error()
    return Problem(
        status=status,
        code=error.code,
        detail=error.message,
        field_errors=error.field_errors,
        retryable=error.retryable,
    )


def internal_error() -> Problem:
    return Problem(500, "INTERNAL_SERVER_ERROR", "An internal server error occurred.")


def slug(code: str) -> str:
    return code.lower().replace("_", "-")


def render_in(problem: Problem, scope: Scope) -> Response:
    """``problem`` answering this request: its correlation id, and the path the client asked
    for (before any ``/api`` alias was rewritten)."""
    state = scope.get("state", {})
    return render(
        problem,
        str(state.get("correlation_id", "unknown")),
        str(state.get("original_path", scope.get("path", ""))),
    )


@attrs.frozen
class FieldErrorBody(Representation):
    """One invalid input field of a 400 problem."""

    component = "FieldError"

    field: str = out({"description": "The wire name of the field or header."})
    message: str = out()
    code: str = out({"pattern": ERROR_CODE_PATTERN})


@attrs.frozen
class ProblemBody(Representation):
    """An RFC 9457 problem body; ``errors`` is sent only when fields were invalid."""

    component = "Problem"

    type: str = out(
        {"format": "uri", "description": f"{PROBLEM_TYPE_BASE} followed by the code in kebab case."}
    )
    title: str = out({"description": "The HTTP status phrase."})
    status: int = out({"minimum": 400, "maximum": 599})
    detail: str = out({"description": "What went wrong; safe to show."})
    instance: str = out({"description": "The request path."})
    code: str = out(
        {"pattern": ERROR_CODE_PATTERN, "description": "A stable machine-readable error code."}
    )
    correlation_id: str = out({"pattern": CORRELATION_ID_PATTERN}, wire="correlation_id")
    retryable: bool = out()
    retry_hint: str = out(wire="retry_hint")
    errors: list[FieldErrorBody] | None = out(
        {
            "minItems": 1,
            "description": "One entry per invalid input field (validation errors only).",
        },
        omit_none=True,
    )


def render(problem: Problem, correlation_id: str, instance: str) -> Response:
    """``problem`` as an ``application/problem+json`` response (compact JSON), carrying
    ``correlation_id`` in its body and X-Correlation-Id header; ``instance`` is the path."""
    body = ProblemBody(
        type=PROBLEM_TYPE_BASE + slug(problem.code),
        title=PROBLEM_TITLES.get(problem.status, "Error"),
        status=problem.status,
        detail=problem.detail,
        instance=instance,
        code=problem.code,
        correlation_id=correlation_id,
        retryable=problem.retryable,
        retry_hint=_RETRY_HINTS.get(problem.status, "Retry later."),
        errors=[FieldErrorBody(e.field, e.message, e.code) for e in problem.field_errors] or None,
    )
    headers = {"X-Correlation-Id": correlation_id, **problem.headers}
    return Response(
        json.dumps(unstructure(body), separators=(",", ":")),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )
