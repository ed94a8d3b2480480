"""Sentry events leave the process without secrets, tokens, invoice data or XDR.

The event is captured by a custom transport (no network) and searched as serialized bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_core.lifecycle import Role
from liquifact_http.access import allow, authorize
from liquifact_http.api_keys import ApiScope, parse_api_keys
from liquifact_http.bodies import read_object
from liquifact_http.bootstrap import create_app
from liquifact_http.sentry import init_sentry, scrub_event, scrub_text
from liquifact_http.settings import Settings
from tests.auth_helpers import test_settings, token

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJzbWUtNDIiLCJpc3MiOiJsaXF1aWZhY3QiLCJhdWQiOiJhcGkifQ."
    "c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
)
API_KEY = "lf_live_9f8e7d6c5b4a39281706"
SEED = "SBKGCMBY56MHTT4EGE3YJIYL4CPWKSGJ7VDEQF4J3B3E3ZDGJ6VHLQQU"
XDR = (
    "AAAAAgAAAABzdv3ojkzWHMD7KUoXhrPx0GH18vHKV0ZfqpMiEblG1gAAAGQADkf3AAAABQAAAAEAAAAAAAAAAAAAAABl"
    "Y2hvAAAAAQAAAAAAAAABAAAAAPZ5T2Iv7kS8Ym0LNuVVfrA2IQNGnO5Lyy2RbMlBgXFNAAAAAAAAAAAAmJaAAAAAAAAA"
)
BUYER = "Confidential Buyer GmbH"
TAX_ID = "DE-TAX-998877"
COOKIE = "session=top-secret-cookie-value"
DSN = "https://publickey123@o0.ingest.sentry.invalid/42"


class CapturingTransport(Transport):
    envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        CapturingTransport.envelopes.append(envelope)


@pytest.fixture
def captured() -> Iterator[list[Envelope]]:
    CapturingTransport.envelopes = []
    started = init_sentry(
        Settings(sentry_dsn=DSN, sentry_release="liquifact@test", environment="test"),
        transport=CapturingTransport,
    )
    assert started
    yield CapturingTransport.envelopes
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: reporting off for every later test


def serialized(envelopes: list[Envelope]) -> str:
    sentry_sdk.flush()
    return "\n".join(envelope.serialize().decode("utf-8", "replace") for envelope in envelopes)


async def explode(request: Request) -> Response:
    payload = await read_object(request)
    sentry_sdk.set_extra("invoice", payload)
    sentry_sdk.set_extra("note", f"token {JWT} key {API_KEY} seed {SEED} envelope {XDR}")
    sentry_sdk.add_breadcrumb(message=f"auth Bearer {JWT}", data={"buyerName": BUYER})
    raise RuntimeError(f"submit failed: Authorization: Bearer {JWT}; xdr={XDR}; {API_KEY}")


# The test-only route has no row in access.ACCESS: built like ``resource`` builds one, with this
# rule, so the request reaches the handler only with real credentials.
EXPLODE_ACCESS = allow(Role.ADMIN, scope=ApiScope.INVOICES_WRITE)
EXPLODE_KEYS = parse_api_keys(
    f'{{"key":"{API_KEY}","clientId":"explode-svc","scopes":["invoices:write"]}}'
)


async def guarded_explode(request: Request) -> Response:
    authorize(request, EXPLODE_ACCESS)
    return await explode(request)


@pytest.mark.parametrize("credential", ["bearer", "api_key"])
def test_an_unhandled_error_is_reported_without_any_secret(
    captured: list[Envelope], credential: str
) -> None:
    app = create_app(test_settings(api_keys=EXPLODE_KEYS), store=InMemoryStore())
    app.router.routes.append(Route("/v1/explode", guarded_explode, methods=["POST"]))
    real_token = token("admin", "t1", "sme-42")
    # One credential per request (both at once is a 401); the other still travels, in the URL.
    sent_credentials = (
        {"Authorization": f"Bearer {real_token}"}
        if credential == "bearer"
        else {"X-API-Key": API_KEY, "X-Tenant-Id": "t1"}
    )
    invoice = {
        "invoiceNumber": "INV-SECRET-77",
        "buyerName": BUYER,
        "buyerTaxId": TAX_ID,
        "amount": "987654.32",
        "metadata": {"signedXdr": XDR},
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/explode?api_key=" + API_KEY + "&token=" + real_token,
            json=invoice,
            headers={**sent_credentials, "Cookie": COOKIE},
        )
    assert response.status_code == 500
    sent = serialized(captured)
    assert "submit failed" in sent and "RuntimeError" in sent  # the event did go out
    assert "liquifact@test" in sent and '"environment":"test"' in sent.replace(" ", "")
    for secret in (
        JWT,
        JWT.split(".")[1],
        real_token,
        real_token.split(".")[1],
        real_token.split(".")[2],
        API_KEY,
        SEED,
        XDR[:40],
        BUYER,
        TAX_ID,
        "987654.32",
        "INV-SECRET-77",
        "top-secret-cookie-value",
    ):
        assert secret not in sent, secret


def test_a_captured_message_with_secrets_in_extra_is_scrubbed(captured: list[Envelope]) -> None:
    with sentry_sdk.new_scope() as scope:
        scope.set_extra("claims", {"iss": "liquifact", "aud": "api", "sub": "sme-42"})
        scope.set_extra("client_secret", "plain-secret-value")
        scope.set_context("escrow", {"envelopeXdr": XDR, "note": f"seed {SEED}"})
        sentry_sdk.capture_message(f"failed with {API_KEY} and Bearer abc.def.ghi")
    sent = serialized(captured)
    assert "failed with" in sent
    for secret in (API_KEY, "abc.def.ghi", "plain-secret-value", "sme-42", XDR[:40], SEED):
        assert secret not in sent, secret


def test_scrub_text_rules() -> None:
    assert scrub_text(f"Bearer {JWT}") == "Bearer [Filtered]"
    assert scrub_text(f"jwt={JWT}") == "jwt=[Filtered]"
    assert scrub_text(f"key {API_KEY}.") == "key [Filtered]."
    assert scrub_text(SEED) == "[Filtered]"
    assert scrub_text(XDR) == "[Filtered]"
    harmless = "Invoice inv_01JG8ZK3W6Q2R5T7V9X1Y3A5C7 moved to approved (GABC is an account)"
    assert scrub_text(harmless) == harmless


def test_scrub_event_drops_request_bodies_and_sensitive_headers() -> None:
    event: dict[str, Any] = {
        "request": {
            "url": f"http://api/v1/invoices?token={JWT}",
            "data": {"buyerName": BUYER},
            "cookies": COOKIE,
            "query_string": f"api_key={API_KEY}",
            "headers": {
                "Authorization": f"Bearer {JWT}",
                "X-Api-Key": API_KEY,
                "Cookie": COOKIE,
                "User-Agent": "curl/8",
            },
        },
        "user": {"id": "sme-42", "email": "sme@example.com", "ip_address": "203.0.113.5"},
    }
    scrubbed = scrub_event(event)
    request = scrubbed["request"]
    assert "data" not in request and "cookies" not in request and "query_string" not in request
    assert request["url"] == "http://api/v1/invoices"
    assert request["headers"] == {
        "Authorization": "[Filtered]",
        "X-Api-Key": "[Filtered]",
        "Cookie": "[Filtered]",
        "User-Agent": "curl/8",
    }
    assert scrubbed["user"] == {"id": "sme-42"}


def test_no_dsn_means_no_reporting() -> None:
    assert init_sentry(Settings()) is False


def test_environment_defaults_to_node_env(captured: list[Envelope]) -> None:
    sentry_sdk.get_client().close()
    init_sentry(Settings(sentry_dsn=DSN, environment="staging"), transport=CapturingTransport)
    options = sentry_sdk.get_client().options
    assert options["environment"] == "staging"
    assert str(options["release"]).startswith("liquifact@")
