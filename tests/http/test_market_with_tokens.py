"""Marketplace and funding through real bearer tokens, including cached reads across callers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import bearer, test_settings
from tests.factories import (
    account_address,
    contract_address,
    invoice_draft,
    link_of,
    new_tenant,
)


def list_invoice(app: Starlette, tenant: str, target: str = "1000") -> str:
    """An investable invoice, put on the marketplace through the use cases."""
    invoices = app.state.services.invoices
    admin = Actor("ops", Role.ADMIN)
    invoice = invoices.submit(tenant, Actor("sme-1", Role.SME), invoice_draft())
    invoices.approve(tenant, admin, invoice.id)
    invoices.link_escrow(tenant, admin, invoice.id, link_of(contract_address(), target))
    invoice_id: str = invoice.id
    return invoice_id


@pytest.fixture
def app() -> Starlette:
    return create_app(test_settings(rate_limit_enabled=False), store=InMemoryStore())


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def test_a_cached_lock_read_is_never_served_to_another_investor(
    client: TestClient, app: Starlette
) -> None:
    tenant = new_tenant()
    invoice_id = list_invoice(app, tenant)
    alice_wallet, bob_wallet = account_address(), account_address()
    alice = bearer("investor", tenant, "alice", wallet=alice_wallet)
    bob = bearer("investor", tenant, "bob", wallet=bob_wallet)
    funded = client.post(
        "/v1/invest/fund-invoice",
        json={"invoiceId": invoice_id, "investorAddress": alice_wallet, "amountStroops": "500"},
        headers={**alice, "Idempotency-Key": "alice-fund-0001"},
    )
    assert funded.status_code == 201, funded.text
    url = f"/v1/investor/locks/{invoice_id}?funderAddress={alice_wallet}"
    first = client.get(url, headers=alice)
    again = client.get(url, headers=alice)
    assert (first.status_code, again.headers["x-cache"]) == (200, "HIT")
    stolen = client.get(url, headers=bob)
    assert stolen.status_code == 403
    assert alice_wallet not in stolen.text


@pytest.mark.parametrize(
    "query",
    [
        "?funderAddress=",
        "?funderAddress={wallet}&bogus=1",
        "?funderAddress={wallet}&funderAddress={wallet}",
        "?funderAddress={wallet}&funderAddress=",
    ],
)
def test_a_cached_lock_read_is_never_served_to_an_invalid_query(
    client: TestClient, app: Starlette, query: str
) -> None:
    """The cache lookup runs before the query is validated: a request the handler refuses
    must never share a key with one it answered (empty, unknown or repeated parameters)."""
    tenant = new_tenant()
    invoice_id = list_invoice(app, tenant)
    wallet = account_address()
    investor = bearer("investor", tenant, "ivy", wallet=wallet)
    funded = client.post(
        "/v1/invest/fund-invoice",
        json={"invoiceId": invoice_id, "investorAddress": wallet, "amountStroops": "500"},
        headers={**investor, "Idempotency-Key": "ivy-fund-00001"},
    )
    assert funded.status_code == 201, funded.text
    base = f"/v1/investor/locks/{invoice_id}"
    for primed in (base, f"{base}?funderAddress={wallet}"):
        assert client.get(primed, headers=investor).status_code == 200
        assert client.get(primed, headers=investor).headers["x-cache"] == "HIT"
    refused = client.get(base + query.format(wallet=wallet), headers=investor)
    assert refused.status_code == 400, refused.text
    assert refused.headers.get("x-cache") != "HIT"


def test_marketplace_roles_with_real_tokens(client: TestClient, app: Starlette) -> None:
    tenant = new_tenant()
    list_invoice(app, tenant)
    investor = bearer("investor", tenant, "ivy", wallet=account_address())
    page = client.get("/v1/marketplace", headers=investor)
    assert page.status_code == 200
    assert page.json()["meta"]["total"] == 1
    assert client.get("/v1/marketplace", headers=investor).headers["x-cache"] == "HIT"
    assert client.get("/v1/marketplace", headers=bearer("sme", tenant, "s")).status_code == 403
    assert client.get("/v1/marketplace").status_code == 401
    other = client.get("/v1/marketplace", headers=bearer("investor", new_tenant(), "x"))
    assert other.json()["meta"]["total"] == 0  # another tenant sees nothing, cached or not


def test_funding_without_a_bound_wallet_is_403(client: TestClient, app: Starlette) -> None:
    tenant = new_tenant()
    invoice_id = list_invoice(app, tenant)
    response = client.post(
        "/v1/invest/fund-invoice",
        json={"invoiceId": invoice_id, "investorAddress": account_address(), "amountStroops": "1"},
        headers={**bearer("investor", tenant, "nowallet"), "Idempotency-Key": "no-wallet-0001"},
    )
    assert response.status_code == 403
