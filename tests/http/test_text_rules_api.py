"""Hostile text over HTTP, on SQLite and PostgreSQL (issue 9, items 1 and 2).

Every JSON body route refuses a string or key that is not made of Unicode scalar values (a
lone-surrogate escape such as ``"\\ud800"``) or that holds NUL: 400, the field named by its
path, nothing written, and on funding the idempotency key stays unclaimed. One-line fields
refuse invisible format characters; accepted text is stored in NFC. Query strings must be
UTF-8 without control characters; no header value makes the API answer 5xx.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.validation import is_storable_text
from tests.auth_helpers import bearer
from tests.factories import (
    account_address,
    contract_address,
    invoice_draft,
    invoice_payload,
    link_of,
)
from tests.http.asgi_driver import call
from tests.http.openapi_validation import assert_matches_openapi

CHAIN = Actor("indexer", Role.CHAIN)
INVALID_TEXT = "INVALID_TEXT"
# JSON escapes of text that is not Unicode scalar values, and NUL (sent as written: the
# request bytes hold the escape, as a hostile client would send them).
UNSTORABLE_ESCAPES = {
    "high": "\\ud800",
    "low": "\\udfff",
    "high-then-letter": "\\ud800A",
    "high-then-high": "\\udbff\\ud800",
    "low-then-high": "\\udc00\\ud83d",
    "nul": "\\u0000",
}


def raw_json(value: Any, **escapes: str) -> bytes:
    """``value`` as JSON bytes, then each ``@name@`` placeholder replaced by ``escapes[name]``
    (JSON escape text), so that bodies can hold escapes no encoder would produce."""
    text = json.dumps(value)
    for name, escape in escapes.items():
        text = text.replace(f"@{name}@", escape)
    return text.encode("ascii")


def send(client: TestClient, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.request(
        method, path, content=body, headers={**headers, "Content-Type": "application/json"}
    )


def assert_text_refused(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    assert_matches_openapi(response)
    problem = response.json()
    assert problem["code"] == "VALIDATION_ERROR"
    assert {"field": field, "code": INVALID_TEXT} == {
        key: problem["errors"][0][key] for key in ("field", "code")
    }
    # The answer itself is clean text: what was refused is not echoed back unescaped.
    response.content.decode("utf-8")
    assert all(is_storable_text(str(value)) for value in _strings(problem))


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [*node, *(s for value in node.values() for s in _strings(value))]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node] if isinstance(node, str) else []


@pytest.fixture
def sme(tenant: str) -> dict[str, str]:
    return bearer("sme", tenant, "sme-text")


def invoice_count(client: TestClient, headers: dict[str, str]) -> int:
    listed = client.get("/v1/invoices", headers=headers)
    assert listed.status_code == 200
    total: int = listed.json()["meta"]["total"]
    return total


def create(client: TestClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/invoices", json=invoice_payload(**changes), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# ---- invoice create --------------------------------------------------------------------------

# (what to change, the field path the 400 must name)
CREATE_CASES = [
    ({"invoiceNumber": "INV-@x@"}, "invoiceNumber"),
    ({"buyerName": "@x@"}, "buyerName"),
    ({"buyerEmail": "ap@x@@acme.example"}, "buyerEmail"),
    ({"buyerTaxId": "DE@x@"}, "buyerTaxId"),
    ({"description": "Net 60 @x@"}, "description"),
    ({"currency": "US@x@"}, "currency"),
    ({"amount": "12@x@"}, "amount"),
    ({"issueDate": "@x@"}, "issueDate"),
    ({"metadata": {"note": "@x@"}}, "metadata/note"),
    ({"metadata": {"lines": [1, "@x@"]}}, "metadata/lines/1"),
    ({"metadata": {"a/b~c": {"deep": ["@x@"]}}}, "metadata/a~1b~0c/deep/0"),
    ({"metadata": {"k@x@": 1}}, "metadata/k{x}"),
    ({"@x@": "unknown key"}, "{x}"),
]


@pytest.mark.parametrize(("changes", "field"), CREATE_CASES)
@pytest.mark.parametrize("escape", UNSTORABLE_ESCAPES.values(), ids=UNSTORABLE_ESCAPES.keys())
def test_create_refuses_unstorable_text_in_any_field_or_key(
    client: TestClient, sme: dict[str, str], changes: dict[str, Any], field: str, escape: str
) -> None:
    body = raw_json(invoice_payload(**changes), x=escape)
    response = send(client, "POST", "/v1/invoices", body, sme)
    # A refused key is named by its characters, unprintable ones shown as \\uXXXX text: the
    # same text as the JSON escape that was sent.
    assert_text_refused(response, field.replace("{x}", escape))
    assert invoice_count(client, sme) == 0


def test_every_refused_string_is_named_in_document_order(
    client: TestClient, sme: dict[str, str]
) -> None:
    payload = invoice_payload(buyerName="@x@", metadata={"b": ["@x@"], "@x@": "@x@"})
    response = send(client, "POST", "/v1/invoices", raw_json(payload, x="\\ud800"), sme)
    assert_text_refused(response, "buyerName")
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("buyerName", INVALID_TEXT),
        ("metadata/\\ud800", INVALID_TEXT),
        ("metadata/b/0", INVALID_TEXT),
        ("metadata/\\ud800", INVALID_TEXT),
    ]


LOOK_ALIKES = [
    "INV-\u200b6B0F0",
    "\ufeffINV-6B0F0",
    "INV-6B0F0\u202e",
    "INV-6B0F0\u2060",
    # Invisible without being Cf (found by an outside attack): Hangul filler, combining
    # grapheme joiner, variation selector, braille blank; and controls Python's strip drops.
    "INV-6B0F0\u3164",
    "INV-6B0F0\u034f",
    "INV-6B0F0\ufe0f",
    "\u2800INV-6B0F0",
    "\x1cINV-6B0F0\x1f",
    "INV-6B0F0\x85",
]


@pytest.mark.parametrize("number", LOOK_ALIKES)
def test_look_alike_invoice_numbers_are_refused(
    client: TestClient, sme: dict[str, str], number: str
) -> None:
    create(client, sme, invoiceNumber="INV-6B0F0")
    response = client.post("/v1/invoices", json=invoice_payload(invoiceNumber=number), headers=sme)
    assert_text_refused(response, "invoiceNumber")
    assert invoice_count(client, sme) == 1


@pytest.mark.parametrize("field", ["buyerName", "buyerTaxId", "description"])
@pytest.mark.parametrize(
    "raw", ["\u200b\u200b", "Acme\u2066 Ltd", "\u00adAcme", "\u3164", "\u115f"]
)
def test_invisible_format_characters_are_refused_in_text_fields(
    client: TestClient, sme: dict[str, str], field: str, raw: str
) -> None:
    response = client.post("/v1/invoices", json=invoice_payload(**{field: raw}), headers=sme)
    assert_text_refused(response, field)
    assert invoice_count(client, sme) == 0


def test_text_is_stored_in_nfc_and_real_surrogate_pairs_are_text(
    client: TestClient, sme: dict[str, str]
) -> None:
    body = raw_json(
        invoice_payload(invoiceNumber="INV-e\u0301", buyerName="Caf@e@ @pair@"),
        e="e\\u0301",
        pair="\\ud83d\\ude00",  # a surrogate pair: one real character, U+1F600
    )
    response = send(client, "POST", "/v1/invoices", body, sme)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["invoiceNumber"] == "INV-\u00e9"
    assert created["buyerName"] == "Caf\u00e9 \U0001f600"
    assert client.get(f"/v1/invoices/{created['id']}", headers=sme).json() == created


# ---- invoice edit ----------------------------------------------------------------------------

PATCH_CASES = [
    ({"buyerName": "@x@"}, "buyerName"),
    ({"description": "@x@"}, "description"),
    ({"metadata": {"k": {"@x@": True}}}, "metadata/k/{x}"),
    ({"metadata": {"k": [["@x@"]]}}, "metadata/k/0/0"),
]


@pytest.mark.parametrize(("changes", "field"), PATCH_CASES)
@pytest.mark.parametrize("escape", ["\\ud800", "\\u0000"], ids=["surrogate", "nul"])
def test_an_edit_with_unstorable_text_is_refused_and_changes_nothing(
    client: TestClient, sme: dict[str, str], changes: dict[str, Any], field: str, escape: str
) -> None:
    created = create(client, sme)
    path = f"/v1/invoices/{created['id']}"
    response = send(client, "PATCH", path, raw_json(changes, x=escape), sme)
    assert_text_refused(response, field.replace("{x}", escape))
    assert client.get(path, headers=sme).json() == created


def test_an_edit_with_a_look_alike_number_is_refused(
    client: TestClient, sme: dict[str, str]
) -> None:
    created = create(client, sme)
    path = f"/v1/invoices/{created['id']}"
    response = client.patch(path, json={"invoiceNumber": "INV-\u200b1"}, headers=sme)
    assert_text_refused(response, "invoiceNumber")
    assert client.get(path, headers=sme).json() == created


# ---- reasons and escrow link -----------------------------------------------------------------


def _in_state(app: Starlette, tenant: str, status: InvoiceStatus) -> str:
    """An invoice of ``tenant`` moved to ``status`` through the use cases."""
    invoices = app.state.services.invoices
    admin = Actor("admin-text", Role.ADMIN)
    invoice = invoices.submit(tenant, Actor("sme-text", Role.SME), invoice_draft())
    if status is not InvoiceStatus.PENDING:
        invoices.approve(tenant, admin, invoice.id)
    if status is InvoiceStatus.DISBURSED:
        invoices.link_escrow(tenant, admin, invoice.id, link_of(contract_address(), "100"))
        invoices.record_chain_funding(tenant, CHAIN, invoice.id, 100)
        invoices.transition(tenant, CHAIN, invoice.id, InvoiceStatus.DISBURSED)
    invoice_id: str = invoice.id
    return invoice_id


REASON_ACTIONS = {
    "reject": InvoiceStatus.PENDING,
    "cancel": InvoiceStatus.APPROVED,
    "default": InvoiceStatus.DISBURSED,
}
BAD_REASONS = {
    "surrogate": raw_json({"reason": "Paid @x@"}, x="\\ud800"),
    "nul": raw_json({"reason": "Paid @x@ twice"}, x="\\u0000"),
    "zero-width": raw_json({"reason": "Paid \u200b twice"}),
    "bom": raw_json({"reason": "\ufeffDuplicate"}),
    "bidi override": raw_json({"reason": "Dup\u202elicate"}),
}


@pytest.mark.parametrize("action", REASON_ACTIONS)
@pytest.mark.parametrize("body", BAD_REASONS.values(), ids=BAD_REASONS.keys())
def test_a_bad_reason_is_refused_and_the_invoice_stays(
    client: TestClient,
    headers: dict[str, str],
    tenant: str,
    action: str,
    body: bytes,
) -> None:
    assert isinstance(client.app, Starlette)
    invoice_id = _in_state(client.app, tenant, REASON_ACTIONS[action])
    before = client.get(f"/v1/invoices/{invoice_id}", headers=headers).json()
    response = send(client, "POST", f"/v1/invoices/{invoice_id}/{action}", body, headers)
    assert_text_refused(response, "reason")
    assert client.get(f"/v1/invoices/{invoice_id}", headers=headers).json() == before


LINK_CASES = [
    ({"escrowAddress": "C@x@", "fundingTargetStroops": "100"}, "escrowAddress"),
    ({"escrowAddress": "@c@", "fundingTargetStroops": "1@x@"}, "fundingTargetStroops"),
    ({"escrowAddress": "@c@", "fundingTargetStroops": "100", "@x@": 1}, "{x}"),
]


@pytest.mark.parametrize(("fields", "field"), LINK_CASES)
@pytest.mark.parametrize("escape", ["\\udfff", "\\u0000"], ids=["surrogate", "nul"])
def test_an_escrow_link_with_unstorable_text_is_refused(
    client: TestClient,
    headers: dict[str, str],
    tenant: str,
    fields: dict[str, Any],
    field: str,
    escape: str,
) -> None:
    assert isinstance(client.app, Starlette)
    invoice_id = _in_state(client.app, tenant, InvoiceStatus.APPROVED)
    before = client.get(f"/v1/invoices/{invoice_id}", headers=headers).json()
    body = raw_json(fields, x=escape, c=contract_address())
    response = send(client, "POST", f"/v1/invoices/{invoice_id}/link-escrow", body, headers)
    assert_text_refused(response, field.replace("{x}", escape))
    assert client.get(f"/v1/invoices/{invoice_id}", headers=headers).json() == before


# ---- funding ---------------------------------------------------------------------------------

FUND = "/v1/invest/fund-invoice"
FUND_CASES = [
    ({"invoiceId": "inv_@x@"}, "invoiceId"),
    ({"investorAddress": "G@x@"}, "investorAddress"),
    ({"amountStroops": "1@x@"}, "amountStroops"),
    ({"note": {"@x@": ["@x@"]}}, "note/{x}"),
]


@pytest.mark.parametrize(("changes", "field"), FUND_CASES)
@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "\\u0000"], ids=["high", "low", "nul"])
def test_funding_refuses_unstorable_text_before_claiming_the_key(
    client: TestClient, tenant: str, changes: dict[str, Any], field: str, escape: str
) -> None:
    assert isinstance(client.app, Starlette)
    invoice_id = _in_state(client.app, tenant, InvoiceStatus.APPROVED)
    admin = bearer("admin", tenant, "admin-text")
    linked = client.post(
        f"/v1/invoices/{invoice_id}/link-escrow",
        json={"escrowAddress": contract_address(), "fundingTargetStroops": "1000"},
        headers=admin,
    )
    assert linked.status_code == 200, linked.text
    wallet = account_address()
    investor = {
        **bearer("investor", tenant, "investor-text", wallet=wallet),
        "Idempotency-Key": "key-text-01",
    }
    good = {"invoiceId": invoice_id, "investorAddress": wallet, "amountStroops": "10"}
    refused = send(client, "POST", FUND, raw_json({**good, **changes}, x=escape), investor)
    assert_text_refused(refused, field.replace("{x}", escape))
    # The key was never claimed: the same key with a good body runs (201, not a replay).
    accepted = client.post(FUND, json=good, headers=investor)
    assert accepted.status_code == 201, accepted.text
    assert "idempotent-replayed" not in accepted.headers
    locks = client.get("/v1/investor/locks", headers=admin).json()
    assert locks["meta"]["total"] == 1


# ---- query strings and headers ---------------------------------------------------------------

LIST_ROUTES = [
    ("/v1/invoices", "status", "admin"),
    ("/v1/invoices", "limit", "admin"),
    ("/v1/marketplace", "sortBy", "investor"),
    ("/v1/marketplace", "cursor", "investor"),
    ("/v1/invest/opportunities", "page", "investor"),
    ("/v1/investor/locks", "funderAddress", "admin"),
    ("/v1/investor/commitments", "investorAddress", "admin"),
    ("/v1/investor/commitments", "status", "admin"),
    ("/v1/investor/locks/inv_0123456789", "funderAddress", "admin"),
    ("/v1/sme/metrics", "anything", "sme"),
]
# Percent-encoded: NUL, other controls, bytes that are not UTF-8 (a lone 0xff, an overlong
# NUL, an encoded surrogate, a truncated sequence).
BAD_QUERY_VALUES = ["%00", "5%00", "%1b", "%7f", "%c2%85", "%ff", "%c0%80", "%ed%a0%80", "%e2%82"]


@pytest.mark.parametrize(("path", "name", "role"), LIST_ROUTES)
@pytest.mark.parametrize("value", BAD_QUERY_VALUES)
def test_a_query_value_that_is_not_clean_utf8_is_refused(
    client: TestClient, tenant: str, path: str, name: str, role: str, value: str
) -> None:
    headers = bearer(role, tenant, f"{role}-text", wallet=account_address())
    response = client.get(f"{path}?{name}={value}", headers=headers)
    assert_text_refused(response, name)


def test_a_query_name_that_is_not_clean_utf8_is_named_escaped(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/v1/invoices?st%00atus=x&li%ffmit=1", headers=headers)
    assert_text_refused(response, "st\\u0000atus")
    assert [e["field"] for e in response.json()["errors"]] == ["st\\u0000atus", "li\\xffmit"]


def test_clean_percent_encoded_utf8_reaches_the_parameter_rules(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/v1/invoices?limit=%E2%82%AC", headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "field": "limit",
        "message": "must be an integer from 1 to 100",
        "code": "INVALID_VALUE",
    }


HEADER_NAMES = [
    "authorization",
    "x-api-key",
    "x-tenant-id",
    "x-correlation-id",
    "idempotency-key",
    "if-match",
]


@pytest.mark.parametrize("name", HEADER_NAMES)
@pytest.mark.parametrize("junk", ["\x00", "\xff", "\x01\x7f"], ids=["nul", "ff", "controls"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_no_header_value_makes_a_server_error(
    app: Starlette, tenant: str, name: str, junk: str, method: str
) -> None:
    good = {
        "authorization": next(iter(bearer("investor", tenant, "inv-t").values())),
        "x-tenant-id": tenant,
        "idempotency-key": "key-hdr-0001",
        "content-type": "application/json",
    }
    good[name] = good.get(name, "value") + junk
    path = FUND if method == "POST" else "/v1/invoices"
    exchange = call(app, method, path, headers=list(good.items()), chunks=[b"{}"])
    assert exchange.status < 500, exchange.body
    correlation = exchange.headers["x-correlation-id"]
    assert correlation.isprintable() and correlation.isascii()
    assert junk not in exchange.body.decode("utf-8")


def test_the_api_aliases_apply_the_same_text_rules(client: TestClient, sme: dict[str, str]) -> None:
    body = raw_json(invoice_payload(metadata={"note": "@x@"}), x="\\ud800")
    response = send(client, "POST", "/api/invoices", body, sme)
    assert_text_refused(response, "metadata/note")
    assert response.headers["deprecation"]
    alias_query = client.get("/api/invoices?status=%00", headers=sme)
    assert_text_refused(alias_query, "status")
    assert invoice_count(client, sme) == 0


def test_format_characters_in_identifier_fields_are_refused_by_their_grammar(
    client: TestClient, tenant: str
) -> None:
    # Addresses and amounts are ASCII grammars: an invisible character breaks them (400 with
    # their own codes), never a 500.
    assert isinstance(client.app, Starlette)
    invoice_id = _in_state(client.app, tenant, InvoiceStatus.APPROVED)
    admin = bearer("admin", tenant, "admin-text")
    link = f"/v1/invoices/{invoice_id}/link-escrow"
    bad_link = client.post(
        link,
        json={"escrowAddress": contract_address() + "\u200b", "fundingTargetStroops": "1\u20600"},
        headers=admin,
    )
    assert bad_link.status_code == 400, bad_link.text
    assert {(e["field"], e["code"]) for e in bad_link.json()["errors"]} == {
        ("escrowAddress", "INVALID_CONTRACT_ADDRESS"),
        ("fundingTargetStroops", "INVALID_AMOUNT_FORMAT"),
    }
    linked = client.post(
        link,
        json={"escrowAddress": contract_address(), "fundingTargetStroops": "1000"},
        headers=admin,
    )
    assert linked.status_code == 200, linked.text
    wallet = account_address()
    investor = {
        **bearer("investor", tenant, "inv-cf", wallet=wallet),
        "Idempotency-Key": "key-cf-0001",
    }
    funded = client.post(
        FUND,
        json={"invoiceId": invoice_id, "investorAddress": wallet, "amountStroops": "\ufeff10"},
        headers=investor,
    )
    assert funded.status_code == 400, funded.text
    assert funded.json()["errors"][0]["field"] == "amountStroops"
    assert client.get("/v1/investor/locks", headers=admin).json()["meta"]["total"] == 0
