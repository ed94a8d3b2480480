"""Forwarded headers: who the client is and which scheme it used, when a proxy says so.

``TRUST_PROXY`` (``settings.TrustProxy``) says which direct peers are reverse proxies:

* a list of addresses / networks (``loopback``, ``private``, CIDRs): uvicorn's
  ``ProxyHeadersMiddleware`` does the work. From a trusted peer it takes the client from
  ``X-Forwarded-For`` (the rightmost entry that is not itself a trusted proxy) and the scheme
  from ``X-Forwarded-Proto`` (exactly ``http`` or ``https``).
* a hop count (``true`` = 1): the client is that many entries left of the socket peer in the
  ``X-Forwarded-For`` chain, whatever the proxies' addresses. uvicorn cannot say this (its
  ``"*"`` takes the leftmost entry, which the client writes), so ``_HopCountProxies`` does it.
* ``false``: nothing is rewritten.

After this middleware ``scope["client"]`` and ``scope["scheme"]`` are the client's, for every
layer (rate limits, HSTS, same-origin checks, logs). The socket peer itself stays in
``scope[SOCKET_PEER]``: ``/metrics`` admits loopback peers by it, so no forwarded header can
make a remote client look local.
"""

from __future__ import annotations

import functools
import ipaddress

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from liquifact_http.settings import TrustProxy

SOCKET_PEER = "liquifact.socket_peer"
_SCHEMES = frozenset({"http", "https"})


# Longer than any textual IP address (an IPv6 address with an IPv4 tail and brackets is at
# most 47 characters), so a forwarded value this long is not remembered, only parsed.
_REMEMBERED_LENGTH = 64


def normalized_address(raw: str) -> str | None:
    """``raw`` as a canonical IP address (IPv4-mapped IPv6 as IPv4), or None if it is not one."""
    if len(raw) <= _REMEMBERED_LENGTH:
        return _remembered_address(raw)
    return _parsed_address(raw)


# Every request parses its peer's address (and the rate limiter again): the same few
# addresses, so their answers are remembered (a bounded LRU of short strings).
@functools.lru_cache(maxsize=4096)
def _remembered_address(raw: str) -> str | None:
    return _parsed_address(raw)


def _parsed_address(raw: str) -> str | None:
    try:
        address = ipaddress.ip_address(raw.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def socket_peer(scope: Scope) -> str | None:
    """The address of the TCP peer (never a forwarded value), or None when unknown."""
    peer = scope.get(SOCKET_PEER, scope.get("client"))
    return str(peer[0]) if peer else None


class _HopCountProxies:
    """``hops`` proxies of any address in front: the client is ``hops`` entries left of the
    socket peer in the ``X-Forwarded-For`` chain (the entry the outermost proxy appended), the
    scheme the first ``X-Forwarded-Proto`` value."""

    def __init__(self, app: ASGIApp, hops: int) -> None:
        self.app = app
        self.hops = hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        forwarded = [
            part.strip()
            for value in headers.getlist("x-forwarded-for")
            for part in value.split(",")
            if part.strip()
        ]
        client = scope.get("client")
        if forwarded and client:
            chain = [*forwarded, str(client[0])]
            scope["client"] = (chain[max(0, len(chain) - 1 - self.hops)], 0)
        proto = headers.get("x-forwarded-proto")
        if proto:
            first = proto.split(",")[0].strip().lower()
            if first in _SCHEMES:
                scope["scheme"] = first
        await self.app(scope, receive, send)


class ForwardedHeadersMiddleware:
    """Applies ``TRUST_PROXY`` to ``scope["client"]`` and ``scope["scheme"]`` (see module)."""

    def __init__(self, app: ASGIApp, trust_proxy: TrustProxy) -> None:
        self.app = app
        self.rewrite: ASGIApp
        if trust_proxy.networks:
            # uvicorn types ASGI with its own TypedDicts; the protocol is the same.
            self.rewrite = ProxyHeadersMiddleware(  # type: ignore[assignment]
                app,  # type: ignore[arg-type]
                trusted_hosts=[str(network) for network in trust_proxy.networks],
            )
        elif trust_proxy.hops:
            self.rewrite = _HopCountProxies(app, trust_proxy.hops)
        else:
            self.rewrite = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if client:
            # IPv4-mapped peers (::ffff:10.0.0.1 from a dual-stack socket) as IPv4, so that
            # they match TRUST_PROXY's IPv4 networks and count as one client.
            client = (normalized_address(str(client[0])) or str(client[0]), client[1])
            scope["client"] = client
        scope[SOCKET_PEER] = client
        await self.rewrite(scope, receive, send)
