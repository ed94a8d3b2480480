"""When a cached escrow view may be served again (``EscrowService.may_serve_again``): the
ledger-gap rule (REDIS_ESCROW_LEDGER_GAP_THRESHOLD) and the staleness rules; and what the
indexer publishes so that the cache drops an invoice's view when its projection changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_adapters.memory import InMemoryStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.escrow import EscrowStatus
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.ports import Store
from liquifact_core.services.escrows import EscrowView, ServedEscrow, beyond_ledger_gap
from tests.factories import account_address, contract_address, invoice_draft, link_of
from tests.service.test_escrow_indexer import ADMIN, TENANT, World, escrow_reading

S = InvoiceStatus
SME_OF_T2 = Actor("sme-2", Role.SME)


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    store: Store = (
        InMemoryStore() if request.param == "memory" else SqliteStore(str(tmp_path / "db.sqlite3"))
    )
    yield World(store)
    store.close()


def served(view: EscrowView) -> ServedEscrow:
    """What the cache keeps of an answer."""
    return ServedEscrow(view.invoice.status, view.ledger, view.checked_at, view.stale)


def move_the_chain(world: World, ledgers: int) -> None:
    """``ledgers`` new ledgers, none with an event of this tenant's contracts."""
    for _ in range(ledgers):
        world.ledger.emit(contract_address(), "x", "elsewhere", value={})


# ---- the gap rule itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ledger", "latest", "threshold", "beyond"),
    [
        (100, None, 0, False),  # the indexer has seen nothing yet
        (100, 100, 0, False),
        (100, 101, 0, True),  # 0: any newer ledger drops it
        (100, 120, 20, False),  # exactly the threshold ahead: kept
        (100, 121, 20, True),  # more than the threshold: dropped
        (100, 90, 5, False),  # the entry is ahead of what this process saw
    ],
)
def test_beyond_ledger_gap(ledger: int, latest: int | None, threshold: int, beyond: bool) -> None:
    assert beyond_ledger_gap(ledger, latest, threshold) is beyond


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
)
def test_an_entry_is_dropped_exactly_when_more_than_the_threshold_behind(
    ledger: int, ahead: int, threshold: int
) -> None:
    assert beyond_ledger_gap(ledger, ledger + ahead, threshold) is (ahead > threshold)


# ---- may a cached view be served again? -----------------------------------------------------


def test_a_view_is_served_again_until_the_indexer_moves_more_than_the_threshold(
    world: World,
) -> None:
    invoice = world.linked_invoice()
    world.indexer.run_once()
    escrows = world.services.escrows
    first = escrows.view(TENANT, ADMIN, invoice.id)
    assert first.ledger == 100 and first.stale is False

    move_the_chain(world, 3)
    world.indexer.run_once()  # no event of this contract: only the cursor moves, to 103
    assert escrows.latest_ledger() == 103
    assert escrows.view(TENANT, ADMIN, invoice.id).ledger == 103  # what a re-read says
    assert escrows.may_serve_again(served(first), gap_threshold=3) is True
    assert escrows.may_serve_again(served(first), gap_threshold=2) is False
    assert escrows.may_serve_again(served(first), gap_threshold=0) is False


def test_another_tenants_pass_and_the_chain_tip_this_process_saw_count(world: World) -> None:
    invoice = world.linked_invoice()
    world.indexer.run_once()
    escrows = world.services.escrows
    first = served(escrows.view(TENANT, ADMIN, invoice.id))
    move_the_chain(world, 5)

    # Only another tenant's pass commits (at ledger 105): the newest ledger any pass reached.
    other = world.services.invoices.submit("t2", SME_OF_T2, invoice_draft())
    world.services.invoices.approve("t2", ADMIN, other.id)
    address = contract_address()
    world.ledger.put(address, escrow_reading(other, 0))
    world.services.invoices.link_escrow("t2", ADMIN, other.id, link_of(address, "1000"))
    t2 = [e for e in world.store.linked_escrows() if e.tenant_id == "t2"]
    assert world.indexer.index_tenant("t2", t2).latest_ledger == 105
    assert escrows.latest_ledger() == 105
    assert escrows.may_serve_again(first, gap_threshold=5) is True
    assert escrows.may_serve_again(first, gap_threshold=4) is False

    # The chain's tip as this process's indexer last read it (a pass fetched it, and has not
    # committed yet) counts as well.
    world.indexer.latest_seen = 110
    assert escrows.latest_ledger() == 110
    assert escrows.may_serve_again(first, gap_threshold=9) is False


