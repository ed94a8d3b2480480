"""The InvoiceRepository contract, run against every store in STORE_FACTORIES."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import attrs
import pytest

from liquifact_core.errors import Conflict, NotFound, StaleVersion
from liquifact_core.invoices import Invoice
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.ports import InvoiceQuery, Store

from .contract_support import (
    T0,
    full_invoice,
    invoice,
    listing,
    load,
    money,
    new_invoice_id,
    new_tenant,
    save,
    transition,
)

STALE_MESSAGE = "The invoice changed since it was read; re-read it and retry."

# ---- add / get ------------------------------------------------------------------------------


def test_every_field_round_trips(store: Store, tenant: str) -> None:
    original = full_invoice(tenant)
    save(store, original)

    assert load(store, tenant, original.id) == original


def test_missing_optionals_round_trip_as_none(store: Store, tenant: str) -> None:
    original = invoice(tenant)
    save(store, original)

    stored = load(store, tenant, original.id)

    assert stored == original
    assert stored is not None
    assert stored.draft.buyer_email is None
    assert stored.funding_target_stroops is None
    assert stored.draft.metadata == {}


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("0.01", "USD"),
        ("1250.00", "EUR"),
        ("999999999999999999.99", "USD"),
        ("123456789012345678", "JPY"),
        ("0.001", "KWD"),
        ("0.0001", "CLF"),
    ],
)
def test_money_round_trips_exactly(store: Store, tenant: str, amount: str, currency: str) -> None:
    original = invoice(tenant, amount=money(amount, currency))
    save(store, original)

    stored = load(store, tenant, original.id)

    assert stored is not None
    assert str(stored.draft.amount) == amount
    assert stored.draft.amount.amount.as_tuple() == original.draft.amount.amount.as_tuple()
    assert stored.draft.amount.currency == currency


def test_timestamps_keep_their_instant_and_stay_aware(store: Store, tenant: str) -> None:
    ahead_of_utc = timezone(timedelta(hours=5, minutes=30))
    original = invoice(
        tenant,
        created_at=T0.astimezone(ahead_of_utc),
        updated_at=T0 + timedelta(microseconds=1),
    )
    save(store, original)

    stored = load(store, tenant, original.id)

    assert stored is not None
    assert stored.created_at == T0
    assert stored.created_at.utcoffset() is not None
    assert stored.updated_at - stored.created_at == timedelta(microseconds=1)


def test_unknown_id_reads_as_none(store: Store, tenant: str) -> None:
    assert load(store, tenant, new_invoice_id()) is None


def test_another_tenants_invoice_reads_as_none(store: Store, tenant: str) -> None:
    theirs = invoice(new_tenant())
    save(store, theirs)

    assert load(store, tenant, theirs.id) is None


def test_unit_refuses_to_touch_another_tenant(store: Store, tenant: str) -> None:
    other = new_tenant()
    theirs = invoice(other)
    with store.unit_of_work(tenant) as uow:
        with pytest.raises(PermissionError):
            uow.invoices.add(theirs)
        with pytest.raises(PermissionError):
            uow.invoices.get(other, theirs.id)
        with pytest.raises(PermissionError):
            uow.invoices.update(theirs, 1)
        with pytest.raises(PermissionError):
            uow.invoices.list(InvoiceQuery(other))
        with pytest.raises(PermissionError):
            uow.invoices.add_transition(transition(theirs, 1))
        with pytest.raises(PermissionError):
            uow.invoices.history(other, theirs.id)


def test_soft_deleted_invoice_is_hidden(store: Store, tenant: str) -> None:
    kept, deleted = invoice(tenant), invoice(tenant)
    save(store, kept, deleted)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.update(attrs.evolve(deleted, deleted_at=T0, version=2), 1)
        uow.commit()

    page = listing(store, InvoiceQuery(tenant))

    assert load(store, tenant, deleted.id) is None
    assert [item.id for item in page.items] == [kept.id]
    assert page.total == 1


def test_adding_an_existing_id_conflicts(store: Store, tenant: str) -> None:
    original = invoice(tenant)
    save(store, original)

    with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as raised:
        uow.invoices.add(invoice(tenant, id=original.id))

    assert raised.value.code == "DUPLICATE_INVOICE_ID"
    assert raised.value.message == f"Invoice '{original.id}' already exists."
    assert load(store, tenant, original.id) == original


# ---- invoice numbers ------------------------------------------------------------------------


def test_duplicate_invoice_number_conflicts(store: Store, tenant: str) -> None:
    first = invoice(tenant)
    save(store, first)

    with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as raised:
        uow.invoices.add(invoice(tenant, invoice_number=first.draft.invoice_number))

    assert raised.value.code == "DUPLICATE_INVOICE_NUMBER"
    assert raised.value.message == f"Invoice number '{first.draft.invoice_number}' is already used."


def test_number_is_free_again_after_soft_delete(store: Store, tenant: str) -> None:
    first = invoice(tenant)
    save(store, first)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.update(attrs.evolve(first, deleted_at=T0, version=2), 1)
        uow.commit()
    second = invoice(tenant, invoice_number=first.draft.invoice_number)

    save(store, second)

    assert load(store, tenant, second.id) == second


def test_same_number_is_allowed_in_another_tenant(store: Store, tenant: str) -> None:
    first = invoice(tenant)
    save(store, first)
    elsewhere = invoice(new_tenant(), invoice_number=first.draft.invoice_number)

    save(store, elsewhere)

    assert load(store, elsewhere.tenant_id, elsewhere.id) == elsewhere


def test_update_to_a_taken_number_conflicts(store: Store, tenant: str) -> None:
    first, second = invoice(tenant), invoice(tenant)
    save(store, first, second)
    renumbered = attrs.evolve(
        second,
        draft=attrs.evolve(second.draft, invoice_number=first.draft.invoice_number),
        version=2,
    )

    with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as raised:
        uow.invoices.update(renumbered, 1)

    assert raised.value.code == "DUPLICATE_INVOICE_NUMBER"
    assert raised.value.message == f"Invoice number '{first.draft.invoice_number}' is already used."


# ---- update ---------------------------------------------------------------------------------


def test_update_replaces_the_stored_invoice(store: Store, tenant: str) -> None:
    original = invoice(tenant)
    save(store, original)
    changed = attrs.evolve(
        full_invoice(tenant), id=original.id, version=2, created_at=original.created_at
    )

    with store.unit_of_work(tenant) as uow:
        uow.invoices.update(changed, expected_version=1)
        uow.commit()

    assert load(store, tenant, original.id) == changed


@pytest.mark.parametrize("wrong_version", [1, 3])
def test_update_with_a_stale_version_fails(store: Store, tenant: str, wrong_version: int) -> None:
    original = invoice(tenant, version=2)
    save(store, original)

    with store.unit_of_work(tenant) as uow, pytest.raises(StaleVersion) as raised:
        uow.invoices.update(attrs.evolve(original, version=wrong_version + 1), wrong_version)

    assert raised.value.code == "PRECONDITION_FAILED"
    assert raised.value.message == STALE_MESSAGE
    assert load(store, tenant, original.id) == original


def test_update_of_unknown_or_deleted_invoice_is_stale(store: Store, tenant: str) -> None:
    deleted = invoice(tenant, deleted_at=T0)
    save(store, deleted)

    with store.unit_of_work(tenant) as uow:
        with pytest.raises(StaleVersion, match=STALE_MESSAGE):
            uow.invoices.update(attrs.evolve(deleted, deleted_at=None, version=2), 1)
        with pytest.raises(StaleVersion, match=STALE_MESSAGE):
            uow.invoices.update(invoice(tenant, version=2), 1)


# ---- list -----------------------------------------------------------------------------------


def _at(minutes: int) -> dict[str, object]:
    return {"created_at": T0 + timedelta(minutes=minutes), "updated_at": T0}


def test_list_is_newest_first_then_by_id(store: Store, tenant: str) -> None:
    oldest = invoice(tenant, **_at(0))
    tied = sorted([invoice(tenant, **_at(5)), invoice(tenant, **_at(5))], key=lambda i: i.id)
    newest = invoice(tenant, **_at(9))
    save(store, tied[0], newest, oldest, tied[1])

    page = listing(store, InvoiceQuery(tenant))

    assert [item.id for item in page.items] == [newest.id, tied[1].id, tied[0].id, oldest.id]
    assert page.total == 4


def test_list_pages_with_limit_and_offset(store: Store, tenant: str) -> None:
    invoices = [invoice(tenant, **_at(minute)) for minute in range(5)]
    save(store, *invoices)
    newest_first = [each.id for each in reversed(invoices)]

    middle = listing(store, InvoiceQuery(tenant, limit=2, offset=1))
    past_the_end = listing(store, InvoiceQuery(tenant, limit=2, offset=5))

    assert [item.id for item in middle.items] == newest_first[1:3]
    assert middle.total == 5
    assert past_the_end.items == []
    assert past_the_end.total == 5


def test_list_filters_by_status_and_sme(store: Store, tenant: str) -> None:
    approved_a = invoice(tenant, sme_id="sme-a", status=InvoiceStatus.APPROVED, **_at(1))
    pending_a = invoice(tenant, sme_id="sme-a", **_at(2))
    funded_b = invoice(tenant, sme_id="sme-b", status=InvoiceStatus.FUNDED, **_at(3))
    save(store, approved_a, pending_a, funded_b)
    investable = frozenset({InvoiceStatus.APPROVED, InvoiceStatus.FUNDED})

    def ids(query: InvoiceQuery) -> list[str]:
        page = listing(store, query)
        assert page.total == len(page.items)
        return [item.id for item in page.items]

    assert ids(InvoiceQuery(tenant, statuses=investable)) == [funded_b.id, approved_a.id]
    assert ids(InvoiceQuery(tenant, sme_id="sme-a")) == [pending_a.id, approved_a.id]
    assert ids(InvoiceQuery(tenant, statuses=investable, sme_id="sme-a")) == [approved_a.id]
    assert ids(InvoiceQuery(tenant, statuses=frozenset({InvoiceStatus.SETTLED}))) == []


def test_list_sees_only_its_tenant(store: Store, tenant: str) -> None:
    mine = invoice(tenant)
    save(store, mine, invoice(tenant, deleted_at=T0))
    save(store, invoice(new_tenant()))

    page = listing(store, InvoiceQuery(tenant))

    assert [item.id for item in page.items] == [mine.id]
    assert page.total == 1


# ---- history --------------------------------------------------------------------------------


def _saved_with_history(store: Store, tenant: str, sequences: list[int]) -> Invoice:
    subject = invoice(tenant)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.add(subject)
        for sequence in sequences:
            uow.invoices.add_transition(transition(subject, sequence, reason=f"step {sequence}"))
        uow.commit()
    return subject


def test_history_round_trips_in_sequence_order(store: Store, tenant: str) -> None:
    subject = invoice(tenant)
    creation = transition(subject, 1, from_status=None, to_status=InvoiceStatus.PENDING)
    approval = transition(subject, 2)
    cancel = transition(
        subject,
        3,
        from_status=InvoiceStatus.APPROVED,
        to_status=InvoiceStatus.CANCELLED,
        reason="Buyer withdrew — ünïcode",
    )
    with store.unit_of_work(tenant) as uow:
        uow.invoices.add(subject)
        for step in (creation, cancel, approval):
            uow.invoices.add_transition(step)
        uow.commit()

    with store.unit_of_work(tenant) as uow:
        history = uow.invoices.history(tenant, subject.id)

    assert list(history) == [creation, approval, cancel]
    assert history[0].at.tzinfo is not None
    assert history[0].at.astimezone(UTC) == creation.at


def test_history_belongs_to_one_invoice(store: Store, tenant: str) -> None:
    _saved_with_history(store, tenant, [1, 2])
    quiet = _saved_with_history(store, tenant, [])

    with store.unit_of_work(tenant) as uow:
        assert list(uow.invoices.history(tenant, quiet.id)) == []
        assert list(uow.invoices.history(tenant, new_invoice_id())) == []


def test_duplicate_sequence_conflicts(store: Store, tenant: str) -> None:
    subject = _saved_with_history(store, tenant, [1, 2])

    with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as raised:
        uow.invoices.add_transition(transition(subject, 2))

    assert raised.value.code == "CONCURRENT_UPDATE"
    assert raised.value.message == "This history step was already recorded."


def test_transition_of_unknown_invoice_is_refused(store: Store, tenant: str) -> None:
    ghost = invoice(tenant)

    with store.unit_of_work(tenant) as uow, pytest.raises(NotFound) as raised:
        uow.invoices.add_transition(transition(ghost, 1))

    assert raised.value.code == "NOT_FOUND"
    assert raised.value.message == f"Invoice '{ghost.id}' was not found."
