"""A CSV audit export over a real socket (uvicorn on 127.0.0.1): when the store fails after
the status and headers were sent, the server closes the connection without the final chunk
(the client sees a truncated download, never a complete-looking file), closes the export's
cursor and unit, and goes on serving; a client that leaves mid-stream releases them too."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import httpx2 as httpx
import pytest
import uvicorn

from liquifact_adapters.sqlite import SqliteStore
from liquifact_adapters.sqlite.repositories import SqliteAuditLog
from liquifact_adapters.sqlite.store import SqliteUnitOfWork
from liquifact_core.audit_export import AuditRecord
from liquifact_core.errors import store_unavailable
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import bearer, test_settings
from tests.factories import invoice_payload, new_tenant
from tests.integration.server import free_port

CHUNK = 3


class FailingAfterFirstChunk(SqliteAuditLog):
    def stream_invoice_trail(
        self, tenant_id: str, invoice_id: str, chunk_size: int
    ) -> Generator[Sequence[AuditRecord], None, None]:
        chunks = super().stream_invoice_trail(tenant_id, invoice_id, chunk_size)
        assert isinstance(chunks, Generator)
        try:
            yield next(chunks)
            yield next(chunks)
            raise store_unavailable()  # the database goes away mid-export
        finally:
            chunks.close()


class WatchedStore(SqliteStore):
    """Read units whose export stream fails after two chunks, and an event per unit closed."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.closed = threading.Event()
        self.failing = False
        store = self

        class Unit(SqliteUnitOfWork):
            audit_log = FailingAfterFirstChunk

            def __exit__(self, *exc_info: object) -> None:
                super().__exit__(*exc_info)
                store.closed.set()

        self._unit = Unit

    def read_unit(self, tenant_id: str) -> SqliteUnitOfWork:
        if not self.failing:
            return super().read_unit(tenant_id)
        return self._unit(self._pool, tenant_id, read_only=True)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, WatchedStore]]:
    store = WatchedStore(str(tmp_path / "stream.sqlite3"))
    app = create_app(test_settings(rate_limit_enabled=False), store=store)
    app.state.services.audit.chunk_size = CHUNK
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", store
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        store.close()


def _trail(base: str, admin: dict[str, str], events: int) -> str:
    created = httpx.post(f"{base}/v1/invoices", json=invoice_payload(), headers=admin)
    invoice_id: str = created.json()["id"]
    for n in range(events - 1):
        httpx.patch(
            f"{base}/v1/invoices/{invoice_id}", json={"description": f"e{n}"}, headers=admin
        ).raise_for_status()
    return invoice_id


def _read_all(response: httpx.Response, into: bytearray) -> None:
    for part in response.iter_raw():
        into += part


def test_a_stream_broken_after_the_headers_closes_the_connection(
    served: tuple[str, WatchedStore],
) -> None:
    base, store = served
    admin = bearer("admin", new_tenant(), "ops")
    invoice_id = _trail(base, admin, 10)
    store.failing = True
    received = bytearray()

    url = f"{base}/v1/admin/audit/invoices/{invoice_id}/export?format=csv"
    with httpx.stream("GET", url, headers=admin, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        with pytest.raises(httpx.RemoteProtocolError):  # no final chunk: a truncated body
            _read_all(response, received)

    lines = bytes(received).decode().split("\r\n")
    assert lines[0].startswith("id,timestamp,actor,action")
    assert len([line for line in lines[1:] if line]) == 2 * CHUNK  # what came before the failure
    assert store.closed.wait(timeout=30), "the export's unit was not closed"
    store.failing = False
    assert (
        httpx.get(f"{base}/v1/admin/audit/invoices/{invoice_id}/export", headers=admin).json()[
            "meta"
        ]["total"]
        == 10
    )


def test_a_client_leaving_mid_stream_releases_the_cursor(
    served: tuple[str, WatchedStore],
) -> None:
    base, store = served
    admin = bearer("admin", new_tenant(), "ops")
    invoice_id = _trail(base, admin, 10)
    store.failing = True

    url = f"{base}/v1/admin/audit/invoices/{invoice_id}/export?format=csv"
    with httpx.stream("GET", url, headers=admin, timeout=30) as response:
        assert response.status_code == 200
        next(response.iter_raw())
    # The client closed its connection after the first part.

    assert store.closed.wait(timeout=30), "the export's unit was not closed"
    assert httpx.get(f"{base}/health").status_code == 200
