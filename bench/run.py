"""`make bench`: the real server under wrk, cached and uncached, with the issue's ratios.

    python bench/run.py [--sizes 100000,1000000] [--stores postgres,sqlite] [--workers 1,2]
                        [--scenarios first,filtered,deep,invoices,health,bare]
                        [--duration 10] [--connections 10] [--threads 1] [--warmup 2]

For each store and size it seeds one tenant with that many investable invoices (bulk COPY /
INSERT straight into ``invoices`` through the schema the project's migrations create, triggers
left on; reused when already there: PostgreSQL databases ``liquifact_bench_<size>``, SQLite
files ``bench/var/liquifact_bench_<size>.sqlite3``). For each worker count it starts the real
server (``liquifact serve --workers N``), mints an investor and an admin token with
``liquifact token``, and drives each scenario with wrk (a C load generator, run as a child
process whose CPU time is read back with ``wait4``), once through the response cache and once
with ``Cache-Control: no-cache``. The same uvicorn configuration then serves a bare Starlette
app for the ``/health`` yardstick. It prints one table of rates and latencies and one of the
issue's ratios (uncached/cached, largest/smallest size, ``/health``/bare, workers N/1) with
pass/miss against the targets, and writes both as Markdown and JSON to ``bench/reports/``.
Targets are figures for docs/performance.md, never assertions: the exit status is 1 only when
a run failed (a server that did not start, errors or non-2xx answers under load).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
import httpx2
from stellar_sdk.strkey import StrKey

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
VAR = ROOT / "var"
LUA = ROOT / "wrk_report.lua"
TENANT = "bench-tenant"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Distinct validated drafts the seed cycles through; each SME gets each draft once, so
# (sme, invoice number) stays unique as the live-number index requires.
DRAFTS = 2000
CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---- scenarios -------------------------------------------------------------------------------
CACHED, UNCACHED, SINGLE = "cached", "uncached", "-"
MODE_HEADERS = {CACHED: {}, UNCACHED: {"Cache-Control": "no-cache"}, SINGLE: {}}
FIRST = "/v1/marketplace?sortBy=yield_bps&order=desc&limit=10"
FILTERED = (
    "/v1/marketplace?yieldBpsMin=500&yieldBpsMax=1200&fundedRatioMax=50"
    "&maturityDateFrom=2026-03-01&sortBy=maturity_date&order=asc&limit=10"
)


@attrs.frozen
class Scenario:
    """One load target: its label, who calls it, and whether it is run cached and uncached."""

    key: str
    label: str
    role: str | None  # the token's role; None: no Authorization header
    modes: tuple[str, ...] = (CACHED, UNCACHED)
    bare: bool = False  # served by bench/bare_app.py instead of liquifact serve


SCENARIOS = {
    s.key: s
    for s in (
        Scenario("first", "marketplace first page", "investor"),
        Scenario("filtered", "marketplace filtered page", "investor"),
        Scenario("deep", "marketplace deep cursor page (90%)", "investor"),
        Scenario("invoices", "GET /v1/invoices (admin)", "admin"),
        Scenario("health", "/health", None, (SINGLE,)),
        Scenario("bare", "bare Starlette /health", None, (SINGLE,), bare=True),
    )
}
# The pages whose uncached cost the issue's targets are about.
PAGES = ("first", "filtered", "deep", "invoices")


# ---- seeding ---------------------------------------------------------------------------------
def _drafts(count: int) -> list[Any]:
    """``count`` distinct drafts, each validated by the core as an API submission would be."""
    from liquifact_core.amounts import Money
    from liquifact_core.invoices import InvoiceDraft

    rng = random.Random(42)
    drafts = []
    for k in range(count):
        issue = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 60))
        amount = Decimal(rng.randrange(100_00, 5_000_000_00)) / 100
        drafts.append(
            InvoiceDraft(
                invoice_number=f"BENCH-{k:05d}",
                buyer_name=f"Buyer {k % 997} Ltd",
                amount=Money(amount, "USD"),
                issue_date=issue,
                due_date=issue + timedelta(days=rng.randrange(15, 180)),
                yield_bps=rng.randrange(100, 1500),
                description="Bench invoice",
            )
        )
    return drafts


def invoices(count: int) -> Iterator[Any]:
    """``count`` investable invoices of the bench tenant (linked to an escrow, 40% unfunded,
    the rest partially funded), made by the core's own types: the row mapping then writes
    every derived column exactly as the store does."""
    from liquifact_core.ids import sortable_id
    from liquifact_core.invoices import Invoice
    from liquifact_core.lifecycle import InvoiceStatus

    drafts = _drafts(min(count, DRAFTS))
    rng = random.Random(7)
    for n in range(count):
        target = rng.randrange(10_000_000, 100_000_000_000)
        funded = 0 if rng.random() < 0.4 else rng.randrange(1, target)
        created = T0 + timedelta(seconds=n)
        yield Invoice(
            id=sortable_id("inv_", int(created.timestamp() * 1000), n.to_bytes(10, "big")),
            tenant_id=TENANT,
            sme_id=f"sme-{n // len(drafts)}",
            draft=drafts[n % len(drafts)],
            status=InvoiceStatus.PARTIALLY_FUNDED if funded else InvoiceStatus.LINKED_ESCROW,
            version=3,
            created_at=created,
            updated_at=created,
            # Each invoice has an escrow contract of its own (a unique index holds the rule).
            escrow_address=StrKey.encode_contract(n.to_bytes(32, "big")),
            funding_target_stroops=target,
            funded_stroops=funded,
        )


def _batches(count: int, size: int = 10_000) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for invoice in invoices(count):
        batch.append(invoice)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def sqlite_path(size: int, directory: Path = VAR) -> Path:
    return directory / f"liquifact_bench_{size}.sqlite3"


def seed_sqlite(path: str | Path, count: int) -> str:
    """The bench tenant's ``count`` invoices in the SQLite file at ``path`` (created and
    migrated by the store itself); "reused" when they are already there, else "seeded"
    (a file holding another number is rebuilt)."""
    from liquifact_adapters.sql.statements import INSERT_INVOICE
    from liquifact_adapters.sqlite import SqliteStore
    from liquifact_adapters.sqlite.mapping import ROWS

    path = Path(path)
    if path.exists() and _sqlite_count(path) not in (0, count):
        for stale in path.parent.glob(path.name + "*"):
            stale.unlink()
    SqliteStore(str(path)).close()  # creates and migrates the file
    if _sqlite_count(path) == count:
        return "reused"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous = OFF")  # a bench file: speed over durability
        for batch in _batches(count):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(INSERT_INVOICE, [ROWS.invoice_params(i) for i in batch])
            connection.execute("COMMIT")
        connection.execute("ANALYZE")
    finally:
        connection.close()
    return "seeded"


def _sqlite_count(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        row = connection.execute(
            "SELECT count(*) FROM invoices WHERE tenant_id = ?", (TENANT,)
        ).fetchone()
        return int(row[0])
    except sqlite3.OperationalError:  # no schema yet
        return 0
    finally:
        connection.close()


def postgres_database_url(server_url: str, size: int) -> str:
    """``server_url`` with its database replaced by ``liquifact_bench_<size>``."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/liquifact_bench_{size}"))


