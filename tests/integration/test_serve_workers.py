"""`liquifact serve --workers N` / WEB_CONCURRENCY (issue 13, item 3): the value is checked,
settings that several processes would get wrong are refused, and real servers answer from
several worker processes on one port, run the embedded job worker once, and stop every worker
on SIGTERM / SIGINT, or on their own when the supervisor is killed."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import pytest
import uvicorn.config

from liquifact_http import cli
from liquifact_http.cli import EXIT_CONFIG, EXIT_LISTEN, main
from liquifact_http.serving import (
    STARTUP_FAILURE,
    WorkerApp,
    bind_socket,
    multiprocess_problems,
    uvicorn_config,
)
from liquifact_http.settings import WORKERS_MAX, ConfigError, Settings, load_settings
from tests.auth_helpers import API_KEYS, TEST_SECRET, bearer
from tests.factories import invoice_payload, new_tenant
from tests.integration.server import LIQUIFACT, ServerProcess


# ---- the value and the refusals, in process (nothing is started) ---------------------------
@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5", str(WORKERS_MAX + 1), "²"])
def test_a_bad_workers_option_is_a_usage_error(
    raw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--workers", raw])
    assert stopped.value.code == 2
    assert f"--workers: must be an integer from 1 to {WORKERS_MAX}" in capsys.readouterr().err


@pytest.mark.parametrize("raw", ["0", "many", str(WORKERS_MAX + 1)])
def test_a_bad_web_concurrency_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"WEB_CONCURRENCY": raw}, env_file=Path("/nonexistent"))
    assert refused.value.problems == [
        ("WEB_CONCURRENCY", f"must be an integer from 1 to {WORKERS_MAX}")
    ]
    assert (
        load_settings({"WEB_CONCURRENCY": "4"}, env_file=Path("/nonexistent")).web_concurrency == 4
    )


def _serve_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> None:
    monkeypatch.chdir(tmp_path)  # development secrets and .env: this folder's
    for name in ("REDIS_URL", "RATE_LIMIT_ENABLED", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'data.db'}")
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("how", ["option", "environment"])
def test_several_workers_without_redis_are_refused_while_rate_limits_are_on(
    how: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _serve_env(monkeypatch, tmp_path, **({"WEB_CONCURRENCY": "3"} if how == "environment" else {}))
    assert main(["serve", *(["--workers", "3"] if how == "option" else [])]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "Invalid configuration; the server was not started" in err
    assert "WEB_CONCURRENCY: 3 worker processes" in err and "REDIS_URL" in err
    assert not (tmp_path / "data.db").exists()  # refused before the store was opened


def test_one_worker_option_wins_over_web_concurrency(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`make run` passes --workers 1: a WEB_CONCURRENCY in the environment cannot turn it
    into several processes (nor get it refused)."""
    _serve_env(monkeypatch, tmp_path, WEB_CONCURRENCY="4")
    opened: list[Settings] = []

    def stop_at_the_store(settings: Settings, *_args: object) -> None:
        opened.append(settings)
        raise SystemExit(99)

    monkeypatch.setattr(cli, "_services", stop_at_the_store)
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--workers", "1"])
    assert stopped.value.code == 99  # past the multi-process checks
    assert [settings.web_concurrency for settings in opened] == [1]


def test_what_several_workers_need() -> None:
    def problems(**env: str) -> list[str]:
        settings = load_settings(env, env_file=Path("/nonexistent"))
        return [key for key, _ in multiprocess_problems(settings)]

    assert problems(WEB_CONCURRENCY="1") == []
    assert problems(WEB_CONCURRENCY="2") == ["WEB_CONCURRENCY"]
    assert problems(WEB_CONCURRENCY="2", RATE_LIMIT_ENABLED="false") == []
    assert problems(WEB_CONCURRENCY="2", REDIS_URL="redis://127.0.0.1:6379/0") == []
    in_memory = {"DATABASE_URL": "sqlite:///:memory:", "RATE_LIMIT_ENABLED": "false"}
    assert problems(WEB_CONCURRENCY="2", **in_memory) == ["DATABASE_URL"]
    assert problems(WEB_CONCURRENCY="1", **in_memory) == []


def test_the_worker_factory_crosses_to_a_spawned_process_whole() -> None:
    """uvicorn pickles the factory into each worker: every setting must survive it."""
    settings = load_settings(
        {
            "JWT_SECRET": TEST_SECRET,
            "API_KEYS": API_KEYS,
            "TRUST_PROXY": "loopback,10.0.0.0/8",
            "CORS_ALLOWED_ORIGINS": "http://localhost:3000",
            "WEB_CONCURRENCY": "2",
            "RATE_LIMIT_ENABLED": "false",
        },
        env_file=Path("/nonexistent"),
    )
    assert pickle.loads(pickle.dumps(WorkerApp(settings))) == WorkerApp(settings)


