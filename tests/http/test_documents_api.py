"""Invoice documents over HTTP on both SQL stores and the local object store (the default):
direct uploads (raw and multipart), the list, signed download URLs served by the API itself,
presigned uploads with their Idempotency-Key rules and confirmation, who may reach a file,
and what happens to the files of a deleted invoice."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.memory import FixedClock
from liquifact_core.jobs import Job
from tests.auth_helpers import WRITE_KEY, api_key, bearer, test_settings
from tests.document_samples import EXE, JPEG, PDF, PNG, TIFF, pdf_of_size, sha256
from tests.factories import account_address, invoice_payload
from tests.http.conftest import HTTP_STORES

KB = 1024


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def objects(tmp_path: Path) -> Path:
    return tmp_path / "objects"


@pytest.fixture
def app(
    http_store_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: FixedClock,
    objects: Path,
) -> Iterator[Starlette]:
    store = HTTP_STORES[http_store_kind](request, tmp_path)
    settings = test_settings(storage_dir=str(objects), rate_limit_enabled=False)
    yield create(settings, store, clock)
    store.close()


def create(settings: Any, store: Any, clock: FixedClock) -> Starlette:
    from liquifact_http.bootstrap import create_app

    return create_app(settings, store=store, clock=clock)


@pytest.fixture
def sme(tenant: str) -> dict[str, str]:
    return bearer("sme", tenant, "sme-owner")


@pytest.fixture
def invoice_id(client: TestClient, sme: dict[str, str]) -> str:
    created = client.post("/v1/invoices", json=invoice_payload(), headers=sme)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def stored_files(objects: Path) -> list[Path]:
    return sorted(p for p in objects.rglob("*") if p.is_file()) if objects.exists() else []


def upload_raw(
    client: TestClient,
    invoice_id: str,
    data: bytes,
    content_type: str,
    headers: dict[str, str],
    **query: str,
) -> Any:
    return client.post(
        f"/v1/invoices/{invoice_id}/files",
        content=data,
        params=query,
        headers={**headers, "Content-Type": content_type},
    )


def upload_form(
    client: TestClient,
    invoice_id: str,
    filename: str,
    data: bytes,
    content_type: str,
    headers: dict[str, str],
    **fields: str,
) -> Any:
    body, form_type = form_body(filename, data, content_type, **fields)
    return client.post(
        f"/v1/invoices/{invoice_id}/files",
        content=body,
        headers={**headers, "Content-Type": form_type},
    )


BOUNDARY = "liquifact-test-boundary-7f3a"


def form_body(filename: str, data: bytes, content_type: str, **fields: str) -> tuple[bytes, str]:
    """A multipart/form-data body written byte by byte (clients escape a NUL or a quote in a
    file name; an attacker's hand-made body does not)."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
    ).encode()
    body = b"".join(parts) + head + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    return body, f"multipart/form-data; boundary={BOUNDARY}"


def download(client: TestClient, url: str) -> Any:
    """GET a download URL as a browser would: no credentials at all."""
    return client.get(urlsplit(url).path)


