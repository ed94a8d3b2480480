"""Audit export memory baseline: a CSV export of a 100,000-event trail streams with flat memory.

    python bench/audit_export.py [--rows 100000] [--chunk 500]
                                 [--database-url sqlite:///bench/var/audit.db]

Seeds one invoice's audit trail with ``--rows`` events (bulk inserts through the store's own
row mapping and SQL, ``seed_sqlite`` / ``seed_postgres``), then runs, in this process, on the
real ASGI app (every middleware, the real route and store):

* ``csv``: ``GET /v1/admin/audit/invoices/{id}/export?format=csv``, body parts counted and
  dropped as they arrive (as a socket would send them); Python's traced memory
  (``tracemalloc``, current and peak) and the process RSS are sampled every 10,000 rows;
* ``json``: the same trail paged with ``limit=500`` to the end, checking every event is seen
  exactly once and in the CSV's order;
* ``load-all``: for contrast, the whole trail read at once (``invoice_trail`` with no page
  bound) and rendered: what streaming avoids.

Flat memory means: the CSV's traced peak does not grow with the rows streamed (the 10,000-row
sample and the last are about equal), while ``load-all`` grows with the trail. Writes JSON and
Markdown reports to ``bench/reports/``. Figures are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from liquifact_adapters.sql.statements import INSERT_AUDIT, pyformat
from liquifact_adapters.sqlite import SqliteStore
from liquifact_adapters.sqlite.mapping import ROWS as SQLITE_ROWS
from liquifact_core.audit import AuditEvent
from liquifact_core.audit_export import CsvRows
from liquifact_core.ids import sortable_id
from liquifact_core.ports import Store

ROOT = Path(__file__).resolve().parent
TENANT = "bench-audit"
INVOICE_ID = "inv_BENCHAUDIT0000000000000001"
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789abcdef"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SAMPLE_EVERY = 10_000


def _event(n: int) -> AuditEvent:
    # Realistic rows: admin-request metadata with the spec's columns, some hostile text.
    return AuditEvent(
        id=sortable_id("aud_", n, n.to_bytes(10, "big")),
        tenant_id=TENANT,
        actor_id=f"ops-{n % 7}",
        actor_role="admin",
        action="invoice.updated" if n % 3 else "retention.legal_hold_placed",
        resource_type="invoice",
        resource_id=INVOICE_ID,
        at=T0 + timedelta(milliseconds=n),
        metadata={
            "statusCode": 200,
            "ipAddress": "203.0.113.9",
            "userAgent": '=HYPERLINK("http://x")' if n % 1000 == 0 else "ops-console/1.0",
            "fields": ["description", "dueDate"],
            "note": f'edit {n}, with a comma and a "quote"',
        },
    )


# ---- seeding ----------------------------------------------------------------------------------
def seed_sqlite(path: str, rows: int) -> SqliteStore:
    """Bulk insert through one connection of the store, one transaction per 10k rows."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(path)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        existing = connection.execute(
            "SELECT count(*) FROM audit_log_events WHERE tenant_id = ? AND invoice_id = ?",
            (TENANT, INVOICE_ID),
        ).fetchone()[0]
        if existing == rows:
            print(f"seed: {existing} events already present, reusing them")
            return store
        if existing:
            raise SystemExit("seed: the bench trail has another size; use a fresh file")
        for start in range(0, rows, 10_000):
            params = [
                SQLITE_ROWS.audit_params(_event(n)) for n in range(start, min(start + 10_000, rows))
            ]
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(INSERT_AUDIT, params)
            connection.execute("COMMIT")
        connection.execute("ANALYZE")
    finally:
        connection.close()
    return store


