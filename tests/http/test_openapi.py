"""The OpenAPI document: valid, complete, and true to what the API really answers."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from importlib.metadata import version
from typing import Any, Protocol

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_core.errors import Unavailable
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_http.access import access_for
from liquifact_http.bootstrap import all_routes, create_app
from liquifact_http.openapi import openapi_document
from tests.auth_helpers import (
    ALL_KEY,
    READ_KEY,
    REVOKED_KEY,
    WRITE_KEY,
    api_key,
    bearer,
    test_settings,
)
from tests.factories import account_address, contract_address, invoice_payload
from tests.http.asgi_driver import call
from tests.http.openapi_validation import (
    HttpResponse,
    OpenApiContract,
    api_contract,
    assert_matches_openapi,
    assert_request_matches_openapi,
)

DOCUMENT = openapi_document()
PATHS: Mapping[str, Mapping[str, Any]] = DOCUMENT["paths"]
LEGACY_HEADERS = {"Deprecation", "Sunset", "Link"}
UNKNOWN_ID = "inv_doesnotexist"
TENANT_SCOPED_PREFIXES = (
    "/v1/invoices",
    "/v1/marketplace",
    "/v1/invest",
    "/v1/sme",
    "/v1/admin",
    "/v1/escrow",
    "/v1/kyc/me",
    "/v1/me",
    "/v1/retention",
)


def _route_methods() -> list[tuple[str, str]]:
    pairs = []
    for route in all_routes():
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        pairs += [(route.path, method) for method in vars(route)["handlers"]]
    return pairs


ROUTE_METHODS = _route_methods()
V1_PATHS = [path for path in PATHS if path == "/v1" or path.startswith("/v1/")]


def _canonical(path: str) -> str:
    return "/v1" + path[len("/api") :] if path == "/api" or path.startswith("/api/") else path


def _operations() -> list[tuple[str, str, Mapping[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in PATHS.items()
        for method, operation in item.items()
    ]


# ---- the document itself --------------------------------------------------------------------
def test_document_is_valid_openapi_3_0_3() -> None:
    validate(DOCUMENT)
    assert DOCUMENT["openapi"] == "3.0.3"


def test_info_names_the_api_and_the_package_version() -> None:
    info = DOCUMENT["info"]
    assert info["title"] == "LiquiFact API"
    assert info["version"] == version("liquifact")
    assert info["description"].strip()


@pytest.mark.parametrize(("path", "method"), ROUTE_METHODS, ids=str)
def test_every_route_and_method_is_documented(path: str, method: str) -> None:
    assert method.lower() in PATHS.get(path, {}), f"{method} {path} is not in the document"


def test_every_documented_operation_is_served_by_a_route() -> None:
    routed = {(path, method.lower()) for path, method in ROUTE_METHODS}
    documented = {(_canonical(path), method) for path, method, _ in _operations()}
    assert documented == routed


@pytest.mark.parametrize("path", V1_PATHS)
def test_every_v1_path_has_a_deprecated_api_twin(path: str) -> None:
    twin = PATHS.get("/api" + path[len("/v1") :])
    assert twin is not None, f"{path} has no /api twin"
    assert twin.keys() == PATHS[path].keys()
    for method, operation in PATHS[path].items():
        legacy = twin[method]
        assert "deprecated" not in operation
        assert legacy["deprecated"] is True
        assert legacy["operationId"] == operation["operationId"] + "Legacy"
        assert legacy["parameters"] == operation["parameters"]
        assert legacy.get("requestBody") == operation.get("requestBody")
        assert legacy["responses"].keys() == operation["responses"].keys()
        for response in legacy["responses"].values():
            assert set(response["headers"]) >= LEGACY_HEADERS


def test_operation_ids_are_unique() -> None:
    ids = [operation["operationId"] for _, _, operation in _operations()]
    assert len(ids) == len(set(ids))


def test_every_response_documents_the_correlation_id() -> None:
    for path, method, operation in _operations():
        for status, response in operation["responses"].items():
            assert "X-Correlation-Id" in response["headers"], (path, method, status)


def test_invoice_operations_require_the_tenant_header() -> None:
    tenant = {"$ref": "#/components/parameters/TenantId"}
    for path, method, operation in _operations():
        needs_tenant = _canonical(path).startswith(TENANT_SCOPED_PREFIXES)
        assert (tenant in operation["parameters"]) is needs_tenant, (path, method)


# ---- real exchanges against the document --------------------------------------------------
class JsonResponse(HttpResponse, Protocol):
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


@attrs.define
class Api:
    """A client whose every exchange is checked against the document."""

    client: TestClient
    auth_headers: dict[str, str]
    answered: set[tuple[str, int]] = attrs.field(factory=set)

    def call(
        self,
        method: str,
        path: str,
        status: int,
        *,
        auth: bool = True,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> JsonResponse:
        sent = {**(self.auth_headers if auth else {}), **(headers or {})}
        response: JsonResponse = self.client.request(method, path, headers=sent, **kwargs)
        assert response.status_code == status, response.text
        assert_matches_openapi(response)
        if status < 400:
            assert_request_matches_openapi(response.request)
        match = api_contract().match(response.request.url.path)
        operation = match.operation(method) if match else None
        if operation is not None:
            self.answered.add((operation["operationId"], status))
        return response

    def create(self, prefix: str = "/v1", **overrides: Any) -> str:
        created = self.call("POST", f"{prefix}/invoices", 201, json=invoice_payload(**overrides))
        invoice_id: str = created.json()["id"]
        return invoice_id


@pytest.fixture
def api(client: TestClient, headers: dict[str, str]) -> Api:
    return Api(client, headers)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "path", ["/health", "/healthz", "/v1", "/api", "/openapi.json", "/docs", "/docs/init.js"]
)
def test_probes_index_and_docs_answer_as_documented(api: Api, method: str, path: str) -> None:
    response = api.call(method, path, 200, auth=False)
    assert response.headers["x-correlation-id"]


def test_served_document_is_the_built_one(api: Api) -> None:
    assert api.call("GET", "/openapi.json", 200, auth=False).json() == DOCUMENT


def _mark_disbursed(app: Starlette, tenant: str, invoice_id: str) -> None:
    """Funding and disbursement come from the chain, which no API route stands in for."""
    chain = Actor("escrow-indexer", Role.CHAIN)
    for status in (InvoiceStatus.FUNDED, InvoiceStatus.DISBURSED):
        app.state.services.invoices.transition(tenant, chain, invoice_id, status)


@pytest.mark.parametrize("prefix", ["/v1", "/api"])
def test_every_invoice_operation_succeeds_as_documented(
    api: Api, app: Starlette, tenant: str, prefix: str
) -> None:
    base = f"{prefix}/invoices"
    invoice_id = api.create(prefix)
    item = f"{base}/{invoice_id}"
    listed = api.call("GET", base, 200, params={"status": "pending,approved", "limit": "5"})
    assert [found["id"] for found in listed.json()["data"]] == [invoice_id]
    read = api.call("GET", item, 200)
    assert read.headers["etag"] == f'"v{read.json()["version"]}"'
    patched = api.call(
        "PATCH",
        item,
        200,
        headers={"If-Match": read.headers["etag"]},
        json={"buyerName": "Renamed Buyer", "description": None, "buyerTaxId": "TX-9"},
    )
    assert patched.json()["buyerTaxId"] == "TX-9"
    assert api.call("GET", f"{item}/state", 200).json()["allowedForCaller"]
    api.call("POST", f"{item}/approve", 200, headers={"If-Match": patched.headers["etag"]})
    linked = api.call(
        "POST",
        f"{item}/link-escrow",
        200,
        json={"escrowAddress": contract_address(), "fundingTargetStroops": "12500000000"},
    )
    assert linked.json()["fundedStroops"] == "0"
    _mark_disbursed(app, tenant, invoice_id)
    defaulted = api.call("POST", f"{item}/default", 200, json={"reason": "Buyer insolvent"})
    assert defaulted.json()["statusReason"] == "Buyer insolvent"
    assert len(api.call("GET", f"{item}/history", 200).json()["data"]) == 6
    holds = api.call("GET", f"{item}/legal-holds", 200).json()
    assert (holds["liquifactHold"], holds["escrowHold"]) == (None, None)

    rejected_id = api.create(prefix)
    api.call("POST", f"{base}/{rejected_id}/reject", 200, json={"reason": "Unknown buyer"})
    cancelled_id = api.create(prefix)
    api.call("POST", f"{base}/{cancelled_id}/cancel", 200, json={"reason": "Paid early"})
    deleted_id = api.create(prefix)
    api.call("DELETE", f"{base}/{deleted_id}", 204, headers={"If-Match": '"v1"'})

    # Documents: a direct upload, the list, a download URL and a confirmed presigned upload.
    files = f"{base}/{api.create(prefix)}/files"
    pdf = b"%PDF-1.4\n%%EOF\n"
    stored = api.call(
        "POST", files, 201, content=pdf, headers={"Content-Type": "application/pdf"}
    ).json()
    assert api.call("GET", files, 200).json()["data"][0]["id"] == stored["id"]
    api.call("GET", f"{files}/{stored['id']}/download-url", 200, params={"expiresIn": "60"})
    ticket = api.call(
        "POST",
        f"{prefix}/sme/invoice/presigned-url",
        201,
        headers={"Idempotency-Key": f"openapi-{prefix[1:]}-upload"},
        json={
            "invoiceId": stored["invoiceId"],
            "filename": "second.pdf",
            "contentType": "application/pdf",
            "size": len(pdf),
            "sha256": stored["sha256"],
        },
    ).json()
    upload_path = ticket["uploadUrl"].removeprefix("http://testserver")
    api.call("PUT", upload_path, 204, content=pdf, headers={"Content-Type": "application/pdf"})
    confirm = ticket["confirmUrl"].replace("/v1/", f"{prefix}/", 1)
    assert api.call("POST", confirm, 200).json()["status"] == "stored"

    documented = {
        operation["operationId"]
        for path, _, operation in _operations()
        if path == base or path.startswith(f"{base}/")
    }
    assert documented <= {operation_id for operation_id, _ in api.answered}


@attrs.frozen
class ErrorCase:
    method: str
    path: str  # "{id}" becomes a pending invoice's id
    status: int
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)
    auth: bool = True  # send the admin's bearer token
    before: str | None = None  # an action to take on the invoice first


def _json_body(raw: bytes, media_type: str = "application/json") -> dict[str, Any]:
    return {"content": raw, "headers": {"Content-Type": media_type}}


def _if_match(value: str, **kwargs: Any) -> dict[str, Any]:
    return {"headers": {"If-Match": value}, **kwargs}


DUPLICATE_NUMBER = "INV-OPENAPI-1"
ERROR_CASES = {
    "create: malformed JSON": ErrorCase("POST", "/v1/invoices", 400, _json_body(b"{")),
    "create: not an object": ErrorCase("POST", "/v1/invoices", 400, _json_body(b"[]")),
    "create: unknown field": ErrorCase(
        "POST", "/v1/invoices", 400, {"json": invoice_payload(extra=1)}
    ),
    "create: missing fields": ErrorCase("POST", "/v1/invoices", 400, {"json": {}}),
    "create: duplicate number": ErrorCase(
        "POST", "/v1/invoices", 409, {"json": invoice_payload(invoiceNumber=DUPLICATE_NUMBER)}
    ),
    "create: wrong media type": ErrorCase(
        "POST", "/v1/invoices", 415, _json_body(b"{}", "text/plain")
    ),
    "create: too large": ErrorCase(
        "POST", "/v1/invoices", 413, _json_body(b'{"a":"' + b"x" * 530_000 + b'"}')
    ),
    "reject: too large": ErrorCase(
        "POST", "/v1/invoices/{id}/reject", 413, _json_body(b'{"reason":"' + b"x" * 110_000 + b'"}')
    ),
    "list: no credentials": ErrorCase("GET", "/v1/invoices", 401, auth=False),
    "list: invalid token": ErrorCase(
        "GET", "/v1/invoices", 401, {"headers": {"Authorization": "Bearer a.b.c"}}, auth=False
    ),
    "list: tenant header of another tenant": ErrorCase(
        "GET", "/v1/invoices", 403, {"headers": {"X-Tenant-Id": "another-tenant"}}
    ),
    "list: API key without tenant": ErrorCase(
        "GET", "/v1/invoices", 400, {"headers": api_key(READ_KEY, None)}, auth=False
    ),
    "list: API key with invalid tenant": ErrorCase(
        "GET", "/v1/invoices", 400, {"headers": api_key(READ_KEY, "../x")}, auth=False
    ),
    "list: API key without the scope": ErrorCase(
        "GET", "/v1/invoices", 403, {"headers": api_key(WRITE_KEY, "t1")}, auth=False
    ),
    "list: revoked API key": ErrorCase(
        "GET", "/v1/invoices", 401, {"headers": api_key(REVOKED_KEY, "t1")}, auth=False
    ),
    "create: investor": ErrorCase(
        "POST",
        "/v1/invoices",
        403,
        {"headers": bearer("investor", "t1"), "json": invoice_payload()},
        auth=False,
    ),
    "list: unknown query": ErrorCase("GET", "/v1/invoices?sort=id", 400),
    "list: limit too high": ErrorCase("GET", "/v1/invoices?limit=101", 400),
    "list: unknown status": ErrorCase("GET", "/v1/invoices?status=paid", 400),
    "get: invalid id": ErrorCase("GET", "/v1/invoices/not-an-id", 400),
    "get: unknown id": ErrorCase("GET", f"/v1/invoices/{UNKNOWN_ID}", 404),
    "state: no credentials": ErrorCase("GET", "/v1/invoices/{id}/state", 401, auth=False),
    "state: unknown id": ErrorCase("GET", f"/v1/invoices/{UNKNOWN_ID}/state", 404),
    "history: unknown id": ErrorCase("GET", f"/v1/invoices/{UNKNOWN_ID}/history", 404),
    "patch: empty": ErrorCase("PATCH", "/v1/invoices/{id}", 400, {"json": {}}),
    "patch: unknown field": ErrorCase("PATCH", "/v1/invoices/{id}", 400, {"json": {"id": "x"}}),
    "patch: stale If-Match": ErrorCase(
        "PATCH", "/v1/invoices/{id}", 412, _if_match('"v9"', json={"buyerName": "B"})
    ),
    "patch: not pending": ErrorCase(
        "PATCH", "/v1/invoices/{id}", 409, {"json": {"buyerName": "B"}}, before="approve"
    ),
    "patch: unknown id": ErrorCase(
        "PATCH", f"/v1/invoices/{UNKNOWN_ID}", 404, {"json": {"buyerName": "B"}}
    ),
    "patch: wrong media type": ErrorCase(
        "PATCH", "/v1/invoices/{id}", 415, _json_body(b"buyerName=B", "text/plain")
    ),
    "delete: unknown id": ErrorCase("DELETE", f"/v1/invoices/{UNKNOWN_ID}", 404),
    "delete: stale If-Match": ErrorCase("DELETE", "/v1/invoices/{id}", 412, _if_match('"v2"')),
    "delete: not pending": ErrorCase("DELETE", "/v1/invoices/{id}", 409, before="approve"),
    "approve: malformed If-Match": ErrorCase(
        "POST", "/v1/invoices/{id}/approve", 400, _if_match("v1")
    ),
    "approve: unknown field": ErrorCase(
        "POST", "/v1/invoices/{id}/approve", 400, {"json": {"reason": "x"}}
    ),
    "approve: twice": ErrorCase("POST", "/v1/invoices/{id}/approve", 409, before="approve"),
    "reject: no reason": ErrorCase("POST", "/v1/invoices/{id}/reject", 400, {"json": {}}),
    "reject: no body": ErrorCase("POST", "/v1/invoices/{id}/reject", 400),
    "reject: after approval": ErrorCase(
        "POST", "/v1/invoices/{id}/reject", 409, {"json": {"reason": "r"}}, before="approve"
    ),
    "cancel: unknown id": ErrorCase(
        "POST", f"/v1/invoices/{UNKNOWN_ID}/cancel", 404, {"json": {"reason": "r"}}
    ),
    "link-escrow: invalid fields": ErrorCase(
        "POST",
        "/v1/invoices/{id}/link-escrow",
        400,
        {"json": {"escrowAddress": account_address(), "fundingTargetStroops": "0"}},
        before="approve",
    ),
    "link-escrow: pending": ErrorCase(
        "POST",
        "/v1/invoices/{id}/link-escrow",
        409,
        {"json": {"escrowAddress": contract_address(), "fundingTargetStroops": "1"}},
    ),
    "default: pending": ErrorCase(
        "POST", "/v1/invoices/{id}/default", 409, {"json": {"reason": "r"}}
    ),
    "default: stale If-Match": ErrorCase(
        "POST", "/v1/invoices/{id}/default", 412, _if_match('"v3"', json={"reason": "r"})
    ),
    "legacy list: no credentials": ErrorCase("GET", "/api/invoices", 401, auth=False),
    "legacy get: unknown id": ErrorCase("GET", f"/api/invoices/{UNKNOWN_ID}", 404),
    "legacy approve: stale If-Match": ErrorCase(
        "POST", "/api/invoices/{id}/approve", 412, _if_match('"v7"')
    ),
    "legacy create: malformed JSON": ErrorCase("POST", "/api/invoices", 400, _json_body(b"{")),
}


@pytest.mark.parametrize("case", ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_errors_answer_as_documented(api: Api, case: ErrorCase) -> None:
    invoice_id = api.create(invoiceNumber=DUPLICATE_NUMBER)
    if case.before is not None:
        api.call("POST", f"/v1/invoices/{invoice_id}/{case.before}", 200)
    path = case.path.replace("{id}", invoice_id)
    response = api.call(case.method, path, case.status, auth=case.auth, **case.kwargs)
    problem = response.json()
    assert problem["correlation_id"] == response.headers["x-correlation-id"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/invoices/{id}"),
        ("DELETE", "/v1/invoices"),
        ("GET", "/v1/invoices/{id}/approve"),
        ("PATCH", "/api/invoices"),
        ("POST", "/health"),
        ("POST", "/openapi.json"),
        ("OPTIONS", "/v1"),
    ],
)
def test_wrong_method_is_the_documented_405(api: Api, method: str, path: str) -> None:
    path = path.replace("{id}", api.create())
    response = api.call(method, path, 405)
    match = api_contract().match(path)
    assert match is not None
    allowed = {name.strip().lower() for name in response.headers["allow"].split(",")}
    assert allowed >= set(match.item)


@pytest.mark.parametrize("path", ["/nope", "/v1/invoices/{id}/nope", "/api/v1/invoices"])
def test_unknown_path_is_the_documented_404(api: Api, path: str) -> None:
    api.call("GET", path.replace("{id}", api.create()), 404)


def test_non_ascii_digit_in_page_is_the_documented_400(api: Api) -> None:
    api.call("GET", "/v1/invoices?page=%C2%B2", 400)
    api.call("GET", "/v1/invoices?limit=%D9%A3", 400)


def _failing(error: Exception) -> Callable[..., Any]:
    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise error

    return fail


def test_unexpected_failure_is_the_documented_500(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.services.invoices, "list", _failing(RuntimeError("secret")))
    response = api.call("GET", "/v1/invoices", 500)
    assert "secret" not in response.text


def test_store_outage_is_the_documented_503(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice_id = api.create()
    outage = Unavailable("The data store is unavailable.")
    monkeypatch.setattr(app.state.services.invoices, "get", _failing(outage))
    assert api.call("GET", f"/v1/invoices/{invoice_id}", 503).json()["retryable"] is True


# ---- the request schemas agree with the rules the API enforces ------------------------------
def _schema_errors(name: str, instance: Any) -> list[str]:
    contract = api_contract()
    return contract.schema_errors(contract.component_schema(name), instance)


def _without(field: str) -> dict[str, Any]:
    payload = invoice_payload()
    del payload[field]
    return payload


REFUSED_CREATES = {
    "unknown field": invoice_payload(extra=1),
    "missing buyerName": _without("buyerName"),
    "blank invoiceNumber": invoice_payload(invoiceNumber="   "),
    "long invoiceNumber": invoice_payload(invoiceNumber="N" * 101),
    "amount as number": invoice_payload(amount=1250),
    "amount with exponent": invoice_payload(amount="1e3"),
    "negative amount": invoice_payload(amount="-5.00"),
    "lower-case currency": invoice_payload(currency="usd"),
    "impossible date": invoice_payload(issueDate="2026-02-30"),
    "yield too high": invoice_payload(yieldBps=10_001),
    "yield as text": invoice_payload(yieldBps="650"),
    "invalid email": invoice_payload(buyerEmail="nobody"),
    "long description": invoice_payload(description="d" * 1001),
    "metadata not an object": invoice_payload(metadata=[1]),
}


@pytest.mark.parametrize("payload", REFUSED_CREATES.values(), ids=REFUSED_CREATES.keys())
def test_create_schema_refuses_what_the_api_refuses(api: Api, payload: dict[str, Any]) -> None:
    api.call("POST", "/v1/invoices", 400, json=payload)
    assert _schema_errors("InvoiceCreate", payload)


@pytest.mark.parametrize(
    "payload",
    [
        {
            "invoiceNumber": "INV-MINIMAL",
            "buyerName": "B",
            "amount": "1250",
            "currency": "JPY",
            "issueDate": "2026-01-01",
            "dueDate": "2026-01-01",
            "yieldBps": 0,
        },
        invoice_payload(buyerEmail=None, buyerTaxId=None, description=None, metadata=None),
        invoice_payload(amount="0.125", currency="KWD", yieldBps=10_000),
    ],
    ids=["only required fields", "optional fields null", "three decimals"],
)
def test_create_schema_accepts_what_the_api_accepts(api: Api, payload: dict[str, Any]) -> None:
    api.call("POST", "/v1/invoices", 201, json=payload)  # the request is validated too
    assert _schema_errors("InvoiceCreate", payload) == []


@pytest.mark.parametrize(
    ("path", "schema", "body"),
    [
        ("", "InvoicePatch", {}),
        ("", "InvoicePatch", {"buyerName": None}),
        ("", "InvoicePatch", {"status": "approved"}),
        ("/reject", "ReasonBody", {}),
        ("/reject", "ReasonBody", {"reason": " \t"}),
        ("/reject", "ReasonBody", {"reason": "r" * 1025}),
        ("/cancel", "ReasonBody", {"reason": 5}),
        ("/approve", "EmptyBody", {"note": "x"}),
    ],
)
def test_change_schemas_refuse_what_the_api_refuses(
    api: Api, path: str, schema: str, body: dict[str, Any]
) -> None:
    method = "PATCH" if schema == "InvoicePatch" else "POST"
    api.call(method, f"/v1/invoices/{api.create()}{path}", 400, json=body)
    assert _schema_errors(schema, body)


@pytest.mark.parametrize(
    "overrides",
    [
        {"escrowAddress": None},
        {"escrowAddress": "CABC"},
        {"escrowAddress": account_address()},
        {"fundingTargetStroops": "0"},
        {"fundingTargetStroops": "0100"},
        {"fundingTargetStroops": 1000},
        {"fundingTargetStroops": "1" + "0" * 19},
        {"memo": "x"},
    ],
)
def test_link_escrow_schema_refuses_what_the_api_refuses(
    api: Api, overrides: dict[str, Any]
) -> None:
    invoice_id = api.create()
    api.call("POST", f"/v1/invoices/{invoice_id}/approve", 200)
    fields = {"escrowAddress": contract_address(), "fundingTargetStroops": "1000", **overrides}
    body = {name: value for name, value in fields.items() if value is not None}
    api.call("POST", f"/v1/invoices/{invoice_id}/link-escrow", 400, json=body)
    assert _schema_errors("LinkEscrowBody", body)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.integers(-20_000, 20_000) | st.sampled_from([-1, 0, 10_000, 10_001]))
def test_yield_rule_is_the_same_in_schema_and_api(api: Api, value: int) -> None:
    payload = invoice_payload(yieldBps=value)
    schema_accepts = not _schema_errors("InvoiceCreate", payload)
    api.call("POST", "/v1/invoices", 201 if schema_accepts else 400, json=payload)


# ---- the checker itself bites -----------------------------------------------------------------
_DELETE = object()


def _contract_with(pointer: tuple[str, ...], value: Any = _DELETE) -> OpenApiContract:
    """The API's contract with the node at ``pointer`` replaced (or deleted) in a copy."""
    document = copy.deepcopy(DOCUMENT)
    node = document
    for token in pointer[:-1]:
        node = node[token]
    if value is _DELETE:
        del node[pointer[-1]]
    else:
        node[pointer[-1]] = value
    return OpenApiContract(document)


