"""Issue 9 on real ``liquifact serve`` processes: SIGTERM (item 9), one JSON log stream (item 10),
the start-up line (item 14), the process-local cache warning (item 8) and the development cursor
secret file (item 6)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest

from tests.auth_helpers import TEST_SECRET, bearer
from tests.factories import invoice_payload, new_tenant
from tests.integration.server import ServerProcess, free_port

pytestmark = pytest.mark.slow


def _sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'data.db'}", "JWT_SECRET": TEST_SECRET}


def _every_line_is_json(lines: list[str]) -> list[dict[str, object]]:
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"plain text in the JSON log stream: {line!r}")
        assert isinstance(record, dict) and "event" in record and "level" in record, line
        records.append(record)
    return records


def _database_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("data.db"))


def _request_head(port: int, body: bytes, tenant: str) -> bytes:
    return (
        f"POST /v1/invoices HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: {bearer('admin', tenant)['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()


def _in_flight(sock: socket.socket, head: bytes) -> None:
    """Send ``head`` and return once the app is reading the body: uvicorn answers
    ``100 Continue`` when the app first asks for it (RFC 9110 section 10.1.1)."""
    sock.sendall(head)
    interim = b""
    while not interim.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        assert chunk, "connection closed before 100 Continue"
        interim += chunk
    assert interim.startswith(b"HTTP/1.1 100 "), interim


# ---- item 9: SIGTERM --------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return _sqlite_env(tmp_path)
    url = request.getfixturevalue("postgres_url")
    return {"DATABASE_URL": url, "JWT_SECRET": TEST_SECRET, "CURSOR_SECRET": "c" * 40}


def test_sigterm_drains_the_request_in_flight_then_closes_and_exits_0(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    tenant = new_tenant()
    env = {**store_env, "SHUTDOWN_TIMEOUT_SECONDS": "30"}
    server = ServerProcess(env, cwd=tmp_path)
    try:
        server.wait_for_event("listening")
        body = json.dumps(invoice_payload(invoiceNumber="DRAIN-1")).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            # The app is reading the body when SIGTERM arrives: the request is in flight.
            _in_flight(sock, _request_head(server.port, body, tenant))
            sock.sendall(body[:10])
            os.kill(server.process.pid, signal.SIGTERM)
            server.wait_for_event("Shutting down")
            with pytest.raises(httpx.TransportError):  # no new connections once stopping
                httpx.get(server.base + "/health", timeout=5)
            sock.sendall(body[10:])
            answer = sock.makefile("rb").readline()
        assert answer.startswith(b"HTTP/1.1 201 "), answer
        assert server.wait() == 0  # not 143: services.close() ran
        stopped = server.wait_for_event("stopped")
        assert stopped["signal"] == "SIGTERM"
    finally:
        server.stop()
    _every_line_is_json(server.lines)
    if "sqlite" in store_env["DATABASE_URL"]:
        # The last connection closed: the WAL was checkpointed, no -wal or -shm left.
        assert _database_files(tmp_path) == ["data.db"]
    # The drained write is durable: a new process finds it.
    restarted = ServerProcess(store_env, cwd=tmp_path)
    try:
        restarted.wait_for_event("listening")
        listed = httpx.get(restarted.base + "/v1/invoices", headers=bearer("admin", tenant))
        assert [item["invoiceNumber"] for item in listed.json()["data"]] == ["DRAIN-1"]
    finally:
        restarted.stop()


def test_the_drain_is_bounded_by_shutdown_timeout_seconds(tmp_path: Path) -> None:
    server = ServerProcess({**_sqlite_env(tmp_path), "SHUTDOWN_TIMEOUT_SECONDS": "1"}, cwd=tmp_path)
    try:
        server.wait_for_event("listening")
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            _in_flight(sock, _request_head(server.port, b"{" * 50, "bounded"))
            sock.sendall(b"{")
            os.kill(server.process.pid, signal.SIGTERM)
            # A client that never finishes its body does not hold the process up.
            assert server.wait() == 0
    finally:
        server.stop()
    records = _every_line_is_json(server.lines)
    assert any("timeout graceful shutdown exceeded" in str(r["event"]) for r in records)
    assert _database_files(tmp_path) == ["data.db"]


# ---- items 10 and 14: one JSON log stream, the start-up line ----------------------------------
def test_every_line_is_json_and_each_bad_credential_is_logged_once(tmp_path: Path) -> None:
    server = ServerProcess(_sqlite_env(tmp_path), cwd=tmp_path)
    try:
        listening = server.wait_for_event("listening")
        assert listening["url"] == server.base
        assert listening["docs"] == server.base + "/docs"
        assert listening["store"] == f"sqlite {tmp_path / 'data.db'}"
        bad = ["Bearer a.b.c", "Bearer " + "x" * 20, "Basic dXNlcjpwYXNz"]
        for value in bad:
            answer = httpx.get(server.base + "/v1/invoices", headers={"Authorization": value})
            assert answer.status_code == 401
        # A request uvicorn cannot parse: its warning is a JSON record too.
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            sock.recv(4096)
        server.wait_for_event("Invalid HTTP request received.")
        os.kill(server.process.pid, signal.SIGTERM)
        assert server.wait() == 0
    finally:
        server.stop()
    records = _every_line_is_json(server.lines)
    failures = [r for r in records if r["event"] == "authentication_failed"]
    assert len(failures) == len(bad)
    assert len({r["correlation_id"] for r in failures}) == len(bad)
    invalid = [r for r in records if r["event"] == "Invalid HTTP request received."]
    assert invalid[0]["logger"] == "uvicorn.error" and "Traceback" not in json.dumps(invalid)
    assert [r["event"] for r in records].count("listening") == 1


@pytest.mark.postgres
def test_with_postgresql_down_the_stream_stays_json(tmp_path: Path) -> None:
    down = f"postgresql://liquifact:hunter2@127.0.0.1:{free_port()}/nowhere"
    server = ServerProcess({"DATABASE_URL": down, "JWT_SECRET": TEST_SECRET}, cwd=tmp_path)
    try:
        assert server.wait() == 3
    finally:
        server.stop()
    # psycopg_pool's connection warnings (when its workers get to log before the start-up
    # gives up) and the refusal itself are all JSON records.
    records = _every_line_is_json(server.lines)
    assert records[-1]["event"] == "not_started"
    assert "hunter2" not in "\n".join(server.lines)


# ---- item 8: PostgreSQL with a process-local cache --------------------------------------------
@pytest.mark.postgres
def test_postgres_without_redis_warns_once_and_ready_says_so(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": postgres_url, "JWT_SECRET": TEST_SECRET, "CURSOR_SECRET": "c" * 40}
    server = ServerProcess(env, cwd=tmp_path)
    try:
        listening = server.wait_for_event("listening")
        parts = urlsplit(postgres_url)
        assert listening["store"] == f"postgresql {parts.hostname}:{parts.port}{parts.path}"
        assert "@" not in str(listening["store"])  # no user (or password) shown
        ready = httpx.get(server.base + "/ready").json()
        assert ready["cache"]["shared"] is False
        assert "REDIS_URL" in ready["cache"]["warning"]
        assert "cache" not in httpx.get(server.base + "/readyz").json()
    finally:
        server.stop()
    records = _every_line_is_json(server.lines)
    warnings = [r for r in records if r["event"] == "process_local_cache"]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"


@pytest.mark.postgres
def test_postgres_with_redis_has_no_warning(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": postgres_url,
        "JWT_SECRET": TEST_SECRET,
        "CURSOR_SECRET": "c" * 40,
        "REDIS_URL": redis_url,
    }
    server = ServerProcess(env, cwd=tmp_path)
    try:
        server.wait_for_event("listening")
        assert httpx.get(server.base + "/ready").json()["cache"] == {"shared": True}
    finally:
        server.stop()
    assert "process_local_cache" not in "\n".join(server.lines)


# ---- item 6: the development cursor secret ----------------------------------------------------
def test_development_server_creates_a_random_cursor_secret_file_once(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "", "JWT_SECRET": TEST_SECRET, "CURSOR_SECRET": ""}
    secret_file = tmp_path / "var" / "dev-cursor-secret"
    contents = []
    for _ in range(2):
        server = ServerProcess(env, cwd=tmp_path)
        try:
            server.wait_for_event("listening")
            contents.append(secret_file.read_text())
        finally:
            server.stop()
    assert contents[0] == contents[1]  # created once, then reused
    secret = contents[0].strip()
    assert len(secret) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_a_taken_port_exits_4_not_the_database_status(tmp_path: Path) -> None:
    # Found by a new user: uvicorn exits 3 when it cannot bind, the status that means "the
    # database cannot serve this code"; `serve` says which it was.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = str(holder.getsockname()[1])
        env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "JWT_SECRET": TEST_SECRET}
        server = ServerProcess(env, "--port", taken, cwd=tmp_path)
        try:
            assert server.wait() == 4
        finally:
            server.stop()
    records = _every_line_is_json(server.lines)
    assert records[-1]["event"] == "could_not_listen"
    assert taken in str(records[-1]["detail"])
