"""What the browser tests stand on: headless Chromium (Debian's package, driven by Playwright),
the API started with ``make run``, the static page served from other origins, and a wallet.

Chromium is required like the database services: with ``CI=true`` a missing browser FAILS the
test (``.ci/run`` installs Debian's ``chromium`` when it is missing); elsewhere the test is
skipped with the reason and how to install it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from stellar_sdk import Keypair, TransactionEnvelope
from stellar_sdk.sep.stellar_web_authentication import read_challenge_transaction

from tests.integration.server import free_port

ROOT = Path(__file__).resolve().parents[2]
PAGE_DIR = Path(__file__).resolve().parent
# Variables of the developer's shell that the server and `make` may see; everything else is
# set by the test (a surrounding `make test` must not leak MAKEFLAGS, nor a shell its
# DATABASE_URL or REDIS_URL, into the server under test).
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHON")


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_chromium() -> str:
    """The Chromium executable (``LIQUIFACT_TEST_CHROMIUM``, else ``chromium`` on PATH); fails
    under CI=true, else skips, when it or Playwright is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:  # pragma: no cover - a dev dependency
        _missing(f"PLAYWRIGHT NOT INSTALLED ({error}): `make install` installs the dev extras.")
    configured = os.environ.get("LIQUIFACT_TEST_CHROMIUM")
    found = configured or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None or not os.access(found, os.X_OK):
        _missing(
            f"CHROMIUM NOT AVAILABLE ({configured or 'no chromium on PATH'}). Install Debian's "
            "package with `apt-get install chromium` (.ci/run does this) or set "
            "LIQUIFACT_TEST_CHROMIUM to a Chromium executable."
        )
    assert found is not None
    return found


def _base_environment(**settings: str) -> dict[str, str]:
    inherited = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    return {**inherited, **settings}


class MakeRun:
    """``make run`` in the repository root, in a process group of its own, with ``settings``
    (environment variables) on a free port; its JSON log lines are collected as they come.

    ``stop()`` ends the whole group (make and the server it started)."""

    def __init__(self, settings: Mapping[str, str]) -> None:
        make = shutil.which("make")
        if make is None:
            _missing("make is not installed")
        assert make is not None
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = _base_environment(
            PORT=str(self.port), HOST="127.0.0.1", LOG_FORMAT="json", **settings
        )
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [make, "-s", "-C", str(ROOT), "run"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, ended as one in stop()
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    def wait_ready(self, timeout: float = 60) -> None:
        """Until ``GET /readyz`` answers 200; raises with the output if the process ends."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"make run ended early: {self.lines[-30:]}")
            try:
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"make run not ready after {timeout} s: {self.lines[-30:]}")
            time.sleep(0.2)

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """The access-log records (``event: request``: method, path, status) from line
        ``since`` on."""
        records = []
        for line in self.lines[since:]:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == "request":
                records.append(record)
        return records

    def statuses(
        self, method: str, path: str, since: int = 0, *, count: int, timeout: float = 5
    ) -> list[int]:
        """The statuses logged for ``method path`` from line ``since`` on, once there are
        ``count`` of them or ``timeout`` seconds have passed (a line is logged just after its
        answer is sent, so it may trail the client by a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                record["status"]
                for record in self.requests(since)
                if (record.get("method"), record.get("path")) == (method, path)
            ]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def token(self, role: str, tenant: str) -> str:
        """A bearer token from ``make token`` (the README's way), signed with this server's
        JWT secret."""
        done = subprocess.run(
            ["make", "-s", "-C", str(ROOT), "token", f"ROLE={role}", f"TENANT={tenant}"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout.strip()

    def stop(self) -> None:
        """SIGTERM to the group (the server shuts down gracefully), SIGKILL to whatever of it
        is still there after 15 s."""
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):  # the group has already ended
            os.killpg(group, signal.SIGTERM)
        # The output ends when every process of the group has closed it (has exited).
        self._reader.join(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, 0)  # raises once no process of the group is left
            os.killpg(group, signal.SIGKILL)
        self.process.wait(timeout=15)
        self._reader.join(timeout=15)
        if self.process.stdout:
            self.process.stdout.close()


class _Quiet(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *_args: Any) -> None:
        return None


class StaticSite:
    """``tests/browser`` (page.html, app.js) served on 127.0.0.1 on a port of its own: an
    origin other than the API's."""

    def __init__(self) -> None:
        handler = functools.partial(_Quiet, directory=str(PAGE_DIR))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def page_url(self, api: str) -> str:
        return f"{self.origin}/page.html?api={api}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Wallet:
    """A Stellar wallet the page talks to as it would to Freighter: it signs only a SEP-10
    challenge of the expected server (``server_key``, ``home_domain``), as a careful wallet
    checks what it is asked to sign."""

    def __init__(self, server_key: str, home_domain: str) -> None:
        self.keypair = Keypair.random()
        self.server_key = server_key
        self.home_domain = home_domain
        self.signed: list[str] = []

    @property
    def address(self) -> str:
        return self.keypair.public_key

    def get_address(self) -> dict[str, str]:
        return {"address": self.address}

    def sign_transaction(self, xdr: str, options: dict[str, str]) -> dict[str, str]:
        passphrase = options["networkPassphrase"]
        # Raises for anything but our server's challenge; and it must be for this account.
        challenge = read_challenge_transaction(
            xdr, self.server_key, self.home_domain, self.home_domain, passphrase
        )
        if challenge.client_account_id != self.address:
            raise ValueError("the challenge is for another account")
        envelope = TransactionEnvelope.from_xdr(xdr, passphrase)
        envelope.sign(self.keypair)
        signed = envelope.to_xdr()
        self.signed.append(signed)
        return {"signedTxXdr": signed, "signerAddress": self.address}
