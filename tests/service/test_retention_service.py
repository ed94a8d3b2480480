"""Retention policies, legal holds and purges through the use case (issue 16), on the
in-memory fake and SQLite (PostgreSQL through the HTTP suite): a purge never touches a held
invoice, a dry run changes nothing, and every change is in the audit trail with before and
after."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from liquifact_adapters.composition import job_handlers
from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.audit import AuditEvent
from liquifact_core.errors import Conflict, Forbidden, NotFound
from liquifact_core.invoices import Actor, Invoice, TransitionReason
from liquifact_core.lifecycle import Role
from liquifact_core.ports import Store
from liquifact_core.retention import (
    PURGED_BUYER_NAME,
    HoldRelease,
    HoldRequest,
    LegalHoldType,
    PiiField,
    PolicyDraft,
    PreviewQuery,
    Verdict,
)
from liquifact_core.schedules import RETENTION_PURGE
from liquifact_core.services import Services
from tests.contract.test_escrow_projection_contract import linked, projection_of
from tests.factories import invoice_draft

ADMIN = Actor("ops", Role.ADMIN)
SME = Actor("sme-1", Role.SME)
T = "t1"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    built: Store = (
        InMemoryStore() if request.param == "memory" else SqliteStore(str(tmp_path / "r.db"))
    )
    yield built
    built.close()


@attrs.define
class World:
    store: Store
    clock: FixedClock
    services: Services
    ids: SequentialIdGenerator

    def rejected(self, **fields: Any) -> Invoice:
        draft = invoice_draft(buyerEmail="ap@buyer.example", buyerTaxId="DE123", **fields)
        created = self.services.invoices.submit(T, SME, draft)
        return self.services.invoices.reject(T, ADMIN, created.id, TransitionReason("no"))

    def policy(self, days: int = 30, *fields: str, name: str = "gdpr") -> str:
        draft = PolicyDraft(
            name=name,
            retention_days=days,
            pii_fields=frozenset(PiiField(f) for f in fields or PiiField),
        )
        return self.services.retention.create_policy(T, ADMIN, draft).id

    def invoice(self, invoice_id: str) -> Invoice:
        with self.store.read_unit(T) as uow:
            found = uow.retention.lock_invoice(T, invoice_id)
        assert found is not None
        return found

    def trail(self, invoice_id: str) -> list[AuditEvent]:
        with self.store.read_unit(T) as uow:
            return [r.event for r in uow.audit.invoice_trail(T, invoice_id, None, 1000)]

    def hold(self, invoice_id: str) -> str:
        request = HoldRequest(
            invoice_id=invoice_id, type=LegalHoldType.LITIGATION, reason="case 42"
        )
        return self.services.retention.place_hold(T, ADMIN, request).id


@pytest.fixture
def world(store: Store) -> World:
    clock, ids = FixedClock(), SequentialIdGenerator()
    return World(store, clock, Services.from_ports(store, clock, ids), ids)


def _everything(world: World, *invoice_ids: str) -> tuple[list[Invoice], list[list[AuditEvent]]]:
    return [world.invoice(i) for i in invoice_ids], [world.trail(i) for i in invoice_ids]


# ---- the purge --------------------------------------------------------------------------------
def test_a_dry_run_decides_and_changes_nothing(world: World) -> None:
    due, held = world.rejected(), world.rejected()
    world.policy(30)
    world.hold(held.id)
    world.clock.advance(timedelta(days=31))
    before = _everything(world, due.id, held.id)

    report = world.services.retention.purge(T, dry_run=True)

    assert (report.purged, report.held, report.held_invoices) == (1, 1, (held.id,))
    assert _everything(world, due.id, held.id) == before
    with world.store.read_unit(T) as uow:
        assert uow.audit.for_resource(T, "tenant", T) == []


def test_a_purge_erases_what_is_due_and_never_touches_a_held_invoice(world: World) -> None:
    due, held = world.rejected(), world.rejected()
    early = world.rejected()
    world.policy(30, "buyerEmail", "buyerTaxId", name="contacts")
    world.policy(60, "buyerName", name="names")
    hold_id = world.hold(held.id)
    world.clock.advance(timedelta(days=31))
    untouched = world.invoice(held.id)

    first = world.services.retention.purge(T, dry_run=False)

    erased = world.invoice(due.id)
    assert (erased.draft.buyer_email, erased.draft.buyer_tax_id) == (None, None)
    assert erased.draft.buyer_name == due.draft.buyer_name  # its policy has not run out yet
    assert erased.version == due.version + 1
    assert world.invoice(held.id) == untouched
    assert (first.purged, first.held) == (2, 1)  # `early` closed at the same time as `due`

    world.clock.advance(timedelta(days=30))
    second = world.services.retention.purge(T, dry_run=False)

    assert world.invoice(due.id).draft.buyer_name == PURGED_BUYER_NAME
    assert world.invoice(early.id).draft.buyer_name == PURGED_BUYER_NAME
    assert world.invoice(held.id) == untouched
    assert (second.purged, second.held, second.held_invoices) == (2, 1, (held.id,))
    # Released, it goes at the next run.
    world.services.retention.release_hold(T, ADMIN, hold_id, HoldRelease())
    world.services.retention.purge(T, dry_run=False)
    assert world.invoice(held.id).draft.buyer_email is None
    assert world.services.retention.purge(T, dry_run=False).purged == 0


def test_every_erase_is_audited_with_before_and_after_but_no_values(world: World) -> None:
    due = world.rejected()
    policy_id = world.policy(1)
    world.clock.advance(timedelta(days=2))

    world.services.retention.purge(T, dry_run=False)

    [event] = [e for e in world.trail(due.id) if e.action == "retention.pii_purged"]
    assert event.actor_id == "retention-purge"
    assert event.metadata["fields"] == ["buyerEmail", "buyerName", "buyerTaxId"]
    assert event.metadata["policyIds"] == [policy_id]
    assert event.metadata["before"] == {
        "version": due.version,
        "buyerEmail": "[present]",
        "buyerName": "[present]",
        "buyerTaxId": "[present]",
    }
    assert event.metadata["after"] == {
        "version": due.version + 1,
        "buyerEmail": None,
        "buyerName": PURGED_BUYER_NAME,
        "buyerTaxId": None,
    }
    text = repr(world.trail(due.id))
    assert "ap@buyer.example" not in text and "DE123" not in text
    with world.store.read_unit(T) as uow:
        [run] = uow.audit.for_resource(T, "tenant", T)
    assert (run.action, run.metadata["purged"], run.metadata["held"]) == (
        "retention.purge_run",
        1,
        0,
    )


def test_a_hold_placed_after_the_purge_planned_is_still_respected(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = world.rejected()
    world.policy(1)
    world.clock.advance(timedelta(days=2))
    service = world.services.retention
    planned = list(service._decisions(T, world.clock.now(), None))
    assert [d.verdict for d in planned] == [Verdict.PURGE]
    world.hold(due.id)  # between the plan and the erase
    monkeypatch.setattr(service, "_decisions", lambda *_args: iter(planned))
    untouched = world.invoice(due.id)

    report = service.purge(T, dry_run=False)

    assert (report.purged, report.held) == (0, 1)
    assert world.invoice(due.id) == untouched


def test_deleted_invoices_are_closed_and_open_ones_are_kept(world: World) -> None:
    deleted = world.services.invoices.submit(T, SME, invoice_draft(buyerEmail="x@y.example"))
    world.services.invoices.delete(T, SME, deleted.id)
    kept = world.services.invoices.submit(T, SME, invoice_draft(buyerEmail="k@y.example"))
    world.policy(1)
    world.clock.advance(timedelta(days=2))

    world.services.retention.purge(T, dry_run=False)

    assert world.invoice(deleted.id).draft.buyer_email is None
    assert world.invoice(kept.id).draft.buyer_email == "k@y.example"


def test_the_preview_pages_the_decisions_and_writes_nothing(world: World) -> None:
    invoices = [world.rejected() for _ in range(5)]
    world.policy(1)
    world.hold(invoices[2].id)
    world.clock.advance(timedelta(days=2))
    before = _everything(world, *(i.id for i in invoices))

    first = world.services.retention.preview(T, ADMIN, PreviewQuery(limit=3))
    rest = world.services.retention.preview(
        T, ADMIN, PreviewQuery(limit=3, cursor=first.next_cursor)
    )

    decisions = [*first.decisions, *rest.decisions]
    assert [d.invoice_id for d in decisions] == sorted(i.id for i in invoices)
    assert first.next_cursor is not None and rest.next_cursor is None
    assert first.total == rest.total == 5
    assert {d.invoice_id for d in decisions if d.verdict is Verdict.HELD} == {invoices[2].id}
    assert _everything(world, *(i.id for i in invoices)) == before


def test_the_daily_job_purges_every_tenant_and_is_a_dry_run_by_default(world: World) -> None:
    due = world.rejected()
    world.policy(1)
    world.clock.advance(timedelta(days=2))
    handler = job_handlers(world.services)[RETENTION_PURGE]

    handler(None)  # type: ignore[arg-type]
    assert world.invoice(due.id).draft.buyer_email == "ap@buyer.example"

    erasing = Services.from_ports(world.store, world.clock, world.ids, retention_dry_run=False)
    [report] = erasing.retention.purge_all()
    assert (report.tenant_id, report.purged, report.dry_run) == (T, 1, False)
    assert world.invoice(due.id).draft.buyer_email is None


# ---- policies and holds -----------------------------------------------------------------------
def test_policy_changes_are_audited_with_before_and_after(world: World) -> None:
    policy_id = world.policy(30, "buyerEmail")
    updated = world.services.retention.update_policy(
        T,
        ADMIN,
        policy_id,
        PolicyDraft(
            name="gdpr",
            retention_days=90,
            pii_fields=frozenset({PiiField.BUYER_TAX_ID}),
            active=False,
        ),
    )

    with world.store.read_unit(T) as uow:
        created, changed = uow.audit.for_resource(T, "retention_policy", policy_id)
    assert (created.action, created.metadata["before"]) == ("retention.policy_created", None)
    assert created.metadata["after"]["retentionDays"] == 30
    assert changed.action == "retention.policy_updated"
    assert changed.metadata["before"] == created.metadata["after"]
    assert changed.metadata["after"] == {
        "id": policy_id,
        "name": "gdpr",
        "retentionDays": 90,
        "piiFields": ["buyerTaxId"],
        "active": False,
        "version": 2,
    }
    assert updated.version == 2
    with pytest.raises(Conflict) as taken:
        world.policy(1, name="gdpr")
    assert taken.value.code == "RETENTION_POLICY_NAME_TAKEN"


def test_holds_are_audited_and_one_is_active_per_invoice(world: World) -> None:
    target = world.rejected()
    hold_id = world.hold(target.id)
    with pytest.raises(Conflict) as twice:
        world.hold(target.id)
    released = world.services.retention.release_hold(
        T, ADMIN, hold_id, HoldRelease(reason="case closed")
    )
    with pytest.raises(Conflict) as again:
        world.services.retention.release_hold(T, ADMIN, hold_id, HoldRelease())

    placed, lifted = [e for e in world.trail(target.id) if e.action.startswith("retention.")]
    assert twice.value.code == "LEGAL_HOLD_ACTIVE" and again.value.code == "LEGAL_HOLD_RELEASED"
    assert (placed.action, placed.metadata["before"]) == ("retention.legal_hold_placed", None)
    assert placed.metadata["after"]["active"] is True
    assert lifted.metadata["before"] == placed.metadata["after"]
    assert lifted.metadata["after"]["releaseReason"] == "case closed"
    assert released.released_by == "ops" and not released.active


def test_only_admins_manage_retention(world: World) -> None:
    target = world.rejected()
    retention = world.services.retention
    with pytest.raises(Forbidden):
        retention.place_hold(
            T, SME, HoldRequest(invoice_id=target.id, type=LegalHoldType.AUDIT, reason="r")
        )
    with pytest.raises(Forbidden):
        retention.preview(T, SME, PreviewQuery())
    other_tenant = world.services.retention.preview("t2", ADMIN, PreviewQuery(limit=1))
    assert other_tenant.next_cursor is None
    with pytest.raises(NotFound):
        world.hold("inv_nosuchinvoice")


def test_the_two_holds_are_shown_side_by_side(world: World) -> None:
    item = linked(T)
    with world.store.unit_of_work(T) as uow:
        uow.invoices.add(item)
        uow.escrows.put(projection_of(item))  # the contract reports its own legal hold
        uow.commit()

    without = world.services.retention.invoice_holds(T, ADMIN, item.id)
    hold_id = world.hold(item.id)
    both = world.services.retention.invoice_holds(T, ADMIN, item.id)

    assert without.hold is None and without.escrow is not None and without.escrow.legal_hold
    assert both.hold is not None and both.hold.id == hold_id
    assert both.escrow == without.escrow  # placing ours changed nothing on chain