@pytest.mark.parametrize(
    ("pointer", "value", "complaint"),
    [
        (("components", "schemas", "Invoice", "properties", "fundedRatio"), _DELETE, "fundedRatio"),
        (("paths", "/v1/invoices", "post", "responses", "201"), _DELETE, "status 201 is not"),
        (("paths", "/v1/invoices", "post", "responses", "201", "content"), _DELETE, "no body"),
        (("components", "headers", "ETag", "schema", "pattern"), '^"w', "header ETag"),
        (("components", "schemas", "InvoiceStatus", "enum"), ["approved"], "'pending' is not"),
    ],
)
def test_checker_reports_what_the_document_does_not_promise(
    api: Api, pointer: tuple[str, ...], value: Any, complaint: str
) -> None:
    response = api.call("POST", "/v1/invoices", 201, json=invoice_payload())
    errors = _contract_with(pointer, value).response_errors(response)
    assert any(complaint in error for error in errors), errors


def test_checker_requires_documented_headers(api: Api) -> None:
    response = api.call("GET", f"/v1/invoices/{api.create()}", 200)
    contract = api_contract()
    document = copy.deepcopy(DOCUMENT)
    document["components"]["headers"]["Sunset"]["required"] = True
    get_invoice = document["paths"]["/v1/invoices/{id}"]["get"]
    get_invoice["responses"]["200"]["headers"]["Sunset"] = {"$ref": "#/components/headers/Sunset"}
    assert contract.response_errors(response) == []
    assert any(
        "Sunset is missing" in e for e in OpenApiContract(document).response_errors(response)
    )


