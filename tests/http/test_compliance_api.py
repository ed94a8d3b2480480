"""Issue 16 over HTTP, on SQLite and PostgreSQL: the audit export (JSON pages visited exactly
once, CSV with the spec's headers and columns, neutralised cells, streamed in chunks, tenant
filtered), the automatic audit of admin writes with redaction, retention policies and legal
holds, their audit trail and stricter rate limit, and who may call them."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Message

from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.audit import REDACTED
from liquifact_core.audit_export import CSV_COLUMNS
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import ALL_KEY, api_key, bearer, test_settings
from tests.factories import invoice_payload, new_tenant
from tests.http.openapi_validation import assert_matches_openapi

EXPORT = "/v1/admin/audit/invoices/{}/export"


@pytest.fixture
def admin(tenant: str) -> dict[str, str]:
    return bearer("admin", tenant, "ops-1")


def _invoice(client: TestClient, admin: dict[str, str], **fields: Any) -> str:
    response = client.post("/v1/invoices", json=invoice_payload(**fields), headers=admin)
    assert response.status_code == 201, response.text
    invoice_id: str = response.json()["id"]
    return invoice_id


def _edits(client: TestClient, admin: dict[str, str], invoice_id: str, count: int) -> None:
    for n in range(count):
        response = client.patch(
            f"/v1/invoices/{invoice_id}", json={"description": f"edit {n}"}, headers=admin
        )
        assert response.status_code == 200, response.text


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# ---- the JSON export --------------------------------------------------------------------------
def test_json_pages_visit_every_event_exactly_once(
    client: TestClient, admin: dict[str, str]
) -> None:
    invoice_id = _invoice(client, admin)
    _edits(client, admin, invoice_id, 11)  # 12 events with the creation

    seen: list[str] = []
    url, pages = EXPORT.format(invoice_id) + "?limit=5", 0
    while True:
        response = client.get(url, headers=admin)
        assert response.status_code == 200, response.text
        assert_matches_openapi(response)
        page = response.json()
        seen += [event["id"] for event in page["data"]]
        pages += 1
        assert page["meta"]["total"] == 12 and page["meta"]["limit"] == 5
        cursor = page["meta"]["nextCursor"]
        if cursor is None:
            assert page["meta"]["hasMore"] is False
            break
        url = EXPORT.format(invoice_id) + f"?limit=5&cursor={cursor}"

    whole = client.get(EXPORT.format(invoice_id), headers=admin).json()
    assert pages == 3
    assert seen == [event["id"] for event in whole["data"]]
    assert len(set(seen)) == 12
    assert whole["data"][0]["action"] == "invoice.created"
    assert whole["meta"]["limit"] == 50


def test_a_cursor_of_another_invoice_is_refused(client: TestClient, admin: dict[str, str]) -> None:
    first, second = _invoice(client, admin), _invoice(client, admin)
    _edits(client, admin, first, 2)
    cursor = client.get(EXPORT.format(first) + "?limit=1", headers=admin).json()["meta"][
        "nextCursor"
    ]

    response = client.get(EXPORT.format(second) + f"?cursor={cursor}", headers=admin)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "CURSOR_MISMATCH"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("format=xml", "format"),
        ("format=csv&limit=5", "limit"),
    ],
)
def test_bad_export_queries_are_400(
    client: TestClient, admin: dict[str, str], query: str, field: str
) -> None:
    response = client.get(EXPORT.format("inv_01ABC") + "?" + query, headers=admin)
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert client.get(EXPORT.format("INV-1"), headers=admin).status_code == 400


# ---- the CSV export ---------------------------------------------------------------------------
def test_csv_has_the_spec_headers_columns_and_rows(
    client: TestClient, admin: dict[str, str]
) -> None:
    invoice_id = _invoice(client, admin)
    _edits(client, admin, invoice_id, 2)

    response = client.get(EXPORT.format(invoice_id) + "?format=csv", headers=admin)

    assert response.status_code == 200
    assert_matches_openapi(response)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        response.headers["content-disposition"] == f'attachment; filename="audit-{invoice_id}.csv"'
    )
    assert response.headers["cache-control"] == "private, no-store"
    assert response.text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = _csv(response.text)
    assert [row["action"] for row in rows] == [
        "invoice.created",
        "invoice.updated",
        "invoice.updated",
    ]
    assert {row["resourceId"] for row in rows} == {invoice_id}
    assert all(row["actor"] == "ops-1" and row["actorRole"] == "admin" for row in rows)
    alias = client.get(f"/api/admin/audit/invoices/{invoice_id}/export?format=csv", headers=admin)
    assert alias.text == response.text and "deprecation" in alias.headers


def test_csv_cells_never_start_a_formula(client: TestClient, admin: dict[str, str]) -> None:
    invoice_id = _invoice(client, admin)
    payload = '=HYPERLINK("http://evil.example","x")'
    headers = {
        **admin,
        "User-Agent": payload,
        "X-Audit-Target-Type": "invoice",
        "X-Audit-Target-Id": invoice_id,
    }
    assert client.put(
        "/v1/admin/webhook", json={"url": "https://8.8.8.8/h"}, headers=headers
    ).status_code in (200, 201)
    with_tab = {**headers, "User-Agent": "\t@SUM(1,1)"}
    assert client.post("/v1/admin/webhook/secret", headers=with_tab).status_code == 200

    text = client.get(EXPORT.format(invoice_id) + "?format=csv", headers=admin).text
    rows = _csv(text)

    agents = [row["userAgent"] for row in rows if row["userAgent"]]
    # Control characters of a User-Agent are stored as spaces; the cell is neutralised still.
    assert agents == ["'" + payload, "' @SUM(1,1)"]
    for row in rows:
        for cell in row.values():
            assert cell[:1] not in ("\t", "\r") and cell.lstrip()[:1] not in tuple("=+-@|"), cell


def test_only_the_callers_tenant_is_exported(client: TestClient, admin: dict[str, str]) -> None:
    invoice_id = _invoice(client, admin)
    stranger = bearer("admin", new_tenant(), "other-ops")
    target = {"X-Audit-Target-Type": "invoice", "X-Audit-Target-Id": invoice_id}
    assert (
        client.put(
            "/v1/admin/webhook", json={"url": "https://8.8.4.4/h"}, headers={**stranger, **target}
        ).status_code
        == 201
    )

    mine = client.get(EXPORT.format(invoice_id) + "?format=csv", headers=admin).text
    theirs = client.get(EXPORT.format(invoice_id), headers=stranger).json()

    assert [row["action"] for row in _csv(mine)] == ["invoice.created"]
    assert [event["actor"] for event in theirs["data"]] == ["other-ops"]


def _stream(app: Starlette, path: str, headers: dict[str, str]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.sleep(3600)  # a client that stays until the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def first_receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    calls = iter([first_receive])

    async def receiving() -> Message:
        step = next(calls, receive)
        return await step()

    path, _, query = path.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.9", 40000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receiving, send))
    return sent


def test_csv_streams_one_chunk_of_rows_per_body_part(
    client: TestClient, app: Starlette, admin: dict[str, str]
) -> None:
    invoice_id = _invoice(client, admin)
    _edits(client, admin, invoice_id, 9)  # 10 events
    app.state.services.audit.chunk_size = 3

    sent = _stream(app, EXPORT.format(invoice_id) + "?format=csv", admin)

    parts = [m["body"] for m in sent if m["type"] == "http.response.body"]
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert [part.count(b"\r\n") for part in parts] == [1 + 3, 3, 3, 1, 0]
    assert parts[-1] == b"" and all(m.get("more_body") for m in sent[1:-1])
    assert len(_csv(b"".join(parts).decode())) == 10


# ---- admin writes are audited automatically ---------------------------------------------------
def test_an_admin_write_is_recorded_with_its_request_and_a_redacted_body(
    client: TestClient, admin: dict[str, str], tenant: str
) -> None:
    invoice_id = _invoice(client, admin)
    headers = {
        **admin,
        "X-Admin-Action": "webhook.point_at_hooks",
        "X-Audit-Target-Type": "invoice",
        "X-Audit-Target-Id": invoice_id,
        "User-Agent": "ops-console/1.0",
    }
    answer = client.put(
        "/v1/admin/webhook", json={"url": "https://8.8.8.8/hook?token=s3cret"}, headers=headers
    )
    assert answer.status_code == 201

    [_, event] = client.get(EXPORT.format(invoice_id), headers=admin).json()["data"]

    assert (event["action"], event["resourceType"], event["resourceId"]) == (
        "webhook.point_at_hooks",
        "invoice",
        invoice_id,
    )
    assert (event["statusCode"], event["userAgent"]) == (201, "ops-console/1.0")
    metadata = event["metadata"]
    assert (metadata["method"], metadata["route"]) == ("PUT", "/v1/admin/webhook")
    assert metadata["correlationId"] == answer.headers["x-correlation-id"]
    assert metadata["body"] == {"url": f"https://8.8.8.8/hook?{REDACTED}"}
    assert "s3cret" not in str(event)


def test_failed_and_malformed_admin_writes_are_not_recorded(
    client: TestClient, admin: dict[str, str]
) -> None:
    invoice_id = _invoice(client, admin)
    target = {"X-Audit-Target-Type": "invoice", "X-Audit-Target-Id": invoice_id}
    refused = client.put("/v1/admin/webhook", json={"url": "ftp://x"}, headers={**admin, **target})
    half = client.post(
        "/v1/admin/webhook/secret", headers={**admin, "X-Audit-Target-Type": "invoice"}
    )
    bad = client.put(
        "/v1/admin/webhook",
        json={"url": "https://8.8.8.8/h"},
        headers={**admin, "X-Admin-Action": "not an action!"},
    )

    assert refused.status_code == 400
    assert (half.status_code, half.json()["errors"][0]["code"]) == (400, "REQUIRED_TOGETHER")
    assert (bad.status_code, bad.json()["errors"][0]["code"]) == (400, "INVALID_HEADER")
    assert client.get("/v1/admin/webhook", headers=admin).status_code == 404  # nothing written
    assert [
        e["action"] for e in client.get(EXPORT.format(invoice_id), headers=admin).json()["data"]
    ] == ["invoice.created"]


# ---- retention policies and legal holds -------------------------------------------------------
def test_policies_are_created_listed_and_replaced(
    client: TestClient, admin: dict[str, str]
) -> None:
    created = client.post(
        "/v1/retention/policies",
        json={"name": "GDPR contacts", "retentionDays": 365, "piiFields": ["buyerEmail"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert_matches_openapi(created)
    policy = created.json()
    assert created.headers["location"] == f"/v1/retention/policies/{policy['id']}"
    assert (policy["active"], policy["version"]) == (True, 1)

    replaced = client.put(
        f"/v1/retention/policies/{policy['id']}",
        json={
            "name": "GDPR contacts",
            "retentionDays": 36500,
            "piiFields": ["buyerEmail", "buyerTaxId"],
            "active": False,
        },
        headers=admin,
    )
    listed = client.get("/v1/retention/policies", headers=admin)

    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    assert_matches_openapi(listed)
    assert [p["retentionDays"] for p in listed.json()["data"]] == [36500]
    duplicate = client.post(
        "/v1/retention/policies",
        json={"name": "GDPR contacts", "retentionDays": 1, "piiFields": ["buyerName"]},
        headers=admin,
    )
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "RETENTION_POLICY_NAME_TAKEN")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"retentionDays": 0}, "retentionDays"),
        ({"retentionDays": 36501}, "retentionDays"),
        ({"retentionDays": "30"}, "retentionDays"),
        ({"piiFields": []}, "piiFields"),
        ({"piiFields": ["buyerName", "amount"]}, "piiFields"),
        ({"piiFields": ["buyerName", "buyerName"]}, "piiFields"),
        ({"active": "yes"}, "active"),
        ({"name": ""}, "name"),
    ],
)
def test_policy_fields_are_checked(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    payload = {"name": "p", "retentionDays": 30, "piiFields": ["buyerName"], **body}
    response = client.post("/v1/retention/policies", json=payload, headers=admin)
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_holds_are_placed_shown_beside_the_escrow_hold_and_released(
    client: TestClient, admin: dict[str, str]
) -> None:
    invoice_id = _invoice(client, admin)
    placed = client.post(
        "/api/retention/legal-holds",
        json={"invoiceId": invoice_id, "type": "litigation", "reason": "Case 2026-17"},
        headers=admin,
    )
    assert placed.status_code == 201 and "deprecation" in placed.headers
    hold = placed.json()
    twice = client.post(
        "/v1/retention/legal-holds",
        json={"invoiceId": invoice_id, "type": "audit", "reason": "again"},
        headers=admin,
    )
    side_by_side = client.get(f"/v1/invoices/{invoice_id}/legal-holds", headers=admin)
    released = client.post(f"/v1/retention/legal-holds/{hold['id']}/release", headers=admin)

    assert (twice.status_code, twice.json()["code"]) == (409, "LEGAL_HOLD_ACTIVE")
    assert_matches_openapi(side_by_side)
    body = side_by_side.json()
    assert body["liquifactHold"]["id"] == hold["id"] and body["escrowHold"] is None
    assert "on chain" in body["note"]
    assert released.status_code == 200 and released.json()["active"] is False
    listed = client.get(f"/v1/retention/legal-holds?invoiceId={invoice_id}", headers=admin)
    assert [h["active"] for h in listed.json()["data"]] == [False]
    trail = client.get(EXPORT.format(invoice_id), headers=admin).json()["data"]
    assert [e["action"] for e in trail][1:] == [
        "retention.legal_hold_placed",
        "retention.legal_hold_released",
    ]
    assert trail[2]["metadata"]["before"]["active"] is True
    assert trail[2]["metadata"]["after"]["active"] is False


def test_the_preview_answers_what_a_purge_would_do(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.get("/v1/retention/purge-preview?limit=10", headers=admin)
    assert response.status_code == 200
    assert_matches_openapi(response)
    assert response.json()["data"] == []
    assert response.json()["meta"] == {
        "total": 0,
        "limit": 10,
        "hasMore": False,
        "nextCursor": None,
    }
    forged = client.get("/v1/retention/purge-preview?cursor=abc.def", headers=admin)
    assert forged.json()["errors"][0]["code"] == "INVALID_CURSOR"


# ---- who may call, and how often --------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", EXPORT.format("inv_01ABC")),
        ("GET", "/v1/retention/policies"),
        ("POST", "/v1/retention/legal-holds"),
        ("GET", "/v1/retention/purge-preview"),
    ],
)
def test_only_admin_tokens_may_call(
    client: TestClient, tenant: str, method: str, path: str
) -> None:
    for headers in (bearer("sme", tenant), bearer("investor", tenant), api_key(ALL_KEY, tenant)):
        assert client.request(method, path, headers=headers).status_code == 403


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[TestClient]:
    settings = test_settings(rate_limit_sensitive_max=2)
    app = create_app(settings, store=SqliteStore(str(tmp_path / "limited.sqlite3")))
    with TestClient(app) as client:
        yield client


def test_retention_writes_have_the_stricter_limit(limited: TestClient) -> None:
    admin = bearer("admin", new_tenant(), "ops")
    answers = [
        limited.post(
            "/v1/retention/policies",
            json={"name": f"p{n}", "retentionDays": 1, "piiFields": ["buyerName"]},
            headers=admin,
        )
        for n in range(3)
    ]
    reads = [limited.get("/v1/retention/policies", headers=admin) for _ in range(3)]

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].headers["ratelimit-limit"] == "2"
    assert answers[2].json()["code"] == "RATE_LIMITED"
    assert [r.status_code for r in reads] == [200, 200, 200]
