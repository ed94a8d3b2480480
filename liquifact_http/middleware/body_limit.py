"""Request body size limits, per body parser type, enforced on the bytes actually received.

The limit is picked by route and media type: the invoice create/edit routes and invoice
document uploads get the invoice limit (``BODY_LIMIT_INVOICE``); other bodies get the JSON or
urlencoded limit by ``Content-Type``; anything else counts as ``unknown`` and gets the JSON
limit. A declared ``Content-Length`` over the limit is refused before any byte is read; a
body that turns out larger than the limit (absent or lying ``Content-Length``, chunked
transfer) is refused as soon as the limit is crossed. Either way the answer is a 413 problem
(``PAYLOAD_TOO_LARGE``) and ``body_size_limit_rejections_total{type}`` counts it.
"""

from __future__ import annotations

import re

import attrs
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liquifact_http import problems
from liquifact_http.logs import get_logger
from liquifact_http.metrics import Metrics

# The routes whose body is an invoice (create and edit), canonical paths (after /api aliasing).
_INVOICE_ROUTES = (
    ("POST", re.compile(r"/v1/invoices/?")),
    ("PATCH", re.compile(r"/v1/invoices/[^/]+/?")),
    # Invoice documents: direct uploads, and uploads to the local store's signed URLs.
    ("POST", re.compile(r"/v1/invoices/[^/]+/files/?")),
    ("PUT", re.compile(r"/v1/objects/[^/]+/?")),
)
STATE_KEY = "body_limit"


@attrs.frozen
class BodyLimits:
    """Byte limit per parser type; the defaults live in ``Settings`` only."""

    json: int
    urlencoded: int
    invoice: int

    def for_request(self, method: str, path: str, media_type: str) -> tuple[str, int]:
        """The parser type and its byte limit for this request."""
        if any(method == m and pattern.fullmatch(path) for m, pattern in _INVOICE_ROUTES):
            return "invoice", self.invoice
        if media_type == "application/json" or media_type.endswith("+json"):
            return "json", self.json
        if media_type == "application/x-www-form-urlencoded":
            return "urlencoded", self.urlencoded
        return "unknown", self.json


def too_large(limit: int) -> problems.Problem:
    return problems.Problem(413, "PAYLOAD_TOO_LARGE", f"Request body exceeds {limit} bytes.")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits, metrics: Metrics) -> None:
        self.app = app
        self.limits = limits
        self.metrics = metrics
        self.log = get_logger("liquifact.body_limit")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        kind, limit = self.limits.for_request(scope["method"], scope["path"], media_type)
        state = scope.setdefault("state", {})
        state[STATE_KEY] = limit  # read_json enforces the same limit
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            await self._reject(scope, receive, send, kind, limit)
            return

        received = 0
        rejected = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not rejected:
                        rejected = True
                        self._count(kind, limit)
                    raise too_large(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except problems.Problem:
            # Raised from receive outside any exception handler (e.g. by a middleware).
            if not rejected or response_started:
                raise
            await self._render(scope, receive, send, limit)

    def _count(self, kind: str, limit: int) -> None:
        self.metrics.body_size_rejections.labels(type=kind).inc()
        self.log.warning("body_too_large", type=kind, limit=limit)

    async def _reject(
        self, scope: Scope, receive: Receive, send: Send, kind: str, limit: int
    ) -> None:
        self._count(kind, limit)
        await self._render(scope, receive, send, limit)

    async def _render(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problems.render_in(too_large(limit), scope)
        response.headers["Connection"] = "close"  # the unread rest of the body is not wanted
        await response(scope, receive, send)
