"""POST /v1/invest/fund-invoice (idempotency keys) and GET /v1/investor/locks over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.bootstrap import create_app
from tests.factories import account_address, new_tenant
from tests.http.openapi_validation import assert_matches_openapi, assert_request_matches_openapi
from tests.http.roles import as_caller, role_header_caller
from tests.http.test_marketplace_api import list_invoice

FUND = "/v1/invest/fund-invoice"


@pytest.fixture
def market_app() -> Starlette:
    return create_app(store=InMemoryStore(), resolve_caller=role_header_caller)


@pytest.fixture
def client(market_app: Starlette) -> Iterator[TestClient]:
    with TestClient(market_app) as test_client:
        yield test_client


class Investor:
    def __init__(self, client: TestClient, tenant: str) -> None:
        self.client = client
        self.tenant = tenant
        self.wallet = account_address()
        self.headers = as_caller(tenant, "investor", f"inv-{self.wallet[:6]}", self.wallet)

    def fund(
        self, body: dict[str, Any] | bytes, key: str | None, status: int, **headers: str
    ) -> Any:
        sent = {**self.headers, **headers}
        if key is not None:
            sent["Idempotency-Key"] = key
        if isinstance(body, bytes):
            sent["Content-Type"] = "application/json"
            response = self.client.post(FUND, content=body, headers=sent)
        else:
            response = self.client.post(FUND, json=body, headers=sent)
        assert response.status_code == status, response.text
        assert_matches_openapi(response)
        if status < 400:
            assert_request_matches_openapi(response.request)
        return response

    def body(self, invoice_id: str, amount: str = "100") -> dict[str, Any]:
        return {"invoiceId": invoice_id, "investorAddress": self.wallet, "amountStroops": amount}


@pytest.fixture
def tenant() -> str:
    return new_tenant()


@pytest.fixture
def investor(client: TestClient, tenant: str) -> Investor:
    return Investor(client, tenant)


@pytest.fixture
def invoice_id(client: TestClient, market_app: Starlette, tenant: str) -> str:
    return list_invoice(client, market_app, tenant, target=1000)


def test_a_retry_replays_the_first_response_byte_for_byte(
    investor: Investor, invoice_id: str
) -> None:
    first = investor.fund(investor.body(invoice_id), "key-00000001", 201)
    body = first.json()
    assert body["submission"] == {
        "status": "stubbed",
        "txHash": None,
        "transactionXdr": None,
        "expiresAt": None,
        "errorCode": None,
        "note": body["submission"]["note"],
    }
    assert body["status"] == "pending" and body["amountStroops"] == "100"
    assert first.headers["location"] == f"/v1/investor/locks/{invoice_id}"
    assert "idempotent-replayed" not in first.headers
    # Same body in another key order and layout: the same request.
    pretty = b'{ "amountStroops": "100",\n "investorAddress": "%s", "invoiceId": "%s" }' % (
        investor.wallet.encode(),
        invoice_id.encode(),
    )
    again = investor.fund(pretty, "key-00000001", 201)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    legacy = investor.client.post(
        "/api/invest/fund-invoice",
        json=investor.body(invoice_id),
        headers={**investor.headers, "Idempotency-Key": "key-00000001"},
    )
    assert legacy.content == first.content and legacy.headers["deprecation"]
    locks = investor.client.get("/v1/investor/locks", headers=investor.headers).json()
    assert locks["data"][0]["amountStroops"] == "100"  # one commitment, not three


def test_a_reused_key_with_another_body_is_409(investor: Investor, invoice_id: str) -> None:
    investor.fund(investor.body(invoice_id), "key-00000002", 201)
    problem = investor.fund(investor.body(invoice_id, "101"), "key-00000002", 409).json()
    assert problem["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_another_principal_cannot_read_a_response_by_its_key(
    client: TestClient, tenant: str, investor: Investor, invoice_id: str
) -> None:
    investor.fund(investor.body(invoice_id), "key-00000003", 201)
    other = Investor(client, tenant)
    problem = other.fund(other.body(invoice_id), "key-00000003", 409).json()
    assert problem["code"] == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize("key", [None, "short", "x" * 129, "bad key!"])
def test_a_missing_or_invalid_key_is_400(
    investor: Investor, invoice_id: str, key: str | None
) -> None:
    problem = investor.fund(investor.body(invoice_id), key, 400).json()
    assert problem["code"] in ("IDEMPOTENCY_KEY_REQUIRED", "INVALID_IDEMPOTENCY_KEY")


def test_client_errors_are_stored_under_the_key(investor: Investor, invoice_id: str) -> None:
    first = investor.fund(investor.body(invoice_id, "1001"), "key-00000004", 409)
    assert first.json()["code"] == "FUNDING_EXCEEDS_CAPACITY"
    again = investor.fund(investor.body(invoice_id, "1001"), "key-00000004", 409)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amountStroops": 100}, "INVALID_AMOUNT_TYPE"),
        ({"amountStroops": "0100"}, "INVALID_AMOUNT_FORMAT"),
        ({"amountStroops": "0"}, "INVALID_AMOUNT_RANGE"),
        ({"amountStroops": "1000000000000000001"}, "INVALID_AMOUNT_OVERFLOW"),
        ({"investorAddress": "GABC"}, "INVALID_INVESTOR_ADDRESS"),
    ],
)
def test_commitment_codes_reach_the_client(
    investor: Investor, invoice_id: str, change: dict[str, Any], code: str
) -> None:
    problem = investor.fund({**investor.body(invoice_id), **change}, "key-00000005", 400).json()
    assert problem["code"] == code and problem["errors"][0]["code"] == code


def test_wallet_and_role_rules(
    client: TestClient, tenant: str, investor: Investor, invoice_id: str
) -> None:
    stranger = account_address()
    problem = investor.fund(
        {**investor.body(invoice_id), "investorAddress": stranger}, "key-00000006", 403
    )
    assert problem.json()["code"] == "WALLET_MISMATCH"
    unbound = {**investor.headers}
    del unbound["X-Test-Wallet"]
    response = client.post(
        FUND, json=investor.body(invoice_id), headers={**unbound, "Idempotency-Key": "key-00000007"}
    )
    assert response.status_code == 403 and response.json()["code"] == "WALLET_NOT_BOUND"
    admin = {
        **as_caller(tenant, "admin", wallet=investor.wallet),
        "Idempotency-Key": "key-00000008",
    }
    assert client.post(FUND, json=investor.body(invoice_id), headers=admin).status_code == 403


def test_only_investable_invoices(client: TestClient, tenant: str, investor: Investor) -> None:
    pending = client.post(
        "/v1/invoices",
        json={
            "invoiceNumber": "P-1",
            "buyerName": "B",
            "amount": "1.00",
            "currency": "USD",
            "issueDate": "2026-01-01",
            "dueDate": "2026-02-01",
            "yieldBps": 1,
        },
        headers=as_caller(tenant),
    ).json()
    problem = investor.fund(investor.body(pending["id"]), "key-00000009", 409).json()
    assert problem["code"] == "INVOICE_NOT_INVESTABLE"
    assert (
        investor.fund(investor.body("inv_missing"), "key-00000010", 404).json()["code"]
        == "NOT_FOUND"
    )


def test_locks_routes_and_access(
    client: TestClient, tenant: str, investor: Investor, invoice_id: str
) -> None:
    investor.fund(investor.body(invoice_id, "300"), "key-00000011", 201)
    investor.fund(investor.body(invoice_id, "200"), "key-00000012", 201)

    def get(path: str, headers: dict[str, str], status: int = 200, **params: str) -> Any:
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == status, response.text
        assert_matches_openapi(response)
        return response.json()

    own = get("/v1/investor/locks", investor.headers)
    assert own["meta"] == {
        "total": 1,
        "page": 1,
        "limit": 20,
        "totalPages": 1,
        "hasMore": False,
        "nextCursor": None,
    }
    lock = own["data"][0]
    assert (lock["amountStroops"], lock["commitmentCount"], lock["stale"]) == ("500", 2, True)
    assert lock["investorEffectiveYieldBps"] == 650
    assert get(f"/v1/investor/locks/{invoice_id}", investor.headers) == lock
    admin = as_caller(tenant)
    assert get("/v1/investor/locks", admin, funderAddress=investor.wallet)["data"] == [lock]
    assert get(f"/v1/investor/locks/{invoice_id}", admin, funderAddress=investor.wallet) == lock
    other = Investor(client, tenant)
    assert get("/v1/investor/locks", other.headers)["data"] == []
    assert (
        get("/v1/investor/locks", other.headers, 403, funderAddress=investor.wallet)["code"]
        == "WALLET_MISMATCH"
    )
    assert get(f"/v1/investor/locks/{invoice_id}", other.headers, 404)["code"] == "NOT_FOUND"
    assert get("/v1/investor/locks", admin, 400, funderAddress="G123")["code"] == "VALIDATION_ERROR"
    assert (
        get(f"/v1/investor/locks/{invoice_id}", admin, 400)["errors"][0]["field"] == "funderAddress"
    )
    assert get("/v1/investor/locks", as_caller(tenant, "sme"), 403)["code"] == "FORBIDDEN"


def test_a_replayed_problem_is_the_first_body_under_this_exchanges_id(
    investor: Investor, invoice_id: str
) -> None:
    first = investor.fund(investor.body(invoice_id, "1001"), "key-00000013", 409)
    legacy = investor.client.post(
        "/api/invest/fund-invoice",
        json=investor.body(invoice_id, "1001"),
        headers={**investor.headers, "Idempotency-Key": "key-00000013"},
    )
    assert legacy.status_code == 409 and legacy.content == first.content
    assert legacy.headers["idempotent-replayed"] == "true" and legacy.headers["deprecation"]
    assert legacy.json()["instance"] == FUND  # where the first attempt was asked
    assert legacy.headers["x-correlation-id"] != first.headers["x-correlation-id"]
    assert legacy.json()["correlation_id"] == first.headers["x-correlation-id"]


def test_a_body_that_is_not_a_funding_request_does_not_use_up_the_key(
    investor: Investor, invoice_id: str
) -> None:
    # Nothing ran: the key is bound only once a typed request reaches the use case.
    bad = investor.fund({**investor.body(invoice_id), "amountStroops": "0"}, "key-00000014", 400)
    assert bad.json()["code"] == "INVALID_AMOUNT_RANGE" and "idempotent-replayed" not in bad.headers
    investor.fund(investor.body(invoice_id), "key-00000014", 201)
