"""Invoice documents over real HTTP: ``liquifact serve`` as a process, on the embedded default
(local folder, URLs served by the API) and on S3 (moto's S3 server, a real HTTP peer on
127.0.0.1, credentials from the AWS_* environment). Upload, list, download, presigned upload
and confirm; a deleted invoice's files go (the embedded worker runs the purge); storage
credentials appear in no response and no log line."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from liquifact_adapters.storage import S3ObjectStore
from tests.auth_helpers import TEST_SECRET, bearer
from tests.document_samples import EXE, PDF, PNG, sha256
from tests.factories import invoice_payload, new_tenant
from tests.integration.server import ServerProcess
from tests.s3_support import CREDENTIALS, REGION, SECRET_ACCESS_KEY, moto_s3

pytestmark = pytest.mark.slow


@pytest.fixture(params=["local", "s3"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ServerProcess, str, Path]]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data.db'}",
        "JWT_SECRET": TEST_SECRET,
        "RATE_LIMIT_ENABLED": "false",
        "WORKER_POLL_INTERVAL_MS": "50",
        "LOG_LEVEL": "debug",  # the noisiest level: nothing secret may show even here
    }
    if request.param == "local":
        env["STORAGE_DIR"] = str(tmp_path / "objects")
        process = ServerProcess(env, cwd=tmp_path)
        try:
            process.wait_for_event("listening")
            yield process, "local", tmp_path / "objects"
        finally:
            process.stop()
        return
    with moto_s3() as moto:
        for name, value in CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        bucket = f"lf-docs-{secrets.token_hex(4)}"
        S3ObjectStore(bucket, region=REGION, endpoint=moto.endpoint).ensure_bucket()
        env |= {
            **CREDENTIALS,
            "S3_BUCKET": bucket,
            "AWS_REGION": REGION,
            "S3_ENDPOINT": moto.endpoint,
        }
        process = ServerProcess(env, cwd=tmp_path)
        try:
            process.wait_for_event("listening")
            yield process, "s3", tmp_path
        finally:
            process.stop()


def _no_secret_anywhere(process: ServerProcess, *answers: httpx.Response) -> None:
    for answer in answers:
        assert SECRET_ACCESS_KEY not in answer.text
        assert SECRET_ACCESS_KEY not in str(answer.headers)
    assert not any(SECRET_ACCESS_KEY in line for line in process.lines)


def test_documents_over_real_http(server: tuple[ServerProcess, str, Path]) -> None:
    process, kind, _ = server
    base = process.base
    tenant = new_tenant()
    sme = bearer("sme", tenant, "sme-http")
    with httpx.Client(base_url=base, timeout=10) as client:
        invoice_id = client.post("/v1/invoices", json=invoice_payload(), headers=sme).json()["id"]
        files = f"/v1/invoices/{invoice_id}/files"

        direct = client.post(
            files,
            files={"file": ("invoice.pdf", PDF, "application/pdf")},
            headers=sme,
        )
        assert direct.status_code == 201, direct.text
        assert direct.json()["sha256"] == sha256(PDF)
        renamed = client.post(
            files, content=EXE, headers={**sme, "Content-Type": "application/pdf"}
        )
        assert renamed.status_code == 400
        assert renamed.json()["errors"][0]["code"] == "FILE_CONTENT_NOT_ALLOWED"

        link = client.get(f"{files}/{direct.json()['id']}/download-url", headers=sme).json()
        expected_origin = base if kind == "local" else "http://127.0.0.1:"
        assert link["url"].startswith(expected_origin)
        got = httpx.get(link["url"], timeout=10)  # no credentials: the URL is enough
        assert got.status_code == 200 and got.content == PDF

        ticket = client.post(
            "/v1/sme/invoice/presigned-url",
            json={
                "invoiceId": invoice_id,
                "filename": "scan.png",
                "contentType": "image/png",
                "size": len(PNG),
                "sha256": sha256(PNG),
            },
            headers={**sme, "Idempotency-Key": "http-presigned-0001"},
        )
        assert ticket.status_code == 201, ticket.text
        body = ticket.json()
        put = httpx.put(body["uploadUrl"], content=PNG, headers=body["uploadHeaders"], timeout=10)
        assert put.status_code in (200, 204), put.text
        confirmed = client.post(body["confirmUrl"], headers=sme)
        assert confirmed.status_code == 200, confirmed.text
        listed = client.get(files, headers=sme).json()["data"]
        assert {item["sha256"] for item in listed} == {sha256(PDF), sha256(PNG)}
        invoice = client.get(f"/v1/invoices/{invoice_id}", headers=sme).json()
        assert invoice["attestationDigest"] == hashlib.sha256(PDF).hexdigest()
        _no_secret_anywhere(process, direct, renamed, ticket, confirmed)

        assert client.delete(f"/v1/invoices/{invoice_id}", headers=sme).status_code == 204
        # The embedded worker purges the objects; the old URL then finds nothing.
        deadline = time.monotonic() + 20
        while httpx.get(link["url"], timeout=10).status_code == 200:
            assert time.monotonic() < deadline, "the deleted invoice's file is still served"
            time.sleep(0.2)
        assert client.get(files, headers=sme).status_code == 404
    _no_secret_anywhere(process)
