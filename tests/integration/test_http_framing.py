"""The real server's HTTP/1.1 parser (uvicorn with h11) and the app's framing rules, as a client
on a socket sees them. Pinned because another parser (httptools, which uvicorn picks when it is
installed) answers these differently: docs/performance.md, "Hot path"."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from liquifact_http.serving import uvicorn_config
from tests.auth_helpers import TEST_SECRET
from tests.integration.server import running_server

pytestmark = pytest.mark.slow


def _exchange(base: str, raw: bytes) -> tuple[str, dict[str, str], bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return lines[0], headers, body


def test_framing_answers_on_a_socket(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'data.db'}", "JWT_SECRET": TEST_SECRET}
    with running_server(env) as base:
        # Two framings of one body: the app's problem+json, not a parser's plain text.
        status, headers, body = _exchange(
            base,
            b"POST /v1/invoices HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        )
        assert status.startswith("HTTP/1.1 400"), status
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(body)["code"] == "AMBIGUOUS_BODY_LENGTH"
        # HTTP/1.1 without Host is refused (RFC 9112 section 3.2).
        status, _, _ = _exchange(base, b"GET /health HTTP/1.1\r\n\r\n")
        assert status.startswith("HTTP/1.1 400"), status


def test_the_server_uses_h11_whatever_else_is_installed() -> None:
    config = uvicorn_config(
        None, host="127.0.0.1", port=0, log_level="warning", shutdown_timeout_seconds=1
    )
    assert config.http == "h11"
