"""ReconciliationService against the in-memory store and FakeEscrowLedger: matching books,
a diverged amount (mismatch, drift, the alert at the threshold), a chain read failing for one
invoice while the others are compared, the run and its audit event recorded together, every
tenant in scope visited by the nightly slot's job through the worker engine, and the admin
reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from stellar_sdk import Keypair

from liquifact_adapters.composition import job_handlers, open_services, open_worker
from liquifact_adapters.memory import InMemoryStore
from liquifact_adapters.memory.fakes import FakeEscrowLedger, FixedClock, SequentialIdGenerator
from liquifact_core.chain import EscrowLedger
from liquifact_core.errors import Forbidden, NotFound, Unavailable
from liquifact_core.escrow import EscrowReading, InvoiceEscrow
from liquifact_core.invoices import Actor, Invoice
from liquifact_core.jobs import JobQuery, JobStatus
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.reconciliation import Outcome, ReadFailure, ReconciliationRun
from liquifact_core.schedules import RECONCILIATION, SYSTEM_TENANT
from liquifact_core.services import Services
from liquifact_core.services.reconciliation import RunsQuery
from tests.contract.contract_support import invoice, new_tenant, save
from tests.factories import contract_address

ADMIN = Actor("admin-1", Role.ADMIN)
TARGET = 10_000_000


class Recorder:
    """A ReconciliationObserver that keeps what it heard."""

    def __init__(self) -> None:
        self.runs: list[ReconciliationRun] = []
        self.sweeps: list[list[str]] = []

    def run_recorded(self, run: ReconciliationRun) -> None:
        self.runs.append(run)

    def sweep_finished(self, runs: Sequence[ReconciliationRun]) -> None:
        self.sweeps.append([run.tenant_id for run in runs])


class OneAddressDown:
    """The fake ledger, except that one contract's reads fail with ``error``."""

    def __init__(self, ledger: FakeEscrowLedger, address: str, error: Exception) -> None:
        self._ledger, self._address, self._error = ledger, address, error

    def read_escrow(self, contract: str) -> EscrowReading:
        if contract == self._address:
            raise self._error
        return self._ledger.read_escrow(contract)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)


def reading(invoice_id: str, funded: int) -> EscrowReading:
    return EscrowReading(
        InvoiceEscrow(
            invoice_id=invoice_id,
            admin=Keypair.random().public_key,
            sme_address=Keypair.random().public_key,
            amount=TARGET,
            funding_target=TARGET,
            funded_amount=funded,
            yield_bps=800,
            maturity=1_800_000_000,
            status=0 if funded < TARGET else 1,
        )
    )


def linked(tenant_id: str, funded: int, status: InvoiceStatus | None = None) -> Invoice:
    if status is None:
        status = (
            InvoiceStatus.LINKED_ESCROW
            if funded == 0
            else InvoiceStatus.FUNDED
            if funded >= TARGET
            else InvoiceStatus.PARTIALLY_FUNDED
        )
    return invoice(
        tenant_id,
        status=status,
        escrow_address=contract_address(),
        funding_target_stroops=TARGET,
        funded_stroops=funded,
    )


def build(
    ledger: EscrowLedger | None, *, threshold: int = 1, store: InMemoryStore | None = None
) -> tuple[Services, Recorder]:
    recorder = Recorder()
    services = open_services(
        database_url="memory://",
        store=store or InMemoryStore(),
        clock=FixedClock(),
        ids=SequentialIdGenerator(),
        ledger=ledger,
        reconciliation_drift_threshold=threshold,
        on_reconciliation=recorder,
    )
    return services, recorder


def on_chain(ledger: FakeEscrowLedger, item: Invoice, funded: int) -> None:
    assert item.escrow_address is not None
    ledger.put(item.escrow_address, reading(item.id, funded))


def test_books_that_agree_with_the_chain_are_matches_and_the_run_is_recorded() -> None:
    ledger = FakeEscrowLedger()
    services, recorder = build(ledger)
    tenant = new_tenant()
    items = [linked(tenant, 0), linked(tenant, 4_000_000), linked(tenant, TARGET)]
    save(services.store, *items, invoice(tenant))  # a pending invoice is out of scope
    for item in items:
        on_chain(ledger, item, item.funded_stroops)

    run = services.reconciliation.reconcile(tenant, trigger="cli")

    summary = run.summary
    assert (summary.total, summary.matches, summary.mismatches, summary.errors) == (3, 3, 0, 0)
    assert (summary.total_drift, run.alerted) == (0, False)
    assert [r.invoice_id for r in run.results] == sorted(i.id for i in items)
    assert services.reconciliation.run(tenant, ADMIN, run.id) == run
    with services.store.read_unit(tenant) as uow:
        [event] = uow.audit.for_resource(tenant, "reconciliation_run", run.id)
    assert (event.action, event.actor_role, event.metadata["trigger"]) == (
        "reconciliation.run_recorded",
        "chain",
        "cli",
    )
    assert (event.metadata["matches"], event.metadata["totalDriftStroops"]) == (3, "0")
    assert recorder.runs == [run] and recorder.sweeps == [[tenant]]


