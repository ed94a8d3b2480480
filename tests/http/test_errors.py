"""Every bad request gets the right 4xx problem+json; nothing internal ever leaks."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_core.ports import Page
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import READ_KEY, api_key, bearer, test_settings
from tests.factories import invoice_payload

PROBLEM_KEYS = {
    "type", "title", "status", "detail", "instance", "code", "correlation_id", "retryable",
    "retry_hint",
}  # fmt: skip


def assert_problem(response_status: int, body: dict[str, object], status: int, code: str) -> None:
    assert response_status == status, body
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["code"] == code


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"{not json", "Malformed JSON request body."),
        (b'{"a": 1, "a": 2}', "Duplicate key 'a' in JSON object."),
        (b'{"amount": NaN}', "NaN is not valid JSON."),
        (b"[1, 2]", "The request body must be a JSON object."),
        (b'{"__proto__": {}}', "Key '__proto__' is not allowed."),
        (b"[" * 50 + b"]" * 50, "JSON nesting deeper than 32 levels."),
        (b'{"reason": "' + b"x" * 10_001 + b'"}', "A JSON string is longer than 10000 characters."),
        (b'{"' + b"k" * 10_001 + b'": 1}', "A JSON key is longer than 10000 characters."),
        (b"[" * 100_000, "Malformed JSON request body."),
        # json.loads alone guesses UTF-16/32 and skips a BOM (found by an outside attack).
        ('{"buyerName": "x"}'.encode("utf-16"), "The request body is not UTF-8 text."),
        # Without a BOM, UTF-16 of ASCII is UTF-8 with NUL bytes: not JSON.
        ('{"buyerName": "x"}'.encode("utf-16-le"), "Malformed JSON request body."),
        ('{"buyerName": "x"}'.encode("utf-32"), "The request body is not UTF-8 text."),
        (b'{"buyerName": "\xff"}', "The request body is not UTF-8 text."),
        (
            b'\xef\xbb\xbf{"buyerName": "x"}',
            "The request body must not start with a byte order mark.",
        ),
    ],
)
def test_malformed_bodies_are_400(
    client: TestClient, headers: dict[str, str], content: bytes, detail: str
) -> None:
    response = client.post(
        "/v1/invoices", content=content, headers={**headers, "Content-Type": "application/json"}
    )
    assert_problem(response.status_code, response.json(), 400, "VALIDATION_ERROR")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == detail


def test_wrong_types_and_unknown_fields_list_every_field(
    client: TestClient, headers: dict[str, str]
) -> None:
    payload = invoice_payload(amount=1250, yieldBps="500", issueDate="01/02/2026", extra=True)
    response = client.post("/v1/invoices", json=payload, headers=headers)
    assert_problem(response.status_code, response.json(), 400, "VALIDATION_ERROR")
    fields = {error["field"]: error["code"] for error in response.json()["errors"]}
    assert fields == {
        "extra": "UNKNOWN_FIELD",
        "amount": "INVALID_VALUE",
        "yieldBps": "INVALID_VALUE",
        "issueDate": "INVALID_VALUE",
    }


def test_non_json_media_type_is_415(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(
        "/v1/invoices", content=b"a=b", headers={**headers, "Content-Type": "text/plain"}
    )
    assert_problem(response.status_code, response.json(), 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize(
    "extra",
    [
        {"Content-Type": "application/json; charset=utf-16"},
        {"Content-Type": "application/json; charset=latin-1"},
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        {"Content-Type": "application/json", "Content-Encoding": "br"},
    ],
)
def test_other_charsets_and_content_encodings_are_415(
    client: TestClient, headers: dict[str, str], extra: dict[str, str]
) -> None:
    body = json.dumps(invoice_payload()).encode()
    response = client.post("/v1/invoices", content=body, headers={**headers, **extra})
    assert_problem(response.status_code, response.json(), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert client.get("/v1/invoices", headers=headers).json()["meta"]["total"] == 0


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", 'application/json; charset="UTF-8"', "application/json"],
)
def test_utf8_json_is_accepted_with_or_without_a_charset(
    client: TestClient, headers: dict[str, str], content_type: str
) -> None:
    body = json.dumps(invoice_payload()).encode()
    response = client.post(
        "/v1/invoices", content=body, headers={**headers, "Content-Type": content_type}
    )
    assert response.status_code == 201, response.text


def test_api_key_callers_must_name_a_valid_tenant(client: TestClient) -> None:
    missing = client.get("/v1/invoices", headers=api_key(READ_KEY, None))
    assert_problem(missing.status_code, missing.json(), 400, "TENANT_REQUIRED")
    invalid = client.get("/v1/invoices", headers=api_key(READ_KEY, "../admin"))
    assert_problem(invalid.status_code, invalid.json(), 400, "VALIDATION_ERROR")
    assert invalid.json()["errors"][0]["field"] == "X-Tenant-Id"


def test_unknown_and_malformed_ids(client: TestClient, headers: dict[str, str]) -> None:
    unknown = client.get("/v1/invoices/inv_DOESNOTEXIST", headers=headers)
    assert_problem(unknown.status_code, unknown.json(), 404, "NOT_FOUND")
    malformed = client.get("/v1/invoices/not-an-id", headers=headers)
    assert_problem(malformed.status_code, malformed.json(), 400, "VALIDATION_ERROR")


def test_invalid_transition_is_409_naming_allowed_targets(
    client: TestClient, headers: dict[str, str]
) -> None:
    invoice_id = client.post("/v1/invoices", json=invoice_payload(), headers=headers).json()["id"]
    response = client.post(
        f"/v1/invoices/{invoice_id}/default", json={"reason": "x"}, headers=headers
    )
    assert_problem(response.status_code, response.json(), 409, "INVALID_TRANSITION")
    assert "approved, rejected, cancelled" in response.json()["detail"]


def test_link_escrow_validates_address_checksum_and_stroops(
    client: TestClient, headers: dict[str, str]
) -> None:
    invoice_id = client.post("/v1/invoices", json=invoice_payload(), headers=headers).json()["id"]
    client.post(f"/v1/invoices/{invoice_id}/approve", headers=headers)
    response = client.post(
        f"/v1/invoices/{invoice_id}/link-escrow",
        json={"escrowAddress": "C" + "A" * 55, "fundingTargetStroops": "007"},
        headers=headers,
    )
    assert_problem(response.status_code, response.json(), 400, "VALIDATION_ERROR")
    codes = {error["field"]: error["code"] for error in response.json()["errors"]}
    assert codes == {
        "escrowAddress": "INVALID_CONTRACT_ADDRESS",
        "fundingTargetStroops": "INVALID_AMOUNT_FORMAT",
    }


def test_unknown_path_and_wrong_method(client: TestClient, headers: dict[str, str]) -> None:
    missing = client.get("/v1/nothing-here", headers=headers)
    assert_problem(missing.status_code, missing.json(), 404, "NOT_FOUND")
    wrong = client.put("/v1/invoices", headers=headers)
    assert_problem(wrong.status_code, wrong.json(), 405, "METHOD_NOT_ALLOWED")
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_bad_query_parameters(client: TestClient, headers: dict[str, str]) -> None:
    for query in (
        "limit=0",
        "limit=101",
        "page=0",
        "limit=abc",
        "status=paid",
        "sort=x",
        # An empty filter is refused like every empty value, never read as "no filter".
        "status=",
        "status=,",
        "status=pending,",
    ):
        response = client.get(f"/v1/invoices?{query}", headers=headers)
        assert_problem(response.status_code, response.json(), 400, "VALIDATION_ERROR")


def test_correlation_id_is_echoed_only_when_acceptable(client: TestClient) -> None:
    echoed = client.get("/health", headers={"X-Correlation-Id": "client-trace-1234"})
    assert echoed.headers["x-correlation-id"] == "client-trace-1234"
    replaced = client.get("/health", headers={"X-Correlation-Id": "bad id <script>"})
    assert replaced.headers["x-correlation-id"].startswith("req_")
    problem = client.get("/v1/invoices", headers={"X-Correlation-Id": "client-trace-1234"})
    assert problem.json()["correlation_id"] == "client-trace-1234"


class ExplodingStore(InMemoryStore):
    """A store whose listing fails with a driver-like message carrying a secret."""

    class _Repo:
        def list(self, _query: object) -> Page:
            raise RuntimeError("connection to postgresql://admin:hunter2@db.internal failed")

        def __getattr__(self, _name: str) -> Sequence[object]:
            raise AssertionError("not used")

    def unit_of_work(self, tenant_id: str):  # type: ignore[no-untyped-def]
        uow = super().unit_of_work(tenant_id)
        uow.invoices = self._Repo()  # type: ignore[assignment]
        return uow

    read_unit = unit_of_work  # the list reads in a read unit (page and total in one snapshot)


def test_unexpected_errors_are_opaque_500s(capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(test_settings(), store=ExplodingStore())
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/invoices", headers=bearer("admin", "t1"))
    assert_problem(response.status_code, response.json(), 500, "INTERNAL_SERVER_ERROR")
    assert response.json()["detail"] == "An internal server error occurred."
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert response.headers["x-correlation-id"] == response.json()["correlation_id"]
    logged = capsys.readouterr().err
    assert "unhandled_exception" in logged and "RuntimeError" in logged
    assert "hunter2" not in logged and "Traceback" not in logged


def test_legacy_alias_problems_name_the_requested_path(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/api/invoices/inv_MISSING", headers=headers)
    assert response.status_code == 404
    assert response.json()["instance"] == "/api/invoices/inv_MISSING"


def test_api_v1_is_not_an_alias(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/api/v1/invoices", headers=headers)
    assert response.status_code == 404
    assert "deprecation" not in response.headers


def test_hostile_paths_are_logged_as_sent_on_the_wire(capsys: pytest.CaptureFixture[str]) -> None:
    # Found by an outside attack: an escape sequence and a bidi override in the path reached
    # the request log line decoded (JSON-escaped, yet shown as such by log viewers).
    app = create_app(test_settings(), store=InMemoryStore())
    with TestClient(app) as client:
        client.get("/v1/invoices/%1b%5b2J%0a%e2%80%ae", headers=bearer("admin", "t1"))
    logged = [line for line in capsys.readouterr().err.splitlines() if '"request"' in line]
    assert logged and all("/v1/invoices/%1b%5b2J%0a%e2%80%ae" in line for line in logged)
    assert not any("\\u001b" in line or "\\u202e" in line for line in logged)
