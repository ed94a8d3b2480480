"""Issue 10: an investor reads an investable invoice of its tenant (the buyer-safe view) and its
public history; every other invoice is 404, as if it did not exist."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_core.invoices import Actor, TransitionReason
from liquifact_core.lifecycle import Role
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import bearer, test_settings
from tests.factories import account_address, contract_address, invoice_draft, link_of, new_tenant
from tests.http.openapi_validation import assert_matches_openapi

ADMIN = Actor("ops", Role.ADMIN)
SME = Actor("sme-1", Role.SME)
# What only the SME and admins may know: contact and tax data, internal ids, actors, reasons.
PRIVATE_INVOICE_FIELDS = {"buyerEmail", "buyerTaxId", "metadata", "tenantId", "smeId"}


@pytest.fixture
def app() -> Starlette:
    return create_app(test_settings(rate_limit_enabled=False), store=InMemoryStore())


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def _submitted(app: Starlette, tenant: str) -> str:
    draft = invoice_draft(buyerEmail="ap@buyer.example", buyerTaxId="DE123456789")
    invoice_id: str = app.state.services.invoices.submit(tenant, SME, draft).id
    return invoice_id


def _listed(app: Starlette, tenant: str) -> str:
    invoices = app.state.services.invoices
    invoice_id = _submitted(app, tenant)
    invoices.approve(tenant, ADMIN, invoice_id)
    invoices.link_escrow(tenant, ADMIN, invoice_id, link_of(contract_address(), "1000"))
    return invoice_id


def _investor(tenant: str) -> dict[str, str]:
    return bearer("investor", tenant, "inv-1", wallet=account_address())


def test_an_investor_reads_the_buyer_safe_view_of_an_investable_invoice(
    client: TestClient, app: Starlette
) -> None:
    tenant = new_tenant()
    invoice_id = _listed(app, tenant)
    response = client.get(f"/v1/invoices/{invoice_id}", headers=_investor(tenant))
    assert response.status_code == 200, response.text
    assert_matches_openapi(response)
    view = response.json()
    assert view["id"] == invoice_id and view["status"] == "linked_escrow"
    assert view["buyerName"] and view["escrowAddress"].startswith("C")
    assert view["remainingCapacityStroops"] == "1000"
    assert not PRIVATE_INVOICE_FIELDS & set(view)
    assert "ap@buyer.example" not in response.text and "DE123456789" not in response.text
    # The SME that owns it still reads everything, with the ETag its writes need.
    own = client.get(f"/v1/invoices/{invoice_id}", headers=bearer("sme", tenant, "sme-1"))
    assert own.status_code == 200 and own.json()["buyerEmail"] == "ap@buyer.example"
    assert own.headers["ETag"] == '"v3"'
    assert_matches_openapi(own)


def test_an_investor_reads_the_public_history(client: TestClient, app: Starlette) -> None:
    tenant = new_tenant()
    invoice_id = _listed(app, tenant)
    response = client.get(f"/v1/invoices/{invoice_id}/history", headers=_investor(tenant))
    assert response.status_code == 200, response.text
    assert_matches_openapi(response)
    body = response.json()
    assert [(step["from"], step["to"]) for step in body["data"]] == [
        (None, "pending"),
        ("pending", "approved"),
        ("approved", "linked_escrow"),
    ]
    assert all(set(step) == {"sequence", "from", "to", "at"} for step in body["data"])
    assert "ops" not in response.text and "sme-1" not in response.text
    assert body["meta"] == {
        "total": 3,
        "limit": 3,
        "hasMore": False,
        "nextCursor": None,
        "page": 1,
        "totalPages": 1,
    }
    full = client.get(f"/v1/invoices/{invoice_id}/history", headers=bearer("admin", tenant, "a"))
    assert full.json()["data"][1]["actorId"] == "ops"
    assert_matches_openapi(full)


def test_an_investor_gets_404_for_every_invoice_that_is_not_investable(
    client: TestClient, app: Starlette
) -> None:
    tenant = new_tenant()
    invoices = app.state.services.invoices
    pending = _submitted(app, tenant)
    approved = _submitted(app, tenant)
    invoices.approve(tenant, ADMIN, approved)
    cancelled = _listed(app, tenant)
    invoices.cancel(tenant, ADMIN, cancelled, TransitionReason("buyer withdrew"))
    elsewhere = _listed(app, new_tenant())
    investor = _investor(tenant)
    for invoice_id in (pending, approved, cancelled, elsewhere):
        for suffix in ("", "/history"):
            response = client.get(f"/v1/invoices/{invoice_id}{suffix}", headers=investor)
            assert response.status_code == 404, (invoice_id, suffix, response.text)
            assert response.json()["code"] == "NOT_FOUND"
            assert_matches_openapi(response)


def test_investors_still_list_invoices_only_through_the_marketplace(
    client: TestClient, app: Starlette
) -> None:
    tenant = new_tenant()
    invoice_id = _listed(app, tenant)
    investor = _investor(tenant)
    assert client.get("/v1/invoices", headers=investor).status_code == 403
    assert client.get(f"/v1/invoices/{invoice_id}/state", headers=investor).status_code == 403
    patched = client.patch(f"/v1/invoices/{invoice_id}", json={"buyerName": "x"}, headers=investor)
    assert patched.status_code == 403
