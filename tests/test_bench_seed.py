"""`make bench` seeds through the stores' own row mapping and SQL: a refactor of those must keep
the bench working (it broke once unnoticed), so its seeders run here on a few rows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.marketplace import MarketplaceQuery
from liquifact_core.ports import Store
from tests.pg import fresh_database

BENCH = Path(__file__).resolve().parents[1] / "bench" / "marketplace.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_marketplace", BENCH)
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


def test_the_bench_seeds_sqlite(tmp_path: Path) -> None:
    bench = _bench()
    path = str(tmp_path / "bench.sqlite3")
    bench.seed_sqlite(path, 25)
    store = SqliteStore(path)
    try:
        assert _listed(store, bench.TENANT) == 25
    finally:
        store.close()


@pytest.mark.postgres
def test_the_bench_seeds_postgres() -> None:
    bench = _bench()
    with fresh_database("liquifact_bench_seed") as url:
        bench.seed_postgres(url, 25)
        store = PostgresStore(url, pool_max_size=2)
        try:
            assert _listed(store, bench.TENANT) == 25
        finally:
            store.close()
