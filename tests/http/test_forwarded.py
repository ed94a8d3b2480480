"""TRUST_PROXY through uvicorn's ProxyHeadersMiddleware (address lists) and the hop count."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.bootstrap import create_app
from liquifact_http.settings import load_settings
from tests.auth_helpers import test_settings

NO_DOTENV = Path("/nonexistent/.env")


def _app(trust: str, **env: str) -> TestClient:
    settings = load_settings({"TRUST_PROXY": trust, **env}, env_file=NO_DOTENV)
    merged = test_settings(trust_proxy=settings.trust_proxy, rate_limit_max_requests=2)
    return TestClient(create_app(merged, store=InMemoryStore()), client=("127.0.0.1", 9))


@pytest.mark.parametrize("trust", ["loopback", "127.0.0.1", "true"])
def test_a_trusted_proxy_reports_tls_for_hsts(trust: str) -> None:
    with _app(trust) as proxy:
        over_tls = proxy.get("/health", headers={"X-Forwarded-Proto": "https"})
        plain = proxy.get("/health", headers={"X-Forwarded-Proto": "http"})
    assert over_tls.headers["strict-transport-security"].startswith("max-age=")
    assert "strict-transport-security" not in plain.headers


def test_an_untrusted_peer_cannot_claim_tls() -> None:
    with _app("10.0.0.0/8") as direct:  # the peer, 127.0.0.1, is not in the list
        response = direct.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in response.headers


def test_a_forwarded_address_with_a_port_counts_as_its_address() -> None:
    with _app("loopback") as proxy:
        codes = [
            proxy.get("/v1", headers={"X-Forwarded-For": f"192.0.2.1:{port}"}).status_code
            for port in (4001, 4002, 4003)
        ]
    assert codes == [200, 200, 429]  # one client, whatever source port the proxy saw


def test_same_origin_uses_the_scheme_the_trusted_proxy_reports() -> None:
    # Swagger UI served over TLS by the proxy posts with Origin https://api.example.
    with _app("loopback") as proxy:
        same = proxy.get(
            "/v1",
            headers={
                "Origin": "https://api.example",
                "Host": "api.example",
                "X-Forwarded-Proto": "https",
            },
        )
        spoofed = proxy.get("/v1", headers={"Origin": "https://api.example", "Host": "api.example"})
    assert same.status_code == 200
    assert spoofed.status_code == 403  # http://api.example is another origin


@pytest.mark.parametrize("trust", ["loopback", "true"])
def test_metrics_judge_the_socket_peer_not_the_forwarded_client(trust: str) -> None:
    # The proxy on loopback relays a remote client: /metrics (no token configured) refuses
    # it, as it does a remote socket naming loopback; only a direct scrape on the host passes.
    with _app(trust) as proxy:
        assert proxy.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 401
        assert proxy.get("/metrics").status_code == 200
    settings = load_settings({"TRUST_PROXY": trust}, env_file=NO_DOTENV)
    app = create_app(test_settings(trust_proxy=settings.trust_proxy), store=InMemoryStore())
    with TestClient(app, client=("203.0.113.9", 9)) as remote:
        assert remote.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 401