def seed_postgres(url: str, rows: int) -> Store:
    """Migrate, then insert as the application role for the bench tenant (row-level
    security applies; COPY is refused under it, executemany pipelines the inserts)."""
    import psycopg

    from liquifact_adapters.postgres import DEFAULT_APP_ROLE, PostgresStore, migrate
    from liquifact_adapters.postgres.mapping import ROWS as POSTGRES_ROWS

    migrate(url)
    with psycopg.connect(url) as connection:
        connection.execute(
            "SELECT set_config('role', %s, true), set_config('app.tenant_id', %s, true)",
            (DEFAULT_APP_ROLE, TENANT),
        )
        row = connection.execute(
            "SELECT count(*) FROM audit_log_events WHERE invoice_id = %s", (INVOICE_ID,)
        ).fetchone()
        existing = 0 if row is None else int(row[0])
        if existing and existing != rows:
            raise SystemExit("seed: the bench trail has another size; use a fresh database")
        if not existing:
            with connection.cursor() as cursor:
                for start in range(0, rows, 10_000):
                    params = [
                        POSTGRES_ROWS.audit_params(_event(n))
                        for n in range(start, min(start + 10_000, rows))
                    ]
                    cursor.executemany(pyformat(INSERT_AUDIT), params)
            connection.commit()
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute("VACUUM (ANALYZE) audit_log_events")
    return PostgresStore(url)


SEEDERS: dict[str, Callable[[str, int], Store]] = {
    "sqlite:///": seed_sqlite,
    "postgresql://": seed_postgres,
}


def seed(database_url: str, rows: int) -> Store:
    for prefix, seeder in SEEDERS.items():
        if database_url.startswith(prefix):
            started = time.perf_counter()
            target = database_url if prefix.startswith("postgres") else database_url[len(prefix) :]
            store = seeder(target, rows)
            print(f"seed: {rows} events ready in {time.perf_counter() - started:.1f} s")
            return store
    raise SystemExit(f"No bulk seeder for {database_url!r}; add one to SEEDERS.")


# ---- measuring --------------------------------------------------------------------------------
def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _mib(size: int) -> float:
    return round(size / 2**20, 2)


def _app(store: Store, chunk: int) -> Any:
    from liquifact_http.bootstrap import create_app
    from liquifact_http.settings import Settings

    settings = Settings(jwt_secret=JWT_SECRET, rate_limit_enabled=False, log_level="warning")
    app = create_app(settings, store=store)
    app.state.services.audit.chunk_size = chunk
    return app


def _headers() -> list[tuple[bytes, bytes]]:
    import jwt

    claims = {"sub": "bench-ops", "tenantId": TENANT, "role": "admin"}
    token = jwt.encode({**claims, "exp": int(time.time()) + 86_400}, JWT_SECRET, "HS256")
    return [(b"authorization", f"Bearer {token}".encode())]


async def _get(app: Any, query: str, on_part: Callable[[bytes], None]) -> int:
    """One GET of the export through the ASGI app; ``on_part`` gets each body part."""
    done = asyncio.Event()
    status = 0

    async def receive() -> dict[str, Any]:
        if not hasattr(receive, "sent"):
            receive.sent = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            on_part(message.get("body", b""))
            if not message.get("more_body"):
                done.set()

    path = f"/v1/admin/audit/invoices/{INVOICE_ID}/export"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": _headers(),
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    await app(scope, receive, send)
    return status


def measure_csv(app: Any) -> dict[str, Any]:
    """The CSV untraced: its speed, size and body parts, and the order of its rows (ids)."""
    order: list[str] = []
    seen = {"bytes": 0, "parts": 0}
    partial = [b""]

    def on_part(body: bytes) -> None:
        seen["bytes"] += len(body)
        seen["parts"] += 1 if body else 0
        # Rows may hold line breaks inside quotes, never at a row's start: ids lead each row.
        lines = (partial[0] + body).split(b"\r\n")
        partial[0] = lines.pop()
        # Every data cell is quoted (QUOTE_ALL): a row starts with the quoted event id.
        order.extend(
            line.split(b",", 1)[0].strip(b'"').decode()
            for line in lines
            if line.startswith(b'"aud_')
        )

    started = time.perf_counter()
    status = asyncio.run(_get(app, "format=csv", on_part))
    elapsed = time.perf_counter() - started
    return {
        "status": status,
        "rows": len(order),
        "bytes": seen["bytes"],
        "bodyParts": seen["parts"],
        "seconds": round(elapsed, 2),
        "rowsPerSecond": round(len(order) / elapsed),
        "order": order,
    }


