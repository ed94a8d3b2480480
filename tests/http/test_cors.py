"""CORS covers every header the API documents, read from the served /openapi.json.

A header added to the document (a new request parameter, a new response header) fails here
until ``CORS_HEADERS`` / ``CORS_EXPOSED`` list it, so browsers are never the client that
cannot use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.bootstrap import create_app
from liquifact_http.middleware.security import CORS_EXPOSED, CORS_HEADERS
from tests.auth_helpers import bearer, test_settings

ORIGIN = "http://localhost:3000"
FUND = "/v1/invest/fund-invoice"
# Response headers a browser shows scripts without being told (Fetch standard, "CORS-safelisted
# response-header name").
SAFELISTED_RESPONSE = {
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = test_settings(cors_allowed_origins=(ORIGIN,))
    with TestClient(create_app(settings, store=InMemoryStore())) as client:
        yield client


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    served: dict[str, Any] = client.get("/openapi.json").json()
    return served


def _resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _walk(node: Any) -> Iterator[tuple[str | None, Any]]:
    """Every (key, value) pair of the document, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield None, value
            yield from _walk(value)


def documented_request_headers(document: dict[str, Any]) -> set[str]:
    """Header parameters, header API keys, Authorization for HTTP schemes, Content-Type for
    operations with a body."""
    names: set[str] = set()
    for key, value in _walk(document):
        if isinstance(value, dict) and value.get("in") == "header" and "name" in value:
            names.add(value["name"].lower())  # a parameter or an apiKey security scheme
        if key == "requestBody":
            names.add("content-type")
    schemes = document.get("components", {}).get("securitySchemes", {})
    if any(_resolve(document, s).get("type") == "http" for s in schemes.values()):
        names.add("authorization")
    return names


def documented_response_headers(document: dict[str, Any]) -> set[str]:
    """The names in the ``headers`` map of every response object (paths and components)."""
    names: set[str] = set()
    for key, value in _walk(document):
        if key != "responses" or not isinstance(value, dict):
            continue
        for entry in value.values():
            response = _resolve(document, entry)
            if isinstance(response, dict):
                names.update(name.lower() for name in response.get("headers", {}))
    return names


def test_the_document_still_names_the_headers_this_test_reads(document: dict[str, Any]) -> None:
    # Guards the derivation itself: if the document's shape changed so that nothing is found,
    # the subset checks below would pass vacuously.
    assert {"idempotency-key", "if-match", "x-api-key", "authorization"} <= (
        documented_request_headers(document)
    )
    assert {"etag", "location", "retry-after", "x-correlation-id"} <= (
        documented_response_headers(document)
    )


def test_every_documented_request_header_is_allowed(document: dict[str, Any]) -> None:
    missing = documented_request_headers(document) - set(CORS_HEADERS)
    assert missing == set(), f"add to CORS_HEADERS: {sorted(missing)}"


def test_every_documented_response_header_is_exposed(document: dict[str, Any]) -> None:
    exposed = {name.lower() for name in CORS_EXPOSED}
    # Access-Control-Allow-Origin is a CORS answer itself (stellar.toml documents its `*`),
    # never a header a page reads.
    cors_answers = {"access-control-allow-origin"}
    missing = documented_response_headers(document) - SAFELISTED_RESPONSE - exposed - cors_answers
    assert missing == set(), f"add to CORS_EXPOSED: {sorted(missing)}"


def test_a_browser_may_preflight_funding_with_an_idempotency_key(client: TestClient) -> None:
    response = client.options(
        FUND,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.content == b""


def test_a_preflight_naming_every_documented_header_succeeds(
    client: TestClient, document: dict[str, Any]
) -> None:
    requested = ", ".join(sorted(documented_request_headers(document)))
    for method, path in (("POST", FUND), ("PATCH", "/v1/invoices/inv_x"), ("GET", "/v1/invoices")):
        response = client.options(
            path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": requested,
            },
        )
        assert response.status_code == 204, (method, path, response.text)


def test_actual_cross_origin_answers_expose_the_documented_headers(client: TestClient) -> None:
    tenant = "cors-tenant"
    created = client.post(
        "/v1/invoices",
        json={
            "invoiceNumber": "INV-CORS-1",
            "buyerName": "Acme",
            "amount": "10.00",
            "currency": "USD",
            "issueDate": "2026-11-01",
            "dueDate": "2027-01-30",
            "yieldBps": 650,
        },
        headers={**bearer("admin", tenant), "Origin": ORIGIN},
    )
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip() for h in created.headers["access-control-expose-headers"].split(",")}
    assert {"Location", "ETag", "X-Correlation-Id", "RateLimit-Remaining", "Retry-After"} <= exposed
    assert "Origin" in created.headers["vary"]


def test_a_refused_header_is_named_in_the_403(client: TestClient) -> None:
    response = client.options(
        FUND,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "idempotency-key, x-evil",
        },
    )
    assert response.status_code == 403
    assert response.json()["code"] == "CORS_FORBIDDEN"
    assert "x-evil" in response.json()["detail"]
    assert "access-control-allow-origin" not in response.headers
