"""What the maintained-totals suites compare: the counters a store maintains (migration 0016;
the memory store's own) against a fresh count of its rows, read behind the store's back."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import Any

import psycopg
import pytest

from liquifact_adapters.memory import InMemoryStore
from liquifact_adapters.sql.statements import pyformat
from liquifact_core.ports import Store

# (status,) or (sme_id, status) -> how many live invoices.
Counts = dict[tuple[str, ...], int]

_FRESH_TENANT = """
SELECT status, count(*) FROM invoices WHERE tenant_id = :tenant AND deleted_at IS NULL
GROUP BY status
"""
_FRESH_SME = """
SELECT sme_id, status, count(*) FROM invoices WHERE tenant_id = :tenant AND deleted_at IS NULL
GROUP BY sme_id, status
"""
_MAINTAINED_TENANT = """
SELECT status, sum(n) FROM invoice_counts WHERE tenant_id = :tenant
GROUP BY status HAVING sum(n) <> 0
"""
_MAINTAINED_SME = """
SELECT sme_id, status, sum(n) FROM invoice_sme_counts WHERE tenant_id = :tenant
GROUP BY sme_id, status HAVING sum(n) <> 0
"""

Query = Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]


def raw_query(store_kind: str, request: pytest.FixtureRequest | None, store: Store) -> Query | None:
    """A way to run SQL on the store's database outside the store (the superuser on
    PostgreSQL, which row-level security does not bind; ``request`` gives the session's
    database), or None for the memory store."""
    if store_kind == "postgres":
        assert request is not None
        connection = psycopg.connect(request.getfixturevalue("postgres_url"), autocommit=True)
        request.addfinalizer(connection.close)

        def on_postgres(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            return connection.execute(pyformat(sql), params).fetchall()

        return on_postgres
    if store_kind == "sqlite":
        path = store.path  # type: ignore[attr-defined]

        def on_sqlite(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            with closing(sqlite3.connect(path)) as connection:
                return connection.execute(sql, params).fetchall()

        return on_sqlite
    return None


def _as_counts(rows: list[tuple[Any, ...]]) -> Counts:
    return {tuple(str(part) for part in row[:-1]): int(row[-1]) for row in rows}


def maintained_and_fresh(store: Store, query: Query | None, tenant: str) -> tuple[Counts, Counts]:
    """The tenant's maintained counts and a fresh count of its live rows, per status and per
    (SME, status), each as one mapping (keys of the first kind have one part, the second
    two). Groups with no row are left out of both."""
    if query is None:
        assert isinstance(store, InMemoryStore)
        state = store._state  # the committed state
        maintained: Counts = {}
        for (tenant_id, status), n in state.tenant_counts.items():
            if tenant_id == tenant and n:
                maintained[(status.value,)] = n
        for (tenant_id, sme, status), n in state.sme_counts.items():
            if tenant_id == tenant and n:
                maintained[(sme, status.value)] = n
        fresh: Counts = {}
        for (tenant_id, _), invoice in state.invoices.items():
            if tenant_id != tenant or invoice.deleted_at is not None:
                continue
            for key in ((invoice.status.value,), (invoice.sme_id, invoice.status.value)):
                fresh[key] = fresh.get(key, 0) + 1
        return maintained, fresh
    params = {"tenant": tenant}
    maintained = {
        **_as_counts(query(_MAINTAINED_TENANT, params)),
        **_as_counts(query(_MAINTAINED_SME, params)),
    }
    fresh = {**_as_counts(query(_FRESH_TENANT, params)), **_as_counts(query(_FRESH_SME, params))}
    return maintained, fresh
