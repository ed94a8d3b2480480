"""Body-size limits per parser type: declared and streamed sizes, metric by type."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.bootstrap import create_app
from liquifact_http.settings import Settings, load_settings, parse_byte_size
from tests.auth_helpers import TEST_SECRET
from tests.factories import invoice_payload
from tests.http.asgi_driver import call

KB = 1024
JSON = ("content-type", "application/json")


def rejections(app: Starlette, kind: str) -> float:
    registry: CollectorRegistry = app.state.metrics.registry
    value = registry.get_sample_value("body_size_limit_rejections_total", {"type": kind})
    return value or 0.0


def reason_body(size: int) -> bytes:
    return b'{"reason":"' + b"r" * (size - 13) + b'"}'


@pytest.fixture
def invoice_id(client: TestClient, headers: dict[str, str]) -> str:
    created = client.post("/v1/invoices", json=invoice_payload(), headers=headers)
    assert created.status_code == 201
    return str(created.json()["id"])


def test_json_body_over_100kb_is_413_and_counted(
    app: Starlette, client: TestClient, headers: dict[str, str], invoice_id: str
) -> None:
    response = client.post(
        f"/v1/invoices/{invoice_id}/reject",
        content=reason_body(100 * KB + 1),
        headers={**headers, "content-type": "application/json"},
    )
    assert response.status_code == 413
    problem = response.json()
    assert problem["code"] == "PAYLOAD_TOO_LARGE" and problem["status"] == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert rejections(app, "json") == 1
    assert rejections(app, "invoice") == 0


def test_json_body_at_the_limit_is_read(
    client: TestClient, headers: dict[str, str], invoice_id: str
) -> None:
    response = client.post(
        f"/v1/invoices/{invoice_id}/reject",
        content=reason_body(100 * KB),
        headers={**headers, "content-type": "application/json"},
    )
    assert response.status_code == 400  # read and validated (reason too long), not 413


def test_invoice_routes_take_up_to_512kb(
    app: Starlette, client: TestClient, headers: dict[str, str], invoice_id: str
) -> None:
    big = invoice_payload(metadata={"notes": "n" * 300 * KB})
    assert client.post("/v1/invoices", json=big, headers=headers).status_code == 400
    patched = client.patch(f"/v1/invoices/{invoice_id}", json=big, headers=headers)
    assert patched.status_code == 400  # too much metadata: validated, not refused by size
    huge = invoice_payload(metadata={"notes": "n" * 520 * KB})
    for response in (
        client.post("/v1/invoices", json=huge, headers=headers),
        client.patch(f"/v1/invoices/{invoice_id}", json=huge, headers=headers),
        client.post("/api/invoices", json=huge, headers=headers),
    ):
        assert response.status_code == 413
    assert rejections(app, "invoice") == 3


def test_declared_content_length_over_the_limit_is_refused_before_reading(app: Starlette) -> None:
    exchange = call(
        app,
        "POST",
        "/v1/invoices/inv_x/reject",
        headers=[JSON, ("content-length", str(10 * 1024 * KB)), ("x-tenant-id", "t1")],
        chunks=[b"{}"],
    )
    assert exchange.status == 413
    assert exchange.chunks_read == 0
    assert exchange.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert exchange.headers["x-correlation-id"] == exchange.json()["correlation_id"]
    assert rejections(app, "json") == 1


@pytest.mark.parametrize(
    "declared", [None, "40"], ids=["chunked without Content-Length", "lying Content-Length"]
)
def test_streamed_body_over_the_limit_is_413(
    app: Starlette, client: TestClient, headers: dict[str, str], declared: str | None
) -> None:
    invoice_id = client.post("/v1/invoices", json=invoice_payload(), headers=headers).json()["id"]
    sent_headers = [JSON, ("authorization", headers["Authorization"])]
    if declared:
        sent_headers.append(("content-length", declared))
    body = reason_body(150 * KB)
    chunks = [body[i : i + 16 * KB] for i in range(0, len(body), 16 * KB)]
    exchange = call(
        app, "POST", f"/v1/invoices/{invoice_id}/reject", headers=sent_headers, chunks=chunks
    )
    assert exchange.status == 413
    assert exchange.chunks_read < len(chunks)  # stopped reading once over the limit
    assert rejections(app, "json") == 1
    state = client.get(f"/v1/invoices/{invoice_id}", headers=headers).json()["status"]
    assert state == "pending"


def test_urlencoded_limit_is_50kb(app: Starlette, headers: dict[str, str]) -> None:
    form = ("content-type", "application/x-www-form-urlencoded")
    authorization = ("authorization", headers["Authorization"])
    exchange = call(
        app,
        "POST",
        "/v1/invoices/inv_x/reject",
        headers=[form, authorization],
        chunks=[b"reason=" + b"r" * (50 * KB)],
    )
    assert exchange.status == 413
    assert rejections(app, "urlencoded") == 1
    small = call(
        app,
        "POST",
        "/v1/invoices/inv_x/reject",
        headers=[form, authorization],
        chunks=[b"reason=" + b"r" * (40 * KB)],
    )
    assert small.status == 415  # within the limit: read, then refused for its media type


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/octet-stream"])
def test_bodies_of_unknown_type_count_as_unknown(
    app: Starlette, headers: dict[str, str], content_type: str | None
) -> None:
    sent = [("authorization", headers["Authorization"])]
    sent += [("content-type", content_type)] if content_type else []
    exchange = call(
        app, "POST", "/v1/invoices/inv_x/approve", headers=sent, chunks=[b"x" * 101 * KB]
    )
    assert exchange.status == 413
    assert rejections(app, "unknown") == 1


def test_every_type_is_exposed_from_the_start(app: Starlette) -> None:
    assert [rejections(app, kind) for kind in ("json", "urlencoded", "invoice", "unknown")] == [
        0
    ] * 4
    assert (
        app.state.metrics.registry.get_sample_value(
            "body_size_limit_rejections_total", {"type": "json"}
        )
        == 0.0
    )


def test_limits_come_from_the_environment(headers: dict[str, str]) -> None:
    settings = load_settings(
        {"BODY_LIMIT_JSON": "1kb", "BODY_LIMIT_INVOICE": "2KB", "JWT_SECRET": TEST_SECRET},
        env_file=Path("/nonexistent/.env"),
    )
    app = create_app(settings, store=InMemoryStore())
    with TestClient(app) as client:
        created = client.post("/v1/invoices", json=invoice_payload(), headers=headers)
        assert created.status_code == 201
        reject = client.post(
            f"/v1/invoices/{created.json()['id']}/reject",
            content=reason_body(2 * KB),
            headers={**headers, "content-type": "application/json"},
        )
        assert reject.status_code == 413
        assert "1024 bytes" in reject.json()["detail"]
        big = invoice_payload(description="d" * 900, metadata={"n": "m" * 1500})
        assert client.post("/v1/invoices", json=big, headers=headers).status_code == 413


@pytest.mark.parametrize(
    ("raw", "size"),
    [
        ("100kb", 100 * KB),
        ("512KB", 512 * KB),
        ("1mb", 1024 * KB),
        ("2048", 2048),
        ("10b", 10),
        (" 64 kb ", 64 * KB),
        ("1g", 1024**3),
    ],
)
def test_sizes_parse_like_the_spec(raw: str, size: int) -> None:
    assert parse_byte_size(raw) == size


@pytest.mark.parametrize("raw", ["", "kb", "-1kb", "1.5mb", "0", "2gb", "10 tb", "\uff11kb"])
def test_bad_sizes_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"size|byte"):
        parse_byte_size(raw)


def test_defaults_match_the_spec() -> None:
    settings = Settings()
    assert (
        settings.body_limit_json,
        settings.body_limit_urlencoded,
        settings.body_limit_invoice,
    ) == (
        100 * KB,
        50 * KB,
        512 * KB,
    )
