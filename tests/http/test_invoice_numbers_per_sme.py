"""Invoice numbers over HTTP (issue 9, item 3): unique per (tenant, SME) in canonical form,
so two SMEs of a tenant may both issue INV-001, look-alikes of one SME's number are 409, and
the 409 names nothing about another SME's invoices. On the fake and on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.ports import Store
from liquifact_http.bootstrap import create_app
from tests.factories import invoice_payload, new_tenant
from tests.http.openapi_validation import assert_matches_openapi
from tests.http.roles import as_caller, role_header_caller

FULLWIDTH_INV_001 = "\uff29\uff2e\uff36\uff0d\uff10\uff10\uff11"  # "INV-001", fullwidth


@pytest.fixture(params=["memory", "sqlite"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    store: Store = (
        InMemoryStore()
        if request.param == "memory"
        else SqliteStore(str(tmp_path / "liquifact.sqlite3"))
    )
    with TestClient(create_app(store=store, resolve_caller=role_header_caller)) as test_client:
        yield test_client


def create(
    client: TestClient, headers: dict[str, str], number: str, status: int = 201
) -> dict[str, Any]:
    response = client.post(
        "/v1/invoices", json=invoice_payload(invoiceNumber=number), headers=headers
    )
    assert response.status_code == status, response.text
    assert_matches_openapi(response)
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("look_alike", ["INV-001", "inv-001", FULLWIDTH_INV_001, " Inv-001 "])
def test_numbers_are_per_sme_and_look_alikes_collide(client: TestClient, look_alike: str) -> None:
    tenant = new_tenant()
    sme_a = as_caller(tenant, "sme", "sme-a")
    sme_b = as_caller(tenant, "sme", "sme-b")
    mine = create(client, sme_a, "INV-001")

    theirs = create(client, sme_b, look_alike)  # another business may issue the same number
    conflict = create(client, sme_a, look_alike, 409)

    assert theirs["invoiceNumber"] == look_alike.strip()  # the text rules trim
    assert conflict["code"] == "DUPLICATE_INVOICE_NUMBER"
    assert conflict["detail"] == f"Invoice number '{look_alike.strip()}' is already used."
    for other_smes_data in (theirs["id"], "sme-b", mine["id"]):
        assert other_smes_data not in str(conflict)


def test_patch_follows_the_same_rule(client: TestClient) -> None:
    tenant = new_tenant()
    sme_a = as_caller(tenant, "sme", "sme-a")
    sme_b = as_caller(tenant, "sme", "sme-b")
    create(client, sme_a, "INV-A1")
    second = create(client, sme_a, "INV-A2")
    theirs = create(client, sme_b, "INV-B1")

    renumbered = client.patch(
        f"/v1/invoices/{second['id']}", json={"invoiceNumber": "inv-a1"}, headers=sme_a
    )
    assert renumbered.status_code == 409, renumbered.text
    assert renumbered.json()["code"] == "DUPLICATE_INVOICE_NUMBER"

    taken_elsewhere = client.patch(
        f"/v1/invoices/{theirs['id']}", json={"invoiceNumber": "INV-A1"}, headers=sme_b
    )
    assert taken_elsewhere.status_code == 200, taken_elsewhere.text
    assert taken_elsewhere.json()["invoiceNumber"] == "INV-A1"
