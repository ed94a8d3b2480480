"""Query strings on every route that reads them: singletons given once, set-valued parameters
combined, and every unknown or bad parameter reported in its own ``errors[]`` entry
(issue 9, items 4 and 16)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.factories import invoice_payload

# Two fixed checksummed accounts: xdist needs the same test ids in every worker.
FUNDER_A = "GAX2NZSB2SABPKXKVNXJGDNRSAK3AJFTP7DL2NHVH6T2Z2HE37P5F3BN"
FUNDER_B = "GBYCO7MB6YEK5UKGKMZEKHDX5DWF7SA4LOST3LLUANCYQJ2DSCELDZE6"

LIST_ROUTES = [
    "/v1/invoices",
    "/v1/marketplace",
    "/v1/invest/opportunities",
    "/v1/investor/locks",
    "/v1/investor/commitments",
]
# The singleton parameters of each route (every parameter but the set-valued `status`).
SINGLETONS = [
    ("/v1/invoices", "limit", "5", "7"),
    ("/v1/invoices", "page", "1", "2"),
    ("/v1/marketplace", "limit", "5", "7"),
    ("/v1/marketplace", "sortBy", "amount", "yield_bps"),
    ("/v1/marketplace", "yieldBpsMin", "1", "2"),
    ("/v1/invest/opportunities", "page", "1", "2"),
    ("/v1/investor/locks", "limit", "5", "7"),
    ("/v1/investor/commitments", "page", "1", "2"),
    ("/v1/investor/commitments", "investorAddress", FUNDER_A, FUNDER_B),
    ("/v1/investor/locks/inv_01ABC", "funderAddress", FUNDER_A, FUNDER_B),
]


def problem(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(url, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    return body


def entries(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(error["field"], error["code"]) for error in body["errors"]]


@pytest.mark.parametrize(("path", "name", "first", "second"), SINGLETONS)
def test_a_repeated_singleton_parameter_is_400_naming_it(
    client: TestClient, headers: dict[str, str], path: str, name: str, first: str, second: str
) -> None:
    body = problem(client, f"{path}?{name}={first}&{name}={second}", headers)
    assert entries(body) == [(name, "REPEATED_PARAMETER")]
    assert body["errors"][0]["message"] == "must be given only once"


@pytest.mark.parametrize("path", LIST_ROUTES)
def test_every_unknown_parameter_has_its_own_entry(
    client: TestClient, headers: dict[str, str], path: str
) -> None:
    body = problem(client, f"{path}?zeta=1&alpha=2&alpha=3&mid=x", headers)
    assert entries(body) == [
        ("alpha", "UNKNOWN_FIELD"),
        ("mid", "UNKNOWN_FIELD"),
        ("zeta", "UNKNOWN_FIELD"),
    ]
    assert {error["message"] for error in body["errors"]} == {"is not a known query parameter"}


@pytest.mark.parametrize("path", LIST_ROUTES)
def test_unknown_repeated_and_bad_parameters_are_reported_together(
    client: TestClient, headers: dict[str, str], path: str
) -> None:
    body = problem(client, f"{path}?limit=0&page=1&page=2&nope=1", headers)
    assert sorted(entries(body)) == [
        ("limit", "INVALID_VALUE"),
        ("nope", "UNKNOWN_FIELD"),
        ("page", "REPEATED_PARAMETER"),
    ]


def test_a_route_without_parameters_names_each_unknown_one(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = problem(client, "/v1/sme/metrics?b=1&a=2", headers)
    assert entries(body) == [("a", "UNKNOWN_FIELD"), ("b", "UNKNOWN_FIELD")]


def test_repeated_status_parameters_combine(client: TestClient, headers: dict[str, str]) -> None:
    pending = client.post("/v1/invoices", json=invoice_payload(), headers=headers).json()
    approved = client.post("/v1/invoices", json=invoice_payload(), headers=headers).json()
    client.post(f"/v1/invoices/{approved['id']}/approve", headers=headers)
    client.post("/v1/invoices", json=invoice_payload(), headers=headers)  # pending, page 2
    repeated = client.get("/v1/invoices?status=pending&status=approved&limit=100", headers=headers)
    listed = client.get("/v1/invoices?status=pending,approved&limit=100", headers=headers)
    assert repeated.status_code == listed.status_code == 200
    assert repeated.json() == listed.json()
    only_approved = client.get("/v1/invoices?status=approved&status=approved", headers=headers)
    assert [item["id"] for item in only_approved.json()["data"]] == [approved["id"]]
    ids = {item["id"] for item in repeated.json()["data"]}
    assert {pending["id"], approved["id"]} <= ids


def test_a_bad_status_among_repeats_is_400(client: TestClient, headers: dict[str, str]) -> None:
    body = problem(client, "/v1/invoices?status=pending&status=paid", headers)
    assert entries(body) == [("status", "INVALID_VALUE")]
