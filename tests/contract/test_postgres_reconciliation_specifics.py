"""PostgreSQL specifics of reconciliation runs (migration 0011): row-level security confines
the application role to its tenant's runs and results, which it may insert and read but never
change or delete; the nightly listing crosses tenants only through reconciliation_tenants,
which returns tenant ids alone; setting its scan flag by hand widens nothing."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from liquifact_adapters.postgres import PostgresStore
from liquifact_core.lifecycle import InvoiceStatus
from tests.factories import contract_address

from .contract_support import invoice, new_tenant, save
from .test_reconciliation_contract import every_kind_of_result, record, run_of

pytestmark = pytest.mark.postgres


def test_the_application_role_sees_only_its_tenants_runs(
    pg_store: PostgresStore, owner: psycopg.Connection[Any]
) -> None:
    mine, theirs = new_tenant(), new_tenant()
    record(pg_store, run_of(mine, *every_kind_of_result()))
    other = run_of(theirs, *every_kind_of_result())
    record(pg_store, other)

    with pg_store.unit_of_work(mine) as uow:
        runs = uow.execute_unfiltered("SELECT tenant_id FROM reconciliation_runs")
        results = uow.execute_unfiltered("SELECT tenant_id FROM reconciliation_results")

    assert {row["tenant_id"] for row in runs} == {mine}
    assert {row["tenant_id"] for row in results} == {mine}
    [(count,)] = owner.execute(
        "SELECT count(*) FROM reconciliation_results WHERE run_id = %s", (other.id,)
    ).fetchall()
    assert count == len(other.results)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE reconciliation_runs SET alerted = NOT alerted",
        "DELETE FROM reconciliation_runs",
        "UPDATE reconciliation_results SET drift_stroops = 0",
        "DELETE FROM reconciliation_results",
    ],
)
def test_runs_are_never_changed_or_deleted_by_the_application(
    pg_store: PostgresStore, statement: str
) -> None:
    tenant = new_tenant()
    record(pg_store, run_of(tenant, *every_kind_of_result()))

    with pg_store.unit_of_work(tenant) as uow, pytest.raises(pg_errors.InsufficientPrivilege):
        uow.execute_unfiltered(statement)


def test_a_result_cannot_name_another_tenants_run(pg_store: PostgresStore) -> None:
    mine, theirs = new_tenant(), new_tenant()
    other = run_of(theirs)
    record(pg_store, other)

    with pg_store.unit_of_work(mine) as uow, pytest.raises(pg_errors.Error):
        uow.execute_unfiltered(
            "INSERT INTO reconciliation_results (run_id, tenant_id, invoice_id, "
            "store_funded_stroops, chain_funded_stroops, outcome, drift_stroops) "
            f"VALUES ('{other.id}', '{mine}', 'inv_x', 0, 0, 'match', 0)"
        )


def test_the_scan_flag_set_by_hand_widens_nothing(pg_store: PostgresStore) -> None:
    mine, theirs = new_tenant(), new_tenant()
    for tenant in (mine, theirs):
        save(
            pg_store,
            invoice(
                tenant,
                status=InvoiceStatus.FUNDED,
                escrow_address=contract_address(),
                funding_target_stroops=10,
                funded_stroops=10,
            ),
        )

    with pg_store.unit_of_work(mine) as uow:
        uow.execute_unfiltered("SELECT set_config('liquifact.reconciliation_scan', 'on', true)")
        seen = uow.execute_unfiltered(
            f"SELECT DISTINCT tenant_id FROM invoices WHERE tenant_id IN ('{mine}', '{theirs}')"
        )

    assert [row["tenant_id"] for row in seen] == [mine]
    assert {mine, theirs} <= set(pg_store.reconciliation_tenants())


def test_the_listing_function_returns_tenant_ids_only_and_not_to_public(
    owner: psycopg.Connection[Any],
) -> None:
    [(allowed,)] = owner.execute(
        "SELECT has_function_privilege('public', 'reconciliation_tenants()', 'EXECUTE')"
    ).fetchall()
    [(result_type,)] = owner.execute(
        "SELECT pg_get_function_result('reconciliation_tenants()'::regprocedure)"
    ).fetchall()

    assert allowed is False
    assert result_type == "SETOF text"
