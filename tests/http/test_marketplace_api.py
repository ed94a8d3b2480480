"""GET /v1/marketplace, /v1/invest/opportunities and /v1/sme/metrics over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_http.bootstrap import create_app
from liquifact_http.settings import Settings
from tests.factories import contract_address, invoice_payload, new_tenant
from tests.http.openapi_validation import assert_matches_openapi, assert_request_matches_openapi
from tests.http.roles import as_caller, role_header_caller

CHAIN = Actor("indexer", Role.CHAIN)


@pytest.fixture
def market_app() -> Starlette:
    return create_app(
        Settings(cursor_secret="s" * 40), store=InMemoryStore(), resolve_caller=role_header_caller
    )


@pytest.fixture
def client(market_app: Starlette) -> Iterator[TestClient]:
    with TestClient(market_app) as test_client:
        yield test_client


def get(
    client: TestClient, path: str, headers: dict[str, str], status: int = 200, **params: Any
) -> Any:
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == status, response.text
    assert_matches_openapi(response)
    if status < 400:
        assert_request_matches_openapi(response.request)
    return response.json()


def list_invoice(
    client: TestClient,
    app: Starlette,
    tenant: str,
    funded: int = 0,
    target: int = 1000,
    **payload: Any,
) -> str:
    admin = as_caller(tenant)
    created = client.post("/v1/invoices", json=invoice_payload(**payload), headers=admin).json()
    client.post(f"/v1/invoices/{created['id']}/approve", headers=admin)
    linked = client.post(
        f"/v1/invoices/{created['id']}/link-escrow",
        json={"escrowAddress": contract_address(), "fundingTargetStroops": str(target)},
        headers=admin,
    )
    assert linked.status_code == 200
    if funded:
        app.state.services.invoices.record_chain_funding(tenant, CHAIN, created["id"], funded)
    invoice_id: str = created["id"]
    return invoice_id


def test_cursor_pages_walk_the_whole_marketplace(client: TestClient, market_app: Starlette) -> None:
    tenant = new_tenant()
    ids = [
        list_invoice(client, market_app, tenant, yieldBps=bps) for bps in (100, 900, 500, 500, 700)
    ]
    client.post("/v1/invoices", json=invoice_payload(), headers=as_caller(tenant))  # pending
    investor = as_caller(tenant, "investor")
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "sortBy": "yield_bps", "order": "desc"}
        if cursor:
            params["cursor"] = cursor
        body = get(client, "/api/marketplace" if cursor else "/v1/marketplace", investor, **params)
        assert body["meta"]["total"] == 5 and "page" not in body["meta"]
        seen += body["data"]
        cursor = body["meta"]["nextCursor"]
        assert body["meta"]["hasMore"] is (cursor is not None)
        if cursor is None:
            break
    assert [item["yieldBps"] for item in seen] == [900, 700, 500, 500, 100]
    assert sorted(item["id"] for item in seen) == sorted(ids)
    assert "buyerEmail" not in seen[0] and seen[0]["remainingCapacityStroops"] == "1000"


def test_offset_mode_returns_page_and_a_cursor(client: TestClient, market_app: Starlette) -> None:
    tenant = new_tenant()
    for bps in (100, 200, 300):
        list_invoice(client, market_app, tenant, yieldBps=bps)
    headers = as_caller(tenant, "investor")
    body = get(client, "/v1/marketplace", headers, page=1, limit=2, sortBy="yield_bps", order="asc")
    assert body["meta"] == {
        "total": 3,
        "limit": 2,
        "hasMore": True,
        "nextCursor": body["meta"]["nextCursor"],
        "page": 1,
        "totalPages": 2,
    }
    following = get(
        client,
        "/v1/marketplace",
        headers,
        cursor=body["meta"]["nextCursor"],
        limit=2,
        sortBy="yield_bps",
        order="asc",
        page=7,
    )
    assert [i["yieldBps"] for i in following["data"]] == [300]


def test_filters(client: TestClient, market_app: Starlette) -> None:
    tenant = new_tenant()
    list_invoice(client, market_app, tenant, yieldBps=500, amount="100.00", dueDate="2026-04-01")
    keep = list_invoice(client, market_app, tenant, funded=600, yieldBps=650, amount="250.00")
    list_invoice(client, market_app, tenant, funded=900, yieldBps=800, amount="9000.00")
    body = get(
        client,
        "/v1/marketplace",
        as_caller(tenant),
        yieldBpsMin="600",
        yieldBpsMax="700",
        fundedRatioMin="50",
        fundedRatioMax="60.00",
        amountMin="200",
        amountMax="300.5",
        maturityDateFrom="2026-03-10",
        maturityDateTo="2026-03-10",
    )
    assert [item["id"] for item in body["data"]] == [keep]
    assert (
        body["data"][0]["fundedRatio"] == 60.0 and body["data"][0]["status"] == "partially_funded"
    )


CURSOR_ERRORS = {
    "tampered": ("tamper", {}, "INVALID_CURSOR"),
    "garbage": ("garbage", {}, "INVALID_CURSOR"),
    "other order": ("keep", {"order": "asc"}, "CURSOR_MISMATCH"),
    "other sort": ("keep", {"sortBy": "amount"}, "CURSOR_MISMATCH"),
    "other filter": ("keep", {"yieldBpsMin": "1"}, "CURSOR_MISMATCH"),
    "other tenant": ("keep", {"tenant": True}, "CURSOR_MISMATCH"),
}


@pytest.mark.parametrize(
    ("how", "change", "code"), CURSOR_ERRORS.values(), ids=CURSOR_ERRORS.keys()
)
def test_foreign_or_altered_cursors_are_400(
    client: TestClient, market_app: Starlette, how: str, change: dict[str, Any], code: str
) -> None:
    tenant = new_tenant()
    for _ in range(2):
        list_invoice(client, market_app, tenant)
    cursor = get(client, "/v1/marketplace", as_caller(tenant), limit=1)["meta"]["nextCursor"]
    if how == "tamper":
        body, _, signature = cursor.partition(".")
        cursor = f"{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{signature}"
    elif how == "garbage":
        cursor = "not-a-cursor"
    headers = as_caller(new_tenant() if change.pop("tenant", False) else tenant)
    problem = get(client, "/v1/marketplace", headers, 400, limit=1, cursor=cursor, **change)
    assert problem["code"] == code


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"sortBy": "risk"},
        {"order": "up"},
        {"yieldBpsMin": "-1"},
        {"fundedRatioMin": "101"},
        {"fundedRatioMax": "50.123"},
        {"amountMin": "1e3"},
        {"maturityDateFrom": "2026-02-30"},
        {"yieldBpsMin": "700", "yieldBpsMax": "600"},
        {"unknown": "1"},
    ],
)
def test_invalid_queries_are_400(client: TestClient, params: dict[str, str]) -> None:
    problem = get(client, "/v1/marketplace", as_caller(new_tenant()), 400, **params)
    assert problem["errors"]


def test_opportunities_show_remaining_capacity(client: TestClient, market_app: Starlette) -> None:
    tenant = new_tenant()
    first = list_invoice(client, market_app, tenant, funded=250, target=1000)
    second = list_invoice(client, market_app, tenant)
    body = get(client, "/v1/invest/opportunities", as_caller(tenant, "investor"), page=1, limit=5)
    assert [item["id"] for item in body["data"]] == [second, first]
    assert body["data"][1]["remainingCapacityStroops"] == "750"
    assert body["meta"]["page"] == 1 and body["meta"]["total"] == 2
    get(client, "/v1/invest/opportunities", as_caller(tenant), 400, limit=500)


def test_sme_metrics_scope(client: TestClient, market_app: Starlette) -> None:
    tenant = new_tenant()
    sme = as_caller(tenant, "sme", "sme-1")
    client.post("/v1/invoices", json=invoice_payload(amount="10.50"), headers=sme)
    client.post("/v1/invoices", json=invoice_payload(amount="0.25"), headers=sme)
    client.post(
        "/v1/invoices",
        json=invoice_payload(amount="3.00"),
        headers=as_caller(tenant, "sme", "sme-2"),
    )
    mine = get(client, "/v1/sme/metrics", sme)
    assert mine["scope"] == "sme" and mine["totalCount"] == 2
    assert mine["byStatus"]["pending"]["amounts"] == {"USD": "10.75"}
    assert mine["byStatus"]["funded"]["count"] == 0
    assert get(client, "/v1/sme/metrics", as_caller(tenant))["totalCount"] == 3
    assert get(client, "/v1/sme/metrics", as_caller(tenant, "investor"), 403)["code"] == "FORBIDDEN"
    get(client, "/v1/sme/metrics", as_caller(tenant), 400, extra="1")
