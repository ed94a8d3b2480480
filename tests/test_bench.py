"""`make bench` (bench/run.py) keeps working: its seeders write through the stores' own row
mapping and SQL (a refactor of those broke the bench once, unnoticed), and its quickest run
(a few hundred invoices, one-second wrk runs) goes end to end and reports every scenario.
The figures themselves are never judged here: speed is for `make bench`."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.marketplace import MarketplaceQuery
from liquifact_core.ports import Store
from tests.pg import fresh_database

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _listed(store: Store, tenant: str) -> int:
    with store.read_unit(tenant) as uow:
        total = uow.invoices.marketplace(MarketplaceQuery(tenant, limit=1)).total
    assert total is not None
    return total


def test_the_bench_seeds_sqlite_and_reuses_the_file(tmp_path: Path) -> None:
    bench = _bench()
    path = tmp_path / "bench.sqlite3"
    assert bench.seed_sqlite(path, 25) == "seeded"
    assert bench.seed_sqlite(path, 25) == "reused"
    assert bench.seed_sqlite(path, 30) == "seeded"  # another size: rebuilt
    store = SqliteStore(str(path))
    try:
        assert _listed(store, bench.TENANT) == 30
    finally:
        store.close()


@pytest.mark.postgres
def test_the_bench_seeds_postgres_with_copy_and_reuses_the_database() -> None:
    bench = _bench()
    with fresh_database("liquifact_bench_seed") as url:
        assert bench.seed_postgres(url, 25) == "seeded"
        assert bench.seed_postgres(url, 25) == "reused"
        store = PostgresStore(url, pool_max_size=2)
        try:
            # Through the application role and row-level security, as the API reads them.
            assert _listed(store, bench.TENANT) == 25
        finally:
            store.close()


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true and wrk is not installed (.ci/run installs it)")
        pytest.skip("wrk is not installed: apt-get install -y wrk (make bench does it)")
    return found


@pytest.mark.slow
def test_the_quickest_bench_run_reports_every_scenario(tmp_path: Path) -> None:
    _wrk()
    bench = _bench()
    quickest = ["--sizes", "300", "--stores", "sqlite", "--workers", "1", "--duration", "1"]
    quickest += ["--warmup", "0", "--connections", "4", "--walk"]
    folders = ["--var-dir", str(tmp_path / "var"), "--report-dir", str(tmp_path / "reports")]
    done = subprocess.run(
        [sys.executable, str(BENCH), *quickest, *folders],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [report_path] = (tmp_path / "reports").glob("bench-*.json")
    report = json.loads(report_path.read_text())
    group = report["results"]["sqlite"]["300"]["1"]
    assert set(group) == set(bench.SCENARIOS)
    for key, scenario in bench.SCENARIOS.items():
        assert set(group[key]) == set(scenario.modes), key
        for mode, result in group[key].items():
            assert result["requests"] > 0 and result["failed"] == 0, (key, mode)
            for figure in ("rate", "p50_ms", "p99_ms", "wrk_cpu_s", "server_cpu_s"):
                assert isinstance(result[figure], int | float), (key, mode, figure)
    # The response cache really served the cached runs and was bypassed by the others.
    assert group["first"]["cached"]["x_cache"] == "HIT"
    assert group["first"]["uncached"]["x_cache"] == "MISS"
    names = {check["name"] for check in report["checks"]}
    assert "/health / bare Starlette rate" in names
    assert {f"{page}: uncached / cached rate" for page in bench.PAGES} <= names
    assert all(isinstance(check["value"], int | float) for check in report["checks"])
    [walk] = report["walks"].values()
    assert walk["every_invoice_once"] and walk["invoices_seen"] == 300
    [markdown] = (tmp_path / "reports").glob("bench-*.md")
    assert "bare Starlette /health" in markdown.read_text()
    assert "| check |" in done.stdout  # the ratios are printed in the same run
