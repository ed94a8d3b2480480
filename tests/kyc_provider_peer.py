"""A real KYC provider peer for the tests: a threading HTTP server on 127.0.0.1 speaking the
provider contract of docs/reminders-and-kyc.md, and the signed events such a provider sends.

    with KycProviderPeer(api_key="...", secret="...") as peer:
        url = peer.url                             # KYC_PROVIDER_URL
        peer.healthy = False                       # GET /health answers 503
        peer.answer_status = "in_review"           # what submissions are answered
        body, headers = peer.event("kyc_...", "approved")   # a signed webhook request
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import uuid4

from liquifact_core.webhooks import signature_header


class KycProviderPeer:
    """Records submissions (their JSON bodies); refuses a wrong API key with 401."""

    def __init__(self, api_key: str, secret: str) -> None:
        self.api_key = api_key
        self.secret = secret
        self.healthy = True
        self.answer_status = "pending"
        self.submissions: list[dict[str, Any]] = []
        self.unauthorised = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> KycProviderPeer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def event(
        self,
        reference: str,
        status: str,
        *,
        event_id: str | None = None,
        at: datetime | None = None,
        secret: str | None = None,
        **extra: Any,
    ) -> tuple[bytes, Mapping[str, str]]:
        """A webhook request as this provider sends it: the raw JSON body and its headers
        (``X-Signature`` over the body at ``at``, default now)."""
        body = {"eventId": event_id or f"evt-{uuid4().hex}", "reference": reference}
        body.update(status=status, **extra)
        raw = json.dumps(body).encode()
        header = signature_header(secret or self.secret, raw, at or datetime.now(UTC))
        return raw, {"Content-Type": "application/json", "X-Signature": header}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return None

            def _answer(self, status: int, body: Mapping[str, Any] | None = None) -> None:
                raw = json.dumps(body or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._answer(200 if peer.healthy else 503)
                else:
                    self._answer(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.headers.get("Authorization") != f"Bearer {peer.api_key}":
                    with peer._lock:
                        peer.unauthorised += 1
                    self._answer(401, {"error": "bad key"})
                    return
                if self.path != "/v1/verifications":
                    self._answer(404)
                    return
                with peer._lock:
                    peer.submissions.append(body)
                    number = len(peer.submissions)
                self._answer(
                    201,
                    {
                        "id": f"app-{number}",
                        "status": peer.answer_status,
                        "verificationUrl": f"https://kyc.example/flow/{number}",
                    },
                )

        return Handler
