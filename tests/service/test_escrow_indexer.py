"""The escrow indexer over FakeEscrowLedger, on the memory and SQLite stores: events drive
linked_escrow -> partially_funded -> funded (history, audit, webhook job, cache invalidation,
commitments confirmed); replaying the same events changes nothing; a crash between reading the
chain and committing leaves cursor, projection and invoice as they were, and the next pass
applies everything once; a chain outage leaves the cursor where it was."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from stellar_sdk.strkey import StrKey

from liquifact_adapters.cache import CacheInvalidation
from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
from liquifact_adapters.memory.fakes import FakeEscrowLedger
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.commitments import Commitment, CommitmentStatus
from liquifact_core.errors import Unavailable
from liquifact_core.escrow import EscrowReading, EscrowStatus, InvoiceEscrow
from liquifact_core.invoices import Actor, Invoice
from liquifact_core.jobs import WEBHOOK_DELIVERY, JobQuery
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.ports import Store, UnitOfWork
from liquifact_core.services import Services
from liquifact_core.webhook_endpoints import WebhookEndpoint
from tests.factories import account_address, contract_address, funding_of, invoice_draft, link_of
from tests.service.test_read_invalidation import RecordingCache

S = InvoiceStatus
TENANT = "t1"
ADMIN = Actor("ops", Role.ADMIN)
TARGET = 1000
SME = StrKey.encode_ed25519_public_key(bytes(range(32)))


def escrow_reading(
    invoice: Invoice, funded: int, status: EscrowStatus = EscrowStatus.OPEN, **flags: bool
) -> EscrowReading:
    escrow = InvoiceEscrow(
        invoice_id=invoice.id[:32],
        admin=SME,
        sme_address=SME,
        amount=TARGET,
        funding_target=TARGET,
        funded_amount=funded,
        yield_bps=650,
        maturity=1_900_000_000,
        status=status,
    )
    return EscrowReading(escrow, **flags)


class World:
    """A store, services with a fake ledger, and helpers to move the chain."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ledger = FakeEscrowLedger()
        self.clock = FixedClock()
        self.cache = RecordingCache()
        self.services = Services.from_ports(
            store,
            self.clock,
            SequentialIdGenerator(),
            self.cache,
            changes=CacheInvalidation(self.cache),
            ledger=self.ledger,
        )
        assert self.services.indexer is not None
        self.indexer = self.services.indexer
        with store.unit_of_work(TENANT) as uow:
            uow.webhooks.put(
                WebhookEndpoint(
                    TENANT, "https://hooks.example/x", "hooks.example", self.clock.now(), "sealed"
                )
            )
            uow.commit()

    def linked_invoice(self) -> Invoice:
        created = self.services.invoices.submit(TENANT, Actor("sme-1", Role.SME), invoice_draft())
        self.services.invoices.approve(TENANT, ADMIN, created.id)
        # The contract exists (open, this invoice's id and target) before it is linked: the
        # link itself reads it from the ledger.
        address = contract_address()
        self.ledger.put(address, escrow_reading(created, 0))
        return self.services.invoices.link_escrow(
            TENANT, ADMIN, created.id, link_of(address, str(TARGET))
        )

    def deposit(self, invoice: Invoice, investor: str, amount: int, funded: int) -> None:
        """One ``fund`` on chain: the contract's new state and its ``funded`` event."""
        contract = str(invoice.escrow_address)
        status = EscrowStatus.FUNDED if funded >= TARGET else EscrowStatus.OPEN
        self.ledger.put(contract, escrow_reading(invoice, funded, status))
        self.ledger.emit(
            contract,
            "escrow_funded",
            "funded",
            invoice.id[:32],
            investor,
            value={"amount": amount, "funded_amount": funded, "status": int(status)},
        )

    def commit(self, investor: Actor, invoice: Invoice, amount: int) -> Commitment:
        body = {
            "invoiceId": invoice.id,
            "investorAddress": investor.wallet,
            "amountStroops": str(amount),
        }
        key = f"key-{investor.id}-{amount}"
        return self.services.funding.fund_invoice(
            TENANT, investor, funding_of(body), key
        ).commitment

    def read(self, invoice_id: str) -> dict[str, Any]:
        with self.store.read_unit(TENANT) as uow:
            invoice = uow.invoices.get(TENANT, invoice_id)
            assert invoice is not None
            return {
                "status": invoice.status,
                "funded": invoice.funded_stroops,
                "version": invoice.version,
                "history": [s.to_status for s in uow.invoices.history(TENANT, invoice_id)],
                "projection": uow.escrows.get(TENANT, invoice_id),
                "cursor": uow.escrows.cursor(TENANT),
                "audit": [e.action for e in uow.audit.for_resource(TENANT, "invoice", invoice_id)],
                "webhooks": [
                    j.payload
                    for j in uow.jobs.list(JobQuery(TENANT, limit=100)).items
                    if j.type == WEBHOOK_DELIVERY
                ],
            }


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    store: Store = (
        InMemoryStore() if request.param == "memory" else SqliteStore(str(tmp_path / "db.sqlite3"))
    )
    yield World(store)
    store.close()


