"""One contract for every ``ObjectStore``: the in-memory fake, the local folder, and S3
through boto3 against moto's S3 server (a real HTTP peer on 127.0.0.1). Then what only each
adapter promises: the local store's signed URLs, and S3's presigned URLs used over HTTP with
no credentials leaking into a URL, an error or a log."""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from liquifact_adapters.memory import InMemoryObjectStore
from liquifact_adapters.storage import LocalObjectStore, S3ObjectStore, SignedUrlRefused
from liquifact_core.errors import NotFound, Unavailable
from liquifact_core.ports import ObjectStore
from tests.s3_support import CREDENTIALS, REGION, SECRET_ACCESS_KEY, MotoS3, moto_s3

KEY = "tenants/t-1/invoices/inv_1/550e8400-e29b-41d4-a716-446655440000-invoice.pdf"
DATA = b"%PDF-1.4\n" + bytes(range(256)) * 4000  # about a megabyte, read in chunks


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_s3() as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def s3_store(endpoint: str) -> S3ObjectStore:
    store = S3ObjectStore(f"lf-{secrets.token_hex(6)}", region=REGION, endpoint=endpoint)
    store.ensure_bucket()
    return store


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, aws_env: None) -> ObjectStore:
    if request.param == "memory":
        return InMemoryObjectStore()
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects", "s" * 32)
    return s3_store(request.getfixturevalue("moto").endpoint)


def read_all(store: ObjectStore, key: str) -> bytes:
    chunks = []
    with store.open(key) as reader:
        while chunk := reader.read(64 * 1024):
            chunks.append(chunk)
    return b"".join(chunks)


def test_an_object_round_trips(store: ObjectStore) -> None:
    store.put(KEY, io.BytesIO(DATA), len(DATA), "application/pdf")
    assert store.size(KEY) == len(DATA)
    assert hashlib.sha256(read_all(store, KEY)).digest() == hashlib.sha256(DATA).digest()


def test_put_reads_size_bytes_from_the_current_position(store: ObjectStore) -> None:
    source = io.BytesIO(b"junk" + DATA)
    source.seek(4)
    store.put(KEY, source, len(DATA), "application/pdf")
    assert read_all(store, KEY) == DATA


def test_a_put_replaces_the_object(store: ObjectStore) -> None:
    store.put(KEY, io.BytesIO(b"first"), 5, "application/pdf")
    store.put(KEY, io.BytesIO(b"second"), 6, "application/pdf")
    assert read_all(store, KEY) == b"second"


def test_a_missing_object_is_not_found(store: ObjectStore) -> None:
    assert store.size(KEY) is None
    with pytest.raises(NotFound) as missing, store.open(KEY):
        pass
    assert missing.value.code == "OBJECT_NOT_FOUND"


def test_deleting_is_idempotent(store: ObjectStore) -> None:
    store.put(KEY, io.BytesIO(b"x"), 1, "application/pdf")
    store.delete(KEY)
    store.delete(KEY)
    assert store.size(KEY) is None


def test_delete_prefix_removes_one_invoice_and_nothing_else(store: ObjectStore) -> None:
    mine = "tenants/t-1/invoices/inv_1/"
    keys = [f"{mine}a-1.pdf", f"{mine}b-2.png", "tenants/t-1/invoices/inv_10/c.pdf"]
    others = ["tenants/t-2/invoices/inv_1/d.pdf"]
    for key in keys + others:
        store.put(key, io.BytesIO(b"x"), 1, "application/pdf")
    assert store.delete_prefix(mine) == 2
    assert store.delete_prefix(mine) == 0
    assert [store.size(key) for key in keys] == [None, None, 1]
    assert store.size(others[0]) == 1


