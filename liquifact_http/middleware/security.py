"""Browser-facing hardening: security headers on every response, and the CORS allow-list."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import SAFELISTED_HEADERS, CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liquifact_http import problems
from liquifact_http.middleware.response_headers import HeaderPair, header_pair, set_headers

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
CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# Every request header the API documents (tests/http/test_cors.py derives the list from
# /openapi.json and fails when one is missing here): a browser must be allowed to send it.
CORS_HEADERS = (
    "authorization",
    "content-type",
    "idempotency-key",
    "if-match",
    "x-api-key",
    "x-correlation-id",
    "x-tenant-id",
    # The KYC provider's webhook signature (POST /v1/kyc/webhook); listed because it is a
    # documented request header, though providers are servers, not browsers.
    "x-signature",
    # The spec's audit headers of admin writes (liquifact_http.admin_audit).
    "x-admin-action",
    "x-audit-target-type",
    "x-audit-target-id",
)
# Every response header the API documents, beyond the CORS-safelisted ones a browser always
# shows (Cache-Control, Content-Type, ...): without this list a script cannot read them.
CORS_EXPOSED = (
    "X-Correlation-Id",
    "ETag",
    "Location",
    "Idempotent-Replayed",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "Retry-After",
    "Deprecation",
    "X-Escrow-Address",
    "Sunset",
    # A signed document download names the file (invoice documents).
    "Content-Disposition",
    "Link",
    "WWW-Authenticate",
    "Allow",
)
CORS_MAX_AGE = 600
# Documents any web page may read (SEP-1 requires it of stellar.toml): simple GET/HEAD from
# every origin, answered with Access-Control-Allow-Origin: * by the route. No credentials are
# involved, so the wildcard discloses nothing a direct request would not.
OPEN_TO_ALL_ORIGINS = frozenset({"/.well-known/stellar.toml"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def request_scheme(scope: Scope) -> str:
    """``https`` or ``http``: the connection's scheme, or a trusted proxy's word for it
    (``ForwardedHeadersMiddleware`` has already applied ``TRUST_PROXY``)."""
    return "https" if scope.get("scheme") in ("https", "wss") else "http"


def _is_docs(path: str) -> bool:
    return path == "/docs" or path.startswith("/docs/")


def _hardening(csp: str, https: bool) -> tuple[HeaderPair, ...]:
    pairs = [*(header_pair(name, value) for name, value in STATIC_HEADERS.items())]
    pairs.append(header_pair("Content-Security-Policy", csp))
    if https:
        pairs.append(header_pair("Strict-Transport-Security", HSTS))
    return tuple(pairs)


# The four possible sets of hardening headers, encoded once: (docs?, https?) -> pairs.
_HARDENING = {
    (docs, https): _hardening(DOCS_CSP if docs else API_CSP, https)
    for docs in (False, True)
    for https in (False, True)
}


class SecurityHeadersMiddleware:
    """Adds the hardening headers to every response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hardening = _HARDENING[_is_docs(scope.get("path", "")), request_scheme(scope) == "https"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                set_headers(message, hardening)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CorsMiddleware:
    """Cross-origin requests only from the exact origins in ``CORS_ALLOWED_ORIGINS``.

    Starlette's ``CORSMiddleware`` does the CORS work: origin matching, preflight checks of
    the method and headers against ``CORS_METHODS`` / ``CORS_HEADERS``, the ``Allow-*``,
    ``Max-Age`` and ``Expose-Headers`` answers. This wrapper keeps what the API specifies
    beyond it (docs/architecture.md): a request or preflight Starlette would pass on or
    answer 400 is refused here as a 403 ``CORS_FORBIDDEN`` problem, so a non-browser client
    learns why; a successful preflight is 204 (no body); same-origin requests (a browser on
    /docs sends ``Origin`` with its POSTs) pass without being listed; every response varies on
    ``Origin``. Credentials travel in headers, never cookies, so no ``Allow-Credentials``.
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_origins: Iterable[str],
    ):
        self.app = app
        self.origins = frozenset(origin.lower() for origin in allowed_origins)
        self.cors = CORSMiddleware(
            app,
            allow_origins=sorted(self.origins),
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSED,
            max_age=CORS_MAX_AGE,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")

        async def send_varying(message: Message) -> None:
            # Starlette adds Vary: Origin to what it answers; everything else gets it here.
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).add_vary_header("Origin")
            await send(message)

        if origin is None:
            await self.app(scope, receive, send_varying)
            return
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if scope["path"] in OPEN_TO_ALL_ORIGINS and scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send_varying)
        elif origin.lower() in self.origins:
            if preflight:
                answer = self.cors.preflight_response(request_headers=headers)
                if answer.status_code == 200:
                    await _no_content(answer)(scope, receive, send)
                else:
                    await self._refuse(scope, receive, send_varying, _refusal_detail(headers))
            else:
                await self.cors(scope, receive, send)
        elif not preflight and self._same_origin(origin, scope, headers):
            await self.app(scope, receive, send_varying)
        else:
            await self._refuse(scope, receive, send_varying, "This origin is not allowed.")

    def _same_origin(self, origin: str, scope: Scope, headers: Headers) -> bool:
        host = headers.get("host")
        if not host:
            return False
        scheme = request_scheme(scope)
        host = host.lower()
        default = f":{_DEFAULT_PORTS[scheme]}"
        if host.endswith(default):
            host = host[: -len(default)]
        return origin.lower() == f"{scheme}://{host}"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        problem = problems.Problem(403, "CORS_FORBIDDEN", f"Cross-origin request refused: {detail}")
        await problems.render_in(problem, scope)(scope, receive, send)


def _no_content(answer: Response) -> Response:
    """Starlette's successful preflight ("200 OK") as the 204 this API has always answered."""
    kept = {
        name: value
        for name, value in answer.headers.items()
        if name not in ("content-length", "content-type")
    }
    return Response(status_code=204, headers=kept)


def _refusal_detail(headers: Headers) -> str:
    """Why Starlette refused a preflight from a listed origin, naming the method or header."""
    method = headers["access-control-request-method"].strip()
    if method.upper() not in CORS_METHODS:
        return f"Method {method} is not allowed."
    allowed = {name.lower() for name in (*CORS_HEADERS, *SAFELISTED_HEADERS)}
    requested = headers.get("access-control-request-headers", "").split(",")
    refused = [name.strip().lower() for name in requested if name.strip().lower() not in allowed]
    if refused:
        return f"Header {refused[0]} is not allowed."
    return "The preflight request is not allowed."
