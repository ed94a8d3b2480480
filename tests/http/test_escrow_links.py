"""``POST /v1/invoices/{id}/link-escrow`` links each contract to one invoice at most: a contract
already linked to another invoice, in this tenant or any other (the chain is global), is a 409
ESCROW_ALREADY_LINKED that names neither the other invoice nor its tenant, and the invoice is
left as it was. Relinking an invoice to its own contract keeps its old answer."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from liquifact_http.openapi import openapi_document
from tests.auth_helpers import bearer
from tests.factories import contract_address, invoice_payload, new_tenant
from tests.http.openapi_validation import assert_matches_openapi


def approved(client: TestClient, headers: dict[str, str]) -> str:
    created = client.post("/v1/invoices", json=invoice_payload(), headers=headers)
    assert created.status_code == 201, created.text
    invoice_id: str = created.json()["id"]
    approval = client.post(f"/v1/invoices/{invoice_id}/approve", headers=headers)
    assert approval.status_code == 200, approval.text
    return invoice_id


def link(client: TestClient, headers: dict[str, str], invoice_id: str, escrow: str) -> Any:
    return client.post(
        f"/v1/invoices/{invoice_id}/link-escrow",
        json={"escrowAddress": escrow, "fundingTargetStroops": "12500000000"},
        headers=headers,
    )


@pytest.mark.parametrize("same_tenant", [True, False], ids=["same tenant", "other tenant"])
def test_a_contract_linked_to_another_invoice_is_refused(
    client: TestClient, headers: dict[str, str], tenant: str, same_tenant: bool
) -> None:
    escrow = contract_address()
    holder = approved(client, headers)
    assert link(client, headers, holder, escrow).status_code == 200
    other_tenant = tenant if same_tenant else new_tenant()
    other = headers if same_tenant else bearer("admin", other_tenant, "other-admin")
    candidate = approved(client, other)
    before = client.get(f"/v1/invoices/{candidate}", headers=other)
    history = client.get(f"/v1/invoices/{candidate}/history", headers=other).json()

    response = link(client, other, candidate, escrow)

    assert response.status_code == 409, response.text
    assert_matches_openapi(response)
    problem = response.json()
    assert problem["code"] == "ESCROW_ALREADY_LINKED"
    assert problem["detail"] == "This escrow contract is already linked to another invoice."
    assert holder not in response.text and tenant not in response.text
    after = client.get(f"/v1/invoices/{candidate}", headers=other)
    assert after.json() == before.json()
    assert after.json()["status"] == "approved"
    assert after.headers["etag"] == before.headers["etag"]
    assert client.get(f"/v1/invoices/{candidate}/history", headers=other).json() == history
    # The contract still belongs to the first invoice, and the refused one can take its own.
    held = client.get(f"/v1/invoices/{holder}", headers=headers).json()
    assert held["escrowAddress"] == escrow
    assert link(client, other, candidate, contract_address()).status_code == 200


def test_relinking_an_invoice_to_its_own_contract_keeps_its_answer(
    client: TestClient, headers: dict[str, str]
) -> None:
    escrow = contract_address()
    invoice_id = approved(client, headers)
    linked = link(client, headers, invoice_id, escrow)
    assert linked.status_code == 200

    again = link(client, headers, invoice_id, escrow)

    # The lifecycle has no linked_escrow -> linked_escrow edge: linking twice is refused.
    assert again.status_code == 409
    assert again.json()["code"] == "INVALID_TRANSITION"
    assert client.get(f"/v1/invoices/{invoice_id}", headers=headers).json() == linked.json()


def test_the_document_lists_the_conflict_for_link_escrow() -> None:
    operation = openapi_document()["paths"]["/v1/invoices/{id}/link-escrow"]["post"]
    conflict = operation["responses"]["409"]["description"]
    assert "ESCROW_ALREADY_LINKED" in conflict
    assert "INVALID_TRANSITION" in conflict