def test_a_diverged_amount_is_a_mismatch_with_its_drift_and_alerts_at_the_threshold() -> None:
    ledger = FakeEscrowLedger()
    services, recorder = build(ledger, threshold=2)
    tenant = new_tenant()
    agreed, short, over = linked(tenant, 5_000), linked(tenant, 6_000_000), linked(tenant, 1)
    save(services.store, agreed, short, over)
    on_chain(ledger, agreed, 5_000)
    on_chain(ledger, short, 5_999_750)  # the chain holds 250 stroops less than our books
    on_chain(ledger, over, 1)

    below = services.reconciliation.reconcile(tenant)
    assert (below.summary.mismatches, below.summary.total_drift, below.alerted) == (1, 250, False)
    [mismatch] = [r.check for r in below.results if r.check.outcome is Outcome.MISMATCH]
    assert (mismatch.invoice_id, mismatch.store_funded, mismatch.chain_funded) == (
        short.id,
        6_000_000,
        5_999_750,
    )
    assert mismatch.drift == -250

    on_chain(ledger, over, 1_001)  # a second invoice diverges: 2 mismatches reach 2
    reached = services.reconciliation.reconcile(tenant)

    assert (reached.summary.mismatches, reached.summary.total_drift) == (2, 1_250)
    assert reached.alerted is True and reached.summary.threshold == 2
    assert [run.alerted for run in recorder.runs] == [False, True]
    page = services.reconciliation.runs(tenant, ADMIN, RunsQuery())
    assert [run.id for run in page.items] == [reached.id, below.id]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (Unavailable("The Soroban RPC is unavailable."), ReadFailure.RPC_UNAVAILABLE),
        (Unavailable("Timed out.", code="SOROBAN_RPC_TIMEOUT"), ReadFailure.RPC_TIMEOUT),
        (RuntimeError("XDR decode failed at byte 12"), ReadFailure.UNREADABLE_ANSWER),
    ],
)
def test_a_failed_read_is_an_error_for_that_invoice_while_the_others_are_compared(
    error: Exception, reason: ReadFailure
) -> None:
    ledger = FakeEscrowLedger()
    tenant = new_tenant()
    down, fine, unknown = linked(tenant, 10), linked(tenant, 20), linked(tenant, 30)
    assert down.escrow_address is not None
    services, _ = build(OneAddressDown(ledger, down.escrow_address, error))
    save(services.store, down, fine, unknown)
    on_chain(ledger, fine, 20)  # `unknown`'s address holds no escrow at all

    run = services.reconciliation.reconcile(tenant)

    by_id = {r.invoice_id: r for r in run.results}
    assert (run.summary.total, run.summary.matches, run.summary.errors) == (3, 1, 2)
    assert by_id[down.id].check.failure is reason
    assert by_id[down.id].check.chain_funded is None
    assert by_id[unknown.id].check.failure is ReadFailure.NOT_INITIALISED
    assert by_id[fine.id].check.outcome is Outcome.MATCH
    stored = services.reconciliation.run(tenant, ADMIN, run.id)
    assert stored == run
    assert str(error) not in repr(stored)  # the reason is a code, never the error's text


def test_the_run_starts_only_with_a_ledger() -> None:
    services, recorder = build(None)
    tenant = new_tenant()
    save(services.store, linked(tenant, 0))

    with pytest.raises(Unavailable) as refused:
        services.reconciliation.reconcile(tenant)
    with pytest.raises(Unavailable):
        services.reconciliation.reconcile_all()

    assert refused.value.code == "RECONCILIATION_UNAVAILABLE"
    assert services.reconciliation.runs(tenant, ADMIN, RunsQuery()).total == 0
    assert recorder.runs == []
    assert RECONCILIATION not in job_handlers(services)


def test_runs_are_read_by_the_tenants_admins_only() -> None:
    ledger = FakeEscrowLedger()
    services, _ = build(ledger)
    tenant, other = new_tenant(), new_tenant()
    item = linked(tenant, 0)
    save(services.store, item)
    on_chain(ledger, item, 0)
    run = services.reconciliation.reconcile(tenant)

    for role in (Role.SME, Role.INVESTOR, Role.SERVICE):
        with pytest.raises(Forbidden):
            services.reconciliation.runs(tenant, Actor("x", role), RunsQuery())
        with pytest.raises(Forbidden):
            services.reconciliation.run(tenant, Actor("x", role), run.id)
    with pytest.raises(NotFound) as missing:
        services.reconciliation.run(other, ADMIN, run.id)
    assert missing.value.code == "RECONCILIATION_RUN_NOT_FOUND"
    assert services.reconciliation.runs(other, ADMIN, RunsQuery()).total == 0


def test_the_nightly_slot_runs_every_tenant_in_scope_through_the_worker() -> None:
    ledger = FakeEscrowLedger()
    store = InMemoryStore()
    services, recorder = build(ledger, store=store)
    first, second, idle = new_tenant(), new_tenant(), new_tenant()
    a, b = linked(first, 100), linked(second, TARGET)
    save(store, a)
    save(store, b)
    save(store, invoice(idle))  # nothing to compare: no run for it
    on_chain(ledger, a, 100)
    on_chain(ledger, b, TARGET - 1)
    handlers = job_handlers(services)
    assert RECONCILIATION in handlers

    worker = open_worker(services, {RECONCILIATION: handlers[RECONCILIATION]})
    ran = worker.drain()

    assert ran == 1  # the slot's job of this period, enqueued by the schedule
    with store.read_unit(SYSTEM_TENANT) as uow:
        [job] = uow.jobs.list(JobQuery(SYSTEM_TENANT)).items
    assert (job.type, job.status) == (RECONCILIATION, JobStatus.SUCCEEDED)
    assert sorted(run.tenant_id for run in recorder.runs) == sorted([first, second])
    assert sorted(recorder.sweeps[-1]) == sorted([first, second])
    for tenant, mismatches in ((first, 0), (second, 1)):
        [run] = services.reconciliation.runs(tenant, ADMIN, RunsQuery()).items
        assert run.summary.mismatches == mismatches
    assert services.reconciliation.runs(idle, ADMIN, RunsQuery()).total == 0
    assert worker.drain() == 0  # once per period
