"""The UnitOfWork and Store contract, run against every store in STORE_FACTORIES."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import attrs
import pytest

from liquifact_core.errors import Conflict
from liquifact_core.ports import InvoiceQuery, Store

from .contract_support import audit_event, invoice, load, save, transition


class _BoomError(Exception):
    pass


def test_committed_work_is_visible_to_a_new_unit(store: Store, tenant: str) -> None:
    subject = invoice(tenant)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.add(subject)
        uow.invoices.add_transition(transition(subject, 1))
        uow.audit.append(audit_event(tenant, subject.id))
        uow.commit()

    with store.unit_of_work(tenant) as uow:
        assert uow.invoices.get(tenant, subject.id) == subject
        assert len(uow.invoices.history(tenant, subject.id)) == 1
        assert len(uow.audit.for_resource(tenant, "invoice", subject.id)) == 1


def test_uncommitted_work_is_rolled_back(store: Store, tenant: str) -> None:
    subject = invoice(tenant)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.add(subject)
        uow.invoices.add_transition(transition(subject, 1))
        uow.audit.append(audit_event(tenant, subject.id))

    with store.unit_of_work(tenant) as uow:
        assert uow.invoices.get(tenant, subject.id) is None
        assert list(uow.invoices.history(tenant, subject.id)) == []
        assert list(uow.audit.for_resource(tenant, "invoice", subject.id)) == []


def test_exception_inside_the_block_rolls_back_and_propagates(store: Store, tenant: str) -> None:
    subject = invoice(tenant)

    def fail_midway() -> None:
        with store.unit_of_work(tenant) as uow:
            uow.invoices.add(subject)
            raise _BoomError

    with pytest.raises(_BoomError):
        fail_midway()

    assert load(store, tenant, subject.id) is None


def test_a_unit_sees_its_own_uncommitted_writes(store: Store, tenant: str) -> None:
    subject = invoice(tenant)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.add(subject)
        seen = uow.invoices.get(tenant, subject.id)
        total = uow.invoices.list(InvoiceQuery(tenant)).total

    assert seen == subject
    assert total == 1


def test_work_after_commit_needs_its_own_commit(store: Store, tenant: str) -> None:
    kept, dropped = invoice(tenant), invoice(tenant)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.add(kept)
        uow.commit()
        uow.invoices.add(dropped)

    assert load(store, tenant, kept.id) == kept
    assert load(store, tenant, dropped.id) is None


def test_commit_twice_publishes_both_parts(store: Store, tenant: str) -> None:
    first, second = invoice(tenant), invoice(tenant)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.add(first)
        uow.commit()
        uow.invoices.add(second)
        uow.commit()

    assert load(store, tenant, first.id) == first
    assert load(store, tenant, second.id) == second


def test_a_refused_write_keeps_the_rest_of_the_unit(store: Store, tenant: str) -> None:
    first = invoice(tenant)
    clash = invoice(tenant, invoice_number=first.draft.invoice_number)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.add(first)
        with pytest.raises(Conflict):
            uow.invoices.add(clash)
        uow.commit()

    assert load(store, tenant, first.id) == first
    assert load(store, tenant, clash.id) is None


def test_concurrent_units_never_lose_an_update(store: Store, tenant: str) -> None:
    counter = invoice(tenant)
    save(store, counter)
    workers, rounds = 4, 10

    def bump() -> None:
        for _ in range(rounds):
            with store.unit_of_work(tenant) as uow:
                current = uow.invoices.get(tenant, counter.id)
                assert current is not None
                bumped = attrs.evolve(current, version=current.version + 1)
                uow.invoices.update(bumped, current.version)
                uow.commit()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(bump) for _ in range(workers)]:
            future.result()

    final = load(store, tenant, counter.id)
    assert final is not None
    assert final.version == 1 + workers * rounds


def test_ping_answers_while_the_store_is_open(store: Store, tenant: str) -> None:
    store.ping()

    assert load(store, tenant, invoice(tenant).id) is None