def test_a_new_escrow_is_seeded_by_one_read(world: World) -> None:
    invoice = world.linked_invoice()
    run = world.indexer.run_once()
    state = world.read(invoice.id)
    assert state["status"] is S.LINKED_ESCROW
    assert state["projection"] is not None and state["projection"].funded_amount == 0
    assert state["cursor"] is not None and state["cursor"].ledger == 100
    assert [(t.tenant_id, t.readings, t.events, t.error) for t in run.tenants] == [
        (TENANT, 1, 0, None)
    ]
    # A second pass without events reads nothing and moves nothing.
    again = world.indexer.run_once()
    assert again.tenants[0].readings == 0
    assert world.read(invoice.id)["version"] == state["version"]


def test_events_drive_the_invoice_to_partially_funded_then_funded(world: World) -> None:
    investors = [Actor(f"inv-{n}", Role.INVESTOR, account_address()) for n in range(2)]
    invoice = world.linked_invoice()
    first = world.commit(investors[0], invoice, 400)
    second = world.commit(investors[1], invoice, 600)
    world.indexer.run_once()  # seed
    before = world.read(invoice.id)
    world.cache.invalidated.clear()

    world.deposit(invoice, str(investors[0].wallet), 400, 400)
    run = world.indexer.run_once()
    state = world.read(invoice.id)
    assert state["status"] is S.PARTIALLY_FUNDED and state["funded"] == 400
    assert state["projection"].funded_amount == 400
    assert state["projection"].ledger == 101
    assert run.tenants[0].transitions == 1 and run.tenants[0].confirmations == 1
    assert "invoice.linked_escrow_to_partially_funded" in state["audit"]
    assert len(state["webhooks"]) == len(before["webhooks"]) + 1
    assert f"marketplace:{TENANT}:" in world.cache.invalidated
    assert any(p.startswith("investor:lock") for p in world.cache.invalidated)

    world.deposit(invoice, str(investors[1].wallet), 600, 1000)
    world.indexer.run_once()
    state = world.read(invoice.id)
    assert state["status"] is S.FUNDED and state["funded"] == 1000
    assert state["history"][-2:] == [S.PARTIALLY_FUNDED, S.FUNDED]
    newest = state["webhooks"][0]  # listed newest first
    assert newest["invoiceId"] == invoice.id
    assert newest["transition"]["from"] == "partially_funded"
    assert newest["transition"]["to"] == "funded"
    assert newest["transition"]["actor"] == "escrow-indexer"

    with world.store.read_unit(TENANT) as uow:
        for commitment in (first, second):
            stored = uow.commitments.get(TENANT, commitment.id)
            assert stored is not None and stored.status is CommitmentStatus.CONFIRMED
            assert stored.tx_hash is not None
            audit = uow.audit.for_resource(TENANT, "commitment", commitment.id)
            assert audit[-1].action == "commitment.confirmed"


def test_a_deposit_finds_its_commitment_among_more_than_a_page(world: World) -> None:
    investor = Actor("inv-many", Role.INVESTOR, account_address())
    invoice = world.linked_invoice()
    oldest = world.commit(investor, invoice, 7)
    for _ in range(101):  # 101 newer pending commitments of 1 stroop: none matches
        world.commit(investor, invoice, 1)
    world.indexer.run_once()  # seed

    world.deposit(invoice, str(investor.wallet), 7, 7)
    world.indexer.run_once()

    with world.store.read_unit(TENANT) as uow:
        found = uow.commitments.get(TENANT, oldest.id)
    assert found is not None and found.status is CommitmentStatus.CONFIRMED


