"""Rate limits: per principal, global and sensitive policies, IETF headers, fail open, Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liquifact_adapters.memory import InMemoryStore
from liquifact_adapters.redis import RedisWindowCounter, connect
from liquifact_http.bootstrap import create_app
from liquifact_http.middleware.forwarded import ForwardedHeadersMiddleware
from liquifact_http.ratelimit import PRINCIPAL_STATE_KEY, Principal, RateLimits, client_address
from liquifact_http.settings import Settings, TrustProxy, load_settings
from tests.auth_helpers import bearer, test_settings
from tests.factories import invoice_payload
from tests.http.asgi_driver import call
from tests.redis_support import unique_namespace

NO_DOTENV = Path("/nonexistent/.env")
SMALL = test_settings(
    rate_limit_max_requests=3, rate_limit_sensitive_max=2, rate_limit_api_key_max=5
)


def build(settings: Settings = SMALL, **kwargs: object) -> Starlette:
    return create_app(settings, store=InMemoryStore(), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def small_app() -> Starlette:
    return build()


@pytest.fixture
def small(small_app: Starlette) -> Iterator[TestClient]:
    with TestClient(small_app) as client:
        yield client


def counter_value(app: Starlette, name: str, labels: dict[str, str] | None = None) -> float:
    return app.state.metrics.registry.get_sample_value(name, labels or {}) or 0.0


def test_the_global_limit_answers_429_with_headers(small: TestClient, small_app: Starlette) -> None:
    answers = [small.get("/v1") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["ratelimit-limit"] == "3" for a in answers)
    assert all(0 < int(a.headers["ratelimit-reset"]) <= 900 for a in answers)
    assert answers[0].headers["ratelimit-policy"] == "3;w=900"
    refused = answers[-1]
    problem = refused.json()
    assert refused.headers["content-type"] == "application/problem+json"
    assert problem["code"] == "RATE_LIMITED" and problem["status"] == 429
    assert problem["retryable"] is True
    assert problem["correlation_id"] == refused.headers["x-correlation-id"]
    assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"]
    assert counter_value(small_app, "rate_limit_rejections_total", {"policy": "global"}) == 1


def test_probes_and_metrics_are_never_limited(small: TestClient) -> None:
    for _ in range(5):
        small.get("/v1")
    for path in ("/health", "/healthz", "/metrics"):
        answers = [small.get(path) for _ in range(5)]
        assert all(a.status_code != 429 for a in answers), path
        assert "ratelimit-limit" not in answers[0].headers


def test_legacy_aliases_share_the_count(small: TestClient) -> None:
    assert [small.get(p).status_code for p in ("/v1", "/api", "/v1", "/api")] == [200] * 3 + [429]


def test_writes_on_invoices_have_the_stricter_limit(
    small: TestClient, small_app: Starlette
) -> None:
    headers = bearer("admin", "rl-tenant")
    writes = [small.post("/v1/invoices", json=invoice_payload(), headers=headers) for _ in range(3)]
    assert [w.status_code for w in writes] == [201, 201, 429]
    assert writes[0].headers["ratelimit-policy"] == "3;w=900, 2;w=3600"
    assert writes[1].headers["ratelimit-limit"] == "2"  # the policy closest to its limit
    assert writes[2].headers["retry-after"] == writes[2].headers["ratelimit-reset"]
    assert int(writes[2].headers["retry-after"]) > 900  # the sensitive window's reset
    assert counter_value(small_app, "rate_limit_rejections_total", {"policy": "sensitive"}) == 1


def test_sensitive_limit_does_not_apply_to_reads() -> None:
    app = build(test_settings(rate_limit_max_requests=10, rate_limit_sensitive_max=1))
    with TestClient(app) as client:
        headers = bearer("admin", "rl-reads")
        assert (
            client.post("/v1/invoices", json=invoice_payload(), headers=headers).status_code == 201
        )
        bad = client.post("/v1/invoices", json=invoice_payload(), headers=headers)
        assert bad.status_code == 429
        assert client.get("/v1/invoices", headers=headers).status_code == 200


def test_each_client_address_has_its_own_budget(small_app: Starlette) -> None:
    with TestClient(small_app, client=("198.51.100.1", 1)) as first:
        assert [first.get("/v1").status_code for _ in range(4)][-1] == 429
    with TestClient(small_app, client=("198.51.100.2", 1)) as second:
        assert second.get("/v1").status_code == 200


def test_x_forwarded_for_is_ignored_without_trust_proxy(small_app: Starlette) -> None:
    with TestClient(small_app, client=("198.51.100.7", 1)) as client:
        codes = [
            client.get("/v1", headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code
            for n in range(4)
        ]
    assert codes == [200, 200, 200, 429]


def test_a_trusted_proxy_names_the_client() -> None:
    app = build(
        load_settings(
            {"RATE_LIMIT_MAX_REQUESTS": "2", "TRUST_PROXY": "loopback"}, env_file=NO_DOTENV
        )
    )
    with TestClient(app, client=("127.0.0.1", 1)) as proxy:
        a = [
            proxy.get("/v1", headers={"X-Forwarded-For": "192.0.2.1"}).status_code for _ in range(3)
        ]
        b = proxy.get("/v1", headers={"X-Forwarded-For": "192.0.2.2"}).status_code
    assert a == [200, 200, 429] and b == 200
    with TestClient(app, client=("198.51.100.9", 1)) as untrusted:
        spoofed = [
            untrusted.get("/v1", headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code
            for n in range(10, 13)
        ]
    assert spoofed == [200, 200, 429]  # an untrusted peer's header is not believed


def _scope(peer: str, forwarded: str | None) -> Scope:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (peer, 1), "headers": headers}


@pytest.mark.parametrize(
    ("raw", "peer", "forwarded", "expected"),
    [
        ("false", "10.0.0.5", "192.0.2.1", "10.0.0.5"),
        ("1", "10.0.0.5", "192.0.2.1", "192.0.2.1"),
        ("1", "10.0.0.5", "6.6.6.6, 192.0.2.1", "192.0.2.1"),  # spoofed left part ignored
        ("2", "10.0.0.5", "6.6.6.6, 192.0.2.1, 10.0.0.4", "192.0.2.1"),
        ("2", "10.0.0.5", None, "10.0.0.5"),
        ("private", "10.0.0.5", "6.6.6.6, 192.0.2.1, 10.0.0.4", "192.0.2.1"),
        ("10.0.0.0/8", "10.0.0.5", "not-an-ip, 10.0.0.4", "malformed"),
        ("loopback", "::ffff:127.0.0.1", "2001:db8::1", "2001:db8::1"),
        ("false", "::ffff:192.0.2.8", None, "192.0.2.8"),
    ],
)
def test_client_address_rules(raw: str, peer: str, forwarded: str | None, expected: str) -> None:
    trust = load_settings({"TRUST_PROXY": raw}, env_file=NO_DOTENV).trust_proxy
    assert _client_behind(trust, _scope(peer, forwarded)) == expected


def _client_behind(trust: TrustProxy, scope: Scope) -> str:
    """The address the rate limiter counts once the forwarded headers middleware ran."""
    seen: list[str] = []

    async def limiter(scope: Scope, _receive: Receive, _send: Send) -> None:
        seen.append(client_address(scope))

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    async def ignore(_message: Message) -> None:
        return None

    asyncio.run(ForwardedHeadersMiddleware(limiter, trust)(scope, nothing, ignore))
    return seen[0]


def test_bad_trust_proxy_is_a_configuration_error() -> None:
    with pytest.raises(Exception, match="TRUST_PROXY"):
        load_settings({"TRUST_PROXY": "everyone"}, env_file=NO_DOTENV)
    assert TrustProxy().enabled is False


class AuthStandIn:
    """What the authentication middleware does: name the principal in scope state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = dict(scope.get("headers", [])).get(b"x-test-principal")
        if key:
            kind, _, ident = key.decode().partition(":")
            scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = Principal(kind, ident)
        await self.app(scope, receive, send)


