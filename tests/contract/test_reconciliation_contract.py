"""Reconciliation runs and their per-invoice results (migration 0011), on every store: a run
round-trips exactly (i128 chain amounts, negative drifts, every failure reason), listings are
newest first, paged, without results, and tenant-scoped; a rolled-back unit records nothing;
the maintenance listing names exactly the tenants with live invoices in a reconciled status."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from liquifact_core.errors import Conflict
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.ports import Store
from liquifact_core.reconciliation import (
    RECONCILED_STATUSES,
    ReadFailure,
    ReconciliationRun,
    RunResult,
    compare,
    failed,
)
from tests.factories import contract_address

from .contract_support import T0, invoice, new_invoice_id, new_tenant, save

_counter = iter(range(10**9))


def run_of(
    tenant_id: str, *results: RunResult, minutes: int = 0, threshold: int = 1, run_id: str = ""
) -> ReconciliationRun:
    started = T0 + timedelta(minutes=minutes)
    return ReconciliationRun.of(
        run_id or f"rec_{next(_counter):06d}{new_invoice_id()[4:]}",
        tenant_id,
        started,
        started + timedelta(seconds=3, microseconds=7),
        results,
        threshold,
    )


def every_kind_of_result() -> tuple[RunResult, ...]:
    return (
        RunResult(contract_address(), compare(new_invoice_id(), 5_000, 5_000)),
        RunResult(contract_address(), compare(new_invoice_id(), 10**18, 10**18 - 250)),
        RunResult(contract_address(), compare(new_invoice_id(), 0, 2**127 - 1)),
        RunResult(
            contract_address(),
            failed(new_invoice_id(), 7, ReadFailure.CONTRACT_ERROR, contract_error=21),
        ),
        RunResult(contract_address(), failed(new_invoice_id(), 7, ReadFailure.RPC_TIMEOUT)),
        RunResult(None, failed(new_invoice_id(), 0, ReadFailure.NO_ESCROW_ADDRESS)),
    )


def record(store: Store, run: ReconciliationRun) -> None:
    with store.unit_of_work(run.tenant_id) as uow:
        uow.reconciliations.add(run)
        uow.commit()


def test_a_run_round_trips_with_every_kind_of_result(store: Store, tenant: str) -> None:
    run = run_of(tenant, *every_kind_of_result(), threshold=2)
    record(store, run)

    with store.read_unit(tenant) as uow:
        found = uow.reconciliations.get(tenant, run.id)

    assert found == run
    assert [r.invoice_id for r in found.results] == sorted(r.invoice_id for r in run.results)
    assert (found.summary.matches, found.summary.mismatches, found.summary.errors) == (1, 2, 3)
    assert found.summary.total_drift == 250 + 2**127 - 1
    assert found.alerted is True


def test_runs_list_newest_first_paged_and_without_results(store: Store, tenant: str) -> None:
    oldest = run_of(tenant, *every_kind_of_result(), minutes=0)
    # Two runs that started at the same instant: the greater id comes first.
    tied_low = run_of(tenant, minutes=5, run_id="rec_B" + new_invoice_id()[4:])
    tied_high = run_of(tenant, minutes=5, run_id="rec_b" + new_invoice_id()[4:])
    newest = run_of(tenant, minutes=9)
    for each in (tied_low, oldest, newest, tied_high):
        record(store, each)

    with store.read_unit(tenant) as uow:
        first = uow.reconciliations.list(tenant, 2, 0)
        rest = uow.reconciliations.list(tenant, 2, 2)
        beyond = uow.reconciliations.list(tenant, 2, 4)

    assert [r.id for r in first.items] == [newest.id, tied_high.id]
    assert [r.id for r in rest.items] == [tied_low.id, oldest.id]
    assert (first.total, rest.total, beyond.total, list(beyond.items)) == (4, 4, 4, [])
    assert rest.items[1] == attrs.evolve(oldest, results=())


def test_runs_are_the_tenants_own(store: Store, tenant: str) -> None:
    other = new_tenant()
    run = run_of(tenant, *every_kind_of_result())
    record(store, run)

    with store.read_unit(other) as uow:
        assert uow.reconciliations.get(other, run.id) is None
        assert uow.reconciliations.list(other, 20, 0).total == 0
    with store.unit_of_work(other) as uow, pytest.raises(PermissionError):
        uow.reconciliations.add(run_of(tenant))
    with store.read_unit(other) as uow, pytest.raises(PermissionError):
        uow.reconciliations.get(tenant, run.id)


def test_a_run_id_is_recorded_once(store: Store, tenant: str) -> None:
    run = run_of(tenant, *every_kind_of_result())
    record(store, run)

    with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as refused:
        uow.reconciliations.add(attrs.evolve(run, results=()))

    assert refused.value.code == "DUPLICATE_RECONCILIATION_RUN"
    with store.read_unit(tenant) as uow:
        assert uow.reconciliations.get(tenant, run.id) == run


def test_a_rolled_back_unit_records_no_run(store: Store, tenant: str) -> None:
    run = run_of(tenant, *every_kind_of_result())
    with store.unit_of_work(tenant) as uow:
        uow.reconciliations.add(run)  # no commit

    with store.read_unit(tenant) as uow:
        assert uow.reconciliations.get(tenant, run.id) is None
        assert uow.reconciliations.list(tenant, 20, 0).total == 0


def _linked(tenant_id: str, status: InvoiceStatus, **changes: object) -> object:
    return invoice(
        tenant_id,
        status=status,
        escrow_address=contract_address(),
        funding_target_stroops=10_000,
        funded_stroops=0 if status is InvoiceStatus.LINKED_ESCROW else 5_000,
        **changes,
    )


def test_the_maintenance_listing_names_tenants_with_invoices_to_compare(store: Store) -> None:
    in_scope = {status: new_tenant() for status in RECONCILED_STATUSES}
    for status, tenant_id in in_scope.items():
        save(store, _linked(tenant_id, status), invoice(tenant_id))  # type: ignore[arg-type]
    pending_only, settled_only, deleted_only = new_tenant(), new_tenant(), new_tenant()
    save(store, invoice(pending_only), invoice(pending_only, status=InvoiceStatus.APPROVED))
    save(store, _linked(settled_only, InvoiceStatus.SETTLED))  # type: ignore[arg-type]
    save(
        store,
        _linked(deleted_only, InvoiceStatus.FUNDED, deleted_at=T0 + timedelta(days=1)),  # type: ignore[arg-type]
    )

    listed = list(store.reconciliation_tenants())

    assert set(in_scope.values()) <= set(listed)
    assert not {pending_only, settled_only, deleted_only} & set(listed)
    assert listed == sorted(listed)
    assert len(listed) == len(set(listed))
