"""`bench/audit_export.py` seeds through the stores' own row mapping and SQL and measures the
real app: its seeders and measurements run here on a few rows, so a refactor cannot break the
bench unnoticed (its figures are in docs/performance.md; nothing here is timed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.pg import fresh_database

BENCH = Path(__file__).resolve().parents[1] / "bench" / "audit_export.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_audit_export", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _runs(bench: ModuleType, store: object, rows: int) -> None:
    app = bench._app(store, 7)
    csv = bench.measure_csv(app)
    assert (csv["status"], csv["rows"]) == (200, rows)
    assert csv["bodyParts"] == -(-rows // 7)  # one part per chunk of 7 rows
    pages = bench.measure_json(app, csv["order"])
    assert pages["rows"] == pages["unique"] == rows and pages["sameOrderAsCsv"]
    assert bench.measure_load_all(store, rows)["rows"] == rows


def test_the_bench_runs_on_sqlite(tmp_path: Path) -> None:
    bench = _bench()
    store = bench.seed_sqlite(str(tmp_path / "audit.sqlite3"), 30)
    try:
        _runs(bench, store, 30)
    finally:
        store.close()


@pytest.mark.postgres
def test_the_bench_runs_on_postgres() -> None:
    bench = _bench()
    with fresh_database("liquifact_bench_audit") as url:
        store = bench.seed_postgres(url, 30)
        try:
            _runs(bench, store, 30)
        finally:
            store.close()