def test_checker_validates_requests(api: Api) -> None:
    payload = invoice_payload()
    response = api.call("POST", "/v1/invoices", 201, json=payload)
    loose = _contract_with(("components", "schemas", "InvoiceCreate", "properties", "buyerName"))
    errors = loose.request_errors(response.request)
    assert any("buyerName" in error for error in errors), errors


# ---- the security declarations are what the API enforces ------------------------------------
KEY_SCOPES = {
    READ_KEY: {"invoices:read"},
    WRITE_KEY: {"invoices:write"},
    ALL_KEY: {"invoices:read", "invoices:write", "escrow:read"},
}


# Public in the access table (no JWT or API key is looked at), but the route applies its own
# rule: METRICS_BEARER_TOKEN, or without it loopback peers with no credentials.
SELF_GUARDED: dict[str, list[dict[str, list[str]]]] = {"/metrics": [{"metricsBearerAuth": []}, {}]}
# Public operations whose URL is its own credential (the local document store's signed URLs):
# no JWT or API key is looked at, and a URL that is not valid is 403 (SIGNED_URL_INVALID).
SIGNED_URLS = {"/v1/objects/{token}"}
METRICS_TOKEN = "c0ffee" * 8
# Public operations that answer 401 themselves: a failed wallet sign-in (SEP-10), and the KYC
# provider's webhook (its credential is the X-Signature over the body).
SIGN_IN = {("/v1/auth", "post"), ("/v1/auth/register", "post"), ("/v1/kyc/webhook", "post")}