def test_a_worker_that_cannot_build_its_app_ends_with_startup_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """uvicorn's supervisor stops, rather than restarts, a worker that exits with 3."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{blocked / 'data.db'}",
            "JWT_SECRET": TEST_SECRET,
            "WEB_CONCURRENCY": "2",
            "RATE_LIMIT_ENABLED": "false",
            "LOG_FORMAT": "json",
        },
        env_file=Path("/nonexistent"),
    )
    with pytest.raises(SystemExit) as stopped:
        WorkerApp(settings)()
    assert stopped.value.code == STARTUP_FAILURE == uvicorn.config.STARTUP_FAILURE
    [record] = [json.loads(x) for x in capsys.readouterr().err.splitlines() if "worker_" in x]
    assert record["event"] == "worker_not_started" and record["pid"] == os.getpid()


def test_connections_to_the_workers_socket_get_tcp_nodelay() -> None:
    """uvicorn binds the workers' socket with protocol 0, so asyncio would leave Nagle's
    algorithm on for every connection (each keep-alive response then waits ~40 ms for the
    client's delayed ACK, uvicorn issue 3149); ``serving.bind_socket`` says TCP."""
    config = uvicorn_config(
        None, host="127.0.0.1", port=0, log_level="warning", shutdown_timeout_seconds=1
    )
    listener = bind_socket(config)
    assert listener.proto == socket.IPPROTO_TCP

    async def accepted_nodelay() -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Record(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await loop.create_server(Record, sock=listener)
        try:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            try:
                return await asyncio.wait_for(accepted, 30)
            finally:
                writer.close()
        finally:
            server.close()

    assert asyncio.run(accepted_nodelay()) == 1


# ---- real processes ---------------------------------------------------------------------------
def _worker_processes(parent: int) -> set[int]:
    """The supervisor's worker processes (multiprocessing's spawned children), from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        # The command may contain spaces and parentheses: the ppid follows the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _answering_pids(base: str, expected: set[int]) -> set[int]:
    """Which processes answer ``/metrics`` (``liquifact_server_process_info{pid}``), each
    request on a new connection, until every expected one has answered (at most 300
    requests: the kernel hands each connection to whichever worker accepts first)."""
    seen: set[int] = set()
    for _ in range(300):
        text = httpx.get(base + "/metrics", timeout=10).text
        line = next(x for x in text.splitlines() if x.startswith("liquifact_server_process_info"))
        seen.add(int(line.split('pid="')[1].split('"')[0]))
        if seen >= expected:
            break
    return seen


def _started_workers(server: ServerProcess, count: int) -> set[int]:
    return {int(str(server.wait_for_event("worker_process_started")["pid"])) for _ in range(count)}


def _records(server: ServerProcess) -> list[dict[str, object]]:
    records = [json.loads(line) for line in server.lines]  # every line is JSON
    assert all(isinstance(r, dict) and "event" in r for r in records)
    return records


@pytest.mark.slow
@pytest.mark.redis
def test_two_workers_on_sqlite_share_the_port_the_file_and_redis_then_stop_on_sigterm(
    redis_url: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data.db'}",
        "JWT_SECRET": TEST_SECRET,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"workers-{uuid.uuid4().hex}:",
    }
    server = ServerProcess(env, "--workers", "2", cwd=tmp_path)
    try:
        listening = server.wait_for_event("listening")
        assert listening["workers"] == 2 and listening["pid"] == server.process.pid
        assert listening["url"] == server.base
        workers = _started_workers(server, 2)
        assert _worker_processes(server.process.pid) == workers
        assert server.process.pid not in workers
        # Both workers answer on the one port.
        assert _answering_pids(server.base, workers) == workers

        # One SQLite file for all: an invoice written through one worker is read by whichever
        # answers (GET /v1/invoices is not cached), each read on a new connection.
        tenant = new_tenant()
        created = httpx.post(
            server.base + "/v1/invoices",
            json=invoice_payload(invoiceNumber="WORKERS-1"),
            headers=bearer("admin", tenant),
        )
        assert created.status_code == 201, created.text
        for _ in range(10):
            listed = httpx.get(server.base + "/v1/invoices", headers=bearer("admin", tenant))
            assert [i["invoiceNumber"] for i in listed.json()["data"]] == ["WORKERS-1"]
        assert httpx.get(server.base + "/ready").json()["cache"] == {"shared": True}

        os.kill(server.process.pid, signal.SIGTERM)
        assert server.wait() == 0
    finally:
        server.stop()
    records = _records(server)
    assert [r for r in records if r["event"] == "stopped"][-1]["signal"] == "SIGTERM"
    assert not any(_alive(pid) for pid in workers)  # no orphan
    events = [r["event"] for r in records]
    # Once, in the supervisor: the embedded job worker and the listening line.
    assert events.count("embedded_worker") == 1 and events.count("listening") == 1
    assert "process_local_cache" not in events  # the cache is shared
    # Every process closed its connections: the WAL was checkpointed away.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("data.db")) == ["data.db"]


def _pids_of_kept_connections(base: str, count: int) -> list[int]:
    """Open ``count`` keep-alive connections at once (as a proxy's pool or wrk does), then
    ask on each which process serves it."""
    clients = [httpx.Client(base_url=base, timeout=30) for _ in range(count)]
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda client: client.get("/health"), clients))  # all connected
            texts = list(pool.map(lambda client: client.get("/metrics").text, clients))
    finally:
        for client in clients:
            client.close()
    return [int(t.split('process_info{pid="')[1].split('"')[0]) for t in texts]


@pytest.mark.slow
def test_connections_opened_at_once_are_spread_over_the_workers_and_the_port_is_theirs(
    tmp_path: Path,
) -> None:
    """Each worker listens on a socket of its own (SO_REUSEPORT): the kernel spreads
    connections over them, where one shared socket let the first worker awake accept them
    all. A second server on the same port is refused, not let in to share the traffic."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data.db'}",
        "JWT_SECRET": TEST_SECRET,
        "RATE_LIMIT_ENABLED": "false",
    }
    server = ServerProcess(env, "--workers", "2", cwd=tmp_path)
    try:
        server.wait_for_event("listening")
        workers = _started_workers(server, 2)
        # 20 connections: all on one worker by chance is a 1 in 500,000 event.
        assert set(_pids_of_kept_connections(server.base, 20)) == workers
        second = subprocess.run(
            [LIQUIFACT, "serve", "--workers", "2", "--port", str(server.port)],
            env={**os.environ, "LOG_FORMAT": "json", **env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode == EXIT_LISTEN, second.stderr[-2000:]
        assert '"event": "could_not_listen"' in second.stderr
        assert _answering_pids(server.base, workers) == workers  # the first one still serves
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.postgres
def test_web_concurrency_on_postgres_without_redis_warns_and_stops_on_sigint(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": postgres_url,
        "JWT_SECRET": TEST_SECRET,
        "CURSOR_SECRET": "c" * 40,
        "WEB_CONCURRENCY": "2",
        "RATE_LIMIT_ENABLED": "false",  # allowed without Redis: nothing counts per process
    }
    server = ServerProcess(env, cwd=tmp_path)
    try:
        assert server.wait_for_event("listening")["workers"] == 2
        workers = _started_workers(server, 2)
        assert _answering_pids(server.base, workers) == workers
        ready = httpx.get(server.base + "/ready").json()
        assert ready["cache"]["shared"] is False
        assert "WEB_CONCURRENCY" in ready["cache"]["warning"]
        os.kill(server.process.pid, signal.SIGINT)
        assert server.wait() == 0
    finally:
        server.stop()
    records = _records(server)
    warnings = [r for r in records if r["event"] == "process_local_cache"]
    assert len(warnings) == 1 and "worker" in str(warnings[0]["detail"])
    assert [r for r in records if r["event"] == "stopped"][-1]["signal"] == "SIGINT"
    assert "embedded_worker" not in [r["event"] for r in records]  # PostgreSQL: none
    assert not any(_alive(pid) for pid in workers)


@pytest.mark.slow
def test_workers_are_replaced_when_they_die_or_on_sighup_and_stop_with_their_supervisor(
    tmp_path: Path,
) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data.db'}",
        "JWT_SECRET": TEST_SECRET,
        "RATE_LIMIT_ENABLED": "false",
    }
    server = ServerProcess(env, "--workers", "2", cwd=tmp_path)
    try:
        server.wait_for_event("listening")
        first = _started_workers(server, 2)
        # A worker that dies is replaced, on its own socket.
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        died = server.wait_for_event("worker_process_died")
        assert died["pid"] == victim and died["exit_code"] == -signal.SIGKILL
        second = (first - {victim}) | _started_workers(server, 1)
        assert _answering_pids(server.base, second) == second
        # SIGHUP: every worker replaced, one by one.
        os.kill(server.process.pid, signal.SIGHUP)
        server.wait_for_event("workers_replacing")
        third = _started_workers(server, 2)
        assert not third & second and _worker_processes(server.process.pid) == third
        assert _answering_pids(server.base, third) == third
        # The supervisor killed without a chance to stop them: each worker notices and shuts
        # down as on SIGTERM; wait() returns once the stderr pipe they share is closed.
        os.kill(server.process.pid, signal.SIGKILL)
        assert server.wait() == -signal.SIGKILL
    finally:
        server.stop()
    assert not any(_alive(pid) for pid in first | second | third)
    finished = [r for r in _records(server) if str(r["event"]).startswith("Finished server")]
    assert len(finished) == 4  # the two replaced by SIGHUP, the two left at the end


def test_a_worker_started_after_its_supervisor_died_stops_itself(tmp_path: Path) -> None:
    """The supervisor's pid travels with the app factory: a worker whose supervisor vanished
    before the worker watched it (it was already re-parented) still stops at once."""
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'data.db'}",
            "JWT_SECRET": TEST_SECRET,
            "RATE_LIMIT_ENABLED": "false",
        },
        env_file=Path("/nonexistent"),
    )
    from liquifact_adapters.composition import open_store
    from liquifact_http.settings import services_config

    open_store(services_config(settings)).close()  # migrated, as the supervisor would
    gone = os.getppid() + 1_000_000  # not this process's parent, whatever it is
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda number, _frame: received.append(number))
    try:
        WorkerApp(settings, supervisor=gone)()
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == [signal.SIGTERM]
