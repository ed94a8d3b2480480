"""Singleton request headers: each may be sent once; a repeat is refused before anyone reads it.

RFC 9110 section 5.3 lets a recipient combine repeated fields into one comma-separated list,
but these fields are not lists (or, for ``If-Match``, this API refuses an ambiguous split):
accepting a repeat means picking one copy, and two layers that pick differently (a proxy the
first, the app the last) can disagree about who is calling or which key a request uses. So a
repeat is 400 ``DUPLICATE_HEADER`` on every path, public ones included (docs/security.md).
"""

from __future__ import annotations

from collections import Counter

from starlette.types import ASGIApp, Receive, Scope, Send

from liquifact_core.errors import FieldError
from liquifact_http import problems

SINGLETON_HEADERS = (
    "Authorization",
    "X-API-Key",
    "Idempotency-Key",
    "If-Match",
    "X-Correlation-Id",
    "X-Tenant-Id",
    # How the body is framed and read: two copies let a proxy and the app read different
    # bodies (RFC 9110 section 8.3: Content-Type is a singleton field).
    "Content-Type",
    "Content-Length",
)


# (display name, lower-cased ASGI name), encoded once.
_SINGLETON_KEYS = tuple((name, name.lower().encode("latin-1")) for name in SINGLETON_HEADERS)


def repeated_singletons(counts: Counter[bytes]) -> list[str]:
    """The singleton headers sent more than once, in ``SINGLETON_HEADERS`` order, from the
    request's header ``counts`` (by lower-cased name)."""
    return [name for name, key in _SINGLETON_KEYS if counts[key] > 1]


class SingletonHeadersMiddleware:
    """Answers 400 problem+json naming every repeated singleton header (one ``errors[]`` entry
    each); other requests pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One pass over the headers serves both checks (this runs on every request).
        counts = Counter(name.lower() for name, _ in scope.get("headers", ()))
        problem = _framing_problem(scope, counts) or _duplicate_problem(repeated_singletons(counts))
        if problem is None:
            await self.app(scope, receive, send)
            return
        await problems.render_in(problem, scope)(scope, receive, send)


def _framing_problem(scope: Scope, counts: Counter[bytes]) -> problems.Problem | None:
    """400 for a request framed two ways: ``Transfer-Encoding`` and ``Content-Length`` both
    (RFC 9112 section 6.1 lets a server refuse it; a proxy that trusts the other header would
    see another request boundary: request smuggling), or a path spelling a slash as ``%2F``
    (the router decodes it, so ``/v1/invoices%2Finv_1`` would reach ``/v1/invoices/{id}``
    past proxy rules written for the literal path): 404, as for any unknown path."""
    if counts[b"transfer-encoding"] and counts[b"content-length"]:
        return problems.Problem(
            400,
            "AMBIGUOUS_BODY_LENGTH",
            "Send either Transfer-Encoding or Content-Length, not both.",
        )
    raw_path = scope.get("state", {}).get("original_raw_path") or scope.get("raw_path")
    if b"%2f" in bytes(raw_path or b"").lower():
        return problems.Problem(
            404, "NOT_FOUND", "No resource at this path (a slash may not be sent as %2F)."
        )
    return None


def _duplicate_problem(repeated: list[str]) -> problems.Problem | None:
    if not repeated:
        return None
    return problems.Problem(
        400,
        "DUPLICATE_HEADER",
        f"Send each of these headers at most once: {', '.join(repeated)}.",
        field_errors=[
            FieldError(name, "must be sent at most once", "DUPLICATE_HEADER") for name in repeated
        ],
    )
