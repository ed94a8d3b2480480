"""GET /v1/investor/commitments: each commitment with its status, over HTTP with real bearer
tokens and API keys, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from tests.auth_helpers import ALL_KEY, READ_KEY, api_key, bearer
from tests.factories import account_address
from tests.http.openapi_validation import assert_matches_openapi, assert_request_matches_openapi
from tests.http.test_market_with_tokens import list_invoice

PATH = "/v1/investor/commitments"
CHAIN = Actor("indexer", Role.CHAIN)


class Investor:
    def __init__(self, client: TestClient, tenant: str, name: str) -> None:
        self.client = client
        self.wallet = account_address()
        self.headers = bearer("investor", tenant, name, wallet=self.wallet)

    def fund(self, invoice_id: str, amount: str) -> dict[str, Any]:
        response = self.client.post(
            "/v1/invest/fund-invoice",
            json={"invoiceId": invoice_id, "investorAddress": self.wallet, "amountStroops": amount},
            headers={**self.headers, "Idempotency-Key": f"key-{self.wallet[:10]}-{amount}"},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


def _get(
    client: TestClient, headers: dict[str, str], status: int = 200, query: str = ""
) -> dict[str, Any]:
    response = client.get(PATH + query, headers=headers)
    assert response.status_code == status, response.text
    assert_matches_openapi(response)
    if status == 200:
        assert_request_matches_openapi(response.request)
    body: dict[str, Any] = response.json()
    return body


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["data"]]


@pytest.fixture
def funded(client: TestClient, app: Starlette, tenant: str) -> dict[str, Any]:
    """Two invoices; alice funds both (one confirmed, one released, one pending), bob one."""
    first, second = list_invoice(app, tenant), list_invoice(app, tenant)
    alice, bob = Investor(client, tenant, "alice"), Investor(client, tenant, "bob")
    oldest = alice.fund(first, "100")
    middle = alice.fund(first, "200")
    theirs = bob.fund(first, "50")
    newest = alice.fund(second, "300")
    funding = app.state.services.funding
    funding.update_commitment(tenant, CHAIN, oldest["id"], {"status": "confirmed"})
    funding.update_commitment(tenant, CHAIN, middle["id"], {"status": "released"})
    return {
        "alice": alice,
        "bob": bob,
        "first": first,
        "second": second,
        "alice_ids": [newest["id"], middle["id"], oldest["id"]],
        "bob_ids": [theirs["id"]],
        "all_ids": [newest["id"], theirs["id"], middle["id"], oldest["id"]],
    }


def test_an_investor_sees_each_of_its_own_commitments_with_its_status(
    client: TestClient, funded: dict[str, Any]
) -> None:
    alice = funded["alice"]
    body = _get(client, alice.headers)
    assert _ids(body) == funded["alice_ids"]  # newest first; bob's are not there
    assert [item["status"] for item in body["data"]] == ["pending", "released", "confirmed"]
    assert [item["amountStroops"] for item in body["data"]] == ["300", "200", "100"]
    assert {item["investorAddress"] for item in body["data"]} == {alice.wallet}
    assert body["meta"] == {
        "total": 3,
        "limit": 20,
        "hasMore": False,
        "nextCursor": None,
        "page": 1,
        "totalPages": 1,
    }
    # Naming one's own wallet is the same as the default.
    assert _get(client, alice.headers, query=f"?investorAddress={alice.wallet}") == body
    assert _ids(_get(client, funded["bob"].headers)) == funded["bob_ids"]


def test_filters_and_paging(client: TestClient, funded: dict[str, Any]) -> None:
    alice = funded["alice"]
    newest, middle, oldest = funded["alice_ids"]

    def ids(query: str) -> list[str]:
        return _ids(_get(client, alice.headers, query=query))

    assert ids(f"?invoiceId={funded['first']}") == [middle, oldest]
    assert ids(f"?invoiceId={funded['second']}") == [newest]
    assert ids("?status=pending") == [newest]
    assert ids("?status=pending,confirmed") == [newest, oldest]
    assert ids("?status=released&status=confirmed") == [middle, oldest]
    assert ids(f"?status=released&invoiceId={funded['second']}") == []
    assert ids("?invoiceId=inv_unknown") == []

    second_page = _get(client, alice.headers, query="?page=2&limit=1")
    assert _ids(second_page) == [middle]
    assert second_page["meta"] == {
        "total": 3,
        "limit": 1,
        "hasMore": True,
        "nextCursor": None,
        "page": 2,
        "totalPages": 3,
    }
    beyond = _get(client, alice.headers, query="?page=9&limit=2")
    assert beyond["data"] == [] and beyond["meta"]["hasMore"] is False
    assert beyond["meta"]["total"] == 3 and beyond["meta"]["totalPages"] == 2


def test_operators_see_every_investor_or_the_one_they_name(
    client: TestClient, tenant: str, funded: dict[str, Any]
) -> None:
    admin = bearer("admin", tenant, "ops")
    assert _ids(_get(client, admin)) == funded["all_ids"]
    bob = funded["bob"]
    assert _ids(_get(client, admin, query=f"?investorAddress={bob.wallet}")) == funded["bob_ids"]
    service = api_key(ALL_KEY, tenant)  # holds escrow:read
    everything = _get(client, service)
    assert _ids(everything) == funded["all_ids"] and everything["meta"]["total"] == 4
    named = _get(client, service, query=f"?investorAddress={bob.wallet}&status=pending")
    assert _ids(named) == funded["bob_ids"]
    # Another tenant's operator sees none of them.
    assert _get(client, bearer("admin", tenant + "-b", "ops"))["data"] == []


def test_who_may_not_read(
    client: TestClient, tenant: str, funded: dict[str, Any], app: Starlette
) -> None:
    alice, bob = funded["alice"], funded["bob"]
    mismatch = _get(client, alice.headers, 403, query=f"?investorAddress={bob.wallet}")
    assert mismatch["code"] == "WALLET_MISMATCH"
    assert bob.wallet not in str(mismatch)
    unbound = _get(client, bearer("investor", tenant, "nowallet"), 403)
    assert unbound["code"] == "WALLET_NOT_BOUND"
    assert _get(client, bearer("sme", tenant, "sme-1"), 403)["code"] == "FORBIDDEN"
    assert _get(client, api_key(READ_KEY, tenant), 403)["code"] == "INSUFFICIENT_SCOPE"
    assert _get(client, {"X-Tenant-Id": tenant}, 401)["status"] == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?investorAddress=G123", "investorAddress"),
        ("?investorAddress=", "investorAddress"),
        ("?invoiceId=not-an-id", "invoiceId"),
        ("?status=funded", "status"),
        ("?status=", "status"),
        ("?status=pending,", "status"),
        ("?page=0", "page"),
        ("?page=x", "page"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?page=1&page=2", "page"),
        ("?funderAddress=G123", "funderAddress"),
    ],
)
def test_bad_parameters_are_400(
    client: TestClient, tenant: str, funded: dict[str, Any], query: str, field: str
) -> None:
    for headers in (funded["alice"].headers, bearer("admin", tenant, "ops")):
        problem = _get(client, headers, 400, query=query)
        assert problem["code"] == "VALIDATION_ERROR"
        assert [error["field"] for error in problem["errors"]] == [field]


def test_a_bad_investor_address_names_its_commitment_code(client: TestClient, tenant: str) -> None:
    problem = _get(client, bearer("admin", tenant, "ops"), 400, query="?investorAddress=G123")
    assert problem["errors"][0]["code"] == "INVALID_INVESTOR_ADDRESS"