def test_replaying_the_same_events_changes_nothing(world: World) -> None:
    invoice = world.linked_invoice()
    world.deposit(invoice, account_address(), 300, 300)
    world.indexer.run_once()
    applied = world.read(invoice.id)

    # Forget the cursor (as if it were lost): the same events come again.
    with world.store.unit_of_work(TENANT) as uow:
        cursor = uow.escrows.cursor(TENANT)
        assert cursor is not None
        uow.escrows.put_cursor(
            type(cursor)(TENANT, None, 0, cursor.updated_at),  # back to the start
            replacing=cursor,
        )
        uow.commit()
    world.indexer.run_once()
    replayed = world.read(invoice.id)
    for key in ("status", "funded", "version", "history", "audit", "webhooks"):
        assert replayed[key] == applied[key], key
    assert replayed["projection"] == applied["projection"]


class _CrashingUnit:
    """A unit of work whose commit raises: the process died between reading and committing."""

    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner

    def __enter__(self) -> UnitOfWork:
        self._inner.__enter__()
        return self  # type: ignore[return-value]

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def commit(self) -> None:
        raise Unavailable("The process stopped before committing.")


def test_a_crash_before_commit_leaves_everything_as_it_was(world: World) -> None:
    invoice = world.linked_invoice()
    world.indexer.run_once()
    seeded = world.read(invoice.id)
    world.deposit(invoice, account_address(), 250, 250)
    world.deposit(invoice, account_address(), 750, 1000)

    real_units = world.indexer._units
    world.indexer._units = lambda tenant: _CrashingUnit(real_units(tenant))  # type: ignore[assignment]
    run = world.indexer.run_once()
    assert [t.error for t in run.tenants] == [Unavailable("x").code]
    crashed = world.read(invoice.id)
    for key in ("status", "funded", "version", "history", "audit", "webhooks", "cursor"):
        assert crashed[key] == seeded[key], key
    assert crashed["projection"] == seeded["projection"]

    world.indexer._units = real_units
    world.indexer.run_once()
    state = world.read(invoice.id)
    assert state["status"] is S.FUNDED and state["funded"] == 1000
    # Linked straight to funded: the reading, the truth, is already past partially funded.
    assert state["history"][-1] is S.FUNDED
    assert len(state["webhooks"]) == len(seeded["webhooks"]) + 1
    assert state["cursor"].ledger == 102


def test_a_pass_overtaken_by_another_commits_nothing(world: World) -> None:
    investor = Actor("inv-0", Role.INVESTOR, account_address())
    invoice = world.linked_invoice()
    commitment = world.commit(investor, invoice, 400)
    world.indexer.run_once()  # seed
    world.deposit(invoice, str(investor.wallet), 400, 400)

    # The slow pass has read the deposit's event and re-reads the contract; meanwhile a second
    # deposit lands and another pass indexes both and commits.
    ledger = world.ledger
    real_read = ledger.read_escrow

    def read_then_overtaken(contract: str) -> EscrowReading:
        reading = real_read(contract)
        ledger.read_escrow = real_read  # type: ignore[method-assign]
        world.deposit(invoice, account_address(), 600, 1000)
        world.indexer.run_once()
        return reading

    ledger.read_escrow = read_then_overtaken  # type: ignore[method-assign]
    slow = world.indexer.run_once()
    overtaken = world.read(invoice.id)

    # Its unit is refused whole: the cursor is not put back, nothing is applied twice.
    assert [t.error for t in slow.tenants] == ["CONCURRENT_UPDATE"]
    assert overtaken["status"] is S.FUNDED and overtaken["cursor"].ledger == 102
    assert overtaken["projection"].ledger == 102
    with world.store.read_unit(TENANT) as uow:
        audit = uow.audit.for_resource(TENANT, "commitment", commitment.id)
    assert [e.action for e in audit].count("commitment.confirmed") == 1
    again = world.indexer.run_once()
    assert (again.tenants[0].events, again.tenants[0].error) == (0, None)
    assert world.read(invoice.id)["version"] == overtaken["version"]


def test_a_chain_outage_leaves_the_cursor_where_it_was(world: World) -> None:
    invoice = world.linked_invoice()
    world.indexer.run_once()
    world.deposit(invoice, account_address(), 100, 100)
    world.ledger.fail_with(Unavailable("The chain RPC is unavailable."))
    run = world.indexer.run_once()
    assert run.failed and run.failed[0].tenant_id == TENANT
    state = world.read(invoice.id)
    assert state["status"] is S.LINKED_ESCROW and state["cursor"].ledger == 100

    world.ledger.fail_with(None)
    world.indexer.run_once()
    assert world.read(invoice.id)["status"] is S.PARTIALLY_FUNDED


