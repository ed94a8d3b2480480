"""Rate limiting: fixed windows per principal, a global policy and a stricter one for writes.

Who is counted (the *principal*): an authenticated user or API-key client, when the
authentication layer has put a ``Principal`` in ``scope["state"]["principal"]`` before this
middleware runs; otherwise the client address, as ``middleware.forwarded`` left it in
``scope["client"]`` (the socket peer, or the client a trusted proxy names under
``TRUST_PROXY``; see ``client_address``).

Policies: ``global`` (``RATE_LIMIT_MAX_REQUESTS`` per ``RATE_LIMIT_WINDOW_MS``; API-key clients
get ``RATE_LIMIT_API_KEY_MAX``) applies to every request but probes and /metrics; ``sensitive``
(``RATE_LIMIT_SENSITIVE_MAX`` per ``RATE_LIMIT_SENSITIVE_WINDOW_MS``) applies in addition to
writes on invoices, funding and retention (policies and legal holds). Answers carry the IETF
``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (and ``RateLimit-Policy``)
headers of the policy closest to its limit; a 429 adds ``Retry-After``. A failing counter
store lets the request through (fail open), logs and counts ``rate_limit_store_errors_total``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Protocol

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liquifact_adapters.cache import InProcessWindowCounter
from liquifact_http import problems
from liquifact_http.logs import get_logger
from liquifact_http.metrics import Metrics
from liquifact_http.middleware.forwarded import SOCKET_PEER, normalized_address
from liquifact_http.middleware.response_headers import header_pair, set_headers
from liquifact_http.settings import Settings

PRINCIPAL_STATE_KEY = "principal"
EXEMPT_PATHS = frozenset({"/health", "/healthz", "/ready", "/readyz", "/metrics"})
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Retention writes (policies, legal holds: issue 16) are sensitive too, as the spec's stricter
# limiter covers them.
_SENSITIVE_PATH = re.compile(r"/v1/(invoices|invest|funding|escrow|retention)(/.*)?")


class WindowCounter(Protocol):
    """A store of fixed-window hit counters (in-process, or Redis shared by many processes)."""

    def hit(self, key: str, window_ms: int) -> tuple[int, int]:
        """Count one hit on ``key``; return (hits in the current window, ms until it resets)."""
        ...

    def close(self) -> None:
        """Release connections (the app's lifespan calls it for a counter it built)."""
        ...


@attrs.frozen
class Principal:
    """Who a request is counted against. ``kind``: ``user``, ``api_key`` or ``address``."""

    kind: str
    id: str


@attrs.frozen
class Policy:
    name: str
    window_ms: int
    limit: int


@attrs.frozen
class RateLimits:
    """The policies of one deployment; the defaults live in ``Settings`` only."""

    window_ms: int
    max_requests: int
    sensitive_window_ms: int
    sensitive_max: int
    api_key_max: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            window_ms=settings.rate_limit_window_ms,
            max_requests=settings.rate_limit_max_requests,
            sensitive_window_ms=settings.rate_limit_sensitive_window_ms,
            sensitive_max=settings.rate_limit_sensitive_max,
            api_key_max=settings.rate_limit_api_key_max,
        )

    def policies_for(self, method: str, path: str, principal: Principal) -> list[Policy]:
        limit = self.api_key_max if principal.kind == "api_key" else self.max_requests
        policies = [Policy("global", self.window_ms, limit)]
        if method in _WRITE_METHODS and _SENSITIVE_PATH.fullmatch(path):
            policies.append(Policy("sensitive", self.sensitive_window_ms, self.sensitive_max))
        return policies


def client_address(scope: Scope) -> str:
    """The client's canonical IP address from ``scope["client"]``.

    ``ForwardedHeadersMiddleware`` has already applied ``TRUST_PROXY`` (the socket peer, or the
    client a trusted proxy names). A forwarded value that is not an IP address counts as
    ``malformed``: one shared budget, so made-up values cannot mint fresh ones.
    """
    client = scope.get("client")
    host = str(client[0]) if client else "unknown"
    address = normalized_address(host)
    if address is not None:
        return address
    if client != scope.get(SOCKET_PEER, client):  # rewritten from a forwarded header
        return "malformed"
    return host


