"""A Hypothesis state machine that drives one Invoice through random moves by random actors."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from stellar_sdk.strkey import StrKey

from liquifact_core import validation
from liquifact_core.amounts import Money, Stroops
from liquifact_core.errors import Forbidden, InvalidTransition, ValidationError
from liquifact_core.invoices import Actor, Invoice, InvoiceDraft, Transition
from liquifact_core.lifecycle import (
    TRANSITIONS,
    InvoiceStatus,
    Role,
    Rule,
    allowed_targets,
    allowed_targets_for,
)

OWNER_ID = "sme_owner"
# From DESIGN.md, not from the code under test.
DESIGNED_TERMINAL = frozenset(
    {
        InvoiceStatus.REJECTED,
        InvoiceStatus.CANCELLED,
        InvoiceStatus.SETTLED,
        InvoiceStatus.DEFAULTED,
    }
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ESCROW = StrKey.encode_contract(os.urandom(32))

actors = st.one_of(
    st.builds(Actor, st.sampled_from([OWNER_ID, "sme_other"]), st.just(Role.SME)),
    st.builds(Actor, st.sampled_from(["admin_1", "svc_1", "indexer", "inv_1", OWNER_ID]),
              st.sampled_from(list(Role))),
)  # fmt: skip
reasons = st.one_of(st.none(), st.text(alphabet="abcdefghij XYZ.", min_size=1, max_size=40))


def new_invoice() -> Invoice:
    draft = InvoiceDraft(
        invoice_number="INV-42",
        buyer_name="Buyer Ltd",
        amount=Money(Decimal("99.95"), "EUR"),
        issue_date=date(2026, 1, 1),
        due_date=date(2026, 6, 30),
        yield_bps=250,
    )
    return Invoice(
        id="inv_01STATEFUL",
        tenant_id="tenant_s",
        sme_id=OWNER_ID,
        draft=draft,
        status=InvoiceStatus.PENDING,
        version=1,
        created_at=T0,
        updated_at=T0,
    )


def judge(invoice: Invoice, target: InvoiceStatus, actor: Actor) -> tuple[Rule | None, bool, bool]:
    """The table's edge for this move (if any), whether the actor owns it, and whether allowed."""
    edge = TRANSITIONS[invoice.status].get(target)
    is_owner = actor.role is Role.SME and actor.id == invoice.sme_id
    permitted = edge is not None and (actor.role in edge.roles or (edge.owner_may and is_owner))
    return edge, is_owner, permitted


def _is_clean_reason(reason: str | None) -> bool:
    """True when ``reason`` is absent or survives cleaning (1-1024 characters remain)."""
    if reason is None:
        return True
    try:
        validation.reason(reason)
    except ValidationError:
        return False
    return True


class InvoiceLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.invoice = new_invoice()
        self.steps: list[Transition] = []
        self.now = T0
        self.reached_terminal: InvoiceStatus | None = None
        self.checked_terminal = False

    # ---- helpers -----------------------------------------------------------------------------
    def _attempt(
        self,
        target: InvoiceStatus,
        actor: Actor,
        reason: str | None,
        with_link_details: bool,
    ) -> None:
        before = self.invoice
        snapshot = attrs.evolve(before)
        self.now += timedelta(minutes=5)
        rule_, is_owner, permitted = judge(before, target, actor)
        address = ESCROW if with_link_details else None
        funding = Stroops(5_000_000) if with_link_details else None
        refusal: InvalidTransition | Forbidden | ValidationError | None = None
        try:
            moved, step = before.move_to(
                target,
                actor,
                self.now,
                reason=reason,
                escrow_address=address,
                funding_target=funding,
            )
        except (InvalidTransition, Forbidden, ValidationError) as error:
            refusal = error
        if refusal is not None:
            self._check_refusal(refusal, before, snapshot, target, actor, reason, address)
            return

        assert rule_ is not None, "a move outside the table succeeded"
        assert permitted, "a move by a caller without the role succeeded"
        assert target in allowed_targets_for(before.status, actor.role, is_owner=is_owner)
        assert before == snapshot, "move_to changed the original invoice"
        assert moved.status is target
        assert moved.version == before.version + 1
        assert moved.updated_at == self.now
        assert moved.created_at == before.created_at
        assert moved.draft == before.draft
        clean = None if reason is None else validation.reason(reason)
        assert moved.status_reason == clean
        assert step.from_status is before.status
        assert step.to_status is target
        assert step.sequence == moved.version
        assert (step.actor_id, step.actor_role, step.reason) == (actor.id, actor.role, clean)
        if target is InvoiceStatus.LINKED_ESCROW:
            assert moved.escrow_address == address
            assert moved.funding_target_stroops == 5_000_000
        else:
            assert moved.escrow_address == before.escrow_address
        self.invoice = moved
        self.steps.append(step)

    def _check_refusal(
        self,
        refusal: InvalidTransition | Forbidden | ValidationError,
        before: Invoice,
        snapshot: Invoice,
        target: InvoiceStatus,
        actor: Actor,
        reason: str | None,
        address: str | None,
    ) -> None:
        """A refused move must be refused for the right cause and change nothing."""
        rule_, _, permitted = judge(before, target, actor)
        if isinstance(refusal, InvalidTransition):
            assert rule_ is None, "a move in the table was refused as invalid"
            assert set(refusal.allowed) == {t.value for t in allowed_targets(before.status)}
        elif isinstance(refusal, Forbidden):
            assert rule_ is not None, "a move outside the table must be InvalidTransition"
            assert not permitted
        else:
            assert permitted
            missing_reason = rule_ is not None and rule_.needs_reason and reason is None
            missing_link = target is InvoiceStatus.LINKED_ESCROW and address is None
            assert missing_reason or missing_link or not _is_clean_reason(reason)
        assert self.invoice is before
        assert before == snapshot, "a refused move changed the invoice"

    # ---- rules -------------------------------------------------------------------------------
    @rule(
        to_status=st.sampled_from(list(InvoiceStatus)),
        actor=actors,
        reason=reasons,
        with_link_details=st.booleans(),
    )
    def attempt_any_move(
        self, to_status: InvoiceStatus, actor: Actor, reason: str | None, with_link_details: bool
    ) -> None:
        self._attempt(to_status, actor, reason, with_link_details)

    @precondition(lambda self: self.invoice.status not in DESIGNED_TERMINAL)
    @rule(data=st.data())
    def take_a_permitted_edge(self, data: st.DataObject) -> None:
        """Steers the machine deep into the lifecycle instead of bouncing off the guard."""
        current = self.invoice.status
        onward = [t for t in allowed_targets(current) if t not in DESIGNED_TERMINAL]
        target = data.draw(st.sampled_from(onward or allowed_targets(current)), label="target")
        roles = sorted(TRANSITIONS[current][target].roles)
        role = data.draw(st.sampled_from(roles), label="role")
        actor = Actor(f"{role.value}_1", role)
        self._attempt(target, actor, "Reason given", with_link_details=True)
        assert self.invoice.status is target

    @precondition(lambda self: self.invoice.status not in DESIGNED_TERMINAL)
    @rule(data=st.data(), actor=actors, reason=reasons, with_link_details=st.booleans())
    def attempt_a_table_edge_as_anyone(
        self, data: st.DataObject, actor: Actor, reason: str | None, with_link_details: bool
    ) -> None:
        """Probes the role rules: a real edge, but whoever happens to ask."""
        target = data.draw(st.sampled_from(allowed_targets(self.invoice.status)), label="target")
        self._attempt(target, actor, reason, with_link_details)

    @precondition(
        lambda self: self.invoice.status in DESIGNED_TERMINAL and not self.checked_terminal
    )
    @rule()
    def nothing_leaves_a_terminal_state(self) -> None:
        self.checked_terminal = True
        for to_status in InvoiceStatus:
            for role in Role:
                actor = Actor(OWNER_ID if role is Role.SME else f"{role.value}_1", role)
                self._attempt(to_status, actor, "Reason given", with_link_details=True)
                assert self.invoice.status is self.reached_terminal

    # ---- invariants --------------------------------------------------------------------------
    @invariant()
    def terminal_states_stay_terminal(self) -> None:
        if self.reached_terminal is not None:
            assert self.invoice.status is self.reached_terminal
        elif self.invoice.status in DESIGNED_TERMINAL:
            self.reached_terminal = self.invoice.status

    @invariant()
    def history_replays_to_the_current_status(self) -> None:
        status = InvoiceStatus.PENDING
        for sequence, step in enumerate(self.steps, start=2):
            assert step.from_status is status
            assert step.sequence == sequence
            assert status not in DESIGNED_TERMINAL
            status = step.to_status
        assert status is self.invoice.status

    @invariant()
    def version_counts_the_successful_moves(self) -> None:
        assert self.invoice.version == 1 + len(self.steps)

    @invariant()
    def the_reason_is_set_when_the_last_edge_needed_one(self) -> None:
        if self.steps:
            last = self.steps[-1]
            assert last.from_status is not None
            if TRANSITIONS[last.from_status][last.to_status].needs_reason:
                assert self.invoice.status_reason is not None


InvoiceLifecycle.TestCase.settings = settings(max_examples=120, stateful_step_count=25)
TestInvoiceLifecycle = InvoiceLifecycle.TestCase
