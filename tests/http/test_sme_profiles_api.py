"""GET/PUT /v1/sme/profile, and the marketplace's issuers and name, currency and status
filters, over HTTP (bodies checked against the generated document)."""

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
from tests.factories import new_tenant
from tests.http.openapi_validation import assert_matches_openapi, assert_request_matches_openapi
from tests.http.roles import as_caller, role_header_caller
from tests.http.test_marketplace_api import get, list_invoice

PROFILE = "/v1/sme/profile"
ADMIN = Actor("test-admin", Role.ADMIN)  # who list_invoice submits as


@pytest.fixture
def app() -> Starlette:
    return create_app(
        Settings(cursor_secret="s" * 40), store=InMemoryStore(), resolve_caller=role_header_caller
    )


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def _search(
    client: TestClient, headers: dict[str, str], params: dict[str, Any], status: int = 200
) -> Any:
    # Not the shared ``get``: its own ``status`` parameter is the expected HTTP status.
    response = client.get("/v1/marketplace", params=params, headers=headers)
    assert response.status_code == status, response.text
    assert_matches_openapi(response)
    if status < 400:
        assert_request_matches_openapi(response.request)
    return response.json()


def _put(client: TestClient, headers: dict[str, str], body: Any, status: int) -> Any:
    response = client.put(PROFILE, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert_matches_openapi(response)
    if status < 400:
        assert_request_matches_openapi(response.request)
    return response.json()


def test_an_sme_sets_and_reads_its_own_profile(client: TestClient, app: Starlette) -> None:
    tenant = new_tenant()
    sme = as_caller(tenant, "sme", "sme-1")
    missing = get(client, PROFILE, sme, 404)
    assert missing["code"] == "PROFILE_NOT_FOUND"

    created = _put(client, sme, {"displayName": "  Société Lyonnaise ", "country": "FR"}, 201)
    replaced = _put(client, sme, {"displayName": "Lyonnaise SA", "country": "BE"}, 200)

    assert (created["displayName"], created["country"]) == ("Société Lyonnaise", "FR")
    assert get(client, PROFILE, sme) == replaced
    assert (replaced["displayName"], replaced["country"]) == ("Lyonnaise SA", "BE")
    assert get(client, PROFILE, as_caller(tenant, "sme", "sme-2"), 404)["code"] == (
        "PROFILE_NOT_FOUND"
    )
    with app.state.services.store.unit_of_work(tenant) as uow:
        events = uow.audit.for_resource(tenant, "sme_profile", "sme-1")
    assert [event.action for event in events] == ["sme_profile.created", "sme_profile.updated"]


@pytest.mark.parametrize("role", ["admin", "investor"])
def test_only_smes_have_a_profile_route(client: TestClient, role: str) -> None:
    caller = as_caller(new_tenant(), role)
    assert get(client, PROFILE, caller, 403)["code"] == "FORBIDDEN"
    body = {"displayName": "Acme", "country": "FR"}
    assert _put(client, caller, body, 403)["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"displayName": "Acme", "country": "fr"}, "country", "INVALID_COUNTRY"),
        ({"displayName": "Acme", "country": "XX"}, "country", "INVALID_COUNTRY"),
        ({"displayName": "   ", "country": "FR"}, "displayName", "INVALID_VALUE"),
        ({"displayName": "a" * 121, "country": "FR"}, "displayName", "INVALID_VALUE"),
        ({"displayName": "Ac\u200bme", "country": "FR"}, "displayName", "INVALID_TEXT"),
        ({"country": "FR"}, "displayName", "REQUIRED"),
        ({"displayName": "Acme", "country": "FR", "extra": 1}, "extra", "UNKNOWN_FIELD"),
    ],
)
def test_bad_profiles_are_field_errors(
    client: TestClient, body: dict[str, Any], field: str, code: str
) -> None:
    refused = _put(client, as_caller(new_tenant(), "sme"), body, 400)
    assert (field, code) in {(e["field"], e["code"]) for e in refused["errors"]}