def seed_postgres(url: str, count: int) -> str:
    """The bench tenant's ``count`` invoices in the PostgreSQL database ``url`` names (created
    when missing, then migrated by the project's migrations); "reused" or "seeded", like
    ``seed_sqlite``. Rows go in with ``COPY`` (row triggers fire for it as for INSERT) as the
    connecting user, which must bypass row-level security (the ``postgres`` superuser does);
    otherwise with pipelined INSERTs as the application role. Then ``VACUUM (ANALYZE)``, as
    autovacuum would arrange in production."""
    import psycopg

    from liquifact_adapters.postgres import DEFAULT_APP_ROLE, migrate

    _create_database(url)
    migrate(url)
    existing = _postgres_count(url)
    if existing == count:
        return "reused"
    if existing:
        _drop_database(url)
        _create_database(url)
        migrate(url)
    try:
        _copy_invoices(url, count)
    except psycopg.errors.FeatureNotSupported:  # COPY FROM under row-level security
        _insert_invoices(url, count, DEFAULT_APP_ROLE)
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute("VACUUM (ANALYZE) invoices")
    return "seeded"


def _admin_url(url: str) -> tuple[str, str]:
    """The maintenance database's URL on the same server, and the database ``url`` names."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def _create_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if found.fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _postgres_count(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute("SELECT set_config('app.tenant_id', %s, true)", (TENANT,))
        row = connection.execute(
            "SELECT count(*) FROM invoices WHERE tenant_id = %s", (TENANT,)
        ).fetchone()
        return 0 if row is None else int(row[0])


def _copy_invoices(url: str, count: int) -> None:
    import psycopg

    from liquifact_adapters.postgres.mapping import ROWS
    from liquifact_adapters.sql.statements import INVOICE_COLUMNS

    names = [name.strip() for name in INVOICE_COLUMNS.split(",")]
    statement = f"COPY invoices ({INVOICE_COLUMNS}) FROM STDIN"
    with (
        psycopg.connect(url) as connection,
        connection.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for batch in _batches(count):
            for invoice in batch:
                row = ROWS.invoice_params(invoice)
                copy.write_row([row[name] for name in names])


def _insert_invoices(url: str, count: int, role: str) -> None:
    import psycopg

    from liquifact_adapters.postgres.mapping import ROWS
    from liquifact_adapters.sql.statements import INSERT_INVOICE, pyformat

    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('role', %s, true), set_config('app.tenant_id', %s, true)",
            (role, TENANT),
        )
        for batch in _batches(count):
            cursor.executemany(pyformat(INSERT_INVOICE), [ROWS.invoice_params(i) for i in batch])


# ---- processes: the server, the bare app, tokens ---------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    """The environment of the bench's children: this checkout first on the import path."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