def measure_csv_flat(app: Any) -> dict[str, Any]:
    """The same CSV with no bookkeeping at all: only the export's own memory is traced."""
    samples: list[dict[str, Any]] = []
    counted = {"rows": 0, "next": SAMPLE_EVERY}

    def on_part(body: bytes) -> None:
        counted["rows"] += body.count(b'\r\n"aud_') + (1 if body.startswith(b'"aud_') else 0)
        if counted["rows"] >= counted["next"]:
            current, peak = tracemalloc.get_traced_memory()
            samples.append(
                {
                    "rows": counted["rows"],
                    "tracedMiB": _mib(current),
                    "tracedPeakMiB": _mib(peak),
                    "rssMiB": _rss_mib(),
                }
            )
            counted["next"] += SAMPLE_EVERY

    tracemalloc.start()
    status = asyncio.run(_get(app, "format=csv", on_part))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "status": status,
        "rows": counted["rows"],
        "samples": samples,
        "peakTracedMiB": _mib(peak),
    }


def measure_json(app: Any, csv_order: list[str]) -> dict[str, Any]:
    seen: list[str] = []
    cursor = None
    pages = 0
    started = time.perf_counter()
    while True:
        body = bytearray()
        query = "format=json&limit=500" + ("" if cursor is None else f"&cursor={cursor}")
        status = asyncio.run(_get(app, query, body.extend))
        assert status == 200, status
        page = json.loads(body)
        seen += [event["id"] for event in page["data"]]
        pages += 1
        cursor = page["meta"]["nextCursor"]
        if cursor is None:
            break
    return {
        "pages": pages,
        "rows": len(seen),
        "unique": len(set(seen)),
        "sameOrderAsCsv": seen == csv_order,
        "seconds": round(time.perf_counter() - started, 2),
    }


def measure_load_all(store: Store, rows: int) -> dict[str, Any]:
    tracemalloc.start()
    started = time.perf_counter()
    with store.read_unit(TENANT) as uow:
        records = uow.audit.invoice_trail(TENANT, INVOICE_ID, None, rows + 1)
    text = CsvRows().rows(records)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": len(records),
        "bytes": len(text.encode()),
        "seconds": round(time.perf_counter() - started, 2),
        "peakTracedMiB": _mib(peak),
    }


def _markdown(report: dict[str, Any]) -> str:
    flat = report["csvFlat"]
    lines = [
        f"# Audit export: {report['rows']} events ({report['store']})",
        "",
        f"{report['when']}, Python {report['python']}, {report['machine']}; chunk "
        f"{report['chunk']} rows.",
        "",
        "| rows streamed | traced now (MiB) | traced peak (MiB) | RSS (MiB) |",
        "|---:|---:|---:|---:|",
        *(
            f"| {s['rows']} | {s['tracedMiB']} | {s['tracedPeakMiB']} | {s['rssMiB']} |"
            for s in flat["samples"]
        ),
        "",
        f"CSV: {report['csv']['rows']} rows, {report['csv']['bytes']} bytes in "
        f"{report['csv']['bodyParts']} body parts, {report['csv']['seconds']} s "
        f"({report['csv']['rowsPerSecond']} rows/s, untraced).",
        f"JSON (limit 500): {report['json']['pages']} pages, {report['json']['rows']} rows, "
        f"{report['json']['unique']} distinct, same order as the CSV: "
        f"{report['json']['sameOrderAsCsv']}.",
        f"Load-all contrast: peak {report['loadAll']['peakTracedMiB']} MiB for "
        f"{report['loadAll']['rows']} rows (streaming: {flat['peakTracedMiB']} MiB).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'var' / 'audit.db'}")
    args = parser.parse_args()

    store = seed(args.database_url, args.rows)
    app = _app(store, args.chunk)
    kind = "postgres" if args.database_url.startswith("postgres") else "sqlite"
    try:
        flat = measure_csv_flat(app)
        traced = measure_csv(app)
        order = traced.pop("order")
        report = {
            "store": kind,
            "rows": args.rows,
            "chunk": args.chunk,
            "when": datetime.now(UTC).strftime("%Y-%m-%d"),
            "python": platform.python_version(),
            "machine": f"{os.cpu_count()} CPUs, {platform.system()}",
            "csvFlat": flat,
            "csv": traced,
            "json": measure_json(app, order),
            "loadAll": measure_load_all(store, args.rows),
        }
    finally:
        store.close()
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    (reports / f"audit_export-{kind}.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = _markdown(report)
    (reports / f"audit_export-{kind}.md").write_text(markdown)
    print(markdown)
    ok = (
        flat["rows"] == args.rows
        and report["json"]["rows"] == report["json"]["unique"] == args.rows
        and report["json"]["sameOrderAsCsv"]
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
