"""Marketplace load baseline: seed N investable invoices, start the real server, measure.

    python bench/marketplace.py [--invoices 100000] [--duration 15] [--connections 10]
                                [--database-url sqlite:///bench/var/marketplace.db]

Seeds one tenant with N invoices, all investable (linked_escrow / partially_funded), with bulk
inserts straight through the store's connection; starts ``liquifact serve`` as a subprocess;
then, for each scenario, keeps ``--connections`` concurrent keep-alive connections busy for
``--duration`` seconds and records every request's latency. Writes JSON and Markdown reports
to ``bench/reports/`` (the spec's load-baseline figures: requests, throughput, average, p50,
p95, p99, errors, non-2xx, timeouts). Targets are local only, like the spec's suite.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import jwt
from stellar_sdk.strkey import StrKey

from liquifact_adapters.sql.statements import INSERT_INVOICE, pyformat
from liquifact_adapters.sqlite import SqliteStore
from liquifact_adapters.sqlite.mapping import ROWS as SQLITE_ROWS
from liquifact_core.amounts import Money
from liquifact_core.ids import sortable_id
from liquifact_core.invoices import Invoice, InvoiceDraft
from liquifact_core.lifecycle import InvoiceStatus

ROOT = Path(__file__).resolve().parent
TENANT = "bench-tenant"
CURSOR_SECRET = "bench-cursor-secret-0123456789abcdef0123456789"
# The server under test authenticates like production: the bench signs an investor token.
JWT_SECRET = secrets.token_urlsafe(48)
CACHE_MODES = {
    # The spec's 15 s response cache, as deployed: repeated reads of one URL are mostly hits.
    "cached": {},
    # Every read bypasses the cache (Cache-Control: no-cache): the store's own cost.
    "uncached": {"Cache-Control": "no-cache"},
}


def auth_headers() -> dict[str, str]:
    claims = {"sub": "bench-investor", "tenantId": TENANT, "role": "investor"}
    token = jwt.encode({**claims, "exp": int(time.time()) + 86_400}, JWT_SECRET, "HS256")
    return {"Authorization": f"Bearer {token}"}


T0 = datetime(2026, 1, 1, tzinfo=UTC)


# ---- seeding ----------------------------------------------------------------------------------
def _invoice(n: int, rng: random.Random) -> Invoice:
    target = rng.randrange(10_000_000, 100_000_000_000)
    funded = 0 if rng.random() < 0.4 else rng.randrange(1, target)
    amount = Decimal(rng.randrange(100_00, 5_000_000_00)) / 100
    issue = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 60))
    draft = InvoiceDraft(
        invoice_number=f"BENCH-{n:07d}",
        buyer_name=f"Buyer {n % 997} Ltd",
        amount=Money(amount.quantize(Decimal("0.01")), "USD"),
        issue_date=issue,
        due_date=issue + timedelta(days=rng.randrange(15, 180)),
        yield_bps=rng.randrange(100, 1500),
        description="Bench invoice",
    )
    created = T0 + timedelta(seconds=n)
    return Invoice(
        id=sortable_id("inv_", int(created.timestamp() * 1000), n.to_bytes(10, "big")),
        tenant_id=TENANT,
        sme_id=f"sme-{n % 50}",
        draft=draft,
        status=InvoiceStatus.PARTIALLY_FUNDED if funded else InvoiceStatus.LINKED_ESCROW,
        version=3,
        created_at=created,
        updated_at=created,
        # Each invoice has an escrow contract of its own (a unique index holds the rule).
        escrow_address=StrKey.encode_contract(n.to_bytes(32, "big")),
        funding_target_stroops=target,
        funded_stroops=funded,
    )


def seed_sqlite(path: str, count: int) -> None:
    """Bulk insert through one connection of the store, in one transaction per 10k rows."""
    SqliteStore(path).close()  # creates and migrates the file
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        existing = connection.execute(
            "SELECT count(*) FROM invoices WHERE tenant_id = ?", (TENANT,)
        ).fetchone()[0]
        if existing >= count:
            print(f"seed: {existing} invoices already present, reusing them")
            return
        connection.execute("DELETE FROM invoices WHERE tenant_id = ?", (TENANT,))
        rng = random.Random(42)
        batch = 10_000
        for start in range(0, count, batch):
            rows = [
                SQLITE_ROWS.invoice_params(_invoice(n, rng))
                for n in range(start, min(start + batch, count))
            ]
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(INSERT_INVOICE, rows)
            connection.execute("COMMIT")
        connection.execute("ANALYZE")
    finally:
        connection.close()


def seed_postgres(url: str, count: int) -> None:
    """Migrate, then insert the rows through one connection acting as the store's application
    role for the bench tenant (row-level security applies), then VACUUM ANALYZE: the visibility
    map lets meta.total counts be index-only scans, as autovacuum would arrange in production."""
    import psycopg

    from liquifact_adapters.postgres import DEFAULT_APP_ROLE, migrate
    from liquifact_adapters.postgres.mapping import ROWS as POSTGRES_ROWS

    migrate(url)
    with psycopg.connect(url) as connection:
        connection.execute(
            "SELECT set_config('role', %s, true), set_config('app.tenant_id', %s, true)",
            (DEFAULT_APP_ROLE, TENANT),
        )
        row = connection.execute("SELECT count(*) FROM invoices").fetchone()
        existing = 0 if row is None else int(row[0])
        if existing >= count:
            print(f"seed: {existing} invoices already present, reusing them")
            return
        if existing:
            raise SystemExit("seed: the bench tenant holds some invoices; use a fresh database")
        # COPY is refused under row-level security; executemany pipelines the inserts.
        rng = random.Random(42)
        batch = 10_000
        with connection.cursor() as cursor:
            for start in range(0, count, batch):
                rows = [
                    POSTGRES_ROWS.invoice_params(_invoice(n, rng))
                    for n in range(start, min(start + batch, count))
                ]
                cursor.executemany(pyformat(INSERT_INVOICE), rows)
        connection.commit()
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute("VACUUM (ANALYZE) invoices")


SEEDERS: dict[str, Callable[[str, int], None]] = {
    "sqlite:///": seed_sqlite,
    "postgresql://": seed_postgres,
}


def seed(database_url: str, count: int) -> None:
    for prefix, seeder in SEEDERS.items():
        if database_url.startswith(prefix):
            started = time.perf_counter()
            seeder(
                database_url if prefix.startswith("postgres") else database_url[len(prefix) :],
                count,
            )
            print(f"seed: {count} invoices ready in {time.perf_counter() - started:.1f} s")
            return
    raise SystemExit(f"No bulk seeder for {database_url!r} yet; add one to SEEDERS.")


# ---- the server -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CURSOR_SECRET": CURSOR_SECRET,
        "JWT_SECRET": JWT_SECRET,
        "LOG_LEVEL": "warning",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "RATE_LIMIT_ENABLED": "false",  # the bench measures the store, not the limiter
    }
    command = [sys.executable, "-m", "liquifact_http.cli", "serve"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}")
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx2.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("server did not become healthy within 30 s")


# ---- load -------------------------------------------------------------------------------------
async def run_scenario(
    base: str,
    path: str,
    connections: int,
    duration: float,
    timeout: float,
    extra_headers: dict[str, str],
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = timeouts = 0
    headers = {**auth_headers(), **extra_headers}
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
        await client.get(path, headers=headers)  # warm-up
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors, timeouts
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.get(path, headers=headers)
                except httpx2.TimeoutException:
                    timeouts += 1
                    continue
                except httpx2.HTTPError:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    return summarize(path, latencies, statuses, errors, timeouts, elapsed)


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def summarize(
    path: str,
    latencies: list[float],
    statuses: dict[int, int],
    errors: int,
    timeouts: int,
    elapsed: float,
) -> dict[str, Any]:
    ordered = sorted(latencies)
    non_2xx = sum(count for status, count in statuses.items() if not 200 <= status < 300)
    return {
        "path": path,
        "requests": len(latencies),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            "avg": round(statistics.fmean(ordered), 2) if ordered else None,
            "p50": round(percentile(ordered, 0.50), 2),
            "p95": round(percentile(ordered, 0.95), 2),
            "p99": round(percentile(ordered, 0.99), 2),
            "max": round(ordered[-1], 2) if ordered else None,
        },
        "errors": errors,
        "non_2xx": non_2xx,
        "timeouts": timeouts,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def scenarios(base: str, invoices: int) -> dict[str, str]:
    deep_page = max(1, int(invoices * 0.9) // 10)
    probe = httpx2.get(
        f"{base}/v1/marketplace",
        params={"sortBy": "yield_bps", "order": "desc", "limit": 10, "page": deep_page},
        headers=auth_headers(),
        timeout=60,
    )
    probe.raise_for_status()
    cursor = probe.json()["meta"]["nextCursor"]
    filtered = (
        "/v1/marketplace?yieldBpsMin=500&yieldBpsMax=1200&fundedRatioMax=50"
        "&maturityDateFrom=2026-03-01&sortBy=maturity_date&order=asc&limit=10"
    )
    found = {
        "marketplace first page": "/v1/marketplace?sortBy=yield_bps&order=desc&limit=10",
        "marketplace filtered page (meta.total)": filtered,
        "invest opportunities first page": "/v1/invest/opportunities?limit=10",
    }
    if cursor:
        found["marketplace deep cursor page (90%)"] = (
            f"/v1/marketplace?sortBy=yield_bps&order=desc&limit=10&cursor={cursor}"
        )
    return found


def cursor_walk(base: str, sort: str = "yield_bps", limit: int = 100) -> dict[str, Any]:
    """Page through the whole marketplace with cursors, uncached: every invoice exactly once?"""
    seen: list[str] = []
    params: dict[str, Any] = {"sortBy": sort, "order": "desc", "limit": limit}
    headers = {**auth_headers(), **CACHE_MODES["uncached"]}
    started = time.perf_counter()
    with httpx2.Client(base_url=base, headers=headers, timeout=60) as client:
        while True:
            page = client.get("/v1/marketplace", params=params)
            page.raise_for_status()
            body = page.json()
            seen += [item["id"] for item in body["data"]]
            cursor = body["meta"]["nextCursor"]
            if not body["meta"]["hasMore"] or not cursor:
                break
            params = {"sortBy": sort, "order": "desc", "limit": limit, "cursor": cursor}
    total = body["meta"]["total"]
    return {
        "sort": sort,
        "pages": -(-len(seen) // limit),
        "invoices_seen": len(seen),
        "distinct": len(set(seen)),
        "meta_total": total,
        "every_invoice_once": len(seen) == len(set(seen)) == total,
        "seconds": round(time.perf_counter() - started, 1),
    }


# ---- reports ----------------------------------------------------------------------------------
def write_reports(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = report["started_at"].replace(":", "").replace("-", "")[:15]
    json_path = directory / f"marketplace-{stamp}.json"
    md_path = directory / f"marketplace-{stamp}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Marketplace load baseline",
        "",
        f"- started: {report['started_at']}",
        f"- store: `{report['database']}`, {report['invoices']} investable invoices, one tenant",
        f"- {report['connections']} connections, {report['duration_s']} s per scenario",
        f"- machine: {report['machine']['cpus']} CPUs, {report['machine']['platform']}, "
        f"Python {report['machine']['python']}, SQLite {report['machine']['sqlite']}",
        "",
        "| Scenario | Requests | Req/s | Avg ms | p50 ms | p95 ms | p99 ms | Errors | Non-2xx "
        "| Timeouts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in report["scenarios"].items():
        latency = result["latency_ms"]
        lines.append(
            f"| {name} | {result['requests']} | {result['throughput_rps']} | {latency['avg']} "
            f"| {latency['p50']} | {latency['p95']} | {latency['p99']} | {result['errors']} "
            f"| {result['non_2xx']} | {result['timeouts']} |"
        )
    walk = report.get("cursor_walk")
    if walk:
        lines += [
            "",
            f"Cursor walk (sortBy={walk['sort']}, uncached): {walk['invoices_seen']} invoices in "
            f"{walk['pages']} pages, {walk['distinct']} distinct, meta.total "
            f"{walk['meta_total']}; every invoice exactly once: {walk['every_invoice_once']}.",
        ]
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'var' / 'marketplace.db'}")
    parser.add_argument("--report-dir", type=Path, default=ROOT / "reports")
    parser.add_argument(
        "--skip-walk", action="store_true", help="skip paging the whole marketplace by cursor"
    )
    parser.add_argument(
        "--cache",
        choices=["both", *CACHE_MODES],
        default="both",
        help="measure with the response cache as deployed, bypassing it, or both",
    )
    args = parser.parse_args(argv)

    seed(args.database_url, args.invoices)
    port = free_port()
    server = start_server(args.database_url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        report: dict[str, Any] = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": args.database_url.split("://")[0],
            "invoices": args.invoices,
            "connections": args.connections,
            "duration_s": args.duration,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
            },
            "scenarios": {},
        }
        modes = list(CACHE_MODES) if args.cache == "both" else [args.cache]
        for (scenario, path), mode in itertools.product(
            scenarios(base, args.invoices).items(), modes
        ):
            name = f"{scenario} [{mode}]"
            result = asyncio.run(
                run_scenario(
                    base, path, args.connections, args.duration, args.timeout, CACHE_MODES[mode]
                )
            )
            report["scenarios"][name] = result
            latency = result["latency_ms"]
            print(
                f"{name}: {result['throughput_rps']} req/s, p50 {latency['p50']} ms, "
                f"p95 {latency['p95']} ms, p99 {latency['p99']} ms, "
                f"non-2xx {result['non_2xx']}, errors {result['errors']}"
            )
        if not args.skip_walk:
            walk = cursor_walk(base)
            report["cursor_walk"] = walk
            print(
                f"cursor walk: {walk['invoices_seen']} invoices in {walk['pages']} pages, "
                f"{walk['distinct']} distinct, meta.total {walk['meta_total']}, "
                f"every invoice once: {walk['every_invoice_once']} ({walk['seconds']} s)"
            )
    finally:
        server.terminate()
        server.wait(10)
    json_path, md_path = write_reports(report, args.report_dir)
    if "cursor_walk" in report and not report["cursor_walk"]["every_invoice_once"]:
        print("FAILED: the cursor walk skipped or repeated invoices", file=sys.stderr)
        return 1
    print(f"reports: {json_path} {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
