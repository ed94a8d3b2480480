"""The tenant webhook and job operations over HTTP (``/v1/admin/webhook``, ``/v1/admin/jobs``),
with real bearer tokens and API keys, on SQLite and PostgreSQL: admins only; the secret is
shown once (201), stored only sealed, kept by a URL change and replaced by a rotation; refused
URLs name their field code; a test event and every invoice transition write a delivery job the
admin lists, filters, pages and (when dead) replays; audit events name the host alone. Every
answer is checked against the OpenAPI document.

Accepted URLs use a public IP literal, so saving one resolves nothing; the one DNS name used
is under ``.invalid``, which never resolves (RFC 6761). No test reaches the network, and no
worker runs here: jobs stay as written unless a test moves them through the job queue."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.ports import Store
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import ALL_KEY, WRITE_KEY, api_key, bearer, test_settings
from tests.contract.test_webhook_repository_contract import settled_delivery
from tests.factories import invoice_payload, new_tenant
from tests.http.conftest import HTTP_STORES
from tests.http.openapi_validation import assert_matches_openapi, assert_request_matches_openapi

WEBHOOK = "/v1/admin/webhook"
JOBS = "/v1/admin/jobs"
URL = "https://8.8.8.8/hooks/liquifact?token=query-credential"
OTHER_URL = "https://[2001:4860:4860::8888]:8443/other/path?sig=another-credential"
# What must never reach an audit event: the URL's path and query (they may carry credentials).
URL_PARTS = ("/hooks/liquifact", "query-credential", "/other/path", "another-credential")
SECRET = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def app(
    http_store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Starlette]:
    store = HTTP_STORES[http_store_kind](request, tmp_path)
    # Rate limits off: the paging test alone makes dozens of requests from one address.
    yield create_app(test_settings(rate_limit_enabled=False), store=store)
    store.close()


@pytest.fixture
def admin(tenant: str) -> dict[str, str]:
    return bearer("admin", tenant, "test-admin")


def call(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    body: Any = None,
) -> httpx.Response:
    """One request; its status and its answer checked against the document."""
    response = client.request(method, path, headers=headers, json=body)
    assert response.status_code == status, response.text
    assert_matches_openapi(response)
    if status < 400:
        assert_request_matches_openapi(response.request)
    return response


def configure(
    client: TestClient, headers: dict[str, str], url: str = URL, status: int = 201
) -> dict[str, Any]:
    body: dict[str, Any] = call(client, "PUT", WEBHOOK, headers, status, {"url": url}).json()
    return body


def field_codes(response: httpx.Response) -> set[tuple[str, str]]:
    return {(error["field"], error["code"]) for error in response.json()["errors"]}


def no_store(response: httpx.Response) -> bool:
    """No cache anywhere may keep this answer (it may carry the secret)."""
    directives = {part.strip() for part in response.headers["cache-control"].split(",")}
    return "no-store" in directives


def store_of(app: Starlette) -> Store:
    store: Store = app.state.services.store
    return store


def stored_row(app: Starlette, tenant: str) -> dict[str, Any]:
    """The tenant's ``tenant_webhooks`` row, read with plain SQL."""
    store = store_of(app)
    if isinstance(store, SqliteStore):
        with closing(sqlite3.connect(store.path)) as connection:
            connection.row_factory = sqlite3.Row
            [row] = connection.execute(
                "SELECT * FROM tenant_webhooks WHERE tenant_id = ?", (tenant,)
            ).fetchall()
            return dict(row)
    assert isinstance(store, PostgresStore)
    with store.read_unit(tenant) as uow:
        [found] = uow.execute_unfiltered("SELECT * FROM tenant_webhooks")
    return dict(found)


def opened_secret(app: Starlette, tenant: str) -> str:
    """The stored secret, opened with the deployment's key (as the delivery handler does)."""
    secret: str = app.state.services.webhook_ports.box.open(
        stored_row(app, tenant)["sealed_secret"]
    )
    return secret


def audit_events(app: Starlette, tenant: str) -> list[Any]:
    with store_of(app).read_unit(tenant) as uow:
        return list(uow.audit.for_resource(tenant, "tenant", tenant))


def approve_an_invoice(client: TestClient, headers: dict[str, str]) -> str:
    """An invoice created and approved over HTTP: two history steps."""
    created = call(client, "POST", "/v1/invoices", headers, 201, invoice_payload())
    invoice_id: str = created.json()["id"]
    call(client, "POST", f"/v1/invoices/{invoice_id}/approve", headers, 200)
    return invoice_id