@attrs.define
class Served:
    """A server process (``liquifact serve`` or the bare app) and its log file."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path
    workers: int

    def pids(self) -> list[int]:
        """The process and its children (the worker processes, with ``--workers``)."""
        return [self.process.pid, *_children(self.process.pid)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
    return found


@contextmanager
def started(
    command: list[str], env: dict[str, str], workers: int, log: Path, cwd: Path
) -> Iterator[Served]:
    """Start ``command`` (it listens on ``env['PORT']``) without waiting for it (see
    ``ready``); stop it with SIGTERM on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{env['PORT']}"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
    served = Served(process, base, log, workers)
    try:
        yield served
    finally:
        served.stop()


def ready(served: Served, *, bare: bool) -> Served:
    """``served`` once ``/health`` answers and, with several workers, each has answered."""
    _wait_healthy(served)
    if served.workers > 1:
        _wait_for_workers(served, served.workers, bare=bare)
    return served


def _wait_healthy(served: Served, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise SystemExit(
                f"server exited with {served.process.returncode}; its log: {served.log}\n"
                + served.log.read_text(errors="replace")[-3000:]
            )
        try:
            if httpx2.get(served.base + "/health", timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server not healthy within {timeout} s; its log: {served.log}")


def _wait_for_workers(served: Served, workers: int, bare: bool) -> None:
    """Until ``workers`` distinct processes have answered, each request on a new connection
    (``liquifact_server_process_info{pid}`` of ``/metrics``; the bare app's ``/pid``)."""
    seen: set[str] = set()
    for _ in range(400):
        text = httpx2.get(served.base + ("/pid" if bare else "/metrics"), timeout=10).text
        pids = [text.strip()] if bare else re.findall(r'process_info\{pid="(\d+)"', text)
        seen.update(pids)
        if len(seen) >= workers:
            return
        time.sleep(0.05)
    raise SystemExit(f"only {len(seen)} of {workers} worker processes answered")


def server_command(workers: int) -> list[str]:
    return [sys.executable, "-m", "liquifact_http.cli", "serve", "--workers", str(workers)]


def bare_command(workers: int) -> list[str]:
    return [sys.executable, str(ROOT / "bare_app.py"), "--workers", str(workers)]


def mint_token(role: str, jwt_secret: str) -> str:
    """A token as ``liquifact token --role <role> --tenant bench-tenant`` prints it (the same
    function, called here rather than in a subprocess to keep quick runs quick)."""
    from liquifact_core.lifecycle import Role
    from liquifact_http.auth import mint_token as mint
    from liquifact_http.settings import load_settings

    settings = load_settings({"JWT_SECRET": jwt_secret}, env_file=Path("/nonexistent"))
    return mint(
        settings, role=Role(role), tenant_id=TENANT, subject=f"bench-{role}", ttl_seconds=86400
    )


# ---- wrk -------------------------------------------------------------------------------------
def wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].strip()


def _cpu_ticks(pids: Sequence[int]) -> dict[int, int]:
    """User + system CPU time of each live process of ``pids`` (from /proc), in clock ticks."""
    ticks = {}
    for pid in pids:
        with suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


def _cpu_used(before: dict[int, int], after: dict[int, int]) -> float:
    """Seconds of CPU between two samples: processes present in both, plus new ones whole
    (a process that ended meanwhile is left out: its last ticks are gone with it)."""
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / CLK_TCK


def _postgres_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
    return found


def _machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of every CPU since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def run_wrk(
    url: str,
    headers: dict[str, str],
    *,
    duration: int,
    connections: int,
    threads: int,
    watch: Sequence[int] = (),
) -> dict[str, Any]:
    """One wrk run against ``url``: its summary (rate, latency percentiles in ms, errors), the
    CPU seconds wrk itself used (``wait4`` on the child), those of the ``watch`` processes
    (the server and its workers) and of PostgreSQL's processes, and how busy the machine was."""
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s"]
    command += ["--timeout", "10s", "-s", str(LUA)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    server_before, postgres_before = _cpu_ticks(watch), _cpu_ticks(_postgres_pids())
    busy_before = _machine_busy()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    out = process.stdout.read().decode()
    err = process.stderr.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    busy_after = _machine_busy()
    line = next((x for x in out.splitlines() if x.startswith("WRK_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({process.returncode}): {err or out}")
    summary = json.loads(line.removeprefix("WRK_JSON "))
    seconds = summary["duration_us"] / 1e6
    latency = summary["latency_us"]
    errors = summary["errors"]
    wrk_cpu = usage.ru_utime + usage.ru_stime
    busy = busy_after[0] - busy_before[0]
    total = busy_after[1] - busy_before[1]
    return {
        "requests": summary["requests"],
        "seconds": round(seconds, 3),
        "rate": round(summary["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(latency["p50"] / 1000, 2),
        "p90_ms": round(latency["p90"] / 1000, 2),
        "p99_ms": round(latency["p99"] / 1000, 2),
        "max_ms": round(latency["max"] / 1000, 2),
        "errors": errors,
        "failed": sum(errors.values()),
        "wrk_cpu_s": round(wrk_cpu, 3),
        "wrk_cpu_pct": round(100 * wrk_cpu / wall, 1),
        "server_cpu_s": round(_cpu_used(server_before, _cpu_ticks(watch)), 2),
        "postgres_cpu_s": round(_cpu_used(postgres_before, _cpu_ticks(_postgres_pids())), 2),
        "machine_busy_pct": round(100 * busy / total, 1) if total else None,
    }


# ---- one server: discover the URLs, probe, load ------------------------------------------------
def discover(base: str, tokens: dict[str, str], size: int) -> dict[str, str]:
    """The path of each page scenario. The deep cursor: the offset page at 90% of the
    investable invoices, then three ``nextCursor`` hops, so the URL is a real cursor page."""
    auth = {"Authorization": f"Bearer {tokens['investor']}", "Cache-Control": "no-cache"}
    limit, hops = 10, 3
    page = max(1, int(size * 0.9) // limit - hops)
    with httpx2.Client(base_url=base, headers=auth, timeout=120) as client:
        answer = client.get(f"{FIRST}&page={page}")
        answer.raise_for_status()
        cursor = answer.json()["meta"]["nextCursor"]
        for _ in range(hops):
            step = client.get(f"{FIRST}&cursor={cursor}")
            step.raise_for_status()
            following = step.json()["meta"]["nextCursor"]
            if not following:
                break
            cursor = following
    if not cursor:
        raise SystemExit(f"no cursor at page {page}: is the store seeded with {size} invoices?")
    return {
        "first": FIRST,
        "filtered": FILTERED,
        "deep": f"{FIRST}&cursor={cursor}",
        "invoices": "/v1/invoices",
        "health": "/health",
        "bare": "/health",
    }


def cursor_walk(base: str, token: str, limit: int = 100) -> dict[str, Any]:
    """Page through the whole marketplace by cursor, uncached (``--walk``): is every
    investable invoice seen exactly once, and does ``meta.total`` agree?"""
    seen: list[str] = []
    headers = {"Authorization": f"Bearer {token}", "Cache-Control": "no-cache"}
    path = f"/v1/marketplace?sortBy=yield_bps&order=desc&limit={limit}"
    started = time.perf_counter()
    with httpx2.Client(base_url=base, headers=headers, timeout=120) as client:
        cursor = None
        while True:
            page = client.get(path + (f"&cursor={cursor}" if cursor else ""))
            page.raise_for_status()
            body = page.json()
            seen += [item["id"] for item in body["data"]]
            cursor = body["meta"]["nextCursor"]
            if not body["meta"]["hasMore"] or not cursor:
                break
    total = body["meta"]["total"]
    return {
        "pages": -(-len(seen) // limit),
        "invoices_seen": len(seen),
        "distinct": len(set(seen)),
        "meta_total": total,
        "every_invoice_once": len(seen) == len(set(seen)) == total,
        "seconds": round(time.perf_counter() - started, 1),
    }


def probe(base: str, path: str, headers: dict[str, str], workers: int) -> str:
    """Requests as the load will send them, each on a new connection: all must answer 200.
    Returns the ``X-Cache`` of all but the first ("HIT", "MISS", "HIT 3/4" with several
    workers whose caches are still filling, or "none": a route the cache does not cover)."""
    seen = []
    for _ in range(1 + 2 * workers):
        answer = httpx2.get(base + path, headers=headers, timeout=120)
        if answer.status_code != 200:
            raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:300]}")
        seen.append(answer.headers.get("x-cache", "none"))
    later = seen[1:]
    if len(set(later)) == 1:
        return later[0]
    return f"HIT {later.count('HIT')}/{len(later)}"


def measure(
    served: Served,
    scenario: Scenario,
    path: str,
    tokens: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, dict[str, Any]]:
    """Each mode of ``scenario`` under wrk (after ``--warmup`` seconds of unmeasured load)."""
    results = {}
    for mode in scenario.modes:
        headers = dict(MODE_HEADERS[mode])
        if scenario.role is not None:
            headers["Authorization"] = f"Bearer {tokens[scenario.role]}"
        x_cache = probe(served.base, path, headers, served.workers)
        load = {
            "connections": args.connections,
            "threads": min(args.threads, args.connections),
            "watch": served.pids(),
        }
        if args.warmup > 0:
            run_wrk(served.base + path, headers, duration=args.warmup, **load)
        result = run_wrk(served.base + path, headers, duration=args.duration, **load)
        result["x_cache"] = x_cache
        results[mode] = result
        print(f"  {scenario.label} [{mode}]: {_brief(result)}", flush=True)
    return results


def _brief(result: dict[str, Any]) -> str:
    return (
        f"{result['rate']} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"errors {result['failed']}, X-Cache {result['x_cache']}, wrk CPU "
        f"{result['wrk_cpu_s']} s ({result['wrk_cpu_pct']}%), server CPU "
        f"{result['server_cpu_s']} s"
    )


def run_group(
    store: str,
    size: int,
    database_url: str,
    workers: int,
    tokens: dict[str, str],
    secrets_env: dict[str, str],
    args: argparse.Namespace,
    walks: dict[str, Any],
) -> dict[str, Any]:
    """Every selected scenario against one server (store, size, worker count), then the bare
    app served the same way; ``--walk`` results go to ``walks``."""
    chosen = [SCENARIOS[key] for key in args.scenarios]
    results: dict[str, Any] = {}
    logs = args.var_dir / "logs"
    stamp = f"{store}-{size}-w{workers}"
    server_scenarios = [s for s in chosen if not s.bare]
    with ExitStack() as stack:
        bare = None
        if any(s.bare for s in chosen):
            # Started first so that its start-up overlaps the server's; measured last.
            port = str(free_port())
            command = [*bare_command(workers), "--port", port, "--log-level", args.log_level]
            log = logs / f"bare-w{workers}.log"
            bare = stack.enter_context(
                started(command, child_env(PORT=port), workers, log, args.var_dir)
            )
        if server_scenarios:
            port = str(free_port())
            env = child_env(
                DATABASE_URL=database_url,
                HOST="127.0.0.1",
                PORT=port,
                LOG_LEVEL=args.log_level,
                LOG_FORMAT="json",
                RATE_LIMIT_ENABLED="false",  # the bench measures the server, not the limiter
                # The one offset page that finds the deep cursor reads 90% of the index: at a
                # million invoices on a busy machine it can outlast the default 5 s.
                DATABASE_STATEMENT_TIMEOUT_MS="60000",
                NODE_ENV="development",
                **secrets_env,
                **(
                    {
                        "REDIS_URL": args.redis_url,
                        "REDIS_KEY_PREFIX": f"bench-{secrets.token_hex(4)}:",
                    }
                    if args.redis_url
                    else {"REDIS_URL": ""}
                ),
            )
            log = logs / f"{stamp}.log"
            with started(server_command(workers), env, workers, log, args.var_dir) as served:
                ready(served, bare=False)
                paths = discover(served.base, tokens, size)
                if args.walk:
                    walk = cursor_walk(served.base, tokens["investor"])
                    print(f"  cursor walk: {walk}", flush=True)
                    walks[f"{store} {size} invoices, {workers} worker(s)"] = walk
                for scenario in server_scenarios:
                    path = paths[scenario.key]
                    results[scenario.key] = measure(served, scenario, path, tokens, args)
        if bare is not None:
            ready(bare, bare=True)
            results["bare"] = measure(bare, SCENARIOS["bare"], "/health", tokens, args)
    return results


# ---- the ratios ------------------------------------------------------------------------------
@attrs.frozen
class Check:
    """One of the issue's ratios or ceilings, measured, with its target."""

    name: str
    store: str
    size: int | None
    workers: int | None
    value: float | None
    target: float
    kind: str  # "min" (value >= target) or "max" (value <= target)
    issue: bool  # the issue sets this target (PostgreSQL, one process, 10 connections)
    detail: str = ""

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.target if self.kind == "min" else self.value <= self.target


def _rate(results: dict[str, Any], *keys: Any) -> float | None:
    node: Any = results
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node["rate"]) if isinstance(node, dict) and "rate" in node else None


ISSUE_SIZES = (100_000, 1_000_000)


def checks(results: dict[str, Any], connections: int) -> list[Check]:
    """The issue's targets over whatever this run measured. ``issue`` marks the checks made
    under the issue's own conditions (PostgreSQL, 10 connections, one server process except
    for the workers ratio, 100,000 or 1,000,000 invoices); the others are the same ratio on
    another store, size or worker count, for information."""
    found: list[Check] = []
    for store, by_size in results.items():
        sizes = sorted(int(size) for size in by_size)
        conditions = store == "postgres" and connections == 10
        for size in sizes:
            for workers_key, group in by_size[str(size)].items():
                workers = int(workers_key)
                issue = conditions and workers == 1 and size in ISSUE_SIZES
                for page in PAGES:
                    cached = _rate(group, page, CACHED)
                    uncached = _rate(group, page, UNCACHED)
                    if cached and uncached is not None:
                        uncovered = group[page][CACHED]["x_cache"] == "none"
                        found.append(
                            Check(
                                f"{page}: uncached / cached rate", store, size, workers,
                                round(uncached / cached, 2), 0.5, "min", issue,
                                f"{uncached} / {cached} req/s"
                                + (" (no response cache on this route)" if uncovered else ""),
                            )
                        )  # fmt: skip
                    if uncached is not None:
                        # The ceiling is the marketplace pages' (the invoice list: information).
                        found.append(
                            Check(
                                f"{page}: uncached p99 ms", store, size, workers,
                                group[page][UNCACHED]["p99_ms"], 25.0, "max",
                                issue and page != "invoices",
                            )
                        )  # fmt: skip
                health, bare = _rate(group, "health", SINGLE), _rate(group, "bare", SINGLE)
                if health is not None and bare:
                    found.append(
                        Check(
                            "/health / bare Starlette rate", store, size, workers,
                            round(health / bare, 2), 0.7, "min", conditions and workers == 1,
                            f"{health} / {bare} req/s",
                        )
                    )  # fmt: skip
        if len(sizes) > 1:
            small, large = sizes[0], sizes[-1]
            for workers_key in by_size[str(large)]:
                workers = int(workers_key)
                issue = conditions and workers == 1 and (small, large) == ISSUE_SIZES
                for page in PAGES:
                    low = _rate(by_size, str(small), workers_key, page, UNCACHED)
                    high = _rate(by_size, str(large), workers_key, page, UNCACHED)
                    if low and high is not None:
                        found.append(
                            Check(
                                f"{page}: uncached rate at {large:,} / {small:,} invoices",
                                store, None, workers, round(high / low, 2), 0.8, "min", issue,
                                f"{high} / {low} req/s",
                            )
                        )  # fmt: skip
        for size in sizes:
            by_workers = by_size[str(size)]
            counts = sorted(int(w) for w in by_workers)
            if len(counts) < 2 or counts[0] != 1:
                continue
            for workers in counts[1:]:
                for page in ("first", "filtered", "deep"):
                    one = _rate(by_workers, "1", page, UNCACHED)
                    many = _rate(by_workers, str(workers), page, UNCACHED)
                    if one and many is not None:
                        issue = conditions and page == "first" and size in ISSUE_SIZES
                        found.append(
                            Check(
                                f"{page}: uncached rate {workers} workers / 1", store, size,
                                workers, round(many / one, 2), 1.4, "min",
                                issue and workers == 2, f"{many} / {one} req/s",
                            )
                        )  # fmt: skip
    return found


# ---- reports ---------------------------------------------------------------------------------
def _verdict(check: Check) -> str:
    if check.passed is None:
        return "n/a"
    return "pass" if check.passed else "MISS"


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        "# LiquiFact bench",
        "",
        f"- started {report['started_at']}, {report['elapsed_s']} s; {machine['cpus']} CPUs, "
        f"load average before {machine['loadavg_before']}, after {machine['loadavg_after']}",
        f"- {machine['platform']}, Python {machine['python']}, SQLite {machine['sqlite']}, "
        f"PostgreSQL {machine.get('postgres') or 'not used'}, {machine['wrk']}",
        f"- wrk: {report['connections']} connections, {report['threads']} thread(s), "
        f"{report['duration_s']} s per run after {report['warmup_s']} s of warm-up; server "
        f"LOG_LEVEL={report['log_level']}, RATE_LIMIT_ENABLED=false, "
        f"cache {'Redis' if report['redis'] else 'in-process'}",
        f"- seeding: {report['seeding']}",
        "",
        "| store | invoices | workers | scenario | mode | req/s | p50 ms | p99 ms | errors "
        "| X-Cache | wrk CPU s (% of a core) | server CPU s | PostgreSQL CPU s (all) "
        "| machine busy % |",
        "|---|---:|---:|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for store, by_size in report["results"].items():
        for size, by_workers in by_size.items():
            for workers, group in by_workers.items():
                for key, modes in group.items():
                    for mode, r in modes.items():
                        lines.append(
                            f"| {store} | {int(size):,} | {workers} | {SCENARIOS[key].label} "
                            f"| {mode} | {r['rate']:,} | {r['p50_ms']} | {r['p99_ms']} "
                            f"| {r['failed']} | {r['x_cache']} | {r['wrk_cpu_s']} "
                            f"({r['wrk_cpu_pct']}%) | {r['server_cpu_s']} "
                            f"| {r['postgres_cpu_s']} | {r['machine_busy_pct']} |"
                        )
    for name, walk in report.get("walks", {}).items():
        lines.append(
            f"\nCursor walk ({name}, uncached, limit 100): {walk['invoices_seen']} invoices in "
            f"{walk['pages']} pages, {walk['distinct']} distinct, meta.total "
            f"{walk['meta_total']}; every invoice exactly once: {walk['every_invoice_once']} "
            f"({walk['seconds']} s)."
        )
    lines += [
        "",
        "Targets (issue 13; **target** marks the issue's own conditions: PostgreSQL, one "
        "server process, 10 connections; other rows are the same ratio for information):",
        "",
        "| check | store | invoices | workers | measured | target | result | |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for c in report["checks"]:
        bound = (">= " if c["kind"] == "min" else "<= ") + str(c["target"])
        size = "-" if c["size"] is None else f"{c['size']:,}"
        verdict = _verdict(Check(**c))
        lines.append(
            f"| {c['name']} | {c['store']} | {size} | {c['workers']} | {c['value']} | {bound} "
            f"| {'**target** ' if c['issue'] else ''}{verdict} | {c['detail']} |"
        )
    return "\n".join(lines) + "\n"


def write_reports(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = report["started_at"].replace(":", "").replace("-", "")[:15]
    json_path, md_path = directory / f"bench-{stamp}.json", directory / f"bench-{stamp}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def _postgres_version(url: str) -> str | None:
    import psycopg

    with suppress(psycopg.Error), psycopg.connect(_admin_url(url)[0]) as connection:
        row = connection.execute("SHOW server_version").fetchone()
        return None if row is None else str(row[0])
    return None


# ---- main ------------------------------------------------------------------------------------
def _csv(kind: type, allowed: Sequence[str] | None = None) -> Any:
    def parse(raw: str) -> list[Any]:
        values = [kind(x.strip().replace("_", "")) for x in raw.split(",") if x.strip()]
        if allowed is not None:
            unknown = [v for v in values if v not in allowed]
            if unknown:
                raise argparse.ArgumentTypeError(f"unknown: {unknown}; choose from {allowed}")
        if not values or (kind is int and min(values) < 1):
            raise argparse.ArgumentTypeError("a comma-separated list of positive values")
        return values

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", type=_csv(int), default=[100_000, 1_000_000])
    parser.add_argument(
        "--stores", type=_csv(str, ("postgres", "sqlite")), default=["postgres", "sqlite"]
    )
    parser.add_argument("--workers", type=_csv(int), default=[1, 2])
    parser.add_argument("--scenarios", type=_csv(str, tuple(SCENARIOS)), default=list(SCENARIOS))
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per run")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--redis-url", help="share the server's cache in Redis (default: none)")
    parser.add_argument("--log-level", default="warning", help="the server's LOG_LEVEL")
    parser.add_argument(
        "--walk",
        action="store_true",
        help="also page the whole marketplace by cursor, checking every invoice appears once",
    )
    parser.add_argument(
        "--var-dir",
        type=Path,
        default=VAR,
        help="SQLite files, server logs and the servers' working directory (default bench/var)",
    )
    parser.add_argument("--report-dir", type=Path, default=ROOT / "reports")
    args = parser.parse_args(argv)
    args.scenarios = [key for key in SCENARIOS if key in args.scenarios]  # the canonical order
    if args.duration <= 0 or args.connections < 1 or args.threads < 1 or args.warmup < 0:
        parser.error("--duration, --connections and --threads must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed: `apt-get install -y wrk` (make bench does it)", file=sys.stderr
        )
        return 2
    started = time.monotonic()
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "connections": args.connections,
        "threads": min(args.threads, args.connections),
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "log_level": args.log_level,
        "redis": bool(args.redis_url),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "postgres": _postgres_version(args.postgres_url) if "postgres" in args.stores else None,
            "wrk": wrk_version(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "seeding": {},
        "results": {},
        "walks": {},
    }
    jwt_secret = secrets.token_urlsafe(48)
    secrets_env = {
        "JWT_SECRET": jwt_secret,
        "JWT_SECRET_FILE": "",
        "CURSOR_SECRET": secrets.token_urlsafe(48),
    }
    tokens = {role: mint_token(role, jwt_secret) for role in ("investor", "admin")}
    failed = False
    for store in args.stores:
        for size in args.sizes:
            began = time.monotonic()
            if store == "postgres":
                url = postgres_database_url(args.postgres_url, size)
                how = seed_postgres(url, size)
            else:
                path = sqlite_path(size, args.var_dir)
                path.parent.mkdir(parents=True, exist_ok=True)
                how = seed_sqlite(path, size)
                url = f"sqlite:///{path.resolve()}"
            seconds = round(time.monotonic() - began, 1)
            report["seeding"][f"{store} {size}"] = f"{how} in {seconds} s"
            print(f"{store}, {size:,} invoices: {how} in {seconds} s", flush=True)
            for workers in args.workers:
                print(f"{store}, {size:,} invoices, {workers} worker(s):", flush=True)
                group = run_group(
                    store, size, url, workers, tokens, secrets_env, args, report["walks"]
                )
                report["results"].setdefault(store, {}).setdefault(str(size), {})[str(workers)] = (
                    group
                )
                failed |= any(r["failed"] for modes in group.values() for r in modes.values())
    report["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    report["checks"] = [attrs.asdict(c) for c in checks(report["results"], args.connections)]
    text = markdown(report)
    print("\n" + text)
    json_path, md_path = write_reports(report, args.report_dir)
    print(f"reports: {md_path} {json_path}")
    if failed:
        print("FAILED: some requests failed under load (see the errors column)", file=sys.stderr)
    broken = [name for name, walk in report["walks"].items() if not walk["every_invoice_once"]]
    if broken:
        print(f"FAILED: the cursor walk skipped or repeated invoices: {broken}", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
