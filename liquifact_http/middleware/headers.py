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
)
_BY_LOWER_NAME = {name.lower().encode("latin-1"): name for name in SINGLETON_HEADERS}


def repeated_singletons(scope: Scope) -> list[str]:
    """The singleton headers this request sends more than once, in ``SINGLETON_HEADERS`` order."""
    counts = Counter(
        name.lower() for name, _ in scope.get("headers", ()) if name.lower() in _BY_LOWER_NAME
    )
    return [name for name in SINGLETON_HEADERS if counts[name.lower().encode("latin-1")] > 1]


class SingletonHeadersMiddleware:
    """Answers 400 problem+json naming every repeated singleton header (one ``errors[]`` entry
    each); other requests pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        repeated = repeated_singletons(scope) if scope["type"] == "http" else []
        if not repeated:
            await self.app(scope, receive, send)
            return
        problem = problems.Problem(
            400,
            "DUPLICATE_HEADER",
            f"Send each of these headers at most once: {', '.join(repeated)}.",
            field_errors=[
                FieldError(name, "must be sent at most once", "DUPLICATE_HEADER")
                for name in repeated
            ],
        )
        await problems.render_in(problem, scope)(scope, receive, send)