def list_jobs(
    client: TestClient, headers: dict[str, str], query: str = "", status: int = 200
) -> dict[str, Any]:
    body: dict[str, Any] = call(client, "GET", f"{JOBS}{query}", headers, status).json()
    return body


# ---- who may ------------------------------------------------------------------------------

ROUTES = [
    ("GET", WEBHOOK, None),
    ("PUT", WEBHOOK, {"url": URL}),
    ("DELETE", WEBHOOK, None),
    ("POST", f"{WEBHOOK}/secret", None),
    ("POST", f"{WEBHOOK}/test", None),
    ("GET", JOBS, None),
    ("GET", f"{JOBS}/job_01ABCDEF", None),
    ("POST", f"{JOBS}/job_01ABCDEF/replay", None),
]


@pytest.mark.parametrize("who", ["sme", "investor", "api key", "api key with every scope"])
def test_only_admins_manage_webhooks_and_jobs(
    client: TestClient, app: Starlette, tenant: str, admin: dict[str, str], who: str
) -> None:
    configure(client, admin)
    headers = {
        "sme": bearer("sme", tenant, "sme-1"),
        "investor": bearer("investor", tenant, "investor-1"),
        "api key": api_key(WRITE_KEY, tenant),
        "api key with every scope": api_key(ALL_KEY, tenant),
    }[who]
    before = stored_row(app, tenant)

    for method, path, body in ROUTES:
        refused = call(client, method, path, headers, 403, body)
        assert refused.json()["code"] == "FORBIDDEN", (method, path)

    assert stored_row(app, tenant) == before
    assert list_jobs(client, admin)["meta"]["total"] == 0


def test_without_credentials_every_route_is_401(client: TestClient) -> None:
    for method, path, body in ROUTES:
        call(client, method, path, {}, 401, body)


# ---- the endpoint and its secret ----------------------------------------------------------


def test_the_secret_is_shown_once_and_stored_only_sealed(
    client: TestClient, app: Starlette, tenant: str, admin: dict[str, str]
) -> None:
    missing = call(client, "GET", WEBHOOK, admin, 404)
    assert missing.json()["code"] == "WEBHOOK_NOT_CONFIGURED"

    created = call(client, "PUT", WEBHOOK, admin, 201, {"url": URL})
    body = created.json()
    secret = body.pop("secret")

    assert SECRET.fullmatch(secret)
    assert no_store(created)
    assert body["url"] == URL and body["host"] == "8.8.8.8" and body["secretSet"] is True
    assert body["secretRotatedAt"] is not None
    shown = call(client, "GET", WEBHOOK, admin, 200).json()
    assert shown == body  # the same endpoint, without the secret
    assert "secret" not in shown

    row = stored_row(app, tenant)
    assert row["url"] == URL and row["host"] == "8.8.8.8"
    assert all(secret not in str(value) for value in row.values())
    assert opened_secret(app, tenant) == secret  # sealed with the deployment's key


def test_a_changed_url_keeps_the_secret_and_a_rotation_replaces_it(
    client: TestClient, app: Starlette, tenant: str, admin: dict[str, str]
) -> None:
    first = configure(client, admin)
    secret = first["secret"]

    changed = call(client, "PUT", WEBHOOK, admin, 200, {"url": OTHER_URL})
    body = changed.json()
    assert "secret" not in body
    assert no_store(changed)
    assert (body["url"], body["host"]) == (OTHER_URL, "2001:4860:4860::8888")
    assert body["secretRotatedAt"] == first["secretRotatedAt"]
    assert opened_secret(app, tenant) == secret
    assert call(client, "GET", WEBHOOK, admin, 200).json() == body

    rotated = call(client, "POST", f"{WEBHOOK}/secret", admin, 200)
    new_secret = rotated.json()["secret"]
    assert no_store(rotated)
    assert SECRET.fullmatch(new_secret) and new_secret != secret
    assert rotated.json()["url"] == OTHER_URL
    assert rotated.json()["secretRotatedAt"] >= first["secretRotatedAt"]
    assert opened_secret(app, tenant) == new_secret
    assert all(new_secret not in str(value) for value in stored_row(app, tenant).values())
    assert "secret" not in call(client, "GET", WEBHOOK, admin, 200).json()


