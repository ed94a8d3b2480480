"""Uploads are streamed, never buffered whole: memory stays flat while the largest allowed
file (BODY_LIMIT_INVOICE) is uploaded 50 times at once.

The app is driven in process through ASGI so that tracemalloc sees every Python allocation of
the server side; each body arrives in 16 KiB messages made on the fly, as a socket would
deliver it, so the client holds no whole body either. Buffering would need 50 x 512 KiB =
25 MiB at the peak; streaming needs the chunks in flight. No timing is asserted.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.types import Message

from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import bearer, test_settings
from tests.factories import draft_of, invoice_payload, new_tenant

CHUNK = 16 * 1024
UPLOADS = 50


async def _request(
    app: Starlette, method: str, path: str, headers: dict[str, str], body_size: int, head: bytes
) -> tuple[int, bytes]:
    """One request whose body (``head`` then zeros, ``body_size`` bytes) is sent in CHUNK
    messages built as they are asked for."""
    sent = 0
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> Message:
        nonlocal sent
        if sent >= body_size:
            return {"type": "http.disconnect"}
        size = min(CHUNK, body_size - sent)
        chunk = (head + bytes(size))[:size] if sent == 0 else bytes(size)
        sent += size
        return {"type": "http.request", "body": chunk, "more_body": sent < body_size}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return int(answer["status"]), bytes(answer["body"])


def test_memory_stays_flat_while_the_largest_file_is_uploaded_50_times_at_once(
    tmp_path: Path,
) -> None:
    settings = test_settings(rate_limit_enabled=False, storage_dir=str(tmp_path / "objects"))
    store = SqliteStore(str(tmp_path / "memory.sqlite3"))
    app = create_app(settings, store=store)
    limit = settings.body_limit_invoice
    tenant = new_tenant()
    sme = bearer("sme", tenant, "sme-memory")
    services = app.state.services
    owner = Actor("sme-memory", Role.SME)
    # One invoice per upload: an invoice holds at most 20 files.
    paths = [
        f"/v1/invoices/{services.invoices.submit(tenant, owner, draft_of(invoice_payload())).id}"
        "/files"
        for _ in range(UPLOADS + 1)
    ]
    headers = {
        **sme,
        "content-type": "application/pdf",
        "content-length": str(limit),
        "host": "testserver",
    }
    head = b"%PDF-1.7\n"

    async def upload(path: str) -> int:
        status, body = await _request(app, "POST", path, headers, limit, head)
        assert status == 201, body[:300]
        return status

    async def scenario() -> tuple[int, int, list[int]]:
        await upload(paths[-1])  # warm up: imports, caches, the first connection
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            statuses = await asyncio.gather(*(upload(path) for path in paths[:UPLOADS]))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return before, peak, list(statuses)

    try:
        before, peak, statuses = asyncio.run(scenario())
    finally:
        store.close()
    grown = peak - before
    buffered = UPLOADS * limit
    print(  # the figures docs/documents.md quotes (pytest -s shows them)
        f"50 concurrent uploads of {limit} bytes: peak traced growth {grown / 2**20:.2f} MiB "
        f"(buffering them whole would need {buffered / 2**20:.1f} MiB)"
    )
    assert statuses == [201] * UPLOADS
    assert len([p for p in (tmp_path / "objects").rglob("*") if p.is_file()]) == UPLOADS + 1
    assert grown < buffered / 4