# ---- direct uploads ---------------------------------------------------------------------------
def test_a_raw_pdf_is_stored_measured_listed_and_downloadable(
    client: TestClient, invoice_id: str, sme: dict[str, str], objects: Path
) -> None:
    answer = upload_raw(client, invoice_id, PDF, "application/pdf", sme, filename="Facture 1.pdf")
    assert answer.status_code == 201, answer.text
    file = answer.json()
    assert file["size"] == len(PDF)
    assert file["sha256"] == sha256(PDF)
    assert (file["contentType"], file["status"], file["primary"]) == (
        "application/pdf",
        "stored",
        True,
    )
    assert file["filename"] == "Facture_1.pdf"
    [stored] = stored_files(objects)
    key = stored.relative_to(objects).as_posix()
    assert re.fullmatch(
        rf"tenants/[A-Za-z0-9_-]+/invoices/{invoice_id}/"
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-Facture_1\.pdf",
        key,
    )
    invoice = client.get(f"/v1/invoices/{invoice_id}", headers=sme).json()
    assert invoice["attestationDigest"] == sha256(PDF)

    listed = client.get(f"/v1/invoices/{invoice_id}/files", headers=sme).json()
    assert [item["id"] for item in listed["data"]] == [file["id"]]
    assert listed["meta"]["total"] == 1

    link = client.get(f"/v1/invoices/{invoice_id}/files/{file['id']}/download-url", headers=sme)
    assert link.status_code == 200, link.text
    assert link.json()["url"].startswith("http://testserver/v1/objects/")
    got = download(client, link.json()["url"])
    assert got.status_code == 200
    assert got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == 'attachment; filename="Facture_1.pdf"'


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("scan.png", PNG, "image/png"),
        ("photo.jpg", JPEG, "image/jpeg"),
        ("a.tif", TIFF, "image/tiff"),
    ],
)
def test_a_multipart_image_is_stored(
    client: TestClient,
    invoice_id: str,
    sme: dict[str, str],
    name: str,
    data: bytes,
    content_type: str,
) -> None:
    answer = upload_form(client, invoice_id, name, data, content_type, sme, primary="false")
    assert answer.status_code == 201, answer.text
    assert (answer.json()["contentType"], answer.json()["primary"]) == (content_type, False)
    invoice = client.get(f"/v1/invoices/{invoice_id}", headers=sme).json()
    assert "attestationDigest" not in invoice


def test_an_undeclared_part_type_is_decided_by_its_bytes(
    client: TestClient, invoice_id: str, sme: dict[str, str]
) -> None:
    answer = upload_form(client, invoice_id, "x.bin", PNG, "application/octet-stream", sme)
    assert answer.status_code == 201, answer.text
    assert answer.json()["contentType"] == "image/png"


@pytest.mark.parametrize("form", [False, True])
def test_a_renamed_exe_sent_as_pdf_is_refused_and_nothing_is_stored(
    client: TestClient, invoice_id: str, sme: dict[str, str], objects: Path, form: bool
) -> None:
    if form:
        answer = upload_form(client, invoice_id, "invoice.pdf", EXE, "application/pdf", sme)
    else:
        answer = upload_raw(client, invoice_id, EXE, "application/pdf", sme, filename="invoice.pdf")
    assert answer.status_code == 400, answer.text
    assert [(e["field"], e["code"]) for e in answer.json()["errors"]] == [
        ("file", "FILE_CONTENT_NOT_ALLOWED")
    ]
    assert stored_files(objects) == []
    assert client.get(f"/v1/invoices/{invoice_id}/files", headers=sme).json()["data"] == []


def test_an_allowed_type_under_another_name_is_a_mismatch(
    client: TestClient, invoice_id: str, sme: dict[str, str]
) -> None:
    answer = upload_raw(client, invoice_id, PNG, "application/pdf", sme)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "FILE_CONTENT_MISMATCH"


def test_an_unsupported_declared_type_is_415_before_the_body_is_stored(
    client: TestClient, invoice_id: str, sme: dict[str, str], objects: Path
) -> None:
    raw = upload_raw(client, invoice_id, b"hello", "text/plain", sme)
    form = upload_form(client, invoice_id, "a.exe", EXE, "application/x-msdownload", sme)
    assert (raw.status_code, form.status_code) == (415, 415)
    assert raw.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert stored_files(objects) == []


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "..\\..\\windows\\system32", "..", "a/b.pdf", "in\x00voice.pdf"],
)
def test_traversal_and_nul_in_names_are_refused(
    client: TestClient, invoice_id: str, sme: dict[str, str], objects: Path, name: str
) -> None:
    form = upload_form(client, invoice_id, name, PDF, "application/pdf", sme)
    raw = upload_raw(client, invoice_id, PDF, "application/pdf", sme, filename=name)
    assert (form.status_code, raw.status_code) == (400, 400), (form.text, raw.text)
    codes = {e["code"] for e in form.json()["errors"]} | {e["code"] for e in raw.json()["errors"]}
    assert codes <= {"INVALID_FILENAME", "INVALID_TEXT"}
    assert stored_files(objects) == []