def test_security_schemes_are_declared() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["bearerAuth"]["bearerFormat"] == "JWT"
    assert schemes["apiKeyAuth"] == {**schemes["apiKeyAuth"], "type": "apiKey", "in": "header"}
    assert schemes["apiKeyAuth"]["name"] == "X-API-Key"
    metrics = schemes["metricsBearerAuth"]
    assert (metrics["type"], metrics["scheme"]) == ("http", "bearer")
    assert "bearerFormat" not in metrics  # an opaque shared secret, not a JWT


@pytest.mark.parametrize(("path", "method"), [(p, m) for p, m, _ in _operations()], ids=str)
def test_every_operation_declares_the_access_table(path: str, method: str) -> None:
    operation = PATHS[path][method]
    access = access_for(_canonical(path), method)
    expected: list[dict[str, list[str]]] = []
    if not access.public:
        expected = [{"bearerAuth": []}]
        if access.scope is not None:
            expected.append({"apiKeyAuth": []})
    own = SELF_GUARDED.get(_canonical(path))
    if own is not None:
        assert access.public  # the JWT/API-key layer stays out of its way
        expected = own
    assert operation["security"] == expected
    assert operation["x-liquifact-access"] == {
        "public": access.public,
        "roles": sorted(role.value for role in access.roles),
        "apiKeyScope": access.scope.value if access.scope else None,
    }
    responses = operation["responses"]
    if own is not None:
        assert "401" in responses and "403" not in responses  # one uniform 401, never 403
    elif _canonical(path) in SIGNED_URLS:
        assert access.public and "403" in responses and "401" not in responses
    elif (_canonical(path), method) in SIGN_IN:
        assert access.public and "401" in responses
    else:
        assert ("401" in responses) is ("403" in responses) is (not access.public)
    if "401" in responses:
        assert "WWW-Authenticate" in responses["401"]["headers"]


