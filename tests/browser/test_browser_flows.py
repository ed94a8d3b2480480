"""The investor and SME flows from headless Chromium against ``make run`` (issue 10).

The page (tests/browser/page.html + app.js) is served from another origin than the API and
calls it with fetch, so every authenticated or JSON call is a real cross-origin request with a
CORS preflight; the user's wallet is played by the test (``Wallet``: a stellar-sdk key behind
the Freighter-shaped ``signTransaction``). Admin steps no browser of these users would take
(approving an invoice and linking its escrow) go over HTTP with a ``make token`` admin token.

Run alone: ``.venv/bin/pytest tests/browser`` (needs Debian's ``chromium``).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx2 as httpx
import pytest

from tests.browser.conftest import Api, OpenFront, Sites
from tests.factories import contract_address, invoice_payload

pytestmark = [pytest.mark.slow, pytest.mark.browser]

FUND = "/v1/invest/fund-invoice"
ISSUER = {"displayName": "Société Lumière", "country": "FR"}


def _invoice() -> dict[str, Any]:
    today = date.today()
    return invoice_payload(
        issueDate=today.isoformat(), dueDate=(today + timedelta(days=60)).isoformat()
    )


def _make_investable(api: Api, invoice_id: str, target_stroops: str) -> None:
    """What an admin of the self-service tenant does: approve, link the escrow contract."""
    admin = {"Authorization": f"Bearer {api.server.token('admin', api.self_service_tenant)}"}
    with httpx.Client(base_url=api.base, headers=admin) as client:
        approved = client.post(f"/v1/invoices/{invoice_id}/approve")
        assert approved.status_code == 200, approved.text
        link = {"escrowAddress": contract_address(), "fundingTargetStroops": target_stroops}
        linked = client.post(f"/v1/invoices/{invoice_id}/link-escrow", json=link)
        assert linked.status_code == 200, linked.text


def test_self_registered_sme_and_investor_from_the_browser(api: Api, open_front: OpenFront) -> None:
    # The SME's browser: the wallet is unknown, so it registers itself, then submits.
    sme = open_front()
    toml = sme.step("stellarToml")
    assert toml["status"] == 200 and toml["body"]["SIGNING_KEY"] == api.signing_key
    signed_up = sme.step("signIn", {"role": "sme", "profile": ISSUER})
    assert signed_up["first"] == {"status": 401, "code": "WALLET_NOT_REGISTERED"}
    assert (signed_up["signedIn"], signed_up["registered"]) == (True, True)
    assert signed_up["wallet"]["tenantId"] == api.self_service_tenant
    assert signed_up["wallet"]["role"] == "sme"
    assert len(sme.wallet.signed) == 1  # one challenge signed: register reused it

    submitted = sme.step("submitInvoice", _invoice())
    assert submitted["status"] == 201, submitted
    assert submitted["body"]["smeId"] == sme.wallet.address
    assert submitted["body"]["status"] == "pending"
    assert submitted["headers"]["location"].endswith(submitted["body"]["id"])
    invoice_id = submitted["body"]["id"]
    _make_investable(api, invoice_id, target_stroops="12500000000")

    # The investor's browser: registers, then signs in again as a known wallet.
    investor = open_front()
    assert investor.step("signIn", {"role": "investor"})["registered"] is True
    again = investor.step("signIn")
    assert (again["first"], again["signedIn"], again["registered"]) == (
        {"status": 200, "code": None},
        True,
        False,
    )

    market = investor.step("marketplace", {"sortBy": "created_at"})
    assert market["status"] == 200, market
    assert invoice_id in [item["id"] for item in market["body"]["data"]]
    # The new filters: currency, repeatable status, and q (issuer or buyer, no case or accents).
    filters = {
        "currency": "USD",
        "status": ["linked_escrow", "partially_funded"],
        "q": "SOCIETE lumiere",
    }
    found = investor.step("marketplace", filters)
    assert found["status"] == 200, found
    assert [item["id"] for item in found["body"]["data"]] == [invoice_id]
    assert found["body"]["data"][0]["issuer"] == ISSUER
    meta = found["body"]["meta"]
    assert (meta["total"], meta["hasMore"], meta["nextCursor"]) == (1, False, None)
    assert investor.step("marketplace", {"currency": "EUR"})["body"]["data"] == []

    detail = investor.step("invoice", {"invoiceId": invoice_id})
    assert detail["status"] == 200, detail
    assert detail["body"]["id"] == invoice_id and detail["body"]["issuer"] == ISSUER
    assert "buyerEmail" not in detail["body"] and "smeId" not in detail["body"]
    history = investor.step("history", {"invoiceId": invoice_id})
    assert [step["to"] for step in history["body"]["data"]] == [
        "pending",
        "approved",
        "linked_escrow",
    ]
    assert all(set(step) == {"sequence", "from", "to", "at"} for step in history["body"]["data"])

    since = len(api.server.lines)
    key = "fund-" + uuid.uuid4().hex
    fund = {"invoiceId": invoice_id, "amountStroops": "5000000000", "idempotencyKey": key}
    funded = investor.step("fundInvoice", fund)
    assert funded["status"] == 201, funded
    assert "idempotent-replayed" not in funded["headers"]
    replayed = investor.step("fundInvoice", fund)
    assert replayed["status"] == funded["status"]
    assert replayed["headers"]["idempotent-replayed"] == "true"  # an exposed header
    assert replayed["body"] == funded["body"]

    # What reached the server: the browser's preflight first (204), then the POSTs; the
    # replay needed none, the browser keeping the answer (Access-Control-Max-Age).
    assert api.server.statuses("POST", FUND, since, count=2) == [201, 201]
    seen = [(r["method"], r["status"]) for r in api.server.requests(since) if r["path"] == FUND]
    assert seen == [("OPTIONS", 204), ("POST", 201), ("POST", 201)]

    lock = investor.step("lock", {"invoiceId": invoice_id})
    assert lock["status"] == 200, lock
    assert lock["body"]["funderAddress"] == investor.wallet.address
    assert lock["body"]["commitmentCount"] == 1  # the replay added none
    assert lock["body"]["amountStroops"] == "5000000000"
    mine = investor.step("commitments", {"status": ["pending", "confirmed"]})
    assert mine["status"] == 200, mine
    [commitment] = mine["body"]["data"]
    assert (commitment["id"], commitment["invoiceId"], commitment["status"]) == (
        funded["body"]["id"],
        invoice_id,
        "pending",
    )
    # A pending invoice is not the investor's to read: 404, as if it did not exist.
    pending = sme.step("submitInvoice", _invoice())
    hidden = investor.step("invoice", {"invoiceId": pending["body"]["id"]})
    assert (hidden["status"], hidden["problem"]["code"]) == (404, "NOT_FOUND")

    # An error reads as problem+json in the page.
    unkeyed = investor.step(
        "call",
        {
            "method": "POST",
            "path": FUND,
            "json": {
                "invoiceId": invoice_id,
                "investorAddress": investor.wallet.address,
                "amountStroops": "1",
            },
        },
    )
    assert unkeyed["status"] == 400, unkeyed
    assert unkeyed["headers"]["content-type"].startswith("application/problem+json")
    assert unkeyed["problem"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"


def test_an_origin_not_allowed_is_blocked_by_the_browser(
    api: Api, sites: Sites, open_front: OpenFront
) -> None:
    since = len(api.server.lines)
    stranger = open_front(sites.other)
    account = stranger.wallet.address

    # A simple GET (no preflight): the server refuses it and the browser hides the answer.
    challenge = stranger.step(
        "call", {"method": "GET", "path": "/v1/auth", "query": {"account": account}}
    )
    assert challenge["networkError"].startswith("TypeError"), challenge
    # A preflighted POST: the preflight is refused, so the POST is never sent.
    fund = stranger.step(
        "call",
        {
            "method": "POST",
            "path": FUND,
            "json": {"invoiceId": "inv_x", "investorAddress": account, "amountStroops": "1"},
            "idempotencyKey": "fund-" + uuid.uuid4().hex,
        },
    )
    assert fund["networkError"].startswith("TypeError"), fund

    assert api.server.statuses("GET", "/v1/auth", since, count=1) == [403]
    assert api.server.statuses("OPTIONS", FUND, since, count=1) == [403]
    assert api.server.statuses("POST", FUND, since, count=1, timeout=0.5) == []
    # Not an outage: the same page from the allowed origin gets through, and a client outside a
    # browser is told why the other origin was refused.
    allowed = open_front(sites.allowed).step("marketplace")
    assert (allowed["status"], allowed["problem"]["code"]) == (401, "AUTHENTICATION_REQUIRED")
    direct = httpx.get(
        f"{api.base}/v1/auth",
        params={"account": account},
        headers={"Origin": sites.other.origin},
    )
    assert (direct.status_code, direct.json()["code"]) == (403, "CORS_FORBIDDEN")
