"""``GET /metrics``: Prometheus text format, for a bearer token or, without one, loopback only.

* ``METRICS_BEARER_TOKEN`` set: ``Authorization: Bearer <token>`` must match it (compared with
  ``hmac.compare_digest``; the header name is case-insensitive, the scheme too).
* unset: only requests whose TCP peer (the ASGI ``client`` of the socket) is loopback
  (127.0.0.1, ::1, ::ffff:127.0.0.1) *and* that carry no header a proxy adds
  (``FORWARDING_HEADERS``: ``Forwarded``, ``X-Forwarded-*``, ``X-Real-IP``, ``Client-IP``,
  ``True-Client-IP`` ...) are served. Forwarded addresses are never believed, so a
  remote client cannot claim to be local, whatever ``TRUST_PROXY`` says; and a request relayed
  by a reverse proxy on the same host (whose socket peer is loopback) is a remote client's
  request, so it needs the token too. Such a proxy must add ``X-Forwarded-For`` (they do by
  default) or strip ``/metrics``; docs/operations.md says so.
* anything else gets the same 401 body, whether the token was missing, wrong, of another scheme
  or the peer was remote.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from liquifact_http.metrics import Metrics
from liquifact_http.middleware.forwarded import socket_peer
from liquifact_http.problems import Problem
from liquifact_http.routes.common import ignores_query, resource

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
# Headers a proxy adds: their presence means the request came from someone else.
FORWARDING_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-real-ip",
        b"client-ip",
        b"true-client-ip",
        b"x-client-ip",
        b"cf-connecting-ip",
        b"fastly-client-ip",
        b"x-cluster-client-ip",
    }
)


def _unauthorized() -> Problem:
    return Problem(
        401,
        "UNAUTHORIZED",
        "Authentication is required to read metrics.",
        headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
    )


def _authorization(request: Request) -> str:
    # ASGI servers lower-case header names, but compare case-insensitively in case one does not.
    for name, value in request.scope.get("headers", []):
        if name.lower() == b"authorization":
            return str(value.decode("latin-1"))
    return ""


def _bearer(request: Request) -> str | None:
    scheme, _, credentials = _authorization(request).strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def allowed(request: Request, token: str | None) -> bool:
    if token:
        presented = _bearer(request)
        # Compare bytes: compare_digest refuses non-ASCII str, and a client controls this value.
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "surrogateescape"), token.encode("utf-8")
        )
    peer = socket_peer(request.scope)  # never a forwarded address, whatever TRUST_PROXY says
    relayed = any(name.lower() in FORWARDING_HEADERS for name, _ in request.scope["headers"])
    return peer is not None and peer in LOOPBACK and not relayed


@ignores_query
async def metrics_endpoint(request: Request) -> Response:
    if not allowed(request, request.app.state.settings.metrics_bearer_token):
        raise _unauthorized()
    metrics: Metrics = request.app.state.metrics
    return Response(
        generate_latest(metrics.registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )


routes = [resource("/metrics", GET=metrics_endpoint)]