@pytest.mark.parametrize(("path", "method"), [(p, m) for p, m, _ in _operations()], ids=str)
def test_declared_security_is_what_the_api_enforces(
    client: TestClient, tenant: str, path: str, method: str
) -> None:
    """Anonymous, garbage, every token role and every API key, against each operation."""
    operation = PATHS[path][method]
    owner = bearer("sme", tenant, "owner")
    created = client.post("/v1/invoices", json=invoice_payload(), headers=owner)
    url = path.replace("{id}", created.json()["id"])
    body: dict[str, Any] | None = {} if method in ("post", "patch") else None

    def send(headers: Mapping[str, str]) -> JsonResponse:
        response: JsonResponse = client.request(method.upper(), url, json=body, headers=headers)
        assert_matches_openapi(response)
        return response

    access = operation["x-liquifact-access"]
    if _canonical(path) in SELF_GUARDED:
        # No METRICS_BEARER_TOKEN here and the test client is not a loopback peer: whatever
        # JWT or API key is sent, the route's own rule refuses with its 401.
        for credentials in (
            {},
            {"Authorization": "Basic eDp5"},
            *(bearer(role, tenant, "owner") for role in ("sme", "investor", "admin")),
            *(api_key(key, tenant) for key in KEY_SCOPES),
        ):
            assert send(credentials).status_code == 401
        return
    if not operation["security"] and _canonical(path).startswith("/v1/auth"):
        # Sign-in takes no credentials: garbage ones change nothing (an empty query or body
        # is refused for what it lacks).
        for garbage in ({}, {"Authorization": "Basic eDp5"}, {"X-API-Key": "lf_garbage_1"}):
            assert send(garbage).status_code == 400
        return
    if _canonical(path) == "/v1/kyc/webhook":
        # No KYC_PROVIDER_SECRET here: no event is accepted, whatever credentials come along.
        for garbage in ({}, {"Authorization": "Basic eDp5"}, {"X-API-Key": "lf_garbage_1"}):
            refused = send(garbage)
            assert (refused.status_code, refused.json()["code"]) == (
                404,
                "KYC_WEBHOOK_NOT_CONFIGURED",
            )
        return
    if _canonical(path) in SIGNED_URLS:
        # The token in the path is the credential: with a made-up one, whatever else is sent,
        # the answer is the same 403 (a valid token is tested in test_documents_api.py).
        for credentials in ({}, bearer("admin", tenant, "owner"), api_key(ALL_KEY, tenant)):
            assert send(credentials).status_code == 403
        return
    if not operation["security"]:
        for garbage in ({}, {"Authorization": "Basic eDp5"}, {"X-API-Key": "lf_garbage_1"}):
            assert send(garbage).status_code == 200
        return
    anonymous = send({})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "AUTHENTICATION_REQUIRED")
    assert send({"Authorization": "Bearer a.b.c"}).json()["code"] == "INVALID_TOKEN"
    for role in ("sme", "investor", "admin"):
        # Investors act through a bound wallet; without one, funding routes refuse them (403).
        wallet = account_address() if role == "investor" else None
        status = send(bearer(role, tenant, "owner", wallet=wallet)).status_code
        assert (status == 403) is (role not in access["roles"]), (role, status)
        assert status != 401
    scope = access["apiKeyScope"]
    assert ({"apiKeyAuth": []} in operation["security"]) is (scope is not None)
    for key, scopes in KEY_SCOPES.items():
        status = send(api_key(key, tenant)).status_code
        assert (status == 403) is (scope not in scopes), (key, status)
        assert status != 401