def test_a_removed_endpoint_is_gone_and_a_new_one_gets_a_new_secret(
    client: TestClient, admin: dict[str, str]
) -> None:
    old_secret = configure(client, admin)["secret"]

    removed = call(client, "DELETE", WEBHOOK, admin, 204)
    assert removed.content == b""

    for method, path in [
        ("GET", WEBHOOK),
        ("DELETE", WEBHOOK),
        ("POST", f"{WEBHOOK}/secret"),
        ("POST", f"{WEBHOOK}/test"),
    ]:
        assert call(client, method, path, admin, 404).json()["code"] == "WEBHOOK_NOT_CONFIGURED"
    again = configure(client, admin)
    assert SECRET.fullmatch(again["secret"]) and again["secret"] != old_secret


def test_each_tenant_has_its_own_endpoint(client: TestClient, admin: dict[str, str]) -> None:
    configure(client, admin)
    stranger = bearer("admin", new_tenant(), "their-admin")
    assert call(client, "GET", WEBHOOK, stranger, 404).json()["code"] == "WEBHOOK_NOT_CONFIGURED"
    call(client, "DELETE", WEBHOOK, stranger, 404)
    assert call(client, "GET", WEBHOOK, admin, 200).json()["url"] == URL


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://8.8.8.8/hook", "WEBHOOK_URL_NOT_HTTPS"),
        ("http://127.0.0.1:8080/hook", "WEBHOOK_URL_NOT_HTTPS"),
        ("https://10.1.2.3/hook", "WEBHOOK_URL_BLOCKED"),
        ("https://169.254.169.254/latest/meta-data", "WEBHOOK_URL_BLOCKED"),
        ("https://[::1]/hook", "WEBHOOK_URL_BLOCKED"),
        ("https://[::ffff:192.168.1.1]/hook", "WEBHOOK_URL_BLOCKED"),
        ("https://localhost/hook", "WEBHOOK_URL_BLOCKED"),
        ("https://user:password@8.8.8.8/hook", "WEBHOOK_URL_INVALID"),
        ("https://8.8.8.8/hook#fragment", "WEBHOOK_URL_INVALID"),
        ("https://0x7f.1/hook", "WEBHOOK_URL_INVALID"),
        ("https://8.8.8.8:0/hook", "WEBHOOK_URL_INVALID"),
        ("https://hooks.liquifact-test.invalid/hook", "WEBHOOK_HOST_UNRESOLVED"),
    ],
)
def test_refused_urls_are_400_with_their_field_code(
    client: TestClient, app: Starlette, tenant: str, admin: dict[str, str], url: str, code: str
) -> None:
    refused = call(client, "PUT", WEBHOOK, admin, 400, {"url": url})
    assert field_codes(refused) == {("url", code)}
    assert call(client, "GET", WEBHOOK, admin, 404).json()["code"] == "WEBHOOK_NOT_CONFIGURED"
    assert audit_events(app, tenant) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": "ftp://8.8.8.8/hook"}, "url"),
        ({"url": "https://8.8.8.8/a b"}, "url"),
        ({"url": 42}, "url"),
        ({"url": URL, "secret": "a" * 64}, "secret"),  # a secret is made, never sent
    ],
)
def test_bad_bodies_are_field_errors(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    refused = call(client, "PUT", WEBHOOK, admin, 400, body)
    assert field in {error["field"] for error in refused.json()["errors"]}
    call(client, "GET", WEBHOOK, admin, 404)


def test_a_refused_change_keeps_the_endpoint(client: TestClient, admin: dict[str, str]) -> None:
    configure(client, admin)
    call(client, "PUT", WEBHOOK, admin, 400, {"url": "https://192.168.0.10/hook"})
    assert call(client, "GET", WEBHOOK, admin, 200).json()["url"] == URL


# ---- delivery jobs ------------------------------------------------------------------------


def test_a_test_event_is_a_pending_delivery_job(
    client: TestClient, tenant: str, admin: dict[str, str]
) -> None:
    configure(client, admin)

    accepted = call(client, "POST", f"{WEBHOOK}/test", admin, 202)
    job = accepted.json()

    assert accepted.headers["location"] == f"{JOBS}/{job['id']}"
    assert (job["type"], job["status"], job["attempts"]) == ("webhook_delivery", "pending", 0)
    assert job["maxAttempts"] == 4  # WEBHOOK_MAX_RETRIES 3, plus the first attempt
    assert job["payload"]["event"] == "webhook.test"
    assert job["payload"]["tenantId"] == tenant
    assert job["lastError"] is None
    assert call(client, "GET", accepted.headers["location"], admin, 200).json() == job


def test_an_invoice_transition_writes_a_delivery_job(
    client: TestClient, tenant: str, admin: dict[str, str]
) -> None:
    approve_an_invoice(client, admin)  # before any endpoint: no job
    assert list_jobs(client, admin)["meta"]["total"] == 0

    configure(client, admin)
    invoice_id = approve_an_invoice(client, admin)

    listed = list_jobs(client, admin)
    approval, creation = listed["data"]
    assert listed["meta"]["total"] == 2
    assert creation["payload"]["event"] == "invoice.created"
    assert approval["payload"]["event"] == "invoice.pending_to_approved"
    assert approval["payload"]["invoiceId"] == invoice_id
    assert approval["payload"]["tenantId"] == tenant
    transition = approval["payload"]["transition"]
    assert (transition["from"], transition["to"], transition["reason"]) == (
        "pending",
        "approved",
        None,
    )
    assert transition["actor"] == "test-admin"
    assert "timestamp" not in approval["payload"]  # set when the delivery is sent
    assert {job["status"] for job in listed["data"]} == {"pending"}


def test_jobs_are_filtered_and_paged_by_cursor(
    client: TestClient, app: Starlette, tenant: str, admin: dict[str, str]
) -> None:
    configure(client, admin)
    tests = [call(client, "POST", f"{WEBHOOK}/test", admin, 202).json()["id"] for _ in range(3)]
    approve_an_invoice(client, admin)
    dead = settled_delivery(store_of(app), tenant)
    other = bearer("admin", new_tenant(), "their-admin")  # another tenant's jobs: never listed
    configure(client, other)
    call(client, "POST", f"{WEBHOOK}/test", other, 202)

    everything = list_jobs(client, admin, "?limit=100")
    ids = [job["id"] for job in everything["data"]]
    assert len(ids) == 6 and ids == sorted(ids, reverse=True)  # newest (greatest id) first
    assert set(tests) | {dead.id} < set(ids)

    seen: list[str] = []
    query = "?limit=1"
    while True:
        page = list_jobs(client, admin, query)
        assert page["meta"]["total"] == 6 and page["meta"]["limit"] == 1
        seen += [job["id"] for job in page["data"]]
        cursor = page["meta"]["nextCursor"]
        assert page["meta"]["hasMore"] is (cursor is not None)
        if cursor is None:
            break
        query = f"?limit=1&cursor={cursor}"
    assert seen == ids

    def listed(query: str) -> tuple[list[str], int]:
        body = list_jobs(client, admin, query)
        return [job["id"] for job in body["data"]], body["meta"]["total"]

    assert listed("?status=dead") == ([dead.id], 1)
    pending = [job_id for job_id in ids if job_id != dead.id]
    assert listed("?status=pending") == (pending, 5)
    assert listed("?status=pending,dead") == (ids, 6)
    assert listed("?status=running&status=succeeded") == ([], 0)
    assert listed("?type=webhook_delivery&limit=2") == (ids[:2], 6)
    assert listed("?type=other.kind") == ([], 0)
    second = list_jobs(client, admin, "?status=pending&limit=2")["meta"]["nextCursor"]
    assert listed(f"?status=pending&limit=2&cursor={second}") == (pending[2:4], 5)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?status=lost", "status"),
        ("?type=Webhook", "type"),
        ("?cursor=inv_123", "cursor"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?page=2", "page"),
    ],
)
def test_bad_job_queries_are_400(
    client: TestClient, admin: dict[str, str], query: str, field: str
) -> None:
    refused = list_jobs(client, admin, query, 400)
    assert field in {error["field"] for error in refused["errors"]}


