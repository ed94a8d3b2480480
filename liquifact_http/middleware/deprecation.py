"""The spec's ``/api/...`` paths: served by the ``/v1/...`` routes, marked deprecated.

Any path works: the decoded ``path`` can hold any character (``/api/invoices/%E2%82%AC`` is
``/api/invoices/€``), but ``raw_path`` and the ``Link`` header are bytes on the wire, so the
successor is percent-encoded (RFC 3986) there, never encoded as it stands.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LEGACY_PREFIX = "/api"
CANONICAL_PREFIX = "/v1"
# RFC 9745 Deprecation (a structured date) and RFC 8594 Sunset.
DEPRECATION = "@1764547200"  # 2025-12-01T00:00:00Z
SUNSET = "Wed, 30 Jun 2027 23:59:59 GMT"


class DeprecatedAliasMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (
            path == LEGACY_PREFIX or path.startswith(LEGACY_PREFIX + "/")
        ):
            await self.app(scope, receive, send)
            return
        successor = CANONICAL_PREFIX + path[len(LEGACY_PREFIX) :]
        if successor == CANONICAL_PREFIX * 2 or successor.startswith(CANONICAL_PREFIX * 2 + "/"):
            await self.app(scope, receive, send)  # /api/v1/... is no alias of anything: 404
            return
        # Errors name the path the client asked for, not the rewritten one.
        state = scope.setdefault("state", {})
        state["original_path"] = path
        state["original_raw_path"] = scope.get("raw_path")
        # Percent-encoded as RFC 3986 allows in a path; "%" itself is encoded, since the
        # decoded path is what gets encoded.
        successor_ref = quote(successor, safe="/:@!$&'()*+,;=-._~", errors="surrogatepass")
        scope = {**scope, "path": successor, "raw_path": successor_ref.encode("ascii")}

        async def send_with_notice(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Deprecation"] = DEPRECATION
                headers["Sunset"] = SUNSET
                headers.append("Link", f'<{successor_ref}>; rel="successor-version"')
            await send(message)

        await self.app(scope, receive, send_with_notice)
