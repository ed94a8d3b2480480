"""A real HTTP webhook receiver for the tests: a threading HTTP server on 127.0.0.1 that
records every request (headers and raw body) and answers from a script.

    with WebhookReceiver(secret) as receiver:
        receiver.script(500, 200)          # first request 500, second 200, then 200
        receiver.hang_first(1)             # first request never answered (held open)
        url = receiver.url                 # http://127.0.0.1:<port>/hooks?token=...

Each ``Received`` says whether ``verify_signature`` (the library's verifier, as a receiver
runs it) accepted it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

from liquifact_core.webhooks import SignatureError, verify_signature

HANG = -1  # a scripted "answer" that holds the connection open and never answers


@attrs.frozen
class Received:
    """One request as the receiver got it."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def delivery_id(self) -> str:
        return self.headers.get("x-liquifact-delivery", "")


class WebhookReceiver:
    """Records requests; answers each with the next scripted status (default 200)."""

    def __init__(self, secret: str | None = None, path: str = "/hooks?token=s3cr3t-query") -> None:
        self.secret = secret
        self.path = path
        self.received: list[Received] = []
        self._script: list[int] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._arrived = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def script(self, *statuses: int) -> None:
        """The answers of the next requests, in order (``HANG``: never answer)."""
        with self._lock:
            self._script = list(statuses)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until ``count`` requests arrived; AssertionError after ``timeout`` s."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} of {count} webhooks arrived")
            return list(self.received)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, raw: bytes, headers: dict[str, str], path: str) -> int:
        verified = False
        if self.secret is not None:
            try:
                verify_signature(self.secret, raw, headers.get("x-signature", ""))
                verified = True
            except SignatureError:
                verified = False
        with self._arrived:
            self.received.append(Received(path, headers, raw, verified))
            status = self._script.pop(0) if self._script else 200
            self._arrived.notify_all()
        return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = receiver._answer(raw, headers, self.path)
                if status == HANG:
                    receiver._release.wait(120)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


@contextmanager
def receiving(secret: str | None = None, *statuses: int) -> Iterator[WebhookReceiver]:
    """A started receiver with its script; stopped on exit."""
    with WebhookReceiver(secret) as receiver:
        receiver.script(*statuses)
        yield receiver
