"""Run ``liquifact serve`` as a real process for black-box tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx

LIQUIFACT = str(Path(sys.executable).with_name("liquifact"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(env: Mapping[str, str], *args: str, cwd: Path | None = None) -> Iterator[str]:
    """Start the server, wait until /health answers, yield its base URL, stop it."""
    port = free_port()
    process = subprocess.Popen(
        [LIQUIFACT, "serve", "--port", str(port), *args],
        env={**os.environ, "LOG_FORMAT": "json", **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise RuntimeError(f"server exited early: {output[-2000:]}")
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


class ServerProcess:
    """A ``liquifact serve`` process whose stderr (the JSON log stream) is read line by line.

    ``wait_for_event`` blocks until a log line with that ``event`` appears (no polling of the
    API, no sleeps): the server says when it listens, shuts down, and so on.
    """

    def __init__(self, env: Mapping[str, str], *args: str, cwd: Path | None = None) -> None:
        import queue
        import threading

        self.port = free_port()
        self.process = subprocess.Popen(
            [LIQUIFACT, "serve", "--port", str(self.port), *args],
            env={**os.environ, "LOG_FORMAT": "json", **env},
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def wait_for_event(self, event: str, timeout: float = 30) -> dict[str, object]:
        """The first log record named ``event`` from now on; raises if the process ends first."""
        import json
        import queue

        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no {event!r} log line; got: {self.lines[-20:]}") from None
            if line is None:
                raise RuntimeError(f"server ended before {event!r}: {self.lines[-20:]}")
            try:
                record = json.loads(line)
            except ValueError:
                continue  # judged by the caller through self.lines
            if isinstance(record, dict) and record.get("event") == event:
                return record

    def wait(self, timeout: float = 60) -> int:
        """The exit status, once the process and its stderr have ended."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()