def test_a_600_kb_upload_is_413_and_counted_as_an_invoice_body(
    app: Starlette, client: TestClient, invoice_id: str, sme: dict[str, str], objects: Path
) -> None:
    registry: CollectorRegistry = app.state.metrics.registry

    def rejected() -> float:
        value = registry.get_sample_value("body_size_limit_rejections_total", {"type": "invoice"})
        return value or 0.0

    before = rejected()
    answer = upload_raw(client, invoice_id, pdf_of_size(600 * KB), "application/pdf", sme)
    assert answer.status_code == 413
    assert answer.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert rejected() == before + 1
    # The largest allowed file still passes.
    assert (
        upload_raw(client, invoice_id, pdf_of_size(512 * KB), "application/pdf", sme).status_code
        == 201
    )
    assert len(stored_files(objects)) == 1


def test_only_the_invoices_sme_and_the_tenants_operators_reach_its_files(
    client: TestClient, invoice_id: str, sme: dict[str, str], tenant: str, headers: dict[str, str]
) -> None:
    stored = upload_raw(client, invoice_id, PDF, "application/pdf", sme).json()
    files = f"/v1/invoices/{invoice_id}/files"
    link = f"{files}/{stored['id']}/download-url"
    others = [
        bearer("sme", tenant, "another-sme"),
        bearer("investor", tenant, "investor-1", wallet=account_address()),
        bearer("admin", "another-tenant", "admin-2"),
    ]
    for who in others:
        assert client.get(files, headers=who).status_code == 404
        assert client.get(link, headers=who).status_code == 404
        assert upload_raw(client, invoice_id, PDF, "application/pdf", who).status_code == 404
    assert client.get(files, headers=headers).status_code == 200  # the tenant's admin
    assert client.get(link, headers=headers).status_code == 200
    service = api_key(WRITE_KEY, tenant)
    assert upload_raw(client, invoice_id, PNG, "image/png", service).status_code == 201


def test_download_url_lifetimes(
    client: TestClient, invoice_id: str, sme: dict[str, str], clock: FixedClock
) -> None:
    stored = upload_raw(client, invoice_id, PDF, "application/pdf", sme).json()
    link = f"/v1/invoices/{invoice_id}/files/{stored['id']}/download-url"
    for bad in ("0", "86401", "-1", "1h"):
        assert client.get(link, params={"expiresIn": bad}, headers=sme).status_code == 400
    default = client.get(link, headers=sme).json()
    longest = client.get(link, params={"expiresIn": "86400"}, headers=sme).json()
    assert default["expiresAt"] == "2026-01-01T01:00:00.000Z"
    assert longest["expiresAt"] == "2026-01-02T00:00:00.000Z"
    url = default["url"]
    assert download(client, url).status_code == 200
    token = urlsplit(url).path.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    refused = client.get(f"/v1/objects/{tampered}")
    assert (refused.status_code, refused.json()["code"]) == (403, "SIGNED_URL_INVALID")
    assert client.put(urlsplit(url).path, content=PDF).status_code == 403  # a GET URL only
    clock.advance(timedelta(seconds=3600))
    expired = download(client, url)
    assert (expired.status_code, expired.json()["code"]) == (403, "SIGNED_URL_EXPIRED")
    assert download(client, longest["url"]).status_code == 200


# ---- presigned uploads -----------------------------------------------------------------------
def presign(
    client: TestClient, headers: dict[str, str], key: str, prefix: str = "/v1", **body: Any
) -> Any:
    return client.post(
        f"{prefix}/sme/invoice/presigned-url",
        json=body,
        headers={**headers, "Idempotency-Key": key},
    )


def request_body(invoice_id: str, data: bytes = PDF, **overrides: Any) -> dict[str, Any]:
    return {
        "invoiceId": invoice_id,
        "filename": "invoice.pdf",
        "contentType": "application/pdf",
        "size": len(data),
        "sha256": sha256(data),
        **overrides,
    }


