"""Browser-facing hardening: security headers on every response, and the CORS allow-list."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liquifact_http import problems
from liquifact_http.settings import TrustProxy

HSTS = "max-age=31536000; includeSubDomains"
# JSON never needs to load anything; Swagger UI loads its own assets (no inline scripts: its
# start-up script is /docs/init.js). Its styles are set by React, hence 'unsafe-inline' there.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
CORS_METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE")
CORS_HEADERS = (
    "authorization",
    "content-type",
    "if-match",
    "x-api-key",
    "x-correlation-id",
    "x-tenant-id",
)
CORS_EXPOSED = (
    "X-Correlation-Id",
    "ETag",
    "Location",
    "Deprecation",
    "Sunset",
    "Link",
    "WWW-Authenticate",
    "Retry-After",
)
CORS_MAX_AGE = "600"
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def request_scheme(scope: Scope, trust_proxy: TrustProxy) -> str:
    """``https`` or ``http``: the connection's scheme, or the proxy's word only if trusted."""
    client = scope.get("client")
    if trust_proxy.trusts_peer(str(client[0]) if client else None):
        forwarded = Headers(scope=scope).get("x-forwarded-proto")
        if forwarded:
            first = forwarded.split(",")[0].strip().lower()
            if first in _DEFAULT_PORTS:
                return first
    return "https" if scope.get("scheme") in ("https", "wss") else "http"


def _is_docs(path: str) -> bool:
    return path == "/docs" or path.startswith("/docs/")


class SecurityHeadersMiddleware:
    """Adds the hardening headers to every response, errors included."""

    def __init__(self, app: ASGIApp, trust_proxy: TrustProxy | None = None) -> None:
        self.app = app
        self.trust_proxy = trust_proxy or TrustProxy()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if _is_docs(scope.get("path", "")) else API_CSP
        https = request_scheme(scope, self.trust_proxy) == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in STATIC_HEADERS.items():
                    headers[name] = value
                headers["Content-Security-Policy"] = csp
                if https:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CorsMiddleware:
    """Cross-origin requests only from the exact origins in ``CORS_ALLOWED_ORIGINS``.

    Same-origin requests (a browser on /docs sends ``Origin`` with its POSTs) always pass.
    A preflight from an allowed origin is answered here (204); from any other origin, and any
    actual request whose ``Origin`` is not allowed, is a 403 problem. Every response varies
    on ``Origin``. Credentials travel in headers, never cookies, so no ``Allow-Credentials``.
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_origins: Iterable[str],
        trust_proxy: TrustProxy | None = None,
    ):
        self.app = app
        self.origins = frozenset(origin.lower() for origin in allowed_origins)
        self.trust_proxy = trust_proxy or TrustProxy()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        listed = origin is not None and origin.lower() in self.origins

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.add_vary_header("Origin")
                if listed and origin is not None:
                    response_headers["Access-Control-Allow-Origin"] = origin
                    response_headers["Access-Control-Expose-Headers"] = ", ".join(CORS_EXPOSED)
            await send(message)

        if origin is None:
            await self.app(scope, receive, send_with_cors)
            return
        allowed = listed or self._same_origin(origin, scope, headers)
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if not allowed:
            await self._refuse(scope, receive, send_with_cors, "This origin is not allowed.")
        elif preflight:
            await self._preflight(scope, receive, send_with_cors, headers, origin)
        else:
            await self.app(scope, receive, send_with_cors)

    def _same_origin(self, origin: str, scope: Scope, headers: Headers) -> bool:
        host = headers.get("host")
        if not host:
            return False
        scheme = request_scheme(scope, self.trust_proxy)
        host = host.lower()
        default = f":{_DEFAULT_PORTS[scheme]}"
        if host.endswith(default):
            host = host[: -len(default)]
        return origin.lower() == f"{scheme}://{host}"

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, origin: str
    ) -> None:
        method = headers["access-control-request-method"].strip().upper()
        requested = [
            name.strip().lower()
            for name in headers.get("access-control-request-headers", "").split(",")
            if name.strip()
        ]
        if method not in CORS_METHODS:
            await self._refuse(scope, receive, send, f"Method {method} is not allowed.")
            return
        refused = [name for name in requested if name not in CORS_HEADERS]
        if refused:
            await self._refuse(scope, receive, send, f"Header {refused[0]} is not allowed.")
            return
        response = Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ", ".join(CORS_METHODS),
                "Access-Control-Allow-Headers": ", ".join(CORS_HEADERS),
                "Access-Control-Max-Age": CORS_MAX_AGE,
                "Vary": "Access-Control-Request-Method, Access-Control-Request-Headers",
            },
        )
        await response(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        problem = problems.Problem(403, "CORS_FORBIDDEN", f"Cross-origin request refused: {detail}")
        await problems.render_in(problem, scope)(scope, receive, send)
