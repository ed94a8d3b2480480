"""A terminal invoice releases its pending commitments in the same unit (issue 9, item 7):
audited one event per commitment, gone from locks and from the escrow's pending total."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from liquifact_adapters.cache import CacheInvalidation
from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.commitments import Commitment, CommitmentStatus
from liquifact_core.invoices import Actor, Invoice, TransitionReason
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.ports import Store
from liquifact_core.services import Services
from tests.factories import (
    account_address,
    contract_address,
    funding_of,
    invoice_draft,
    link_of,
)
from tests.service.test_read_invalidation import RecordingCache

ADMIN = Actor("ops", Role.ADMIN)
CHAIN = Actor("indexer", Role.CHAIN)
INVESTORS = [Actor(f"investor-{n}", Role.INVESTOR, account_address()) for n in range(2)]


def _services(store: Store, cache: RecordingCache | None = None) -> Services:
    return Services.from_ports(
        store,
        FixedClock(),
        SequentialIdGenerator(),
        cache,
        changes=None if cache is None else CacheInvalidation(cache),
        idempotency_ttl=timedelta(hours=24),
    )


def _listed(services: Services) -> Invoice:
    created = services.invoices.submit("t1", Actor("sme-1", Role.SME), invoice_draft())
    services.invoices.approve("t1", ADMIN, created.id)
    return services.invoices.link_escrow(
        "t1", ADMIN, created.id, link_of(contract_address(), "1000")
    )


def _fund(services: Services, invoice: Invoice, amount: str, investor: Actor) -> Commitment:
    body = {"invoiceId": invoice.id, "investorAddress": investor.wallet, "amountStroops": amount}
    key = f"key-{investor.id}-{amount}"
    return services.funding.fund_invoice("t1", investor, funding_of(body), key).commitment


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "memory":
        return InMemoryStore()
    return SqliteStore(str(tmp_path / "db.sqlite3"))


def test_cancelling_releases_pending_commitments_with_an_audit_each(store: Store) -> None:
    services = _services(store)
    invoice = _listed(services)
    first = _fund(services, invoice, "100", INVESTORS[0])
    second = _fund(services, invoice, "250", INVESTORS[1])
    confirmed = _fund(services, invoice, "50", INVESTORS[0])
    services.funding.update_commitment("t1", CHAIN, confirmed.id, {"status": "confirmed"})

    cancelled = services.invoices.cancel(
        "t1", ADMIN, invoice.id, TransitionReason("buyer withdrew")
    )

    assert cancelled.status is InvoiceStatus.CANCELLED
    with store.unit_of_work("t1") as uow:
        for pending in (first, second):
            stored = uow.commitments.get("t1", pending.id)
            assert stored is not None
            assert stored.status is CommitmentStatus.RELEASED
            assert stored.updated_at == cancelled.updated_at
            events = uow.audit.for_resource("t1", "commitment", pending.id)
            assert [event.action for event in events] == [
                "commitment.created",
                "commitment.released",
            ]
            assert events[-1].actor_id == ADMIN.id
            assert events[-1].metadata["status"] == "released"
            assert events[-1].metadata["invoiceStatus"] == "cancelled"
            assert events[-1].metadata["amountStroops"] == str(pending.amount_stroops)
        still = uow.commitments.get("t1", confirmed.id)
        assert still is not None and still.status is CommitmentStatus.CONFIRMED
        assert uow.commitments.pending_total_for_update("t1", invoice.id) == 0
    locks = services.funding.locks("t1", ADMIN)
    assert [(lock.investor_address, lock.amount_stroops) for lock in locks.items] == [
        (INVESTORS[0].wallet, 50)
    ]
    services.close()


def test_settling_releases_what_is_still_pending(store: Store) -> None:
    services = _services(store)
    invoice = _listed(services)
    pending = _fund(services, invoice, "100", INVESTORS[0])
    services.invoices.record_chain_funding("t1", CHAIN, invoice.id, 1000)

    services.invoices.transition("t1", CHAIN, invoice.id, InvoiceStatus.SETTLED)

    with store.unit_of_work("t1") as uow:
        stored = uow.commitments.get("t1", pending.id)
    assert stored is not None and stored.status is CommitmentStatus.RELEASED
    services.close()


def test_a_non_terminal_transition_releases_nothing(store: Store) -> None:
    services = _services(store)
    invoice = _listed(services)
    pending = _fund(services, invoice, "100", INVESTORS[0])

    services.invoices.record_chain_funding("t1", CHAIN, invoice.id, 400)  # partially funded

    with store.unit_of_work("t1") as uow:
        stored = uow.commitments.get("t1", pending.id)
    assert stored == pending
    services.close()


def test_releasing_drops_the_cached_lock_reads() -> None:
    cache = RecordingCache()
    services = _services(InMemoryStore(), cache)
    invoice = _listed(services)
    _fund(services, invoice, "100", INVESTORS[0])
    cache.invalidated.clear()

    services.invoices.cancel("t1", ADMIN, invoice.id, TransitionReason("buyer withdrew"))

    assert cache.invalidated == [
        "marketplace:t1:",
        f"escrow:t1:{invoice.id}:",
        "investor:locks:t1:",
        "investor:lock:t1:",
    ]


def test_a_terminal_transition_without_commitments_touches_no_lock_cache() -> None:
    cache = RecordingCache()
    services = _services(InMemoryStore(), cache)
    invoice = services.invoices.submit("t1", Actor("sme-1", Role.SME), invoice_draft())

    services.invoices.reject("t1", ADMIN, invoice.id, TransitionReason("duplicate"))

    assert cache.invalidated == ["marketplace:t1:", f"escrow:t1:{invoice.id}:"]