def test_settled_withdrawn_and_cancelled_escrows_end_the_invoice(world: World) -> None:
    settled, withdrawn, cancelled, held = (world.linked_invoice() for _ in range(4))
    world.indexer.run_once()
    cases = (
        (settled, EscrowStatus.SETTLED, 1000, "escrow_sd", S.SETTLED),
        (withdrawn, EscrowStatus.WITHDRAWN, 1000, "sme_wd", S.DISBURSED),
        (cancelled, EscrowStatus.CANCELLED, 0, "fund_can", S.CANCELLED),
    )
    for invoice, status, funded, name, _ in cases:
        world.ledger.put(str(invoice.escrow_address), escrow_reading(invoice, funded, status))
        world.ledger.emit(str(invoice.escrow_address), "x", name, invoice.id[:32], value={})
    world.ledger.put(str(held.escrow_address), escrow_reading(held, 0, legal_hold=True))
    world.ledger.emit(str(held.escrow_address), "legal_hold_changed", "legalhld", value={})
    world.indexer.run_once()

    for invoice, _, _, _, expected in cases:
        assert world.read(invoice.id)["status"] is expected
    assert world.read(settled.id)["history"][-2:] == [S.FUNDED, S.SETTLED]
    held_state = world.read(held.id)
    assert held_state["status"] is S.LINKED_ESCROW and held_state["projection"].legal_hold
    # Settled and cancelled invoices are no longer indexed; disbursed ones still are.
    indexed = {e.invoice_id for e in world.store.linked_escrows()}
    assert withdrawn.id in indexed and held.id in indexed
    assert settled.id not in indexed and cancelled.id not in indexed


def test_an_escrow_read_serves_the_projection_with_figures_and_staleness(world: World) -> None:
    invoice = world.linked_invoice()
    with pytest.raises(Exception, match="no indexed escrow"):
        world.services.escrows.view(TENANT, ADMIN, invoice.id)
    world.deposit(invoice, account_address(), 250, 250)
    world.indexer.run_once()
    view = world.services.escrows.view(TENANT, ADMIN, invoice.id)
    assert view.projection.funded_amount == 250 and view.stale is False
    assert str(view.figures.funded_percent) == "25.00" and view.figures.remaining_capacity == 750
    assert view.ledger == 101

    world.clock.advance(timedelta(minutes=10))
    assert world.services.escrows.view(TENANT, ADMIN, invoice.id).stale is True
    # An investor sees an investable invoice's escrow; another SME does not.
    investor = Actor("inv-x", Role.INVESTOR, account_address())
    assert world.services.escrows.view(TENANT, investor, invoice.id).projection
    with pytest.raises(Exception, match="not found"):
        world.services.escrows.view(TENANT, Actor("sme-2", Role.SME), invoice.id)


def test_the_chain_index_job_runs_a_pass_and_fails_when_a_tenant_did(world: World) -> None:
    from liquifact_adapters.composition import job_handlers
    from liquifact_core.jobs import JobFailed, new_job
    from liquifact_core.schedules import CHAIN_INDEX, SLOTS, SYSTEM_TENANT

    slot = next(s for s in SLOTS if s.job_type == CHAIN_INDEX)
    assert slot.period == timedelta(minutes=1)
    handler = job_handlers(world.services)[CHAIN_INDEX]
    job = new_job(
        job_id="job_sched_escrow_index_x",
        tenant_id=SYSTEM_TENANT,
        job_type=CHAIN_INDEX,
        payload={},
        now=world.clock.now(),
    )
    invoice = world.linked_invoice()
    world.deposit(invoice, account_address(), 100, 100)
    handler(job)
    assert world.read(invoice.id)["status"] is S.PARTIALLY_FUNDED

    world.ledger.fail_with(Unavailable("The chain RPC is unavailable."))
    with pytest.raises(JobFailed) as failed:
        handler(job)
    assert (
        failed.value.failure.retryable and "1 tenant(s) not indexed" in failed.value.failure.error
    )


def test_without_a_ledger_there_is_no_indexer_and_no_job(tmp_path: Path) -> None:
    from liquifact_adapters.composition import job_handlers
    from liquifact_core.schedules import CHAIN_INDEX

    services = Services.from_ports(InMemoryStore(), FixedClock(), SequentialIdGenerator())
    assert services.indexer is None
    assert CHAIN_INDEX not in job_handlers(services)
