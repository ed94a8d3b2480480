"""Correlation ids, the access log line, and the last-resort 500 for anything unhandled."""

from __future__ import annotations

import logging
import os
import re
import time

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liquifact_http import problems
from liquifact_http.logs import get_logger
from liquifact_http.middleware.response_headers import header_pair, set_headers
from liquifact_http.routes.common import PRIVATE_STATE_KEY
from liquifact_http.sentry import report_exception

# A client-sent id is echoed only if it is short and plain; anything else is replaced.
_ACCEPTED = re.compile(r"[A-Za-z0-9._:\-]{8,128}")
HEADER = "X-Correlation-Id"
_OBJECT_URLS = b"/v1/objects/"  # the local object store's signed URLs (routes/documents.py)


_PRIVATE = header_pair("Cache-Control", "private, no-store")


def new_correlation_id() -> str:
    """``req_`` and 24 random hex digits (96 bits from the OS's random source)."""
    return "req_" + os.urandom(12).hex()


def accepted_or_new(raw: str | None) -> str:
    return raw if raw is not None and _ACCEPTED.fullmatch(raw) else new_correlation_id()


def _sent_id(headers: Headers) -> str | None:
    """The client's id if it sent exactly one (a repeat is refused later with 400, and that
    answer carries an id of ours rather than either of the client's)."""
    values = headers.getlist(HEADER)
    return values[0] if len(values) == 1 else None


def loggable_path(scope: Scope) -> str:
    """The path as the client sent it on the wire (percent-encoded, so ``%1b`` or ``%E2%80%AE``
    stay escapes rather than becoming an escape sequence or a bidi override in a log viewer);
    any byte that is not printable ASCII is shown as ``\\xNN``."""
    raw = scope.get("raw_path")
    if not isinstance(raw, bytes):
        raw = str(scope.get("path", "")).encode("utf-8", "surrogatepass")
    if raw.startswith(_OBJECT_URLS):
        # A signed object URL's token is its own credential (whoever holds it downloads or
        # uploads the file, for up to 24 hours): a log reader must not get it.
        raw = _OBJECT_URLS + b"{token}"
    return "".join(chr(b) if 0x20 < b < 0x7F else f"\\x{b:02x}" for b in raw)


class CorrelationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = get_logger("liquifact.http")
        # The stdlib logger behind ``self.log``: asked first whether the access line would be
        # written at all, so that below LOG_LEVEL=info no event is built per request (the
        # answer is what structlog's own level filter would find).
        self._access_log = logging.getLogger("liquifact.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = accepted_or_new(_sent_id(Headers(scope=scope)))
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        started = time.perf_counter()
        status = 500
        response_started = False

        id_header = header_pair(HEADER, correlation_id)

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                if scope["state"].get(PRIVATE_STATE_KEY):
                    # An authenticated answer (routes.common.mark_private): no shared or
                    # browser cache may keep it, whatever the route set.
                    set_headers(message, (id_header, _PRIVATE))
                else:
                    set_headers(message, (id_header,))
            await send(message)

        # Every log line of the request carries these (structlog's context variables); the
        # tokens put back what was bound before, as ``bound_contextvars`` would, without
        # copying the whole context twice per request.
        bound = structlog.contextvars.bind_contextvars(
            correlation_id=correlation_id, method=scope["method"], path=loggable_path(scope)
        )
        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as error:
                # Log where it failed but not the message: driver messages can carry secrets.
                frame = _innermost_frame(error)
                self.log.error("unhandled_exception", error_type=type(error).__name__, at=frame)
                report_exception(error, correlation_id)
                if not response_started:
                    response = problems.render(
                        problems.internal_error(), correlation_id, scope["path"]
                    )
                    await response(scope, receive, send_with_id)
            if self._access_log.isEnabledFor(logging.INFO):
                self.log.info(
                    "request",
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
        finally:
            structlog.contextvars.reset_contextvars(**bound)


def _innermost_frame(error: BaseException) -> str:
    tb = error.__traceback__
    if tb is None:
        return "unknown"
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"{code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}:{code.co_name}"
