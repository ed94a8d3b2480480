"""GET /metrics: the spec's access rules, bullet by bullet, and what the registry holds."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.bootstrap import create_app
from liquifact_http.metrics import JobSample, record_readiness
from tests.auth_helpers import bearer, test_settings
from tests.factories import invoice_payload
from tests.http.asgi_driver import Exchange, call

TOKEN = "c0ffee" * 8
REMOTE = ("203.0.113.50", 5000)


@pytest.fixture
def token_app() -> Starlette:
    return create_app(test_settings(metrics_bearer_token=TOKEN), store=InMemoryStore())


@pytest.fixture
def open_app() -> Starlette:
    return create_app(test_settings(), store=InMemoryStore())


def scrape(app: Starlette, *headers: tuple[str, str], client: tuple[str, int] = REMOTE) -> Exchange:
    return call(app, "GET", "/metrics", headers=headers, client=client)


def uniform(exchange: Exchange) -> dict[str, Any]:
    """The 401 body without its per-request correlation id."""
    assert exchange.status == 401
    assert exchange.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = exchange.json()
    body.pop("correlation_id")
    return body


def test_valid_bearer_token_is_200(token_app: Starlette) -> None:
    exchange = scrape(token_app, ("authorization", f"Bearer {TOKEN}"))
    assert exchange.status == 200
    assert exchange.headers["content-type"].startswith("text/plain")
    assert b"http_requests_total" in exchange.body


def test_every_refusal_is_the_same_401(token_app: Starlette, open_app: Starlette) -> None:
    missing = uniform(scrape(token_app))
    wrong = uniform(scrape(token_app, ("authorization", "Bearer " + "0" * 48)))
    basic = uniform(scrape(token_app, ("authorization", f"Basic {TOKEN}")))
    empty = uniform(scrape(token_app, ("authorization", "Bearer ")))
    non_ascii = uniform(scrape(token_app, ("authorization", "Bearer \xe9\xe9")))
    loopback_without_token = uniform(scrape(token_app, client=("127.0.0.1", 1)))
    remote = uniform(scrape(open_app))
    assert missing == wrong == basic == empty == non_ascii == loopback_without_token == remote
    assert missing["code"] == "UNAUTHORIZED"
    assert "token" not in missing["detail"].lower() and "loopback" not in missing["detail"]


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_loopback_without_a_configured_token_is_200(open_app: Starlette, peer: str) -> None:
    assert scrape(open_app, client=(peer, 1)).status == 200


@pytest.mark.parametrize("peer", ["203.0.113.50", "10.0.0.1", "127.0.0.2.example", "::2"])
def test_non_loopback_without_a_configured_token_is_401(open_app: Starlette, peer: str) -> None:
    assert scrape(open_app, client=(peer, 1)).status == 401


def test_no_socket_address_is_401(open_app: Starlette) -> None:
    assert call(open_app, "GET", "/metrics", client=None).status == 401


@pytest.mark.parametrize("trust", ["false", "true", "loopback"])
def test_forwarded_for_loopback_from_a_remote_socket_is_blocked(trust: str) -> None:
    from pathlib import Path

    from liquifact_http.settings import load_settings

    settings = load_settings({"TRUST_PROXY": trust}, env_file=Path("/nonexistent/.env"))
    app = create_app(settings, store=InMemoryStore())
    spoofed = scrape(app, ("x-forwarded-for", "127.0.0.1"), ("x-real-ip", "127.0.0.1"))
    assert spoofed.status == 401


@pytest.mark.parametrize("trust", ["false", "true", "loopback"])
@pytest.mark.parametrize(
    "header",
    ["X-Forwarded-For", "x-real-ip", "Forwarded", "X-Forwarded-Proto", "True-Client-IP"],
)
def test_a_request_relayed_by_a_local_proxy_needs_the_token(trust: str, header: str) -> None:
    """A reverse proxy on the same host connects from loopback: what it relays is a remote
    client's request, told apart by the forwarding header the proxy adds."""
    from pathlib import Path

    from liquifact_http.settings import load_settings

    no_dotenv = Path("/nonexistent/.env")
    app = create_app(
        load_settings({"TRUST_PROXY": trust}, env_file=no_dotenv), store=InMemoryStore()
    )
    value = "for=198.51.100.7" if header == "Forwarded" else "198.51.100.7"
    assert scrape(app, (header, value), client=("127.0.0.1", 1)).status == 401
    assert scrape(app, client=("127.0.0.1", 1)).status == 200  # a scrape on the host itself
    environ = {"TRUST_PROXY": trust, "METRICS_BEARER_TOKEN": TOKEN}
    with_token = create_app(load_settings(environ, env_file=no_dotenv), store=InMemoryStore())
    relayed = scrape(
        with_token, (header, value), ("authorization", f"Bearer {TOKEN}"), client=("127.0.0.1", 1)
    )
    assert relayed.status == 200


