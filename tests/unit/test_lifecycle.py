"""The invoice lifecycle as data: the transition table, who may take each edge, and the guard."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from stellar_sdk.strkey import StrKey

from liquifact_core.amounts import Money, Stroops
from liquifact_core.errors import Forbidden, InvalidTransition, ValidationError
from liquifact_core.invoices import Actor, Invoice, InvoiceDraft
from liquifact_core.lifecycle import (
    INVESTABLE,
    TERMINAL,
    TRANSITIONS,
    InvoiceStatus,
    Role,
    allowed_targets,
    allowed_targets_for,
    check_transition,
)

S = InvoiceStatus
T0 = datetime(2026, 1, 1, tzinfo=UTC)
OPERATORS = frozenset({Role.ADMIN, Role.SERVICE})
CHAIN = frozenset({Role.CHAIN})

# DESIGN.md "Invoice lifecycle", edge by edge, with who may take it:
# - SMEs submit and may cancel their own pending invoices (the owner flag below);
# - admins (and operator services) approve, reject, link, cancel and mark defaulted;
# - chain-driven states are set only by the escrow indexer or reconciliation (Role.CHAIN);
# - linked_escrow/partially_funded -> cancelled is funding cancelled on chain (admin
#   cancel_funding, observed by the indexer), so both operators and the chain take it.
# linked_escrow -> funded is not spelled out in DESIGN.md's prose, but escrow-contract.md's
# status mapping needs it: one deposit may cross the target (contract status 0 -> 1) without the
# invoice ever being seen as partially funded.
EXPECTED_EDGES: dict[tuple[InvoiceStatus, InvoiceStatus], frozenset[Role]] = {
    (S.PENDING, S.APPROVED): OPERATORS,
    (S.PENDING, S.REJECTED): OPERATORS,
    (S.PENDING, S.CANCELLED): OPERATORS,
    (S.APPROVED, S.LINKED_ESCROW): OPERATORS,
    (S.APPROVED, S.CANCELLED): OPERATORS,
    (S.LINKED_ESCROW, S.PARTIALLY_FUNDED): CHAIN,
    (S.LINKED_ESCROW, S.FUNDED): CHAIN,
    (S.LINKED_ESCROW, S.CANCELLED): OPERATORS | CHAIN,
    (S.PARTIALLY_FUNDED, S.FUNDED): CHAIN,
    (S.PARTIALLY_FUNDED, S.CANCELLED): OPERATORS | CHAIN,
    (S.FUNDED, S.SETTLED): CHAIN,
    (S.FUNDED, S.DISBURSED): CHAIN,
    (S.DISBURSED, S.SETTLED): CHAIN,
    (S.DISBURSED, S.DEFAULTED): OPERATORS,
}
OWNER_EDGES = frozenset({(S.PENDING, S.CANCELLED)})
CHAIN_ONLY_EDGES = sorted(edge for edge, roles in EXPECTED_EDGES.items() if roles == CHAIN)
ALL_PAIRS = list(itertools.product(S, S))
NOT_EDGES = [pair for pair in ALL_PAIRS if pair not in EXPECTED_EDGES]

OWNER = Actor("sme_owner", Role.SME)
OTHER_SME = Actor("sme_other", Role.SME)
ADMIN = Actor("admin_1", Role.ADMIN)
SERVICE = Actor("svc_1", Role.SERVICE)
CHAIN_ACTOR = Actor("indexer", Role.CHAIN)
INVESTOR = Actor("investor_1", Role.INVESTOR)
EVERY_ACTOR = [OWNER, OTHER_SME, ADMIN, SERVICE, CHAIN_ACTOR, INVESTOR]


def make_invoice(status: InvoiceStatus = S.PENDING, version: int = 1) -> Invoice:
    draft = InvoiceDraft(
        invoice_number="INV-1",
        buyer_name="Buyer Ltd",
        amount=Money(Decimal("1250.00"), "USD"),
        issue_date=date(2026, 1, 1),
        due_date=date(2026, 3, 1),
        yield_bps=500,
    )
    return Invoice(
        id="inv_01TEST",
        tenant_id="tenant_a",
        sme_id=OWNER.id,
        draft=draft,
        status=status,
        version=version,
        created_at=T0,
        updated_at=T0,
    )


def may_take(edge: tuple[InvoiceStatus, InvoiceStatus], actor: Actor) -> bool:
    owner_ok = edge in OWNER_EDGES and actor.role is Role.SME and actor.id == OWNER.id
    return actor.role in EXPECTED_EDGES[edge] or owner_ok


def move(
    invoice: Invoice, target: InvoiceStatus, actor: Actor, reason: str | None = "because"
) -> Invoice:
    link = target is S.LINKED_ESCROW
    moved, _ = invoice.move_to(
        target,
        actor,
        T0,
        reason=reason,
        escrow_address=StrKey.encode_contract(os.urandom(32)) if link else None,
        funding_target=Stroops(10_000_000) if link else None,
    )
    return moved


# ---- the table -------------------------------------------------------------------------------


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(S)


def test_the_edges_are_exactly_the_designed_ones() -> None:
    actual = {(current, target) for current, row in TRANSITIONS.items() for target in row}
    assert actual == set(EXPECTED_EDGES)


@pytest.mark.parametrize("edge", sorted(EXPECTED_EDGES), ids=lambda e: f"{e[0]}->{e[1]}")
def test_each_edge_has_the_designed_roles(edge: tuple[InvoiceStatus, InvoiceStatus]) -> None:
    rule = TRANSITIONS[edge[0]][edge[1]]
    assert rule.roles == EXPECTED_EDGES[edge]
    assert rule.owner_may == (edge in OWNER_EDGES)


def test_terminal_states_are_the_designed_ones_and_have_no_edges() -> None:
    assert frozenset({S.REJECTED, S.CANCELLED, S.SETTLED, S.DEFAULTED}) == TERMINAL
    for status in TERMINAL:
        assert TRANSITIONS[status] == {}
        assert allowed_targets(status) == ()
        for actor in EVERY_ACTOR:
            assert allowed_targets_for(status, actor.role, is_owner=actor is OWNER) == ()


@pytest.mark.parametrize("status", sorted(set(S) - TERMINAL))
def test_non_terminal_states_have_a_way_out(status: InvoiceStatus) -> None:
    assert allowed_targets(status)


def test_no_edge_leads_back_to_pending_or_loops() -> None:
    for current, target in EXPECTED_EDGES:
        assert target is not S.PENDING
        assert target is not current


def test_investable_states_are_linked_and_partially_funded() -> None:
    assert frozenset({S.LINKED_ESCROW, S.PARTIALLY_FUNDED}) == INVESTABLE


@pytest.mark.parametrize("status", list(S))
def test_allowed_targets_lists_the_row(status: InvoiceStatus) -> None:
    expected = {target for (current, target) in EXPECTED_EDGES if current is status}
    assert set(allowed_targets(status)) == expected


# ---- the guard -------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", NOT_EDGES, ids=lambda p: f"{p[0]}->{p[1]}")
def test_a_move_outside_the_table_names_the_allowed_targets(
    pair: tuple[InvoiceStatus, InvoiceStatus],
) -> None:
    current, target = pair
    expected_allowed = tuple(t.value for t in allowed_targets(current))
    for actor in EVERY_ACTOR:
        with pytest.raises(InvalidTransition) as info:
            check_transition(current, target, actor.role, is_owner=actor is OWNER)
        error = info.value
        assert error.code == "INVALID_TRANSITION"
        assert (error.current, error.target) == (current.value, target.value)
        assert error.allowed == expected_allowed
        for name in expected_allowed:
            assert f"{name}" in error.message
        if current in TERMINAL:
            assert "terminal" in error.message


def test_invalid_transition_is_a_conflict() -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition(S.SETTLED, S.PENDING, Role.ADMIN, is_owner=False)
    assert info.value.allowed == ()
    assert "none (terminal state)" in info.value.message


@pytest.mark.parametrize("edge", sorted(EXPECTED_EDGES), ids=lambda e: f"{e[0]}->{e[1]}")
def test_each_edge_admits_exactly_its_roles(edge: tuple[InvoiceStatus, InvoiceStatus]) -> None:
    current, target = edge
    for actor in EVERY_ACTOR:
        is_owner = actor is OWNER
        if may_take(edge, actor):
            assert check_transition(current, target, actor.role, is_owner=is_owner)
            assert target in allowed_targets_for(current, actor.role, is_owner=is_owner)
        else:
            with pytest.raises(Forbidden) as info:
                check_transition(current, target, actor.role, is_owner=is_owner)
            assert info.value.code == "FORBIDDEN"
            assert target not in allowed_targets_for(current, actor.role, is_owner=is_owner)


@pytest.mark.parametrize("edge", CHAIN_ONLY_EDGES, ids=lambda e: f"{e[0]}->{e[1]}")
def test_chain_only_edges_refuse_admins_and_clients(
    edge: tuple[InvoiceStatus, InvoiceStatus],
) -> None:
    invoice = make_invoice(edge[0])
    for actor in (ADMIN, SERVICE, OWNER, INVESTOR):
        with pytest.raises(Forbidden):
            move(invoice, edge[1], actor)
    assert move(invoice, edge[1], CHAIN_ACTOR).status is edge[1]


def test_the_owner_may_cancel_a_pending_invoice() -> None:
    cancelled = move(make_invoice(), S.CANCELLED, OWNER, reason="Sent by mistake")
    assert cancelled.status is S.CANCELLED
    assert cancelled.status_reason == "Sent by mistake"


def test_another_sme_may_not_cancel_a_pending_invoice() -> None:
    with pytest.raises(Forbidden):
        move(make_invoice(), S.CANCELLED, OTHER_SME)


def test_an_admin_with_the_owners_id_is_not_the_owner() -> None:
    # Ownership is the SME principal that submitted, not a coincidence of ids.
    assert make_invoice().is_owned_by(OWNER)
    assert not make_invoice().is_owned_by(Actor(OWNER.id, Role.ADMIN))
    assert not make_invoice().is_owned_by(Actor(OWNER.id, Role.INVESTOR))


@pytest.mark.parametrize("target", [S.APPROVED, S.REJECTED])
def test_the_owner_may_not_decide_on_their_own_invoice(target: InvoiceStatus) -> None:
    with pytest.raises(Forbidden):
        move(make_invoice(), target, OWNER)


@pytest.mark.parametrize("status", [S.APPROVED, S.LINKED_ESCROW, S.PARTIALLY_FUNDED])
def test_the_owner_may_not_cancel_after_pending(status: InvoiceStatus) -> None:
    with pytest.raises(Forbidden):
        move(make_invoice(status), S.CANCELLED, OWNER)


def test_allowed_targets_for_differs_by_caller() -> None:
    assert allowed_targets_for(S.PENDING, Role.SME, is_owner=True) == (S.CANCELLED,)
    assert allowed_targets_for(S.PENDING, Role.SME, is_owner=False) == ()
    assert set(allowed_targets_for(S.PENDING, Role.ADMIN, is_owner=False)) == {
        S.APPROVED,
        S.REJECTED,
        S.CANCELLED,
    }
    assert allowed_targets_for(S.FUNDED, Role.ADMIN, is_owner=False) == ()
    assert set(allowed_targets_for(S.FUNDED, Role.CHAIN, is_owner=False)) == {
        S.SETTLED,
        S.DISBURSED,
    }
    # The owner flag only helps SMEs.
    assert allowed_targets_for(S.PENDING, Role.INVESTOR, is_owner=True) == ()


# ---- reasons and payloads --------------------------------------------------------------------

REASON_EDGES = sorted(edge for edge in EXPECTED_EDGES if TRANSITIONS[edge[0]][edge[1]].needs_reason)


def test_rejecting_and_cancelling_need_a_reason() -> None:
    # DESIGN.md: rejecting and cancelling need a reason; marking defaulted asks for one too.
    needs = {target for (_, target) in REASON_EDGES}
    assert needs == {S.REJECTED, S.CANCELLED, S.DEFAULTED}
    for current, target in EXPECTED_EDGES:
        assert TRANSITIONS[current][target].needs_reason == (target in needs), (current, target)


@pytest.mark.parametrize("edge", REASON_EDGES, ids=lambda e: f"{e[0]}->{e[1]}")
def test_a_missing_reason_is_refused_and_a_given_one_is_kept(
    edge: tuple[InvoiceStatus, InvoiceStatus],
) -> None:
    current, target = edge
    actor = ADMIN if Role.ADMIN in EXPECTED_EDGES[edge] else CHAIN_ACTOR
    invoice = make_invoice(current)
    with pytest.raises(ValidationError) as info:
        move(invoice, target, actor, reason=None)
    assert (info.value.field_errors[0].field, info.value.field_errors[0].code) == (
        "reason",
        "REQUIRED",
    )
    moved = move(invoice, target, actor, reason="Buyer disputes the invoice")
    assert moved.status is target
    assert moved.status_reason == "Buyer disputes the invoice"


@pytest.mark.parametrize(
    "edge",
    sorted(edge for edge in EXPECTED_EDGES if not TRANSITIONS[edge[0]][edge[1]].needs_reason),
    ids=lambda e: f"{e[0]}->{e[1]}",
)
def test_other_edges_need_no_reason(edge: tuple[InvoiceStatus, InvoiceStatus]) -> None:
    current, target = edge
    actor = ADMIN if Role.ADMIN in EXPECTED_EDGES[edge] else CHAIN_ACTOR
    assert move(make_invoice(current), target, actor, reason=None).status is target


def test_linking_needs_the_escrow_address_and_target() -> None:
    invoice = make_invoice(S.APPROVED)
    with pytest.raises(ValidationError):
        invoice.move_to(S.LINKED_ESCROW, ADMIN, T0)
    with pytest.raises(ValidationError):
        invoice.move_to(S.LINKED_ESCROW, ADMIN, T0, funding_target=Stroops(1))
    address = StrKey.encode_contract(os.urandom(32))
    with pytest.raises(ValidationError):
        invoice.move_to(S.LINKED_ESCROW, ADMIN, T0, escrow_address=address)
    linked, _ = invoice.move_to(
        S.LINKED_ESCROW, ADMIN, T0, escrow_address=address, funding_target=Stroops(4_000)
    )
    assert (linked.escrow_address, linked.funding_target_stroops, linked.funded_stroops) == (
        address,
        4_000,
        0,
    )
    assert linked.funded_ratio == Decimal("0.00")
    assert invoice.funded_ratio is None


def test_a_move_returns_the_next_version_and_its_history_step() -> None:
    later = datetime(2026, 2, 1, tzinfo=UTC)
    invoice = make_invoice(version=3)
    moved, step = invoice.move_to(S.REJECTED, ADMIN, later, reason="Duplicate")
    assert (moved.status, moved.version, moved.updated_at) == (S.REJECTED, 4, later)
    assert moved.created_at == invoice.created_at
    assert (step.from_status, step.to_status, step.sequence) == (S.PENDING, S.REJECTED, 4)
    assert (step.actor_id, step.actor_role, step.at, step.reason) == (
        ADMIN.id,
        Role.ADMIN,
        later,
        "Duplicate",
    )
    assert (step.invoice_id, step.tenant_id) == (invoice.id, invoice.tenant_id)
    assert invoice.status is S.PENDING  # the original is untouched


def test_the_designed_happy_paths_are_walkable() -> None:
    paths = [
        [(S.APPROVED, ADMIN), (S.LINKED_ESCROW, ADMIN), (S.PARTIALLY_FUNDED, CHAIN_ACTOR),
         (S.FUNDED, CHAIN_ACTOR), (S.SETTLED, CHAIN_ACTOR)],
        [(S.APPROVED, SERVICE), (S.LINKED_ESCROW, SERVICE), (S.FUNDED, CHAIN_ACTOR),
         (S.DISBURSED, CHAIN_ACTOR), (S.SETTLED, CHAIN_ACTOR)],
        [(S.APPROVED, ADMIN), (S.LINKED_ESCROW, ADMIN), (S.FUNDED, CHAIN_ACTOR),
         (S.DISBURSED, CHAIN_ACTOR), (S.DEFAULTED, ADMIN)],
        [(S.APPROVED, ADMIN), (S.LINKED_ESCROW, ADMIN), (S.PARTIALLY_FUNDED, CHAIN_ACTOR),
         (S.CANCELLED, CHAIN_ACTOR)],
    ]  # fmt: skip
    for path in paths:
        invoice = make_invoice()
        for target, actor in path:
            invoice = move(invoice, target, actor)
        assert invoice.status is path[-1][0]
        assert invoice.status in TERMINAL
        assert invoice.version == 1 + len(path)