def test_another_tenants_job_is_not_found(client: TestClient, admin: dict[str, str]) -> None:
    other = bearer("admin", new_tenant(), "their-admin")
    configure(client, other)
    theirs = call(client, "POST", f"{WEBHOOK}/test", other, 202).json()["id"]

    for method, path in [("GET", f"{JOBS}/{theirs}"), ("POST", f"{JOBS}/{theirs}/replay")]:
        assert call(client, method, path, admin, 404).json()["code"] == "JOB_NOT_FOUND"
    assert call(client, "GET", f"{JOBS}/job_01NOSUCHJOB", admin, 404).json()["code"] == (
        "JOB_NOT_FOUND"
    )
    assert call(client, "GET", f"{JOBS}/{theirs}", other, 200).json()["id"] == theirs


@pytest.mark.parametrize("job_id", ["inv_0123", "job_a-b", "job_", "job_" + "a" * 121])
def test_a_malformed_job_id_is_400(client: TestClient, admin: dict[str, str], job_id: str) -> None:
    for method, path in [("GET", f"{JOBS}/{job_id}"), ("POST", f"{JOBS}/{job_id}/replay")]:
        refused = call(client, method, path, admin, 400)
        assert field_codes(refused) == {("jobId", "INVALID_JOB_ID")}


