"""Issue 10, done when: a browser client's whole journey over HTTP, with stellar-sdk as the
wallet and the CORS headers (and preflights) a browser on another origin sends, on SQLite and
PostgreSQL. The same journey runs from headless Chromium in tests/browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from stellar_sdk import Keypair

from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import test_settings
from tests.factories import (
    contract_address,
    invoice_draft,
    invoice_payload,
    link_of,
    new_tenant,
)
from tests.http.conftest import HTTP_STORES
from tests.http.openapi_validation import assert_matches_openapi
from tests.sep10_support import signed_challenge

ORIGIN = "http://localhost:5173"


class Browser:
    """What a browser on ``ORIGIN`` sends: ``Origin`` on every call, and a preflight before any
    call that is not "simple" (a bearer token, a JSON body or an idempotency key)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.preflights: list[str] = []

    def call(
        self, method: str, path: str, token: str | None = None, json: Any = None, **headers: str
    ) -> Any:
        sent = {**headers}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if json is not None:
            sent["Content-Type"] = "application/json"
        if method != "GET" or sent:
            self._preflight(method, path, sorted(name.lower() for name in sent))
        response = self.client.request(method, path, json=json, headers={"Origin": ORIGIN, **sent})
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN, response.headers
        assert_matches_openapi(response)
        return response

    def _preflight(self, method: str, path: str, header_names: list[str]) -> None:
        response = self.client.options(
            path.partition("?")[0],
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": ",".join(header_names),
            },
        )
        assert response.status_code == 204, response.text
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert all(name in allowed for name in header_names), (allowed, header_names)
        self.preflights.append(f"{method} {path.partition('?')[0]}")


@pytest.fixture
def self_service() -> str:
    return new_tenant()


@pytest.fixture
def browser(
    http_store_kind: str, request: pytest.FixtureRequest, tmp_path: Path, self_service: str
) -> Iterator[Browser]:
    store = HTTP_STORES[http_store_kind](request, tmp_path)
    settings = test_settings(
        self_service_tenant=self_service,
        rate_limit_enabled=False,
        cors_allowed_origins=(ORIGIN,),
    )
    with TestClient(create_app(settings, store=store)) as client:
        yield Browser(client)
    store.close()


def _register(browser: Browser, wallet: Keypair, role: str, **profile: str) -> str:
    proof = signed_challenge(browser.client, wallet)
    signed_in = browser.call("POST", "/v1/auth", json={"transaction": proof})
    assert (signed_in.status_code, signed_in.json()["code"]) == (401, "WALLET_NOT_REGISTERED")
    body = {"transaction": proof, "role": role, **profile}
    registered = browser.call("POST", "/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    token: str = registered.json()["token"]
    return token


def test_a_self_registered_investor_and_sme_go_the_whole_way(
    browser: Browser, self_service: str
) -> None:
    services = browser.client.app.state.services  # type: ignore[attr-defined]
    # The SME registers with its display name and submits an invoice.
    sme_wallet = Keypair.random()
    sme = _register(browser, sme_wallet, "sme", displayName="Société Lumière", country="FR")
    payload = invoice_payload(buyerName="Müller Logistik GmbH", currency="EUR", amount="5000.00")
    submitted = browser.call("POST", "/v1/invoices", sme, json=payload)
    assert submitted.status_code == 201, submitted.text
    invoice_id = submitted.json()["id"]
    other = browser.call("POST", "/v1/invoices", sme, json=invoice_payload(currency="USD"))
    assert other.status_code == 201
    # An admin (not a browser step) approves both and links their escrows.
    admin = Actor("ops", Role.ADMIN)
    for listed in (invoice_id, other.json()["id"]):
        services.invoices.approve(self_service, admin, listed)
        services.invoices.link_escrow(
            self_service, admin, listed, link_of(contract_address(), "1000000")
        )

    investor_wallet = Keypair.random()
    investor = _register(browser, investor_wallet, "investor")

    # Filters: currency, repeatable status, and q over issuer or buyer, without accents or case.
    for query in (
        "currency=EUR",
        "currency=EUR&status=linked_escrow&status=partially_funded",
        "q=societe%20LUMIERE&currency=EUR",
        "q=muller",
    ):
        page = browser.call("GET", f"/v1/marketplace?{query}", investor)
        assert page.status_code == 200, (query, page.text)
        assert [item["id"] for item in page.json()["data"]] == [invoice_id], query
        meta = page.json()["meta"]
        assert (meta["total"], meta["hasMore"], meta["nextCursor"]) == (1, False, None)
    item = page.json()["data"][0]
    assert item["issuer"] == {"displayName": "Société Lumière", "country": "FR"}

    detail = browser.call("GET", f"/v1/invoices/{invoice_id}", investor)
    assert detail.status_code == 200 and detail.json()["buyerName"] == "Müller Logistik GmbH"
    assert "buyerEmail" not in detail.json()
    history = browser.call("GET", f"/v1/invoices/{invoice_id}/history", investor)
    assert [step["to"] for step in history.json()["data"]] == [
        "pending",
        "approved",
        "linked_escrow",
    ]

    funding = {
        "invoiceId": invoice_id,
        "investorAddress": investor_wallet.public_key,
        "amountStroops": "250000",
    }
    funded = browser.call(
        "POST",
        "/v1/invest/fund-invoice",
        investor,
        json=funding,
        **{"Idempotency-Key": "fund-key-0001"},
    )
    assert funded.status_code == 201, funded.text
    assert "POST /v1/invest/fund-invoice" in browser.preflights
    again = browser.call(
        "POST",
        "/v1/invest/fund-invoice",
        investor,
        json=funding,
        **{"Idempotency-Key": "fund-key-0001"},
    )
    assert again.json()["id"] == funded.json()["id"]

    mine = browser.call("GET", "/v1/investor/commitments", investor)
    assert mine.status_code == 200, mine.text
    [commitment] = mine.json()["data"]
    assert (commitment["id"], commitment["invoiceId"], commitment["status"]) == (
        funded.json()["id"],
        invoice_id,
        "pending",
    )
    assert commitment["amountStroops"] == "250000"

    # Still 404: an invoice that is not investable, and another tenant's investable one.
    pending = browser.call("POST", "/v1/invoices", sme, json=invoice_payload())
    stranger = new_tenant()
    elsewhere = services.invoices.submit(stranger, Actor("s", Role.SME), invoice_draft())
    services.invoices.approve(stranger, admin, elsewhere.id)
    services.invoices.link_escrow(stranger, admin, elsewhere.id, link_of(contract_address(), "9"))
    for hidden in (pending.json()["id"], elsewhere.id):
        assert browser.call("GET", f"/v1/invoices/{hidden}", investor).status_code == 404