def test_a_stale_view_or_one_that_would_be_stale_now_is_read_again(world: World) -> None:
    invoice = world.linked_invoice()
    world.indexer.run_once()
    escrows = world.services.escrows
    fresh = served(escrows.view(TENANT, ADMIN, invoice.id))
    assert escrows.may_serve_again(fresh, gap_threshold=1000) is True

    # A stale answer is never served again: the indexer may have caught up since.
    assert escrows.may_serve_again(attrs.evolve(fresh, stale=True), gap_threshold=1000) is False

    # No pass for longer than ESCROW_STALE_AFTER_SECONDS: a re-read would say stale.
    world.clock.advance(escrows.stale_after + timedelta(seconds=1))
    assert escrows.view(TENANT, ADMIN, invoice.id).stale is True
    assert escrows.may_serve_again(fresh, gap_threshold=1000) is False


def test_a_view_behind_the_stale_ledger_gap_is_read_again_whatever_the_threshold(
    world: World,
) -> None:
    invoice = world.linked_invoice()
    world.indexer.run_once()
    escrows = world.services.escrows
    fresh = served(escrows.view(TENANT, ADMIN, invoice.id))
    escrows.stale_ledger_gap = 2
    move_the_chain(world, 3)
    world.indexer.run_once()
    # The store's view moved with the cursor and is not stale; the cached one would be.
    assert escrows.view(TENANT, ADMIN, invoice.id).stale is False
    assert escrows.may_serve_again(fresh, gap_threshold=1000) is False


def test_a_final_invoices_view_has_no_gap_rule(world: World) -> None:
    invoice = world.linked_invoice()
    world.indexer.run_once()
    contract = str(invoice.escrow_address)
    world.ledger.put(contract, escrow_reading(invoice, 1000, EscrowStatus.SETTLED))
    world.ledger.emit(contract, "x", "escrow_sd", invoice.id[:32], value={})
    world.indexer.run_once()
    escrows = world.services.escrows
    settled = escrows.view(TENANT, ADMIN, invoice.id)
    assert settled.invoice.status is S.SETTLED

    world.linked_invoice()  # keeps the tenant indexed, so its cursor moves on
    move_the_chain(world, 50)
    world.indexer.run_once()
    world.clock.advance(escrows.stale_after * 10)
    latest = escrows.latest_ledger()
    assert latest is not None and latest - settled.ledger > 40
    assert escrows.may_serve_again(served(settled), gap_threshold=0) is True


# ---- what the indexer publishes ------------------------------------------------------------


def test_a_projection_change_alone_drops_the_invoices_escrow_view(world: World) -> None:
    invoice = world.linked_invoice()
    world.indexer.run_once()
    contract = str(invoice.escrow_address)
    world.cache.invalidated.clear()

    # A legal hold moves nothing but the projection.
    world.ledger.put(contract, escrow_reading(invoice, 0, legal_hold=True))
    world.ledger.emit(contract, "legal_hold_changed", "legalhld", value={})
    world.indexer.run_once()
    assert world.read(invoice.id)["status"] is S.LINKED_ESCROW
    assert world.cache.invalidated == [f"escrow:{TENANT}:{invoice.id}:"]

    # A pass that reads nothing of the contract writes no projection and drops nothing.
    world.cache.invalidated.clear()
    move_the_chain(world, 2)
    world.indexer.run_once()
    assert world.cache.invalidated == []

    # A deposit moves the invoice too: its view is dropped (by both events).
    world.deposit(invoice, account_address(), 250, 250)
    world.indexer.run_once()
    assert world.cache.invalidated.count(f"escrow:{TENANT}:{invoice.id}:") == 2
    assert f"marketplace:{TENANT}:" in world.cache.invalidated
