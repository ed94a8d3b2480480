"""Invoice use cases on the in-memory fakes: scoping, editing, lifecycle, audit, concurrency."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from stellar_sdk import Keypair
from stellar_sdk.strkey import StrKey

from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
from liquifact_core.audit import AuditEvent
from liquifact_core.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    StaleVersion,
    ValidationError,
)
from liquifact_core.invoices import Actor, Invoice, InvoiceListQuery, TransitionReason
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.services import Services
from tests.factories import draft_of, link_of, patch_of

S = InvoiceStatus
SME = Actor("sme_alice", Role.SME, wallet=Keypair.random().public_key)
OTHER_SME = Actor("sme_bob", Role.SME)
ADMIN = Actor("admin_1", Role.ADMIN)
SERVICE = Actor("svc_billing", Role.SERVICE)
CHAIN = Actor("indexer", Role.CHAIN)
INVESTOR = Actor("investor_1", Role.INVESTOR, wallet=Keypair.random().public_key)


class World:
    """Services on fresh fakes, a random tenant, and shortcuts used by most tests."""

    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.clock = FixedClock()
        # The cast works around InMemoryUnitOfWork not satisfying the UnitOfWork protocol under
        # mypy (its repository attributes are not declared as the port types); see the report.
        self.services = Services.from_ports(self.store, self.clock, SequentialIdGenerator())
        self.invoices = self.services.invoices
        self.tenant = f"t_{uuid.uuid4().hex[:12]}"
        self._numbers = 0

    def payload(self, **changes: Any) -> dict[str, Any]:
        self._numbers += 1
        payload: dict[str, Any] = {
            "invoiceNumber": f"INV-{self._numbers:04d}",
            "buyerName": "Acme Buyer Ltd",
            "buyerEmail": "ap@acme.example",
            "amount": "1250.00",
            "currency": "USD",
            "issueDate": "2026-01-15",
            "dueDate": "2026-03-15",
            "yieldBps": 450,
            "description": "Consulting, January",
            "metadata": {"po": "PO-77"},
        }
        payload.update(changes)
        return payload

    def submit(self, actor: Actor = SME, tenant: str | None = None, **changes: Any) -> Invoice:
        self.clock.advance(timedelta(seconds=1))
        return self.invoices.submit(tenant or self.tenant, actor, draft_of(self.payload(**changes)))

    def audit(self, invoice_id: str, tenant: str | None = None) -> Sequence[AuditEvent]:
        tenant = tenant or self.tenant
        with self.store.unit_of_work(tenant) as uow:
            return list(uow.audit.for_resource(tenant, "invoice", invoice_id))

    def link(self, invoice: Invoice, target: str = "10000000") -> Invoice:
        approved = self.invoices.approve(self.tenant, ADMIN, invoice.id)
        return self.invoices.link_escrow(
            self.tenant, ADMIN, approved.id, link_of(contract(), target)
        )

    def move(
        self, invoice_id: str, target: InvoiceStatus, actor: Actor = CHAIN, **kwargs: Any
    ) -> Invoice:
        return self.invoices.transition(self.tenant, actor, invoice_id, target, **kwargs)


def contract() -> str:
    return StrKey.encode_contract(os.urandom(32))


@pytest.fixture
def world() -> Iterator[World]:
    world = World()
    yield world
    world.services.close()


def field_codes(error: ValidationError) -> dict[str, str]:
    return {item.field: item.code for item in error.field_errors}


# ---- submit and read -------------------------------------------------------------------------


def test_submit_creates_a_pending_invoice_owned_by_the_caller(world: World) -> None:
    invoice = world.submit()
    assert invoice.status is S.PENDING
    assert invoice.version == 1
    assert (invoice.tenant_id, invoice.sme_id, invoice.sme_wallet) == (
        world.tenant,
        SME.id,
        SME.wallet,
    )
    assert invoice.id.startswith("inv_")
    assert invoice.created_at == invoice.updated_at == world.clock.now()
    assert world.invoices.get(world.tenant, SME, invoice.id) == invoice


def test_submit_accepts_a_ready_draft(world: World) -> None:
    draft = draft_of(world.payload())
    invoice = world.invoices.submit(world.tenant, ADMIN, draft)
    assert invoice.draft == draft
    assert world.invoices.get(world.tenant, ADMIN, invoice.id).draft == draft


@pytest.mark.parametrize("actor", [INVESTOR, CHAIN], ids=["investor", "chain"])
def test_only_smes_and_operators_submit(world: World, actor: Actor) -> None:
    with pytest.raises(Forbidden):
        world.submit(actor)
    assert world.invoices.list(world.tenant, ADMIN).total == 0


def test_an_invalid_payload_stores_nothing(world: World) -> None:
    with pytest.raises(ValidationError) as info:
        world.submit(amount="-1", yieldBps=20_000)
    assert set(field_codes(info.value)) == {"amount", "yieldBps"}
    assert world.invoices.list(world.tenant, ADMIN).total == 0


def test_invoice_numbers_are_unique_per_tenant(world: World) -> None:
    world.submit(invoiceNumber="INV-DUP")
    with pytest.raises(Conflict) as info:
        world.submit(invoiceNumber="INV-DUP")
    assert info.value.code == "DUPLICATE_INVOICE_NUMBER"
    other_tenant = f"t_{uuid.uuid4().hex[:12]}"
    assert world.submit(tenant=other_tenant, invoiceNumber="INV-DUP").tenant_id == other_tenant


def test_submit_writes_the_creation_step_and_an_audit_event(world: World) -> None:
    invoice = world.submit()
    history = world.invoices.history(world.tenant, SME, invoice.id)
    assert [(s.sequence, s.from_status, s.to_status) for s in history] == [(1, None, S.PENDING)]
    events = world.audit(invoice.id)
    assert [(e.action, e.actor_id, e.actor_role) for e in events] == [
        ("invoice.created", SME.id, "sme")
    ]
    assert events[0].tenant_id == world.tenant


def test_another_tenant_never_sees_the_invoice(world: World) -> None:
    invoice = world.submit()
    other = f"t_{uuid.uuid4().hex[:12]}"
    for actor in (ADMIN, SME, SERVICE):
        with pytest.raises(NotFound):
            world.invoices.get(other, actor, invoice.id)
        with pytest.raises(NotFound):
            world.invoices.history(other, actor, invoice.id)
        with pytest.raises(NotFound):
            world.invoices.approve(other, actor, invoice.id)
        assert world.invoices.list(other, actor).total == 0
    assert world.invoices.get(world.tenant, ADMIN, invoice.id).status is S.PENDING


def test_an_sme_sees_only_its_own_invoices(world: World) -> None:
    mine = world.submit(SME)
    theirs = world.submit(OTHER_SME)
    with pytest.raises(NotFound):
        world.invoices.get(world.tenant, SME, theirs.id)
    assert [i.id for i in world.invoices.list(world.tenant, SME).items] == [mine.id]
    assert [i.id for i in world.invoices.list(world.tenant, OTHER_SME).items] == [theirs.id]
    assert world.invoices.list(world.tenant, ADMIN).total == 2


def test_investors_see_only_investable_invoices(world: World) -> None:
    pending = world.submit()
    linked = world.link(world.submit())
    with pytest.raises(NotFound):
        world.invoices.get(world.tenant, INVESTOR, pending.id)
    assert world.invoices.get(world.tenant, INVESTOR, linked.id).status is S.LINKED_ESCROW
    page = world.invoices.list(world.tenant, INVESTOR)
    assert [i.id for i in page.items] == [linked.id]
    empty = world.invoices.list(
        world.tenant, INVESTOR, InvoiceListQuery(status=frozenset({S.PENDING}))
    )
    assert (empty.items, empty.total) == ([], 0)


def test_list_filters_by_status(world: World) -> None:
    first = world.submit()
    second = world.submit()
    third = world.submit()
    world.invoices.approve(world.tenant, ADMIN, second.id)
    world.invoices.reject(world.tenant, ADMIN, third.id, TransitionReason("Buyer unknown"))
    approved = world.invoices.list(
        world.tenant, ADMIN, InvoiceListQuery(status=frozenset({S.APPROVED}))
    )
    assert [i.id for i in approved.items] == [second.id]
    either = world.invoices.list(
        world.tenant, ADMIN, InvoiceListQuery(status=frozenset({S.PENDING, S.REJECTED}))
    )
    assert {i.id for i in either.items} == {first.id, third.id}
    assert either.total == 2


def test_list_pages_newest_first_with_the_full_total(world: World) -> None:
    created = [world.submit().id for _ in range(5)]
    newest_first = list(reversed(created))
    pages = [
        world.invoices.list(world.tenant, ADMIN, InvoiceListQuery(limit=2, page=page))
        for page in (1, 2, 3, 4)
    ]
    assert [page.total for page in pages] == [5, 5, 5, 5]
    assert [[i.id for i in page.items] for page in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:5],
        [],
    ]


@pytest.mark.parametrize(("limit", "page"), [(0, 1), (101, 1), (-1, 1), (20, 0), (20, -1)])
def test_list_refuses_bad_paging(world: World, limit: int, page: int) -> None:
    with pytest.raises(ValidationError):
        world.invoices.list(world.tenant, ADMIN, InvoiceListQuery(limit=limit, page=page))


def test_list_accepts_the_largest_page(world: World) -> None:
    world.submit()
    assert world.invoices.list(world.tenant, ADMIN, InvoiceListQuery(limit=100)).total == 1


@pytest.mark.parametrize("invoice_id", ["", "inv_", "INV_1", "inv-1", "inv_" + "a" * 29, "1"])
def test_malformed_ids_are_a_validation_error(world: World, invoice_id: str) -> None:
    with pytest.raises(ValidationError) as info:
        world.invoices.get(world.tenant, ADMIN, invoice_id)
    assert info.value.field_errors[0].code == "INVALID_ID"


def test_an_unknown_id_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.invoices.get(world.tenant, ADMIN, "inv_01NOSUCHINVOICE")


# ---- update while pending --------------------------------------------------------------------


def test_update_changes_fields_and_bumps_the_version(world: World) -> None:
    invoice = world.submit()
    world.clock.advance(timedelta(minutes=3))
    updated = world.invoices.update(
        world.tenant,
        SME,
        invoice.id,
        patch_of({"buyerName": "  Acme Holdings ", "yieldBps": 500}),
        1,
    )
    assert (updated.draft.buyer_name, updated.draft.yield_bps) == ("Acme Holdings", 500)
    assert updated.draft.amount == invoice.draft.amount
    assert updated.version == 2
    assert updated.updated_at == world.clock.now() != invoice.updated_at
    assert updated.created_at == invoice.created_at
    assert world.invoices.get(world.tenant, SME, invoice.id) == updated
    last = world.audit(invoice.id)[-1]
    assert (last.action, last.metadata["fields"]) == ("invoice.updated", ["buyerName", "yieldBps"])


def test_null_clears_optional_fields(world: World) -> None:
    invoice = world.submit(buyerTaxId="GB123")
    updated = world.invoices.update(
        world.tenant,
        SME,
        invoice.id,
        patch_of({"buyerEmail": None, "buyerTaxId": None, "description": None, "metadata": None}),
    )
    draft = updated.draft
    assert (draft.buyer_email, draft.buyer_tax_id, draft.description) == (None, None, None)
    assert draft.metadata == {}
    assert draft.invoice_number == invoice.draft.invoice_number


@pytest.mark.parametrize("name", ["invoiceNumber", "buyerName", "amount", "currency", "yieldBps"])
def test_null_cannot_clear_a_required_field(world: World, name: str) -> None:
    invoice = world.submit()
    with pytest.raises(ValidationError) as info:
        world.invoices.update(world.tenant, SME, invoice.id, patch_of({name: None}))
    assert name in field_codes(info.value)
    assert world.invoices.get(world.tenant, SME, invoice.id) == invoice


def test_the_merged_result_is_revalidated(world: World) -> None:
    invoice = world.submit(issueDate="2026-01-15", dueDate="2026-03-15", amount="1250.50")
    with pytest.raises(ValidationError) as info:
        world.invoices.update(world.tenant, SME, invoice.id, patch_of({"dueDate": "2026-01-01"}))
    assert field_codes(info.value) == {"dueDate": "DUE_BEFORE_ISSUE"}
    with pytest.raises(ValidationError) as info:
        world.invoices.update(world.tenant, SME, invoice.id, patch_of({"currency": "JPY"}))
    assert set(field_codes(info.value)) == {"amount"}
    assert world.invoices.get(world.tenant, SME, invoice.id).version == 1
    moved = world.invoices.update(
        world.tenant, SME, invoice.id, patch_of({"currency": "JPY", "amount": "180000"})
    )
    assert str(moved.draft.amount) == "180000"


def test_an_update_may_not_take_a_used_invoice_number(world: World) -> None:
    world.submit(invoiceNumber="INV-TAKEN")
    invoice = world.submit()
    with pytest.raises(Conflict) as info:
        world.invoices.update(
            world.tenant, SME, invoice.id, patch_of({"invoiceNumber": "INV-TAKEN"})
        )
    assert info.value.code == "DUPLICATE_INVOICE_NUMBER"


def test_unknown_patch_fields_are_the_only_errors_reported(world: World) -> None:
    invoice = world.submit()
    with pytest.raises(ValidationError) as info:
        world.invoices.update(
            world.tenant, SME, invoice.id, patch_of({"buyerName": "X", "status": "paid"})
        )
    assert field_codes(info.value) == {"status": "UNKNOWN_FIELD"}


@pytest.mark.parametrize("patch", [{}, [], "buyerName"])
def test_an_empty_or_non_object_patch_is_refused(world: World, patch: Any) -> None:
    invoice = world.submit()
    with pytest.raises(ValidationError):
        world.invoices.update(world.tenant, SME, invoice.id, patch_of(patch))


@pytest.mark.parametrize(
    "advance",
    [
        lambda w, i: w.invoices.approve(w.tenant, ADMIN, i),
        lambda w, i: w.invoices.reject(w.tenant, ADMIN, i, TransitionReason("No")),
        lambda w, i: w.invoices.cancel(w.tenant, SME, i, TransitionReason("Withdrawn")),
    ],
    ids=["approved", "rejected", "cancelled"],
)
def test_only_pending_invoices_are_editable(world: World, advance: Any) -> None:
    invoice = world.submit()
    advance(world, invoice.id)
    with pytest.raises(Conflict) as info:
        world.invoices.update(
            world.tenant, ADMIN, invoice.id, patch_of({"buyerName": "Late change"})
        )
    assert info.value.code == "INVOICE_NOT_EDITABLE"
    with pytest.raises(Conflict) as info:
        world.invoices.delete(world.tenant, ADMIN, invoice.id)
    assert info.value.code == "INVOICE_NOT_EDITABLE"


def test_an_operator_may_edit_and_another_sme_may_not(world: World) -> None:
    invoice = world.submit()
    with pytest.raises(NotFound):
        world.invoices.update(
            world.tenant, OTHER_SME, invoice.id, patch_of({"buyerName": "Mine now"})
        )
    with pytest.raises(Forbidden):
        world.invoices.update(
            world.tenant, INVESTOR, invoice.id, patch_of({"buyerName": "Mine now"})
        )
    edited = world.invoices.update(
        world.tenant, ADMIN, invoice.id, patch_of({"buyerName": "Fixed"})
    )
    assert edited.draft.buyer_name == "Fixed"
    assert edited.sme_id == SME.id


# ---- delete ----------------------------------------------------------------------------------


def test_soft_delete_hides_the_invoice_everywhere(world: World) -> None:
    invoice = world.submit(invoiceNumber="INV-GONE")
    kept = world.submit()
    world.invoices.delete(world.tenant, SME, invoice.id, expected_version=1)
    for actor in (SME, ADMIN):
        with pytest.raises(NotFound):
            world.invoices.get(world.tenant, actor, invoice.id)
        with pytest.raises(NotFound):
            world.invoices.history(world.tenant, actor, invoice.id)
    with pytest.raises(NotFound):
        world.invoices.approve(world.tenant, ADMIN, invoice.id)
    with pytest.raises(NotFound):
        world.invoices.delete(world.tenant, SME, invoice.id)
    page = world.invoices.list(world.tenant, ADMIN)
    assert ([i.id for i in page.items], page.total) == ([kept.id], 1)
    assert [e.action for e in world.audit(invoice.id)] == ["invoice.created", "invoice.deleted"]
    # The number is free again for a new invoice.
    assert world.submit(invoiceNumber="INV-GONE").draft.invoice_number == "INV-GONE"


def test_another_sme_cannot_delete(world: World) -> None:
    invoice = world.submit()
    with pytest.raises(NotFound):
        world.invoices.delete(world.tenant, OTHER_SME, invoice.id)
    assert world.invoices.get(world.tenant, SME, invoice.id) == invoice


# ---- lifecycle and audit ---------------------------------------------------------------------


def test_every_transition_writes_history_and_an_audit_event(world: World) -> None:
    invoice = world.submit()
    escrow = contract()
    world.invoices.approve(world.tenant, ADMIN, invoice.id)
    world.invoices.link_escrow(world.tenant, SERVICE, invoice.id, link_of(escrow, "5000000"))
    world.move(invoice.id, S.PARTIALLY_FUNDED)
    world.move(invoice.id, S.FUNDED)
    world.move(invoice.id, S.DISBURSED)
    final = world.invoices.mark_defaulted(
        world.tenant, ADMIN, invoice.id, TransitionReason("Buyer never paid")
    )
    assert final.status is S.DEFAULTED
    assert final.version == 7
    assert final.escrow_address == escrow
    assert final.funding_target_stroops == 5_000_000

    events = world.audit(invoice.id)
    assert [e.action for e in events] == [
        "invoice.created",
        "invoice.pending_to_approved",
        "invoice.approved_to_linked_escrow",
        "invoice.linked_escrow_to_partially_funded",
        "invoice.partially_funded_to_funded",
        "invoice.funded_to_disbursed",
        "invoice.disbursed_to_defaulted",
    ]
    assert [e.actor_id for e in events] == [SME.id, ADMIN.id, SERVICE.id] + [CHAIN.id] * 3 + [
        ADMIN.id
    ]
    assert events[-1].metadata == {
        "from": "disbursed",
        "to": "defaulted",
        "reason": "Buyer never paid",
    }
    assert len({e.id for e in events}) == len(events)

    history = world.invoices.history(world.tenant, ADMIN, invoice.id)
    status: InvoiceStatus | None = None
    for sequence, step in enumerate(history, start=1):
        assert step.sequence == sequence
        assert step.from_status is status
        status = step.to_status
    assert status is final.status


def test_state_lists_allowed_transitions_for_the_table_and_the_caller(world: World) -> None:
    invoice = world.submit()
    for_owner = world.invoices.state(world.tenant, SME, invoice.id)
    assert (for_owner.status, for_owner.version) == (S.PENDING, 1)
    assert set(for_owner.allowed_transitions) == {S.APPROVED, S.REJECTED, S.CANCELLED}
    assert for_owner.allowed_for_caller == (S.CANCELLED,)
    for_admin = world.invoices.state(world.tenant, ADMIN, invoice.id)
    assert set(for_admin.allowed_for_caller) == {S.APPROVED, S.REJECTED, S.CANCELLED}
    world.link(invoice)
    linked = world.invoices.state(world.tenant, CHAIN, invoice.id)
    assert set(linked.allowed_for_caller) == {S.PARTIALLY_FUNDED, S.FUNDED, S.CANCELLED}
    assert world.invoices.state(world.tenant, INVESTOR, invoice.id).allowed_for_caller == ()
    with pytest.raises(NotFound):
        world.invoices.state(world.tenant, OTHER_SME, invoice.id)


def test_the_owner_may_cancel_while_pending_but_not_approve(world: World) -> None:
    invoice = world.submit()
    with pytest.raises(Forbidden):
        world.invoices.approve(world.tenant, SME, invoice.id)
    with pytest.raises(NotFound):
        world.invoices.cancel(world.tenant, OTHER_SME, invoice.id, TransitionReason("Not mine"))
    cancelled = world.invoices.cancel(world.tenant, SME, invoice.id, TransitionReason("Sent twice"))
    assert (cancelled.status, cancelled.status_reason) == (S.CANCELLED, "Sent twice")


def test_clients_cannot_set_chain_states(world: World) -> None:
    invoice = world.link(world.submit())
    for actor in (ADMIN, SERVICE):
        with pytest.raises(Forbidden):
            world.move(invoice.id, S.FUNDED, actor)
    assert world.invoices.get(world.tenant, ADMIN, invoice.id).status is S.LINKED_ESCROW


def test_an_invalid_transition_changes_nothing(world: World) -> None:
    invoice = world.submit()
    with pytest.raises(InvalidTransition) as info:
        world.move(invoice.id, S.FUNDED)
    assert set(info.value.allowed) == {"approved", "rejected", "cancelled"}
    assert world.invoices.get(world.tenant, ADMIN, invoice.id) == invoice
    assert len(world.audit(invoice.id)) == 1
    assert len(world.invoices.history(world.tenant, ADMIN, invoice.id)) == 1


def test_terminal_invoices_refuse_every_move(world: World) -> None:
    invoice = world.submit()
    world.invoices.reject(world.tenant, ADMIN, invoice.id, TransitionReason("Fraud suspected"))
    for target in InvoiceStatus:
        with pytest.raises(InvalidTransition):
            world.move(invoice.id, target, ADMIN, reason="again")
    assert world.invoices.get(world.tenant, ADMIN, invoice.id).status is S.REJECTED


# ---- optimistic concurrency ------------------------------------------------------------------


def test_a_stale_expected_version_is_refused_everywhere(world: World) -> None:
    invoice = world.submit()
    world.invoices.update(
        world.tenant, SME, invoice.id, patch_of({"buyerName": "B2"}), expected_version=1
    )
    attempts: list[Callable[[], object]] = [
        lambda: world.invoices.update(
            world.tenant, SME, invoice.id, patch_of({"buyerName": "B3"}), 1
        ),
        lambda: world.invoices.delete(world.tenant, SME, invoice.id, expected_version=1),
        lambda: world.invoices.approve(world.tenant, ADMIN, invoice.id, expected_version=1),
        lambda: world.invoices.reject(
            world.tenant, ADMIN, invoice.id, TransitionReason("r"), expected_version=3
        ),
        lambda: world.invoices.cancel(
            world.tenant, SME, invoice.id, TransitionReason("r"), expected_version=0
        ),
    ]
    for attempt in attempts:
        with pytest.raises(StaleVersion) as info:
            attempt()
        assert info.value.code == "PRECONDITION_FAILED"
    current = world.invoices.get(world.tenant, SME, invoice.id)
    assert (current.version, current.status, current.draft.buyer_name) == (2, S.PENDING, "B2")
    assert [e.action for e in world.audit(invoice.id)] == ["invoice.created", "invoice.updated"]
    assert world.invoices.approve(world.tenant, ADMIN, invoice.id, expected_version=2).version == 3


# ---- reasons ---------------------------------------------------------------------------------


def test_control_characters_are_stripped_from_reasons(world: World) -> None:
    invoice = world.submit()
    rejected = world.invoices.reject(
        world.tenant, ADMIN, invoice.id, TransitionReason("\x00 Duplicate\x07 of INV-7\x1b\n")
    )
    assert rejected.status_reason == "Duplicate of INV-7"
    assert world.audit(invoice.id)[-1].metadata["reason"] == "Duplicate of INV-7"
    assert world.invoices.history(world.tenant, ADMIN, invoice.id)[-1].reason == (
        "Duplicate of INV-7"
    )


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("", "INVALID_REASON"),
        ("   ", "INVALID_REASON"),
        ("\x00\x07\n", "INVALID_REASON"),
        ("x" * 1025, "INVALID_REASON"),
        (None, "REQUIRED"),
        (42, "INVALID_REASON"),
    ],
)
def test_reasons_must_have_1_to_1024_characters(world: World, reason: Any, code: str) -> None:
    invoice = world.submit()
    with pytest.raises(ValidationError) as info:
        world.invoices.reject(world.tenant, ADMIN, invoice.id, TransitionReason(reason))
    assert field_codes(info.value) == {"reason": code}
    assert world.invoices.get(world.tenant, ADMIN, invoice.id).status is S.PENDING


def test_the_longest_reason_is_kept_whole(world: World) -> None:
    invoice = world.submit()
    reason = "r" * 1024
    assert (
        world.invoices.cancel(
            world.tenant, ADMIN, invoice.id, TransitionReason(reason)
        ).status_reason
        == reason
    )


def test_reasons_are_cleaned_on_every_path_into_a_reason_state(world: World) -> None:
    # The generic transition() is public too (the indexer uses it for chain cancellations);
    # the reason rule (1-1024 characters, control characters stripped) must hold there as well.
    invoice = world.link(world.submit())
    cancelled = world.move(invoice.id, S.CANCELLED, CHAIN, reason="funding_cancelled\x00\n")
    assert cancelled.status_reason == "funding_cancelled"
    other = world.submit()
    with pytest.raises(ValidationError):
        world.move(other.id, S.REJECTED, ADMIN, reason="")


# ---- link escrow -----------------------------------------------------------------------------


def test_link_escrow_records_the_contract_and_target(world: World) -> None:
    invoice = world.submit()
    world.invoices.approve(world.tenant, ADMIN, invoice.id)
    escrow = contract()
    linked = world.invoices.link_escrow(
        world.tenant, ADMIN, invoice.id, link_of(escrow, str(10**18))
    )
    assert linked.status is S.LINKED_ESCROW
    assert (linked.escrow_address, linked.funding_target_stroops) == (escrow, 10**18)
    assert linked.funded_stroops == 0
    assert str(linked.funded_ratio) == "0.00"


@pytest.mark.parametrize(
    "address",
    [
        Keypair.random().public_key,
        "C" + "A" * 55,
        "",
        None,
        123,
        "not-an-address",
    ],
    ids=["account", "no-checksum", "empty", "none", "int", "text"],
)
def test_link_escrow_needs_a_contract_address(world: World, address: Any) -> None:
    invoice = world.submit()
    world.invoices.approve(world.tenant, ADMIN, invoice.id)
    with pytest.raises(ValidationError) as info:
        world.invoices.link_escrow(world.tenant, ADMIN, invoice.id, link_of(address, "1000"))
    assert set(field_codes(info.value)) == {"escrowAddress"}
    assert world.invoices.get(world.tenant, ADMIN, invoice.id).status is S.APPROVED


def test_a_one_character_change_to_the_contract_is_refused(world: World) -> None:
    invoice = world.submit()
    world.invoices.approve(world.tenant, ADMIN, invoice.id)
    escrow = contract()
    flipped = escrow[:20] + ("A" if escrow[20] != "A" else "B") + escrow[21:]
    with pytest.raises(ValidationError) as info:
        world.invoices.link_escrow(world.tenant, ADMIN, invoice.id, link_of(flipped, "1000"))
    assert field_codes(info.value) == {"escrowAddress": "INVALID_CONTRACT_ADDRESS"}


@pytest.mark.parametrize(
    ("target", "code"),
    [
        (1000, "INVALID_AMOUNT_TYPE"),
        (1000.0, "INVALID_AMOUNT_TYPE"),
        ("01000", "INVALID_AMOUNT_FORMAT"),
        ("1000.0", "INVALID_AMOUNT_FORMAT"),
        ("-5", "INVALID_AMOUNT_FORMAT"),
        ("1e6", "INVALID_AMOUNT_FORMAT"),
        ("0", "INVALID_AMOUNT_RANGE"),
        (str(10**18 + 1), "INVALID_AMOUNT_OVERFLOW"),
    ],
)
def test_link_escrow_reports_the_stroops_code(world: World, target: Any, code: str) -> None:
    invoice = world.submit()
    world.invoices.approve(world.tenant, ADMIN, invoice.id)
    with pytest.raises(ValidationError) as info:
        world.invoices.link_escrow(world.tenant, ADMIN, invoice.id, link_of(contract(), target))
    assert field_codes(info.value) == {"fundingTargetStroops": code}


def test_link_escrow_reports_both_bad_fields_at_once(world: World) -> None:
    invoice = world.submit()
    with pytest.raises(ValidationError) as info:
        world.invoices.link_escrow(world.tenant, ADMIN, invoice.id, link_of("GBAD", "007"))
    assert field_codes(info.value) == {
        "escrowAddress": "INVALID_CONTRACT_ADDRESS",
        "fundingTargetStroops": "INVALID_AMOUNT_FORMAT",
    }


def test_link_escrow_needs_an_approved_invoice_and_an_operator(world: World) -> None:
    invoice = world.submit()
    with pytest.raises(InvalidTransition):
        world.invoices.link_escrow(world.tenant, ADMIN, invoice.id, link_of(contract(), "1000"))
    world.invoices.approve(world.tenant, ADMIN, invoice.id)
    for actor in (SME, CHAIN):
        with pytest.raises(Forbidden):
            world.invoices.link_escrow(world.tenant, actor, invoice.id, link_of(contract(), "1000"))
    assert world.invoices.get(world.tenant, ADMIN, invoice.id).escrow_address is None