def test_only_a_dead_letter_is_replayed(
    client: TestClient, app: Starlette, tenant: str, admin: dict[str, str]
) -> None:
    configure(client, admin)
    pending = call(client, "POST", f"{WEBHOOK}/test", admin, 202).json()
    refused = call(client, "POST", f"{JOBS}/{pending['id']}/replay", admin, 409)
    assert refused.json()["code"] == "JOB_NOT_DEAD"

    dead = settled_delivery(store_of(app), tenant)
    shown = call(client, "GET", f"{JOBS}/{dead.id}", admin, 200).json()
    assert (shown["status"], shown["attempts"]) == ("dead", 1)
    assert shown["lastError"] == "HTTP 410 from 8.8.8.8"

    replayed = call(client, "POST", f"{JOBS}/{dead.id}/replay", admin, 200).json()
    assert (replayed["status"], replayed["attempts"]) == ("pending", 0)
    assert replayed["lastError"] == "HTTP 410 from 8.8.8.8"  # kept for the record
    assert replayed["payload"] == shown["payload"]
    assert call(client, "GET", f"{JOBS}/{dead.id}", admin, 200).json() == replayed
    assert list_jobs(client, admin, "?status=dead")["meta"]["total"] == 0
    again = call(client, "POST", f"{JOBS}/{dead.id}/replay", admin, 409)
    assert again.json()["code"] == "JOB_NOT_DEAD"

    [event] = [e for e in audit_events(app, tenant) if e.action == "job.replayed"]
    assert dict(event.metadata) == {"jobId": dead.id, "jobType": "webhook_delivery"}


# ---- the deprecated alias and the audit trail ---------------------------------------------


def test_the_api_alias_serves_the_same_operations(
    client: TestClient, tenant: str, admin: dict[str, str]
) -> None:
    created = call(client, "PUT", "/api/admin/webhook", admin, 201, {"url": URL})
    assert created.headers["deprecation"] and no_store(created)
    secret = created.json().pop("secret")
    assert SECRET.fullmatch(secret)
    assert call(client, "GET", "/api/admin/webhook", admin, 200).json() == (
        call(client, "GET", WEBHOOK, admin, 200).json()
    )
    job = call(client, "POST", "/api/admin/webhook/test", admin, 202).json()
    assert call(client, "GET", f"/api/admin/jobs/{job['id']}", admin, 200).json() == job
    assert call(client, "GET", "/api/admin/jobs", admin, 200).json()["meta"]["total"] == 1
    rotated = call(client, "POST", "/api/admin/webhook/secret", admin, 200)
    assert no_store(rotated)
    call(client, "DELETE", "/api/admin/webhook", admin, 204)
    call(client, "GET", WEBHOOK, admin, 404)


def test_audit_events_name_the_host_never_the_path_query_or_secret(
    client: TestClient, app: Starlette, tenant: str, admin: dict[str, str]
) -> None:
    secrets = [configure(client, admin)["secret"]]
    configure(client, admin, OTHER_URL, status=200)
    secrets.append(call(client, "POST", f"{WEBHOOK}/secret", admin, 200).json()["secret"])
    job = call(client, "POST", f"{WEBHOOK}/test", admin, 202).json()
    call(client, "DELETE", WEBHOOK, admin, 204)

    events = audit_events(app, tenant)

    assert [(e.action, dict(e.metadata)) for e in events] == [
        ("webhook.configured", {"host": "8.8.8.8", "secretCreated": True}),
        ("webhook.configured", {"host": "2001:4860:4860::8888", "secretCreated": False}),
        ("webhook.secret_rotated", {"host": "2001:4860:4860::8888"}),
        ("webhook.test_requested", {"host": "2001:4860:4860::8888", "jobId": job["id"]}),
        ("webhook.removed", {"host": "2001:4860:4860::8888"}),
    ]
    assert {(e.actor_id, e.actor_role, e.resource_type) for e in events} == {
        ("test-admin", "admin", "tenant")
    }
    written = repr(events)
    for forbidden in (*URL_PARTS, *secrets):
        assert forbidden not in written
