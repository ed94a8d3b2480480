"""PostgreSQL specifics of the escrow indexer's tables (migration 0011): row-level security
confines the application role to its tenant's projections and cursor; the cross-tenant
listing goes through linked_escrows_to_index only, which PUBLIC may not call; setting the
functions' flag by hand widens nothing."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from liquifact_adapters.postgres import PostgresStore
from liquifact_core.indexing import IndexerCursor

from .contract_support import T0, new_tenant, save
from .test_escrow_projection_contract import linked, projection_of

pytestmark = pytest.mark.postgres


def test_the_application_role_sees_only_its_tenants_rows(
    pg_store: PostgresStore, owner: psycopg.Connection[Any]
) -> None:
    mine, theirs = new_tenant(), new_tenant()
    for tenant in (mine, theirs):
        item = linked(tenant)
        save(pg_store, item)
        with pg_store.unit_of_work(tenant) as uow:
            uow.escrows.put(projection_of(item))
            uow.escrows.put_cursor(IndexerCursor(tenant, None, 1, T0), replacing=None)
            uow.commit()

    with pg_store.unit_of_work(mine) as uow:
        projections = uow.execute_unfiltered("SELECT tenant_id FROM escrow_projections")
        cursors = uow.execute_unfiltered("SELECT tenant_id FROM escrow_indexer_cursors")
        spoofed = uow.execute_unfiltered(
            "SELECT set_config('liquifact.escrow_indexer', 'on', true) AS x, "
            "(SELECT count(*) FROM invoices WHERE tenant_id <> current_setting('app.tenant_id')) "
            "AS n"
        )
    assert {row["tenant_id"] for row in projections} == {mine}
    assert {row["tenant_id"] for row in cursors} == {mine}
    assert spoofed[0]["n"] == 0
    listed = {e.tenant_id for e in pg_store.linked_escrows()}
    assert {mine, theirs} <= listed


def test_the_functions_are_not_executable_by_public(owner: psycopg.Connection[Any]) -> None:
    for function in ("linked_escrows_to_index()", "escrow_indexer_progress()"):
        [(allowed,)] = owner.execute(
            "SELECT has_function_privilege('public', %s, 'EXECUTE')", (function,)
        ).fetchall()
        assert allowed is False