def test_marketplace_items_show_their_issuer_and_a_profile_change_drops_cached_pages(
    client: TestClient, app: Starlette
) -> None:
    tenant = new_tenant()
    listed = list_invoice(client, app, tenant)  # submitted by the admin as "test-admin"
    investor = as_caller(tenant, "investor")
    first = client.get("/v1/marketplace", headers=investor)
    assert first.json()["data"][0]["issuer"] is None
    assert client.get("/v1/marketplace", headers=investor).headers["x-cache"] == "HIT"

    # The invoice's SME is its submitter; an SME token with that sub sets the profile.
    sme_id = app.state.services.invoices.get(tenant, ADMIN, listed).sme_id
    _put(
        client,
        as_caller(tenant, "sme", sme_id),
        {"displayName": "Crème SARL", "country": "FR"},
        201,
    )

    after = client.get("/v1/marketplace", headers=investor)
    assert after.headers["x-cache"] == "MISS"
    assert_matches_openapi(after)
    assert after.json()["data"][0]["issuer"] == {"displayName": "Crème SARL", "country": "FR"}
    opportunities = get(client, "/v1/invest/opportunities", investor)
    assert opportunities["data"][0]["issuer"] == {"displayName": "Crème SARL", "country": "FR"}


def test_marketplace_filters_by_name_currency_and_status(
    client: TestClient, app: Starlette
) -> None:
    tenant = new_tenant()
    muller = list_invoice(client, app, tenant, buyerName="Bäckerei Müller", currency="EUR")
    societe = list_invoice(client, app, tenant, buyerName="Société Générale", funded=10)
    percent = list_invoice(client, app, tenant, buyerName="Acme 100% Ltd")
    investor = as_caller(tenant, "investor")

    def ids(**params: Any) -> set[str]:
        return {item["id"] for item in _search(client, investor, params)["data"]}

    assert ids(q="MULLER") == {muller}
    assert ids(q="  societe ") == {societe}
    assert ids(q="%") == {percent}
    assert ids(q="_") == set()
    assert ids(currency="EUR") == {muller}
    assert ids(status="partially_funded") == {societe}
    assert ids(status=["linked_escrow", "partially_funded"]) == {muller, societe, percent}
    assert ids(q="ltd", currency="USD", status="linked_escrow") == {percent}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "funded"}, "status"),
        ({"status": "pending"}, "status"),
        ({"status": ""}, "status"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 101}, "q"),
        ({"q": ["a", "b"]}, "q"),
    ],
)
def test_bad_marketplace_filters_are_field_errors(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    refused = _search(client, as_caller(new_tenant(), "investor"), params, 400)
    assert [e["field"] for e in refused["errors"]] == [field]


def test_cursors_are_bound_to_the_new_filters(client: TestClient, app: Starlette) -> None:
    tenant = new_tenant()
    for _ in range(3):
        list_invoice(client, app, tenant, buyerName="Acme Müller", currency="EUR")
    investor = as_caller(tenant, "investor")
    search = {"q": "muller", "currency": "EUR", "status": "linked_escrow", "limit": 2}
    first = _search(client, investor, search)
    cursor = first["meta"]["nextCursor"]
    assert cursor is not None
    following = _search(client, investor, {**search, "cursor": cursor})
    assert len(following["data"]) == 1
    for changed in ({"q": "acme"}, {"currency": "USD"}, {"status": "partially_funded"}, {}):
        wanted = {key: value for key, value in search.items() if key not in changed}
        if not changed:
            wanted.pop("q")  # the filter left out
        mismatch = _search(client, investor, {**wanted, **changed, "cursor": cursor}, 400)
        assert mismatch["errors"][0]["code"] == "CURSOR_MISMATCH"
    # The same search, folded alike, keeps the cursor valid.
    same = _search(client, investor, {**search, "q": " MÜLLER", "cursor": cursor})
    assert same["data"] == following["data"]