# ---- the local store's own URLs ----------------------------------------------------------------
def test_local_urls_are_signed_bound_and_short_lived(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path, "k" * 32)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    upload = store.upload_url(KEY, "application/pdf", 10, now + timedelta(minutes=15))
    download = store.download_url(KEY, "invoice.pdf", "application/pdf", now + timedelta(hours=1))
    assert upload.startswith("/v1/objects/") and download.startswith("/v1/objects/")
    token = upload.removeprefix("/v1/objects/")
    access = store.access(token, "PUT", now)
    assert (access.key, access.content_type, access.size) == (KEY, "application/pdf", 10)
    assert store.access(download.removeprefix("/v1/objects/"), "GET", now).filename == "invoice.pdf"
    with pytest.raises(SignedUrlRefused):
        store.access(token, "GET", now)  # an upload URL is not a download URL
    with pytest.raises(SignedUrlRefused) as expired:
        store.access(token, "PUT", now + timedelta(minutes=15))
    assert expired.value.code == "SIGNED_URL_EXPIRED"
    other = LocalObjectStore(tmp_path, "o" * 32)
    with pytest.raises(SignedUrlRefused):
        other.access(token, "PUT", now)  # another secret signed it
    payload, signature = token.split(".")
    forged = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    with pytest.raises(SignedUrlRefused):
        store.access(f"{forged}.{signature}", "PUT", now)


@pytest.mark.parametrize("key", ["../escape.pdf", "tenants/../../x", "/abs.pdf", "a//b", "a\\b"])
def test_local_keys_never_leave_the_folder(tmp_path: Path, key: str) -> None:
    store = LocalObjectStore(tmp_path / "objects", "k" * 32)
    with pytest.raises(ValueError, match="key"):
        store.put(key, io.BytesIO(b"x"), 1, "application/pdf")
    assert not (tmp_path / "escape.pdf").exists()


# ---- S3 presigned URLs over HTTP -------------------------------------------------------------
def test_s3_presigned_urls_work_over_http_without_other_credentials(
    moto: MotoS3, aws_env: None
) -> None:
    store = s3_store(moto.endpoint)
    expires = datetime.now(UTC) + timedelta(minutes=15)
    upload = store.upload_url(KEY, "application/pdf", len(DATA), expires)
    assert upload.startswith(moto.endpoint)
    headers = {"Content-Type": "application/pdf", "If-None-Match": "*"}
    answer = httpx.put(upload, content=DATA, headers=headers)
    assert answer.status_code == 200, answer.text
    assert store.size(KEY) == len(DATA)
    # The same URL cannot replace what is there now (the checked bytes stay).
    other = b"MZ" + DATA[2:]
    again = httpx.put(upload, content=other, headers=headers)
    assert again.status_code == 412, again.text
    # Leaving the header out breaks the signature on S3 (if-none-match is a signed header);
    # moto does not check signatures, so that half is the URL's, checked here.
    assert "if-none-match" in upload.lower()
    download = store.download_url(KEY, "invoice.pdf", "application/pdf", expires)
    got = httpx.get(download)
    assert got.status_code == 200
    assert got.content == DATA
    assert got.headers["content-disposition"] == 'attachment; filename="invoice.pdf"'
    for url in (upload, download):
        assert SECRET_ACCESS_KEY not in url
        assert "X-Amz-Signature=" in url and "X-Amz-Expires=" in url


def test_s3_failures_name_no_bucket_host_or_secret(
    aws_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.integration.server import free_port

    caplog.set_level(logging.DEBUG)
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3ObjectStore(
        "lf-secret-bucket-name", region=REGION, endpoint=endpoint, connect_timeout=0.5
    )
    with pytest.raises(Unavailable) as down:
        store.put(KEY, io.BytesIO(b"x"), 1, "application/pdf")
    shown = f"{down.value} {down.value.message} {down.value.code}"
    assert down.value.code == "STORAGE_UNAVAILABLE"
    for secret in ("lf-secret-bucket-name", "127.0.0.1", SECRET_ACCESS_KEY, KEY):
        assert secret not in shown
    assert SECRET_ACCESS_KEY not in caplog.text
