"""The invoice resource over HTTP: happy paths, lifecycle actions and concurrency headers."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.auth_helpers import bearer
from tests.factories import contract_address, invoice_payload


def create(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/invoices", json=invoice_payload(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_returns_the_invoice_with_location_and_etag(
    client: TestClient, headers: dict[str, str], tenant: str
) -> None:
    response = client.post("/v1/invoices", json=invoice_payload(amount="99.5"), headers=headers)
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/invoices/{body['id']}"
    assert response.headers["etag"] == '"v1"'
    assert body["id"].startswith("inv_") and len(body["id"]) <= 32
    assert body["tenantId"] == tenant
    assert body["status"] == "pending"
    assert body["amount"] == "99.50"  # quantized to the currency's two decimals
    assert body["maturityDate"] == body["dueDate"] == "2026-03-10"
    assert body["fundedRatio"] is None


def test_get_and_list_are_tenant_scoped(client: TestClient, headers: dict[str, str]) -> None:
    created = create(client, headers)
    assert client.get(f"/v1/invoices/{created['id']}", headers=headers).json() == created
    other = bearer("admin", "someone-else", "test-admin")
    assert client.get(f"/v1/invoices/{created['id']}", headers=other).status_code == 404
    assert client.get("/v1/invoices", headers=other).json()["meta"]["total"] == 0


def test_list_filters_by_status_and_paginates(client: TestClient, headers: dict[str, str]) -> None:
    ids = [create(client, headers)["id"] for _ in range(3)]
    client.post(f"/v1/invoices/{ids[0]}/approve", headers=headers)
    page = client.get("/v1/invoices?limit=2&page=1", headers=headers).json()
    assert page["meta"] == {
        "total": 3,
        "page": 1,
        "limit": 2,
        "totalPages": 2,
        "hasMore": True,
        "nextCursor": None,
    }
    assert [item["id"] for item in page["data"]] == [ids[2], ids[1]]  # newest first
    approved = client.get("/v1/invoices?status=approved", headers=headers).json()
    assert [item["id"] for item in approved["data"]] == [ids[0]]
    both = client.get("/v1/invoices?status=approved,pending", headers=headers).json()
    assert both["meta"]["total"] == 3


def test_full_lifecycle_through_actions(client: TestClient, headers: dict[str, str]) -> None:
    invoice_id = create(client, headers)["id"]
    approved = client.post(f"/v1/invoices/{invoice_id}/approve", headers=headers)
    assert approved.json()["status"] == "approved"
    address = contract_address()
    linked = client.post(
        f"/v1/invoices/{invoice_id}/link-escrow",
        json={"escrowAddress": address, "fundingTargetStroops": "12500000000"},
        headers=headers,
    ).json()
    assert linked["status"] == "linked_escrow"
    assert linked["escrowAddress"] == address
    assert linked["fundingTargetStroops"] == "12500000000"
    assert linked["fundedStroops"] == "0"
    assert linked["fundedRatio"] == 0.0
    cancelled = client.post(
        f"/v1/invoices/{invoice_id}/cancel",
        # Controls in a reason are stripped; NUL is refused by the body parser (text rules).
        json={"reason": "Buyer\x07 paid early"},
        headers=headers,
    ).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["statusReason"] == "Buyer paid early"
    history = client.get(f"/v1/invoices/{invoice_id}/history", headers=headers).json()
    assert [(step["from"], step["to"]) for step in history["data"]] == [
        (None, "pending"),
        ("pending", "approved"),
        ("approved", "linked_escrow"),
        ("linked_escrow", "cancelled"),
    ]
    state = client.get(f"/v1/invoices/{invoice_id}/state", headers=headers).json()
    assert state["terminal"] is True
    assert state["allowedTransitions"] == []


def test_state_lists_allowed_transitions(client: TestClient, headers: dict[str, str]) -> None:
    invoice_id = create(client, headers)["id"]
    state = client.get(f"/v1/invoices/{invoice_id}/state", headers=headers).json()
    assert state["status"] == "pending"
    assert set(state["allowedTransitions"]) == {"approved", "rejected", "cancelled"}


def test_reject_and_default_need_reasons(client: TestClient, headers: dict[str, str]) -> None:
    invoice_id = create(client, headers)["id"]
    missing = client.post(f"/v1/invoices/{invoice_id}/reject", json={}, headers=headers)
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "reason"
    blank = client.post(
        f"/v1/invoices/{invoice_id}/reject", json={"reason": " \t"}, headers=headers
    )
    assert blank.status_code == 400
    too_long = client.post(
        f"/v1/invoices/{invoice_id}/reject", json={"reason": "x" * 1025}, headers=headers
    )
    assert too_long.status_code == 400
    ok = client.post(f"/v1/invoices/{invoice_id}/reject", json={"reason": "Fraud"}, headers=headers)
    assert ok.json()["status"] == "rejected"


def test_patch_changes_pending_invoice_only(client: TestClient, headers: dict[str, str]) -> None:
    invoice_id = create(client, headers)["id"]
    patched = client.patch(
        f"/v1/invoices/{invoice_id}",
        json={"buyerName": "New Buyer", "description": None},
        headers={**headers, "If-Match": '"v1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["buyerName"] == "New Buyer"
    assert patched.json()["description"] is None
    assert patched.headers["etag"] == '"v2"'
    client.post(f"/v1/invoices/{invoice_id}/approve", headers=headers)
    late = client.patch(f"/v1/invoices/{invoice_id}", json={"buyerName": "X"}, headers=headers)
    assert late.status_code == 409
    assert late.json()["code"] == "INVOICE_NOT_EDITABLE"


def test_patch_revalidates_the_merged_invoice(client: TestClient, headers: dict[str, str]) -> None:
    invoice_id = create(client, headers)["id"]
    response = client.patch(
        f"/v1/invoices/{invoice_id}", json={"dueDate": "2025-01-01"}, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "DUE_BEFORE_ISSUE"
    unchanged = client.get(f"/v1/invoices/{invoice_id}", headers=headers).json()
    assert unchanged["dueDate"] == "2026-03-10" and unchanged["version"] == 1


def test_stale_if_match_is_412_and_changes_nothing(
    client: TestClient, headers: dict[str, str]
) -> None:
    invoice_id = create(client, headers)["id"]
    client.patch(f"/v1/invoices/{invoice_id}", json={"buyerName": "B"}, headers=headers)
    stale = client.post(
        f"/v1/invoices/{invoice_id}/approve", headers={**headers, "If-Match": '"v1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "PRECONDITION_FAILED"
    garbage = client.post(
        f"/v1/invoices/{invoice_id}/approve", headers={**headers, "If-Match": "x"}
    )
    # Malformed is a bad request (RFC 9110 grammar), not a failed precondition (issue 9).
    assert garbage.status_code == 400
    assert garbage.json()["errors"][0]["field"] == "If-Match"
    assert client.get(f"/v1/invoices/{invoice_id}", headers=headers).json()["status"] == "pending"
    fresh = client.post(
        f"/v1/invoices/{invoice_id}/approve", headers={**headers, "If-Match": '"v2"'}
    )
    assert fresh.status_code == 200


def test_delete_is_soft_and_pending_only(client: TestClient, headers: dict[str, str]) -> None:
    invoice_id = create(client, headers)["id"]
    assert client.delete(f"/v1/invoices/{invoice_id}", headers=headers).status_code == 204
    assert client.get(f"/v1/invoices/{invoice_id}", headers=headers).status_code == 404
    assert client.delete(f"/v1/invoices/{invoice_id}", headers=headers).status_code == 404
    approved_id = create(client, headers)["id"]
    client.post(f"/v1/invoices/{approved_id}/approve", headers=headers)
    assert client.delete(f"/v1/invoices/{approved_id}", headers=headers).status_code == 409


def test_invoice_numbers_are_unique_per_tenant(client: TestClient, headers: dict[str, str]) -> None:
    create(client, headers, invoiceNumber="DUP-1")
    again = client.post(
        "/v1/invoices", json=invoice_payload(invoiceNumber="DUP-1"), headers=headers
    )
    assert again.status_code == 409
    assert again.json()["code"] == "DUPLICATE_INVOICE_NUMBER"
    elsewhere = client.post(
        "/v1/invoices", json=invoice_payload(invoiceNumber="DUP-1"), headers=bearer("admin", "b")
    )
    assert elsewhere.status_code == 201


def test_legacy_api_paths_answer_the_same_with_deprecation_headers(
    client: TestClient, headers: dict[str, str]
) -> None:
    created = client.post("/api/invoices", json=invoice_payload(), headers=headers)
    assert created.status_code == 201
    invoice_id = created.json()["id"]
    legacy = client.get(f"/api/invoices/{invoice_id}", headers=headers)
    canonical = client.get(f"/v1/invoices/{invoice_id}", headers=headers)
    assert legacy.json() == canonical.json()
    assert legacy.headers["deprecation"].startswith("@")
    assert "GMT" in legacy.headers["sunset"]
    assert legacy.headers["link"] == f'</v1/invoices/{invoice_id}>; rel="successor-version"'
    assert "deprecation" not in canonical.headers
    assert client.get("/api", headers=headers).json()["name"] == "LiquiFact API"
