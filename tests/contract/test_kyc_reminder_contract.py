"""KYC records, their history and webhook events, maturity reminders, their dead letters and
contacts: the same behaviour on every store (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import attrs
import pytest

from liquifact_core.commitments import CommitmentStatus
from liquifact_core.errors import Conflict
from liquifact_core.invoices import Invoice
from liquifact_core.kyc import KycChange, KycRecord, KycRole, KycSource, KycStatus, new_record
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.ports import Store
from liquifact_core.reminders import (
    Contact,
    DeadLetterReason,
    DueInvoice,
    RecipientRole,
    ReminderDeadLetter,
    ReminderStatus,
    planned,
)

from .contract_support import T0, invoice, new_tenant
from .market_support import commitment, listed


def _record(tenant: str, subject: str = "alice") -> KycRecord:
    return new_record(tenant, subject, f"kyc_{uuid4().hex}", KycRole.INVESTOR, T0)


def test_kyc_records_round_trip_and_update_by_version(store: Store, tenant: str) -> None:
    record = _record(tenant)
    with store.unit_of_work(tenant) as uow:
        uow.kyc.add(record)
        uow.commit()
    moved = attrs.evolve(
        record,
        status=KycStatus.REJECTED,
        reason="Document expired",
        provider_reference="app-1",
        verification_url="https://kyc.example/flow/1",
        provider_event_at=T0 + timedelta(seconds=5),
        updated_at=T0 + timedelta(seconds=6),
        version=2,
    )
    with store.unit_of_work(tenant) as uow:
        uow.kyc.update(moved, 1)
        with pytest.raises(Conflict) as stale:
            uow.kyc.update(attrs.evolve(moved, version=3), 1)
        assert stale.value.code == "CONCURRENT_UPDATE"
        uow.commit()
    with store.read_unit(tenant) as uow:
        assert uow.kyc.get(tenant, "alice") == moved
        assert uow.kyc.get(tenant, "bob") is None


def test_a_subject_has_one_record(store: Store, tenant: str) -> None:
    with store.unit_of_work(tenant) as uow:
        uow.kyc.add(_record(tenant))
        with pytest.raises(Conflict) as again:
            uow.kyc.add(_record(tenant))
        assert again.value.retryable


def test_history_is_kept_in_order_and_sequences_are_unique(store: Store, tenant: str) -> None:
    record = _record(tenant)
    steps = [
        KycChange(tenant, "alice", 2, KycStatus.VERIFIED, KycSource.PROVIDER, "kyc-provider",
                  T0 + timedelta(seconds=1), "approved", None, "evt-1"),
        KycChange(tenant, "alice", 1, KycStatus.PENDING, KycSource.SUBMISSION, "alice", T0),
    ]  # fmt: skip
    with store.unit_of_work(tenant) as uow:
        uow.kyc.add(record)
        for step in steps:
            uow.kyc.add_change(step)
        with pytest.raises(Conflict):
            uow.kyc.add_change(steps[0])
        uow.commit()
    with store.read_unit(tenant) as uow:
        assert list(uow.kyc.history(tenant, "alice")) == [steps[1], steps[0]]


def test_kyc_references_resolve_across_tenants(store: Store) -> None:
    first, second = new_tenant(), new_tenant()
    records = [_record(first, "alice"), _record(second, "alice")]
    for record in records:
        with store.unit_of_work(record.tenant_id) as uow:
            uow.kyc.add(record)
            uow.commit()
    assert store.kyc_subject(records[1].reference) == (second, "alice")
    assert store.kyc_subject(f"kyc_{uuid4().hex}") is None


def test_webhook_events_are_redeemed_once_with_the_unit_and_purged(
    store: Store, tenant: str
) -> None:
    event = f"evt-{uuid4().hex}"
    with store.unit_of_work(tenant) as uow:
        assert uow.kyc.redeem_event(event, T0, T0 + timedelta(minutes=10))
        # Not committed: the redemption goes with the unit.
    with store.unit_of_work(new_tenant()) as uow:
        assert uow.kyc.redeem_event(event, T0, T0 + timedelta(minutes=10))
        assert not uow.kyc.redeem_event(event, T0, T0 + timedelta(minutes=10))
        uow.commit()
    with store.unit_of_work(tenant) as uow:
        assert not uow.kyc.redeem_event(event, T0, T0 + timedelta(minutes=10))
    assert store.purge_kyc_events(T0 + timedelta(minutes=10), 1_000_000) >= 1
    with store.unit_of_work(tenant) as uow:
        assert uow.kyc.redeem_event(event, T0, T0 + timedelta(minutes=10))


# ---- reminders --------------------------------------------------------------------------------
def _add(store: Store, tenant: str, *invoices: Invoice) -> None:
    with store.unit_of_work(tenant) as uow:
        for item in invoices:
            uow.invoices.add(item)
        uow.commit()


def test_due_invoices_and_their_tenants(store: Store, tenant: str) -> None:
    start, end = date(2031, 5, 1), date(2031, 5, 8)
    inside = [
        listed(tenant, due_date=date(2031, 5, 8)),
        listed(tenant, due_date=date(2031, 5, 1), status=InvoiceStatus.FUNDED),
        listed(tenant, due_date=date(2031, 5, 3), status=InvoiceStatus.DISBURSED),
    ]
    outside = [
        listed(tenant, due_date=date(2031, 5, 9)),
        listed(tenant, due_date=date(2031, 4, 30)),
        listed(tenant, due_date=date(2031, 5, 2), status=InvoiceStatus.SETTLED),
        invoice(tenant, due_date=date(2031, 5, 2), status=InvoiceStatus.APPROVED),
    ]  # fmt: skip
    _add(store, tenant, *inside, *outside)
    with store.read_unit(tenant) as uow:
        due = uow.reminders.due_invoices(tenant, start, end)
    expected = sorted(inside, key=lambda i: (i.draft.due_date, i.id))
    assert list(due) == [DueInvoice(tenant, i.id, i.sme_id, i.draft.due_date) for i in expected]
    assert tenant in store.reminder_tenants(start, end)
    assert tenant not in store.reminder_tenants(date(2031, 6, 1), date(2031, 6, 8))


def test_investor_subjects_are_those_of_live_commitments(store: Store, tenant: str) -> None:
    item = listed(tenant, target=10_000)
    _add(store, tenant, item)
    with store.unit_of_work(tenant) as uow:
        uow.commitments.add(commitment(item, actor_id="zed"))
        uow.commitments.add(commitment(item, actor_id="amy"))
        uow.commitments.add(commitment(item, actor_id="amy"))
        uow.commitments.add(commitment(item, actor_id="bo", status=CommitmentStatus.CONFIRMED))
        uow.commitments.add(commitment(item, actor_id="gone", status=CommitmentStatus.RELEASED))
        uow.commit()
    with store.read_unit(tenant) as uow:
        assert list(uow.reminders.investor_subjects(tenant, item.id)) == ["amy", "bo", "zed"]


def test_a_reminder_is_planned_once_and_settled(store: Store, tenant: str) -> None:
    item = listed(tenant, due_date=date(2026, 3, 5))
    _add(store, tenant, item)
    due = DueInvoice(tenant, item.id, item.sme_id, item.draft.due_date)
    reminder = planned(due, "sme-1", RecipientRole.SME, T0)
    with store.unit_of_work(tenant) as uow:
        assert uow.reminders.add(reminder)
        assert not uow.reminders.add(attrs.evolve(reminder, role=RecipientRole.INVESTOR))
        uow.commit()
    sent = attrs.evolve(
        reminder,
        status=ReminderStatus.SENT,
        sent_at=T0 + timedelta(seconds=3),
        updated_at=T0 + timedelta(seconds=3),
        dry_run=True,
    )
    with store.unit_of_work(tenant) as uow:
        assert not uow.reminders.add(reminder)
        uow.reminders.update(sent)
        uow.commit()
    with store.read_unit(tenant) as uow:
        assert uow.reminders.get(tenant, item.id, "sme-1") == sent
        assert uow.reminders.get(tenant, item.id, "nobody") is None


def test_dead_letters_are_listed_newest_first(store: Store, tenant: str) -> None:
    letters = [
        ReminderDeadLetter(
            id=f"rdl_{n}",
            tenant_id=tenant,
            invoice_id="inv_1",
            recipient=f"r-{n}",
            role=RecipientRole.INVESTOR,
            recipient_hint="a***@example.com",
            reason=DeadLetterReason.PERMANENT_ERROR if n else DeadLetterReason.MAX_RETRIES_EXCEEDED,
            error="The recipient was refused: SMTP 550 no such user",
            attempts=n + 1,
            job_id=f"job_rem_{n}",
            created_at=T0 + timedelta(seconds=n),
            smtp_code=550 if n else None,
        )
        for n in range(3)
    ]
    with store.unit_of_work(tenant) as uow:
        for letter in letters:
            uow.reminders.add_dead_letter(letter)
        uow.commit()
    with store.read_unit(tenant) as uow:
        assert list(uow.reminders.dead_letters(tenant, 2, 0)) == [letters[2], letters[1]]
        assert list(uow.reminders.dead_letters(tenant, 2, 2)) == [letters[0]]


def test_contacts_are_upserted(store: Store, tenant: str) -> None:
    with store.unit_of_work(tenant) as uow:
        uow.contacts.put(Contact(tenant, "alice", "a@example.com", T0))
        uow.contacts.put(Contact(tenant, "alice", "alice@example.com", T0 + timedelta(seconds=1)))
        uow.commit()
    with store.read_unit(tenant) as uow:
        assert uow.contacts.get(tenant, "alice") == Contact(
            tenant, "alice", "alice@example.com", T0 + timedelta(seconds=1)
        )
        assert uow.contacts.get(tenant, "bob") is None
