"""Issue 9, items 4 (headers), 5, 11 and 13: repeated singleton headers, no Host-built
redirects, the token lifetime cap, private responses and If-Match per RFC 9110.

Every test runs over HTTP against the app on SQLite and PostgreSQL (the ``app`` fixture)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from liquifact_http.bootstrap import create_app
from liquifact_http.middleware.headers import SINGLETON_HEADERS
from liquifact_http.routes.common import IF_MATCH_SYNTAX
from tests.auth_helpers import ALL_KEY, OMIT, api_key, bearer, test_settings, token
from tests.factories import invoice_payload
from tests.http.asgi_driver import call
from tests.http.conftest import HTTP_STORES

# ---- item 4: repeated singleton headers -------------------------------------------------------
# Public, authenticated, aliased and unknown paths: the rule holds everywhere.
PATHS = [
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/v1/invoices"),
    ("POST", "/v1/invoices"),
    ("PATCH", "/v1/invoices/inv_X"),
    ("POST", "/v1/invest/fund-invoice"),
    ("GET", "/api/invoices"),
    ("GET", "/v1/nowhere"),
]


def _valid_value(name: str, tenant: str) -> str:
    return {
        "Authorization": bearer("admin", tenant)["Authorization"],
        "X-API-Key": ALL_KEY,
        "Idempotency-Key": "key-0001",
        "If-Match": '"v1"',
        "X-Correlation-Id": "corr-00000001",
        "X-Tenant-Id": tenant,
        "Content-Type": "application/json",
        "Content-Length": "0",
    }[name]


@pytest.mark.parametrize("name", SINGLETON_HEADERS)
@pytest.mark.parametrize(("method", "path"), PATHS)
def test_a_repeated_singleton_header_is_a_400_everywhere(
    app: Starlette, tenant: str, name: str, method: str, path: str
) -> None:
    value = _valid_value(name, tenant)
    # Two equal copies too: "first wins" and "last wins" must not even be a question.
    for copies in ([value, value], [value, "other-value-1"]):
        answer = call(app, method, path, headers=[(name, v) for v in copies])
        assert answer.status == 400, (name, path, answer.body)
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["code"] == "DUPLICATE_HEADER"
        assert body["errors"] == [
            {"field": name, "message": "must be sent at most once", "code": "DUPLICATE_HEADER"}
        ]
        # A repeated correlation id is echoed in neither form: the answer carries our own.
        assert answer.headers["x-correlation-id"] == body["correlation_id"]
        assert answer.headers["x-correlation-id"] not in copies
        if path.startswith("/api/"):
            assert answer.headers["deprecation"]


def test_every_repeated_header_is_named_and_nothing_is_written(
    client: TestClient, tenant: str, headers: dict[str, str]
) -> None:
    raw = [
        ("Authorization", headers["Authorization"]),
        ("Authorization", headers["Authorization"]),
        ("X-Tenant-Id", tenant),
        ("X-Tenant-Id", tenant),
    ]
    answer = call(
        client.app, "POST", "/v1/invoices", headers=[*raw, ("Content-Type", "application/json")]
    )
    assert answer.status == 400
    assert [e["field"] for e in answer.json()["errors"]] == ["Authorization", "X-Tenant-Id"]
    assert client.get("/v1/invoices", headers=headers).json()["meta"]["total"] == 0


def test_single_headers_in_any_case_pass(client: TestClient, tenant: str) -> None:
    answer = call(
        client.app,
        "GET",
        "/v1/invoices",
        headers=[("authorization", bearer("admin", tenant)["Authorization"])],
    )
    assert answer.status == 200


# ---- item 5: no redirect built from the Host header -------------------------------------------
def _templates(app: Starlette) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if not isinstance(route, Route):
            continue  # the Swagger UI's static files mount
        path = route.path.replace("{id}", "inv_X").replace("{invoiceId}", "inv_X")
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, path))
    return found


@pytest.fixture
def unlimited_app(
    http_store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Starlette]:
    """The app without rate limits: the next test sends some requests per route."""
    store = HTTP_STORES[http_store_kind](request, tmp_path)
    yield create_app(test_settings(rate_limit_enabled=False), store=store)
    store.close()


def test_no_route_redirects_to_the_host_header(
    unlimited_app: Starlette, headers: dict[str, str]
) -> None:
    app = unlimited_app
    routes = _templates(app)
    assert ("POST", "/v1/invoices") in routes and ("GET", "/health") in routes
    for method, path in routes:
        for variant in (path + "/", "/api" + path[3:] + "/" if path.startswith("/v1/") else None):
            if variant is None:
                continue
            for extra in ([], list(headers.items())):
                answer = call(app, method, variant, headers=[("Host", "evil.example"), *extra])
                assert "location" not in answer.headers, (method, variant)
                assert answer.status == 404, (method, variant, answer.status)
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["code"] == "NOT_FOUND"


# Found by an outside attack: a body framed two ways, and slashes spelled %2F.
@pytest.mark.parametrize(("method", "path"), PATHS)
def test_a_body_framed_two_ways_is_refused(
    app: Starlette, headers: dict[str, str], method: str, path: str
) -> None:
    framing = [("Transfer-Encoding", "chunked"), ("Content-Length", "2")]
    answer = call(app, method, path, headers=[*headers.items(), *framing], chunks=[b"{}"])
    assert answer.status == 400, answer.body
    assert answer.json()["code"] == "AMBIGUOUS_BODY_LENGTH"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/invoices%2Finv_X",
        "/v1/invoices/inv_X%2fstate",
        "/api%2Finvoices",
        "/v1%2Finvoices",
        "/v1/invest%2Ffund-invoice",
    ],
)
def test_a_slash_spelled_2f_reaches_no_route(
    client: TestClient, headers: dict[str, str], path: str
) -> None:
    for method in ("GET", "POST"):
        answer = client.request(method, path, headers=headers, json={})
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "NOT_FOUND"
    assert client.get("/v1/invoices", headers=headers).json()["meta"]["total"] == 0


# ---- item 11: token lifetime and Cache-Control ------------------------------------------------
def test_tokens_living_longer_than_the_maximum_are_refused(client: TestClient, tenant: str) -> None:
    now = int(time.time())
    too_long: list[dict[str, Any]] = [
        {"exp": 1e300},
        {"exp": 1e300, "iat": OMIT},
        {"exp": now + 86_400 + 3600, "iat": OMIT},
        {"exp": now + 600, "iat": now - 86_400 - 1},  # exp - iat too long, though exp is near
    ]
    for claims in too_long:
        answer = client.get(
            "/v1/invoices", headers={"Authorization": f"Bearer {token('admin', tenant, **claims)}"}
        )
        assert answer.status_code == 401, claims
        assert answer.json()["code"] == "INVALID_TOKEN"
        assert "lifetime exceeds the maximum of 86400 seconds" in answer.json()["detail"]
    at_the_limit = token("admin", tenant, exp=now + 86_000, iat=now)
    assert (
        client.get("/v1/invoices", headers={"Authorization": f"Bearer {at_the_limit}"}).status_code
        == 200
    )


def test_non_finite_time_claims_are_refused(app: Starlette, tenant: str) -> None:
    # PyJWT's JSON parser reads NaN and Infinity; NaN compares false to every bound.
    import base64
    import hashlib
    import hmac

    from tests.auth_helpers import TEST_SECRET

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    for exp in ("NaN", "Infinity"):
        header = b64(b'{"alg":"HS256","typ":"JWT"}')
        claims = f'{{"sub":"u","tenantId":"{tenant}","role":"admin","exp":{exp}}}'.encode()
        signing_input = f"{header}.{b64(claims)}"
        signature = hmac.new(TEST_SECRET.encode(), signing_input.encode(), hashlib.sha256)
        jws = f"{signing_input}.{b64(signature.digest())}"
        answer = call(app, "GET", "/v1/invoices", headers=[("Authorization", f"Bearer {jws}")])
        assert answer.status == 401, exp


def test_authenticated_answers_are_private_and_public_ones_unchanged(
    client: TestClient, headers: dict[str, str], tenant: str
) -> None:
    created = client.post("/v1/invoices", json=invoice_payload(), headers=headers)
    answers = [
        created,
        client.get("/v1/invoices", headers=headers),
        client.get(created.headers["location"], headers=headers),
        client.get("/v1/invoices"),  # 401: still about credentials
        client.get("/v1/invoices", headers=bearer("investor", tenant)),  # 403
        client.get("/api/invoices", headers=headers),
        client.get("/v1/marketplace", headers=bearer("investor", tenant)),
        client.get("/v1/invoices", headers=api_key(ALL_KEY, tenant)),
    ]
    for answer in answers:
        assert answer.headers["cache-control"] == "private, no-store", answer.request.url
    assert "cache-control" not in client.get("/health").headers
    assert "cache-control" not in client.get("/openapi.json").headers
    assert client.get("/readyz").headers["cache-control"] == "no-store"


# ---- item 13: If-Match per RFC 9110 -----------------------------------------------------------
def _invoice(client: TestClient, headers: dict[str, str]) -> str:
    created = client.post("/v1/invoices", json=invoice_payload(), headers=headers)
    assert created.status_code == 201 and created.headers["etag"] == '"v1"'
    return str(created.json()["id"])


@pytest.mark.parametrize(
    ("if_match", "status"),
    [
        ('"v1"', 200),
        ('W/"v1"', 412),  # weak tags never match (strong comparison, section 13.1.1)
        ('"v9", "v1"', 200),
        ('"v9","v1"', 200),
        (' "v9" ,, "v1" ', 200),  # empty list elements are ignored (section 5.6.1)
        ('"v9", W/"v1"', 412),
        ('"v9", "v2"', 412),
        ('"abc"', 412),  # well-formed, never issued here
        ('"v1,v2"', 412),  # a comma inside a tag is part of the tag
        ("*", 200),
        ("v1", 400),
        ('"v1', 400),
        ("W/v1", 400),
        ('"v1" "v2"', 400),
        ('*, "v1"', 400),
        ("", 400),
        (",", 400),
        ('"v 1"', 400),
    ],
)
def test_if_match_follows_rfc_9110(
    client: TestClient, headers: dict[str, str], if_match: str, status: int
) -> None:
    invoice_id = _invoice(client, headers)
    answer = client.patch(
        f"/v1/invoices/{invoice_id}",
        json={"buyerName": "Changed"},
        headers={**headers, "If-Match": if_match},
    )
    assert answer.status_code == status, answer.text
    expected_code = {200: None, 400: "VALIDATION_ERROR", 412: "PRECONDITION_FAILED"}[status]
    if expected_code:
        assert answer.json()["code"] == expected_code
    if status == 400:
        assert answer.json()["errors"][0]["field"] == "If-Match"
    current = client.get(f"/v1/invoices/{invoice_id}", headers=headers).json()
    assert current["buyerName"] == ("Changed" if status == 200 else invoice_payload()["buyerName"])


def test_preconditions_come_before_the_body(client: TestClient, headers: dict[str, str]) -> None:
    invoice_id = _invoice(client, headers)
    stale = {**headers, "If-Match": '"v7"'}
    bad_patch = client.patch(f"/v1/invoices/{invoice_id}", json={"nope": 1}, headers=stale)
    assert bad_patch.status_code == 412
    unparsable = client.patch(
        f"/v1/invoices/{invoice_id}",
        content=b"{not json",
        headers={**stale, "Content-Type": "application/json"},
    )
    assert unparsable.status_code == 412
    bad_reason = client.post(f"/v1/invoices/{invoice_id}/reject", json={"x": 1}, headers=stale)
    assert bad_reason.status_code == 412
    malformed = client.post(
        f"/v1/invoices/{invoice_id}/approve", headers={**headers, "If-Match": "v1"}
    )
    assert malformed.status_code == 400
    assert client.delete(f"/v1/invoices/{invoice_id}", headers=stale).status_code == 412
    assert (
        client.delete(f"/v1/invoices/{invoice_id}", headers={**headers, "If-Match": '"v1"'})
    ).status_code == 204


def test_a_missing_invoice_stays_404_with_if_match(
    client: TestClient, headers: dict[str, str]
) -> None:
    answer = client.patch(
        "/v1/invoices/inv_MISSING", json={}, headers={**headers, "If-Match": '"v1"'}
    )
    assert answer.status_code == 404


def test_the_document_states_the_accepted_if_match_syntax(client: TestClient) -> None:
    parameter = client.get("/openapi.json").json()["components"]["parameters"]["IfMatch"]
    assert parameter["schema"]["pattern"] == IF_MATCH_SYNTAX
    for phrase in ("strong", "W/", "400", "412", "list"):
        assert phrase in parameter["description"]
