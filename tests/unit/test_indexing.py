"""The escrow indexer's pure rules: the projection's ledger order, the state a reading implies,
the chain path through the lifecycle, and what a reading does to an invoice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk.strkey import StrKey

from liquifact_core.amounts import STROOPS_MAX, Money
from liquifact_core.chain import ContractEvent
from liquifact_core.escrow import I128_MAX, EscrowReading, EscrowStatus, InvoiceEscrow
from liquifact_core.indexing import (
    INDEXER_ACTOR,
    EscrowProjection,
    IndexerProgress,
    IndexerStatus,
    apply_reading,
    chain_path,
    follow_chain,
    funded_event,
    implied_state,
    indexer_status,
)
from liquifact_core.invoices import Invoice, InvoiceDraft
from liquifact_core.lifecycle import TRANSITIONS, InvoiceStatus, Role, check_transition

S = InvoiceStatus
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ADMIN = StrKey.encode_ed25519_public_key(bytes(range(32)))
SME = StrKey.encode_ed25519_public_key(bytes(range(1, 33)))
CONTRACT = StrKey.encode_contract(bytes(range(2, 34)))
TARGET = 10_000_000_000
CHAIN_STATES = (S.LINKED_ESCROW, S.PARTIALLY_FUNDED, S.FUNDED, S.DISBURSED)


def reading(
    status: int = 0, funded: int = 0, target: int = TARGET, *, hold: bool = False
) -> EscrowReading:
    escrow = InvoiceEscrow(
        invoice_id="inv_01TEST",
        admin=ADMIN,
        sme_address=SME,
        amount=target,
        funding_target=target,
        funded_amount=funded,
        yield_bps=800,
        maturity=1_800_000_000,
        status=status,
    )
    return EscrowReading(escrow, legal_hold=hold)


readings = st.builds(
    reading,
    status=st.sampled_from([int(s) for s in EscrowStatus]),
    funded=st.one_of(st.integers(0, 2 * TARGET), st.integers(0, I128_MAX)),
    hold=st.booleans(),
)


def invoice(status: InvoiceStatus = S.LINKED_ESCROW, funded: int = 0) -> Invoice:
    draft = InvoiceDraft(
        invoice_number="INV-1",
        buyer_name="Acme",
        amount=Money(Decimal("1000.00"), "USD"),
        issue_date=date(2026, 1, 1),
        due_date=date(2026, 3, 1),
        yield_bps=500,
    )
    return Invoice(
        id="inv_01TEST",
        tenant_id="tenant_a",
        sme_id="sme-1",
        draft=draft,
        status=status,
        version=3,
        created_at=T0,
        updated_at=T0,
        escrow_address=CONTRACT,
        funding_target_stroops=TARGET,
        funded_stroops=funded,
    )


def project(reading_: EscrowReading, ledger: int, at: datetime = T0) -> EscrowProjection | None:
    return apply_reading(
        None,
        tenant_id="tenant_a",
        invoice_id="inv_01TEST",
        contract=CONTRACT,
        reading=reading_,
        ledger=ledger,
        at=at,
    )


def apply(
    projection: EscrowProjection | None, reading_: EscrowReading, ledger: int
) -> EscrowProjection | None:
    return apply_reading(
        projection,
        tenant_id="tenant_a",
        invoice_id="inv_01TEST",
        contract=CONTRACT,
        reading=reading_,
        ledger=ledger,
        at=T0 + timedelta(seconds=ledger),
    )


# ---- the projection ---------------------------------------------------------------------------


@given(st.lists(st.tuples(readings, st.integers(0, 1000)), min_size=1, max_size=12))
def test_the_projection_follows_the_newest_ledger_whatever_the_order(
    steps: list[tuple[EscrowReading, int]],
) -> None:
    projection = None
    for read, ledger in steps:
        applied = apply(projection, read, ledger)
        if applied is not None:
            assert projection is None or applied.ledger > projection.ledger
            projection = applied
    assert projection is not None
    newest = max(ledger for _, ledger in steps)
    assert projection.ledger == newest
    # The first reading at the newest ledger is the one kept: a later one at that ledger is old.
    first_newest = next(read for read, ledger in steps if ledger == newest)
    assert projection.reading == first_newest


@given(readings, st.integers(0, 1000), readings, st.integers(0, 1000))
def test_a_reading_not_newer_than_the_projection_changes_nothing(
    first: EscrowReading, ledger: int, second: EscrowReading, older: int
) -> None:
    projection = project(first, ledger)
    assert projection is not None
    if older <= ledger:
        assert apply(projection, second, older) is None
    assert apply(projection, first, ledger) is None  # idempotent


def test_a_hold_or_pause_only_updates_the_projection() -> None:
    projection = project(reading(0, 5), 10)
    held = apply(projection, reading(0, 5, hold=True), 11)
    assert held is not None and held.legal_hold and held.funded_amount == 5
    assert follow_chain(invoice(S.PARTIALLY_FUNDED, 5), held.reading, T0).changed is False


def test_a_reading_applies_only_to_its_own_escrow() -> None:
    projection = project(reading(), 10)
    with pytest.raises(ValueError, match="own escrow"):
        apply_reading(
            projection,
            tenant_id="tenant_a",
            invoice_id="inv_01OTHER",
            contract=CONTRACT,
            reading=reading(),
            ledger=11,
            at=T0,
        )


# ---- the state a reading implies ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "funded", "expected"),
    [
        (0, 0, S.LINKED_ESCROW),
        (0, 1, S.PARTIALLY_FUNDED),
        (0, TARGET - 1, S.PARTIALLY_FUNDED),
        (0, TARGET, S.FUNDED),
        (0, TARGET + 1, S.FUNDED),
        (1, TARGET, S.FUNDED),
        (1, 3, S.FUNDED),  # partial_settle or a lowered target closes early
        (2, TARGET, S.SETTLED),
        (3, TARGET, S.DISBURSED),
        (4, 5, S.CANCELLED),
    ],
)
def test_the_spec_status_mapping(status: int, funded: int, expected: InvoiceStatus) -> None:
    assert implied_state(reading(status, funded)) is expected


# ---- the path through the lifecycle --------------------------------------------------------------


def test_paths_of_the_chain() -> None:
    assert chain_path(S.LINKED_ESCROW, S.PARTIALLY_FUNDED) == (S.PARTIALLY_FUNDED,)
    assert chain_path(S.LINKED_ESCROW, S.FUNDED) == (S.FUNDED,)
    assert chain_path(S.LINKED_ESCROW, S.SETTLED) == (S.FUNDED, S.SETTLED)
    assert chain_path(S.PARTIALLY_FUNDED, S.DISBURSED) == (S.FUNDED, S.DISBURSED)
    assert chain_path(S.LINKED_ESCROW, S.CANCELLED) == (S.CANCELLED,)
    # Nothing goes back, and operator-only states are out of the chain's reach.
    assert chain_path(S.PARTIALLY_FUNDED, S.LINKED_ESCROW) == ()
    assert chain_path(S.FUNDED, S.CANCELLED) == ()
    assert chain_path(S.DISBURSED, S.DEFAULTED) == ()
    assert chain_path(S.FUNDED, S.FUNDED) == ()


@given(st.sampled_from(list(S)), st.sampled_from(list(S)))
def test_every_step_of_a_path_is_an_edge_the_chain_may_take(
    current: InvoiceStatus, target: InvoiceStatus
) -> None:
    state = current
    for nxt in chain_path(current, target):
        check_transition(state, nxt, Role.CHAIN, is_owner=False)  # raises if refused
        state = nxt
    path = chain_path(current, target)
    assert not path or path[-1] is target


def _reachable(current: InvoiceStatus, target: InvoiceStatus) -> bool:
    seen, frontier = {current}, [current]
    while frontier:
        state = frontier.pop()
        for nxt, rule in TRANSITIONS[state].items():
            if Role.CHAIN in rule.roles and nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return target in seen and target is not current


@given(st.sampled_from(list(S)), st.sampled_from(list(S)))
def test_a_path_exists_exactly_when_the_table_allows_one(
    current: InvoiceStatus, target: InvoiceStatus
) -> None:
    assert bool(chain_path(current, target)) == _reachable(current, target)


# ---- what a reading does to an invoice -----------------------------------------------------------


@given(st.sampled_from(CHAIN_STATES), st.integers(0, 2 * TARGET), readings)
def test_an_invoice_follows_a_reading_only_by_allowed_steps(
    status: InvoiceStatus, funded: int, read: EscrowReading
) -> None:
    before = invoice(status, min(funded, TARGET) if status is not S.LINKED_ESCROW else 0)
    update = follow_chain(before, read, T0)
    state = before.status
    for step in update.steps:
        assert step.from_status is state
        assert step.actor_role is Role.CHAIN and step.actor_id == INDEXER_ACTOR.id
        check_transition(state, step.to_status, Role.CHAIN, is_owner=False)
        state = step.to_status
    assert update.invoice.status is state
    target = implied_state(read)
    if _reachable(before.status, target):
        assert state is target  # no allowed path is skipped
    else:
        assert update.steps == ()
    if update.steps:
        assert update.invoice.funded_stroops == min(read.escrow.funded_amount, STROOPS_MAX)
        assert update.invoice.version == before.version + len(update.steps)


@given(st.sampled_from(CHAIN_STATES), readings)
def test_following_the_same_reading_twice_changes_nothing_the_second_time(
    status: InvoiceStatus, read: EscrowReading
) -> None:
    once = follow_chain(invoice(status), read, T0)
    twice = follow_chain(once.invoice, read, T0 + timedelta(seconds=5))
    assert twice.changed is False and twice.invoice is once.invoice


def test_funding_grows_then_closes() -> None:
    linked = invoice()
    partial = follow_chain(linked, reading(0, 4_000_000_000), T0)
    assert partial.invoice.status is S.PARTIALLY_FUNDED
    assert partial.invoice.funded_stroops == 4_000_000_000
    more = follow_chain(partial.invoice, reading(0, 6_000_000_000), T0)
    assert more.steps == () and more.changed
    assert more.invoice.funded_stroops == 6_000_000_000
    assert more.invoice.version == partial.invoice.version + 1
    funded = follow_chain(more.invoice, reading(1, TARGET), T0)
    assert [s.to_status for s in funded.steps] == [S.FUNDED]


def test_a_cancelled_escrow_cancels_with_a_reason() -> None:
    update = follow_chain(invoice(S.PARTIALLY_FUNDED, 5), reading(4, 5), T0)
    assert [s.to_status for s in update.steps] == [S.CANCELLED]
    assert update.steps[0].reason


def test_an_amount_beyond_the_invoice_bound_is_capped() -> None:
    update = follow_chain(invoice(), reading(1, I128_MAX), T0)
    assert update.invoice.funded_stroops == STROOPS_MAX


# ---- events ------------------------------------------------------------------------------------


def event(*topics: Any, value: Any) -> ContractEvent:
    return ContractEvent("0000000101-0000000001", CONTRACT, 101, topics, value, "ab" * 32)


def test_a_funded_event_names_the_investor_and_amount() -> None:
    deposit = funded_event(
        event("escrow_funded", "funded", "inv_01TEST", ADMIN, value={"amount": 7, "status": 0})
    )
    assert deposit is not None
    assert (deposit.investor, deposit.amount, deposit.ledger) == (ADMIN, 7, 101)


@pytest.mark.parametrize(
    ("topics", "value"),
    [
        (("escrow_unfunded", "unfunded", "inv_01TEST", ADMIN), {"amount": 7}),
        (("escrow_funded", "funded", "inv_01TEST"), {"amount": 7}),
        (("escrow_funded", "funded", "inv_01TEST", ADMIN), {"amount": "7"}),
        (("escrow_funded", "funded", "inv_01TEST", ADMIN), None),
    ],
)
def test_other_or_unreadable_events_are_no_deposit(topics: tuple[Any, ...], value: Any) -> None:
    assert funded_event(event(*topics, value=value)) is None


def test_projection_fields() -> None:
    projection = project(reading(0, 5, hold=True), 7)
    assert projection is not None
    assert (projection.funded_amount, projection.status, projection.legal_hold) == (
        5,
        EscrowStatus.OPEN,
        True,
    )
    assert projection.paused is False
    assert attrs.evolve(projection, ledger=8).ledger == 8


# ---- lag --------------------------------------------------------------------------------------


def test_indexer_status_before_any_pass_is_unknown() -> None:
    assert indexer_status(IndexerProgress(None, None), 500, T0) == IndexerStatus(None, None)


@given(
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.one_of(st.none(), st.integers(0, 2 * 10**6)),
    st.integers(0, 10**5),
)
def test_lag_is_the_newest_known_ledger_minus_the_oldest_applied(
    oldest: int, spread: int, seen: int | None, seconds: int
) -> None:
    progress = IndexerProgress(oldest, T0, oldest + spread)
    status = indexer_status(progress, seen, T0 + timedelta(seconds=seconds))
    assert status.lag_ledgers == max(oldest + spread, seen or 0) - oldest
    assert status.last_run_age_seconds == seconds