def test_a_presigned_upload_is_idempotent_then_confirmed(
    client: TestClient, invoice_id: str, sme: dict[str, str], objects: Path
) -> None:
    first = presign(client, sme, "upload-key-0001", **request_body(invoice_id))
    assert first.status_code == 201, first.text
    ticket = first.json()
    assert ticket["invoiceId"] == invoice_id
    assert ticket["uploadMethod"] == "PUT"
    assert ticket["uploadHeaders"] == {"Content-Type": "application/pdf", "If-None-Match": "*"}
    assert ticket["expiresAt"] == "2026-01-01T00:15:00.000Z"
    assert ticket["file"]["status"] == "pending"
    again = presign(client, sme, "upload-key-0001", **request_body(invoice_id))
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert (again.json()["fileId"], again.json()["uploadUrl"]) == (
        ticket["fileId"],
        ticket["uploadUrl"],
    )
    other = presign(client, sme, "upload-key-0001", **request_body(invoice_id, filename="b.pdf"))
    assert (other.status_code, other.json()["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    # Not listed before it is confirmed; confirming before the upload is 409.
    assert client.get(f"/v1/invoices/{invoice_id}/files", headers=sme).json()["data"] == []
    early = client.post(ticket["confirmUrl"], headers=sme)
    assert (early.status_code, early.json()["code"]) == (409, "UPLOAD_NOT_FOUND")

    put = client.put(
        urlsplit(ticket["uploadUrl"]).path,
        content=PDF,
        headers={"Content-Type": "application/pdf"},
    )
    assert put.status_code == 204, put.text
    confirmed = client.post(ticket["confirmUrl"], headers=sme)
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["status"], confirmed.json()["sha256"]) == ("stored", sha256(PDF))
    assert client.post(ticket["confirmUrl"], headers=sme).status_code == 200  # idempotent
    listed = client.get(f"/v1/invoices/{invoice_id}/files", headers=sme).json()["data"]
    assert [item["id"] for item in listed] == [ticket["fileId"]]
    invoice = client.get(f"/v1/invoices/{invoice_id}", headers=sme).json()
    assert invoice["attestationDigest"] == sha256(PDF)
    assert len(stored_files(objects)) == 1


def test_the_spec_alias_answers_the_same_and_is_deprecated(
    client: TestClient, invoice_id: str, sme: dict[str, str]
) -> None:
    answer = presign(client, sme, "alias-key-0001", prefix="/api", **request_body(invoice_id))
    assert answer.status_code == 201, answer.text
    assert answer.headers["deprecation"]
    assert 'rel="successor-version"' in answer.headers["link"]


def test_presigned_requests_are_checked_before_anything_is_stored(
    client: TestClient, invoice_id: str, sme: dict[str, str]
) -> None:
    missing_key = client.post(
        "/v1/sme/invoice/presigned-url", json=request_body(invoice_id), headers=sme
    )
    assert (missing_key.status_code, missing_key.json()["code"]) == (
        400,
        "IDEMPOTENCY_KEY_REQUIRED",
    )
    wrong_type = presign(
        client, sme, "bad-type-0001", **request_body(invoice_id, contentType="text/plain")
    )
    too_big = presign(client, sme, "too-big-0001", **request_body(invoice_id, size=600 * KB))
    traversal = presign(
        client, sme, "traversal-0001", **request_body(invoice_id, filename="../../etc/passwd")
    )
    for answer, field in ((wrong_type, "contentType"), (too_big, "size"), (traversal, "filename")):
        assert answer.status_code == 400, answer.text
        assert field in {e["field"] for e in answer.json()["errors"]}
    stranger = bearer("sme", "another-tenant", "x")
    assert presign(client, stranger, "stranger-0001", **request_body(invoice_id)).status_code == 404


def test_a_mismatched_upload_is_refused_and_discarded(
    client: TestClient, invoice_id: str, sme: dict[str, str], objects: Path
) -> None:
    ticket = presign(client, sme, "mismatch-0001", **request_body(invoice_id)).json()
    impostor = EXE[: len(PDF)].ljust(len(PDF), b"\x00")
    put = client.put(
        urlsplit(ticket["uploadUrl"]).path,
        content=impostor,
        headers={"Content-Type": "application/pdf"},
    )
    assert put.status_code == 204
    refused = client.post(ticket["confirmUrl"], headers=sme)
    assert refused.status_code == 422, refused.text
    assert {e["field"] for e in refused.json()["errors"]} == {"sha256", "contentType"}
    assert stored_files(objects) == []
    # The same URL takes the declared file, which then confirms.
    path = urlsplit(ticket["uploadUrl"]).path
    assert (
        client.put(path, content=PDF, headers={"Content-Type": "application/pdf"}).status_code
        == 204
    )
    assert client.post(ticket["confirmUrl"], headers=sme).status_code == 200


def test_signed_upload_urls_take_exactly_what_they_were_made_for(
    client: TestClient, invoice_id: str, sme: dict[str, str], clock: FixedClock
) -> None:
    ticket = presign(client, sme, "exact-0001", **request_body(invoice_id)).json()
    path = urlsplit(ticket["uploadUrl"]).path
    wrong_type = client.put(path, content=PDF, headers={"Content-Type": "image/png"})
    too_long = client.put(path, content=PDF + b"x", headers={"Content-Type": "application/pdf"})
    assert (wrong_type.status_code, too_long.status_code) == (415, 400)
    assert client.get(path).status_code == 403  # an upload URL downloads nothing
    clock.advance(timedelta(seconds=15 * 60))
    late = client.put(path, content=PDF, headers={"Content-Type": "application/pdf"})
    assert (late.status_code, late.json()["code"]) == (403, "SIGNED_URL_EXPIRED")


def run_jobs(app: Starlette, tenant: str, clock: FixedClock) -> list[str]:
    """Run the document jobs that are due, as the worker would (their handlers)."""
    services = app.state.services
    handlers = services.documents.handlers()
    ran = []
    for job in services.store.job_queue.claim(
        "test-worker", list(handlers), 50, clock.now(), timedelta(minutes=1)
    ):
        assert isinstance(job, Job)
        handlers[job.type](job)
        services.store.job_queue.complete(job, clock.now())
        ran.append(job.type)
    return ran


def test_an_unconfirmed_upload_is_swept_after_its_deadline(
    app: Starlette,
    client: TestClient,
    invoice_id: str,
    sme: dict[str, str],
    tenant: str,
    clock: FixedClock,
    objects: Path,
) -> None:
    ticket = presign(client, sme, "sweep-key-0001", **request_body(invoice_id)).json()
    path = urlsplit(ticket["uploadUrl"]).path
    client.put(path, content=PDF, headers={"Content-Type": "application/pdf"})
    assert len(stored_files(objects)) == 1
    clock.advance(timedelta(seconds=31 * 60))
    late = client.post(ticket["confirmUrl"], headers=sme)
    assert (late.status_code, late.json()["code"]) == (409, "UPLOAD_EXPIRED")
    clock.advance(timedelta(seconds=10 * 60))
    assert "documents.upload_expiry" in run_jobs(app, tenant, clock)
    assert stored_files(objects) == []
    gone = client.post(ticket["confirmUrl"], headers=sme)
    assert gone.status_code == 404


def test_the_files_of_a_deleted_invoice_go_with_it(
    app: Starlette,
    client: TestClient,
    invoice_id: str,
    sme: dict[str, str],
    tenant: str,
    clock: FixedClock,
    objects: Path,
) -> None:
    kept = client.post("/v1/invoices", json=invoice_payload(), headers=sme).json()["id"]
    upload_raw(client, kept, PNG, "image/png", sme)
    upload_raw(client, invoice_id, PDF, "application/pdf", sme)
    ticket = presign(
        client, sme, "deleted-0001", **request_body(invoice_id, PNG, contentType="image/png")
    ).json()
    assert len(stored_files(objects)) == 2
    assert client.delete(f"/v1/invoices/{invoice_id}", headers=sme).status_code == 204
    assert client.get(f"/v1/invoices/{invoice_id}/files", headers=sme).status_code == 404
    assert run_jobs(app, tenant, clock) == ["documents.invoice_purge"]
    remaining = stored_files(objects)
    assert len(remaining) == 1 and f"/invoices/{kept}/" in remaining[0].as_posix()
    # A late PUT to an upload URL handed out before the deletion is purged too.
    client.put(
        urlsplit(ticket["uploadUrl"]).path, content=PNG, headers={"Content-Type": "image/png"}
    )
    assert len(stored_files(objects)) == 2
    clock.advance(timedelta(seconds=25 * 60))
    assert "documents.invoice_purge" in run_jobs(app, tenant, clock)
    assert len(stored_files(objects)) == 1


def test_no_storage_secret_or_path_appears_in_answers(
    client: TestClient, invoice_id: str, sme: dict[str, str], objects: Path
) -> None:
    stored = upload_raw(client, invoice_id, PDF, "application/pdf", sme)
    link = client.get(
        f"/v1/invoices/{invoice_id}/files/{stored.json()['id']}/download-url", headers=sme
    )
    for answer in (stored, link):
        assert str(objects) not in answer.text
        assert "tenants/" not in answer.text


# ---- attacks: a confirmed file stays put; tokens are credentials -----------------------
def test_an_upload_url_cannot_replace_a_confirmed_file(
    client: TestClient, invoice_id: str, sme: dict[str, str], objects: Path
) -> None:
    ticket = presign(client, sme, "replace-0001", **request_body(invoice_id)).json()
    path = urlsplit(ticket["uploadUrl"]).path
    put = client.put(path, content=PDF, headers={"Content-Type": "application/pdf"})
    assert put.status_code == 204
    assert client.post(ticket["confirmUrl"], headers=sme).status_code == 200
    # The URL is still within its 15 minutes: a second PUT of other bytes of the same size
    # (an executable) must not replace what was checked and attested.
    impostor = EXE[: len(PDF)].ljust(len(PDF), b"\x00")
    again = client.put(path, content=impostor, headers={"Content-Type": "application/pdf"})
    assert again.status_code == 409, again.text
    link = client.get(
        f"/v1/invoices/{invoice_id}/files/{ticket['fileId']}/download-url", headers=sme
    ).json()["url"]
    served = download(client, link)
    assert served.status_code == 200
    assert sha256(served.content) == sha256(PDF)


def test_a_non_ascii_object_token_is_a_client_mistake(client: TestClient) -> None:
    for token in ("%C3%A9.abc", "abc.%C3%A9", "a" * 10 + ".%E2%80%AE" + "b" * 40):
        for method in ("GET", "PUT"):
            answer = client.request(method, f"/v1/objects/{token}")
            assert answer.status_code in (400, 403, 404), (token, method, answer.status_code)


def test_signed_object_tokens_stay_out_of_the_access_log(
    client: TestClient,
    invoice_id: str,
    sme: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticket = presign(client, sme, "log-token-0001", **request_body(invoice_id)).json()
    path = urlsplit(ticket["uploadUrl"]).path
    signature = path.rsplit(".", 1)[1]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="liquifact.http"):
        put = client.put(path, content=PDF, headers={"Content-Type": "application/pdf"})
        assert put.status_code == 204
    server_lines = [r.getMessage() for r in caplog.records if r.name == "liquifact.http"]
    assert any("/v1/objects/" in line for line in server_lines)
    assert not [line for line in server_lines if signature in line]


def test_a_download_under_way_survives_its_file_being_purged(
    app: Starlette, client: TestClient, invoice_id: str, sme: dict[str, str], objects: Path
) -> None:
    """The purge job may unlink a file between a download's headers (which promise its
    Content-Length) and its body: the download still sends every byte it promised, and the
    next one answers 404."""
    stored = upload_raw(client, invoice_id, PDF, "application/pdf", sme).json()
    url = client.get(
        f"/v1/invoices/{invoice_id}/files/{stored['id']}/download-url", headers=sme
    ).json()["url"]
    purged: list[Path] = []

    async def purge_once_headers_are_sent(scope: Any, receive: Any, send: Any) -> None:
        async def send_then_purge(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.start":
                for path in stored_files(objects):
                    path.unlink()
                    purged.append(path)

        await app(scope, receive, send_then_purge)

    got = TestClient(purge_once_headers_are_sent).get(urlsplit(url).path)
    assert purged
    assert got.status_code == 200
    assert got.content == PDF
    assert got.headers["content-length"] == str(len(PDF))
    gone = download(client, url)
    assert gone.status_code == 404
    assert gone.json()["code"] == "OBJECT_NOT_FOUND"