def test_authenticated_principals_are_counted_by_identity_and_api_keys_get_more() -> None:
    app = build()
    app.user_middleware.insert(2, Middleware(AuthStandIn))  # after aliasing, before limits
    with TestClient(app) as client:
        alice = [client.get("/v1", headers={"X-Test-Principal": "user:alice"}) for _ in range(4)]
        bob = client.get("/v1", headers={"X-Test-Principal": "user:bob"})
        key = [client.get("/v1", headers={"X-Test-Principal": "api_key:svc"}) for _ in range(6)]
    assert [a.status_code for a in alice] == [200, 200, 200, 429]
    assert bob.status_code == 200  # same socket address, another principal
    assert [k.status_code for k in key] == [200] * 5 + [429]
    assert key[0].headers["ratelimit-limit"] == "5"


class BrokenCounter:
    def hit(self, key: str, window_ms: int) -> tuple[int, int]:
        raise ConnectionError("store down")

    def close(self) -> None:
        return None


def test_a_failing_store_lets_requests_through_and_is_counted() -> None:
    app = build(rate_counter=BrokenCounter())
    with TestClient(app) as client:
        answers = [client.get("/v1") for _ in range(5)]
    assert all(a.status_code == 200 for a in answers)
    assert "ratelimit-limit" not in answers[0].headers
    assert counter_value(app, "rate_limit_store_errors_total") == 5


def test_an_unreachable_redis_fails_open() -> None:
    dead = RedisWindowCounter(connect("redis://127.0.0.1:1/0", timeout_seconds=0.2))
    app = build(rate_counter=dead)
    with TestClient(app) as client:
        assert [client.get("/v1").status_code for _ in range(4)] == [200] * 4
    assert counter_value(app, "rate_limit_store_errors_total") == 4


def test_rate_limiting_can_be_switched_off() -> None:
    app = build(test_settings(rate_limit_enabled=False, rate_limit_max_requests=1))
    with TestClient(app) as client:
        assert [client.get("/v1").status_code for _ in range(3)] == [200] * 3


@pytest.mark.redis
def test_apps_sharing_redis_share_the_budget(redis_url: str) -> None:
    namespace = unique_namespace("ratelimit")
    apps = [
        build(rate_counter=RedisWindowCounter(connect(redis_url), namespace=namespace))
        for _ in range(2)
    ]
    codes = [call(apps[n % 2], "GET", "/v1").status for n in range(4)]
    assert codes == [200, 200, 200, 429]


def test_defaults_match_the_spec() -> None:
    limits = RateLimits.from_settings(Settings())
    assert (limits.window_ms, limits.max_requests) == (900_000, 100)
    assert (limits.sensitive_window_ms, limits.sensitive_max, limits.api_key_max) == (
        3_600_000,
        40,
        1000,
    )