@pytest.mark.parametrize("name", ["authorization", "Authorization", "AUTHORIZATION"])
def test_header_name_casing_is_accepted(token_app: Starlette, name: str) -> None:
    # Raw ASGI header names as sent (servers lower-case them; this also holds if one does not).
    assert scrape(token_app, (name, f"Bearer {TOKEN}")).status == 200
    with TestClient(token_app) as client:
        assert client.get("/metrics", headers={name: f"Bearer {TOKEN}"}).status_code == 200


def test_bearer_scheme_is_case_insensitive(token_app: Starlette) -> None:
    assert scrape(token_app, ("authorization", f"bearer {TOKEN}")).status == 200


def samples(app: Starlette, name: str, **labels: str) -> float | None:
    value: float | None = app.state.metrics.registry.get_sample_value(name, labels)
    return value


def test_requests_are_counted_by_route_template(open_app: Starlette) -> None:
    headers = bearer("admin", "metrics-t")
    with TestClient(open_app) as client:
        invoice_id = client.post("/v1/invoices", json=invoice_payload(), headers=headers).json()[
            "id"
        ]
        client.get(f"/v1/invoices/{invoice_id}", headers=headers)
        client.get(f"/api/invoices/{invoice_id}", headers=headers)
        client.get("/v1/invoices/inv_unknown", headers=headers)
        client.get("/no/such/path")
        client.request("BREW", "/v1")
    template = "/v1/invoices/{id}"
    assert samples(open_app, "http_requests_total", method="GET", route=template, status="200") == 2
    assert samples(open_app, "http_requests_total", method="GET", route=template, status="404") == 1
    assert (
        samples(open_app, "http_requests_total", method="POST", route="/v1/invoices", status="201")
        == 1
    )
    assert (
        samples(open_app, "http_requests_total", method="GET", route="<unmatched>", status="404")
        == 1
    )
    assert samples(open_app, "http_requests_total", method="OTHER", route="/v1", status="405") == 1
    count = samples(
        open_app, "http_request_duration_seconds_count", method="GET", route=template, status="200"
    )
    assert count == 2
    exposition = scrape(open_app, client=("127.0.0.1", 1)).body.decode()
    assert invoice_id not in exposition  # raw paths never become labels


def test_a_request_refused_before_routing_is_counted_by_its_route_template(
    open_app: Starlette,
) -> None:
    headers = [("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer d.e.f")]
    with TestClient(open_app) as client:
        refused = client.get("/v1/invoices/inv_1", headers=headers)
        client.get("/api/invoices/inv_1", headers=headers)
    assert refused.json()["code"] == "DUPLICATE_HEADER"
    template = "/v1/invoices/{id}"
    assert samples(open_app, "http_requests_total", method="GET", route=template, status="400") == 2


def test_readiness_hook_sets_the_gauge(open_app: Starlette) -> None:
    record_readiness(open_app, "database", True)
    record_readiness(open_app, "soroban_rpc", False)
    assert samples(open_app, "readiness_gauge", check="database") == 1
    assert samples(open_app, "readiness_gauge", check="soroban_rpc") == 0
    record_readiness(open_app.state.metrics, "database", False)
    assert samples(open_app, "readiness_gauge", check="database") == 0


def test_job_gauges_sum_registered_sources_per_job_type(open_app: Starlette) -> None:
    metrics = open_app.state.metrics
    assert samples(open_app, "liquifact_job_queue_depth", type="webhook_delivery") is None
    metrics.register_job_source(
        "webhooks", lambda: {"webhook_delivery": JobSample(queue_depth=3, retry_queue_size=1)}
    )
    metrics.register_job_source(
        "mail",
        lambda: {
            "webhook_delivery": JobSample(queue_depth=2, inflight=4),
            "mail": JobSample(inflight=1),
        },
    )

    def broken() -> dict[str, JobSample]:
        raise RuntimeError("queue gone")

    metrics.register_job_source("broken", broken)
    assert samples(open_app, "liquifact_job_queue_depth", type="webhook_delivery") == 5
    assert samples(open_app, "liquifact_job_retry_queue_size", type="webhook_delivery") == 1
    assert samples(open_app, "liquifact_worker_inflight_count", type="webhook_delivery") == 4
    assert samples(open_app, "liquifact_worker_inflight_count", type="mail") == 1


def test_every_app_owns_its_registry() -> None:
    first = create_app(test_settings(), store=InMemoryStore())
    second = create_app(test_settings(), store=InMemoryStore())
    call(first, "GET", "/health")
    assert samples(first, "http_requests_total", method="GET", route="/health", status="200") == 1
    assert (
        samples(second, "http_requests_total", method="GET", route="/health", status="200") is None
    )


def test_exposition_lists_the_operational_metrics(open_app: Starlette) -> None:
    text = scrape(open_app, client=("127.0.0.1", 1)).body.decode()
    for name in (
        "http_requests_total",
        "http_request_duration_seconds",
        "body_size_limit_rejections_total",
        "rate_limit_rejections_total",
        "rate_limit_store_errors_total",
        "response_cache_hits_total",
        "response_cache_misses_total",
        "response_cache_evictions_total",
        "response_cache_errors_total",
        "readiness_gauge",
        "liquifact_job_queue_depth",
    ):
        assert f"# HELP {name}" in text, name
