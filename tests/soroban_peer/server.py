"""HTTP shell of the peer (stdlib `ThreadingHTTPServer` on 127.0.0.1).

- `POST /` (any path but `/_control`): JSON-RPC 2.0, one request per body.
- `POST /_control`: the control API (`tests.soroban_peer.control`).
- `GET /friendbot?addr=G...`: creates the account, like the standalone network's friendbot.

`PeerServer` runs it in a thread (port 0 picks a free port); `peer_process` runs
`python -m tests.soroban_peer` as a subprocess and controls it over HTTP.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.soroban_peer import control
from tests.soroban_peer.control import ControlError, Faults, PeerControl
from tests.soroban_peer.model import ContractError, HostError
from tests.soroban_peer.rpc import Peer, RpcError

REPO_ROOT = Path(__file__).resolve().parents[2]


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a held answer after its timeout)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode())

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path.rstrip("/") == "/friendbot":
            account = parse_qs(url.query).get("addr", [""])[0]
            try:
                control.run(
                    self.server.peer, self.server.faults, "create_account", {"account": account}
                )
            except ControlError as exc:
                self._json(400, {"detail": str(exc)})
                return
            self._json(200, {"account": account})
            return
        self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except json.JSONDecodeError:
            self._json(
                400,
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}},
            )
            return
        if urlparse(self.path).path.rstrip("/") == "/_control":
            self._control(body)
        else:
            self._rpc(body)

    def _control(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("op"), str):
            self._json(400, {"error": 'expected {"op": name, ...params}'})
            return
        params = {k: v for k, v in body.items() if k != "op"}
        try:
            result = control.run(self.server.peer, self.server.faults, body["op"], params)
        except (ControlError, ContractError, HostError) as exc:
            self._json(400, {"error": str(exc)})
            return
        self._json(200, {"result": result})

    def _rpc(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("method"), str):
            self._json(
                200,
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": -32600, "message": "invalid request"},
                },
            )
            return
        method, request_id = body["method"], body.get("id")
        fault = self.server.faults.take(method)
        if fault is not None and fault.kind == "http_503":
            self._send(503, b"Service Unavailable (injected by the soroban peer)", "text/plain")
            return
        if fault is not None and fault.kind == "timeout" and not fault.process:
            fault.release.wait(fault.hold_seconds)
            self.close_connection = True
            return
        try:
            result = self.server.peer.call(
                method,
                body.get("params"),
                forced_error=fault.code if fault and fault.kind == "contract_error" else None,
                drop=bool(fault and fault.kind == "drop"),
                lag=bool(fault and fault.kind == "lag"),
            )
            answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "result": result}
        except RpcError as exc:
            answer = {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": exc.code, "message": exc.message},
            }
        if fault is not None and fault.kind == "timeout":
            fault.release.wait(fault.hold_seconds)
        self._json(200, answer)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], peer: Peer, faults: Faults, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.peer, self.faults, self.verbose = peer, faults, verbose


class PeerServer:
    """The peer on `host:port` (0: a free port), served from a daemon thread.

    `url` is the JSON-RPC endpoint for `SorobanServer(url)`; `control` the test-control API;
    `peer` the model itself (take `peer.lock` to read it consistently).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_time: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.faults = Faults()
        self._http = _HttpServer((host, port), Peer(start_time=start_time), self.faults, verbose)
        self.host, self.port = str(self._http.server_address[0]), int(self._http.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        self.peer = self._http.peer
        self.peer.friendbot_url = f"{self.url}/friendbot"
        self.control = PeerControl(control.LocalTransport(self.peer, self.faults))
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopped = False

    def start(self) -> PeerServer:
        self._serving = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="soroban-peer", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop()` is called from another thread."""
        self._serving = True
        self._http.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        """Release held answers, stop serving and close the socket."""
        if self._stopped:
            return
        self._stopped = True
        self.faults.stop()
        if self._serving:
            self._http.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._http.server_close()

    def __enter__(self) -> PeerServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass
class PeerProcess:
    url: str
    control: PeerControl
    process: subprocess.Popen[str]


@contextmanager
def peer_process(port: int = 0) -> Iterator[PeerProcess]:
    """`python -m tests.soroban_peer --port PORT` as a child process, ended on exit.

    The child prints its URL on its first line; this waits for that line (fails if it exits).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.soroban_peer", "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if not first.startswith("soroban peer listening on "):
            raise RuntimeError(f"the peer process did not start: {first!r}")
        url = first.removeprefix("soroban peer listening on ").strip()
        yield PeerProcess(url, PeerControl(control.HttpTransport(url)), process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