class IdentifyPrincipalMiddleware:
    """Records who the request is from (``identify`` never raises) for the rate limiter.

    Authentication proper happens in the route; a bad credential here just means the request
    is counted against its address.
    """

    def __init__(self, app: ASGIApp, identify: Callable[[Scope], Principal | None]) -> None:
        self.app = app
        self.identify = identify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in EXEMPT_PATHS:
            principal = self.identify(scope)
            if principal is not None:
                scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
        await self.app(scope, receive, send)


def principal_of(scope: Scope) -> Principal:
    """The principal the authentication layer recorded, else the client address."""
    found = scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
    if isinstance(found, Principal):
        return found
    return Principal("address", client_address(scope))


@attrs.frozen
class _Outcome:
    policy: Policy
    hits: int
    reset_ms: int

    @property
    def remaining(self) -> int:
        return max(0, self.policy.limit - self.hits)

    @property
    def exceeded(self) -> bool:
        return self.hits > self.policy.limit

    @property
    def reset_seconds(self) -> int:
        return max(1, math.ceil(self.reset_ms / 1000))


def _headers(outcomes: Sequence[_Outcome]) -> dict[str, str]:
    exceeded = [o for o in outcomes if o.exceeded]
    binding = (
        max(exceeded, key=lambda o: o.reset_ms)
        if exceeded
        else min(outcomes, key=lambda o: (o.remaining, -o.reset_ms))
    )
    headers = {
        "RateLimit-Limit": str(binding.policy.limit),
        "RateLimit-Remaining": str(binding.remaining),
        "RateLimit-Reset": str(binding.reset_seconds),
        "RateLimit-Policy": ", ".join(
            f"{o.policy.limit};w={o.policy.window_ms // 1000}" for o in outcomes
        ),
    }
    if exceeded:
        headers["Retry-After"] = str(binding.reset_seconds)
    return headers


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, counter: WindowCounter, limits: RateLimits, metrics: Metrics
    ) -> None:
        self.app = app
        self.counter = counter
        self.limits = limits
        self.metrics = metrics
        self.log = get_logger("liquifact.ratelimit")
        # In-process counters do no I/O: counting on the event loop costs less than a
        # thread-pool hand-off per policy (Redis counters still go to the pool).
        self._hit_inline = isinstance(counter, InProcessWindowCounter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        principal = principal_of(scope)
        outcomes: list[_Outcome] = []
        for policy in self.limits.policies_for(scope["method"], scope["path"], principal):
            key = f"{policy.name}:{principal.kind}:{principal.id}"
            try:
                if self._hit_inline:
                    hits, reset_ms = self.counter.hit(key, policy.window_ms)
                else:
                    hits, reset_ms = await run_in_threadpool(
                        self.counter.hit, key, policy.window_ms
                    )
            except Exception as error:
                self.metrics.rate_limit_store_errors.inc()
                self.log.warning("rate_limit_store_failed", error_type=type(error).__name__)
                continue
            outcomes.append(_Outcome(policy, hits, reset_ms))
        if not outcomes:  # fail open: the store is down
            await self.app(scope, receive, send)
            return
        headers = _headers(outcomes)
        refused = [o for o in outcomes if o.exceeded]
        if refused:
            for outcome in refused:
                self.metrics.rate_limited.labels(policy=outcome.policy.name).inc()
            self.log.info("rate_limited", policies=[o.policy.name for o in refused])
            problem = problems.Problem(
                429,
                "RATE_LIMITED",
                "Too many requests; retry after the time in Retry-After.",
                retryable=True,
                headers=headers,
            )
            response = problems.render_in(problem, scope)
            await response(scope, receive, send)
            return

        pairs = [header_pair(name, value) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                set_headers(message, pairs)
            await send(message)

        await self.app(scope, receive, send_with_headers)