def test_metrics_own_scheme_is_what_the_route_enforces() -> None:
    """``metricsBearerAuth`` opens /metrics when configured; ``{}`` is the loopback case."""
    guarded = create_app(test_settings(metrics_bearer_token=METRICS_TOKEN), store=InMemoryStore())
    remote = ("203.0.113.50", 5000)

    def scrape(app: Starlette, *headers: tuple[str, str], peer: tuple[str, int]) -> int:
        return call(app, "GET", "/metrics", headers=headers, client=peer).status

    assert scrape(guarded, ("authorization", f"Bearer {METRICS_TOKEN}"), peer=remote) == 200
    jwt = bearer("admin", "t1")["Authorization"]
    assert scrape(guarded, ("authorization", jwt), peer=remote) == 401
    assert scrape(guarded, ("x-api-key", ALL_KEY), ("x-tenant-id", "t1"), peer=remote) == 401
    assert scrape(guarded, peer=("127.0.0.1", 1)) == 401  # the token, once set, binds loopback too
    open_app = create_app(test_settings(), store=InMemoryStore())
    assert scrape(open_app, peer=("127.0.0.1", 1)) == 200
    assert scrape(open_app, ("authorization", jwt), peer=remote) == 401


def test_a_route_without_a_description_stops_the_document() -> None:
    from liquifact_http import openapi

    described = {path: dict(item) for path, item in PATHS.items() if _canonical(path) == path}
    assert openapi._routed(described).keys() == described.keys()
    with pytest.raises(LookupError, match="is not described"):
        openapi._routed({path: item for path, item in described.items() if path != "/v1"})
    with pytest.raises(LookupError, match="Described but not routed"):
        openapi._routed({**described, "/v1/never-routed": {"get": {}}})
