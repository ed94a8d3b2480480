"""Every store raises the same error, code AND message, for the same fault (issue 8: the
messages come from one factory per error in liquifact_core.errors), and the invoice-number
rule of issue 9 (unique per tenant and SME, compared in canonical form) holds on each."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest

from liquifact_core import errors
from liquifact_core.errors import LiquifactError
from liquifact_core.idempotency import ErrorKind, RecordedError, RecordedOutcome, claim_lost
from liquifact_core.ports import Store, UnitOfWork

from .contract_support import audit_event, invoice, load, save, transition
from .market_support import commitment, listed


def refused(store: Store, tenant: str, action: Callable[[UnitOfWork], object]) -> LiquifactError:
    with store.unit_of_work(tenant) as uow, pytest.raises(LiquifactError) as raised:
        action(uow)
    return raised.value


def assert_same(actual: LiquifactError, expected: LiquifactError) -> None:
    assert type(actual) is type(expected)
    assert (actual.code, actual.message) == (expected.code, expected.message)


def test_invoice_errors_are_worded_alike(store: Store, tenant: str) -> None:
    first = invoice(tenant)
    save(store, first)
    ghost = invoice(tenant)

    assert_same(
        refused(store, tenant, lambda uow: uow.invoices.add(invoice(tenant, id=first.id))),
        errors.duplicate_invoice_id(first.id),
    )
    assert_same(
        refused(store, tenant, lambda uow: uow.invoices.update(attrs.evolve(first, version=3), 2)),
        errors.stale_invoice(),
    )
    assert_same(
        refused(store, tenant, lambda uow: uow.invoices.update(ghost, 1)),
        errors.stale_invoice(),
    )
    assert_same(
        refused(store, tenant, lambda uow: uow.invoices.add_transition(transition(ghost, 1))),
        errors.invoice_not_found(ghost.id),
    )


def test_audit_and_funding_errors_are_worded_alike(store: Store, tenant: str) -> None:
    target = listed(tenant)
    save(store, target)
    event = audit_event(tenant, target.id)
    first = commitment(target)
    with store.unit_of_work(tenant) as uow:
        uow.audit.append(event)
        uow.commitments.add(first)
        uow.commit()
    orphan = commitment(listed(tenant))

    assert_same(
        refused(store, tenant, lambda uow: uow.audit.append(event)),
        errors.duplicate_audit_event(event.id),
    )
    duplicate = attrs.evolve(first)
    assert_same(
        refused(store, tenant, lambda uow: uow.commitments.add(duplicate)),
        errors.duplicate_commitment(),
    )
    assert_same(
        refused(store, tenant, lambda uow: uow.commitments.add(orphan)),
        errors.invoice_not_found(orphan.invoice_id),
    )
    assert_same(
        refused(store, tenant, lambda uow: uow.commitments.update(orphan)),
        errors.commitment_not_found(orphan.id),
    )
    response = RecordedOutcome(error=RecordedError(ErrorKind.NOT_FOUND, "NOT_FOUND", "gone"))
    assert_same(
        refused(
            store,
            tenant,
            lambda uow: uow.idempotency.complete(tenant, "key-none0000", "c", response),
        ),
        claim_lost(),
    )


# ---- invoice numbers: unique per (tenant, SME), in canonical form ----------------------------


def fullwidth(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


LOOK_ALIKES = ["inv-6b0f0", "Inv-6B0f0", fullwidth("INV-6B0F0"), " INV-6B0F0 ", "INV-6B0F0"]


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_look_alike_numbers_of_one_sme_are_duplicates(
    store: Store, tenant: str, look_alike: str
) -> None:
    save(store, invoice(tenant, sme_id="sme-a", invoice_number="INV-6B0F0"))
    # The draft holds the number as its rule accepted it (a padded one trimmed).
    candidate = invoice(tenant, sme_id="sme-a", invoice_number=look_alike)

    error = refused(store, tenant, lambda uow: uow.invoices.add(candidate))

    # The message names only the number the caller sent, nothing of the stored invoice.
    assert_same(error, errors.duplicate_invoice_number(candidate.draft.invoice_number))


def test_renumbering_to_a_look_alike_conflicts(store: Store, tenant: str) -> None:
    first = invoice(tenant, sme_id="sme-a", invoice_number="INV-6B0F0")
    second = invoice(tenant, sme_id="sme-a", invoice_number="INV-7")
    save(store, first, second)
    renumbered = attrs.evolve(
        second, draft=attrs.evolve(second.draft, invoice_number="inv-6b0f0"), version=2
    )

    error = refused(store, tenant, lambda uow: uow.invoices.update(renumbered, 1))

    assert_same(error, errors.duplicate_invoice_number("inv-6b0f0"))


def test_two_smes_of_a_tenant_may_use_the_same_number(store: Store, tenant: str) -> None:
    mine = invoice(tenant, sme_id="sme-a", invoice_number="INV-001")
    theirs = invoice(tenant, sme_id="sme-b", invoice_number="INV-001")
    look_alike = invoice(tenant, sme_id="sme-c", invoice_number="inv-001")

    save(store, mine)
    save(store, theirs)
    save(store, look_alike)

    for each in (mine, theirs, look_alike):
        assert load(store, tenant, each.id) == each


def test_renumbering_to_another_smes_number_is_allowed(store: Store, tenant: str) -> None:
    mine = invoice(tenant, sme_id="sme-a", invoice_number="INV-A")
    theirs = invoice(tenant, sme_id="sme-b", invoice_number="INV-B")
    save(store, mine, theirs)
    renumbered = attrs.evolve(
        mine, draft=attrs.evolve(mine.draft, invoice_number="inv-b"), version=2
    )

    with store.unit_of_work(tenant) as uow:
        uow.invoices.update(renumbered, 1)
        uow.commit()

    assert load(store, tenant, mine.id) == renumbered


def test_keeping_ones_own_number_in_another_case_is_allowed(store: Store, tenant: str) -> None:
    mine = invoice(tenant, sme_id="sme-a", invoice_number="INV-A")
    save(store, mine)
    recased = attrs.evolve(mine, draft=attrs.evolve(mine.draft, invoice_number="inv-a"), version=2)

    with store.unit_of_work(tenant) as uow:
        uow.invoices.update(recased, 1)
        uow.commit()

    assert load(store, tenant, mine.id) == recased
