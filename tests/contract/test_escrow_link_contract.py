"""One escrow contract links to at most one invoice, in every store (migration 0005 in the SQL
stores, the same rule in the in-memory one): the contract holds a single invoice id on chain,
and the chain is global, so the rule spans tenants. Each store raises the core's one error
(``errors.escrow_already_linked``), writes nothing, and names no other invoice or tenant."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import attrs
import pytest

from liquifact_adapters.system import RandomIdGenerator, SystemClock
from liquifact_core import errors
from liquifact_core.addresses import ContractAddress
from liquifact_core.amounts import Stroops
from liquifact_core.errors import Conflict, InvalidTransition, LiquifactError
from liquifact_core.invoices import Actor, EscrowLink, Invoice
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.ports import Store, UnitOfWork
from liquifact_core.services import Services
from tests.factories import contract_address

from .contract_support import invoice, load, new_tenant, save
from .market_support import listed

ADMIN = Actor("admin-1", Role.ADMIN)
SME = Actor("sme-1", Role.SME)
TARGET = Stroops(5_000_000)


def refused(store: Store, tenant: str, action: Callable[[UnitOfWork], object]) -> LiquifactError:
    with store.unit_of_work(tenant) as uow, pytest.raises(LiquifactError) as raised:
        action(uow)
    return raised.value


def assert_escrow_already_linked(error: LiquifactError) -> None:
    expected = errors.escrow_already_linked()
    assert type(error) is Conflict
    assert (error.code, error.message) == ("ESCROW_ALREADY_LINKED", expected.message)


def linked_copy(approved: Invoice, escrow: str) -> Invoice:
    """``approved`` after an operator linked it to ``escrow`` (what ``move_to`` writes)."""
    return attrs.evolve(
        approved,
        status=InvoiceStatus.LINKED_ESCROW,
        version=approved.version + 1,
        escrow_address=escrow,
        funding_target_stroops=TARGET.value,
    )


# ---- the store rule ----------------------------------------------------------------------------


@pytest.mark.parametrize("same_tenant", [True, False], ids=["same tenant", "other tenant"])
def test_linking_a_contract_another_invoice_holds_conflicts(
    store: Store, tenant: str, same_tenant: bool
) -> None:
    holder = listed(tenant)
    other_tenant = tenant if same_tenant else new_tenant()
    candidate = invoice(other_tenant, status=InvoiceStatus.APPROVED, version=2)
    save(store, holder)
    save(store, candidate)

    error = refused(
        store,
        other_tenant,
        lambda uow: uow.invoices.update(linked_copy(candidate, holder.escrow_address or ""), 2),
    )

    assert_escrow_already_linked(error)
    assert holder.id not in error.message and tenant not in error.message
    assert load(store, other_tenant, candidate.id) == candidate
    assert load(store, tenant, holder.id) == holder


@pytest.mark.parametrize("same_tenant", [True, False], ids=["same tenant", "other tenant"])
def test_adding_an_invoice_with_a_linked_contract_conflicts(
    store: Store, tenant: str, same_tenant: bool
) -> None:
    holder = listed(tenant)
    save(store, holder)
    other_tenant = tenant if same_tenant else new_tenant()
    copy = listed(other_tenant, escrow_address=holder.escrow_address)

    assert_escrow_already_linked(refused(store, other_tenant, lambda uow: uow.invoices.add(copy)))
    assert load(store, other_tenant, copy.id) is None


def test_an_invoice_keeps_its_own_contract_through_updates(store: Store, tenant: str) -> None:
    holder = listed(tenant)
    save(store, holder)
    funded = attrs.evolve(
        holder, status=InvoiceStatus.PARTIALLY_FUNDED, funded_stroops=10, version=holder.version + 1
    )

    with store.unit_of_work(tenant) as uow:
        uow.invoices.update(funded, holder.version)
        uow.commit()

    assert load(store, tenant, holder.id) == funded


def test_distinct_contracts_and_unlinked_invoices_never_clash(store: Store, tenant: str) -> None:
    # NULL is no contract: any number of invoices may be unlinked.
    unlinked = [invoice(tenant), invoice(tenant), invoice(new_tenant())]
    linked = [listed(tenant), listed(tenant), listed(new_tenant())]
    for each in [*unlinked, *linked]:
        save(store, each)
    for each in [*unlinked, *linked]:
        assert load(store, each.tenant_id, each.id) == each


def test_the_conflict_leaves_the_unit_usable(store: Store, tenant: str) -> None:
    holder = listed(tenant)
    candidate = invoice(tenant, status=InvoiceStatus.APPROVED, version=2)
    save(store, holder, candidate)
    own = contract_address()

    with store.unit_of_work(tenant) as uow:
        with pytest.raises(Conflict):
            uow.invoices.update(linked_copy(candidate, holder.escrow_address or ""), 2)
        uow.invoices.update(linked_copy(candidate, own), 2)
        uow.commit()

    stored = load(store, tenant, candidate.id)
    assert stored is not None and stored.escrow_address == own


# ---- through the use case ----------------------------------------------------------------------


def services_over(store: Store) -> Services:
    # Random ids: the PostgreSQL session database is shared, and audit event ids are global.
    return Services.from_ports(store, SystemClock(), RandomIdGenerator())


def approved(services: Services, tenant: str) -> Invoice:
    submitted = services.invoices.submit(tenant, SME, invoice(tenant).draft)
    return services.invoices.approve(tenant, ADMIN, submitted.id)


def link(escrow: str) -> EscrowLink:
    return EscrowLink(ContractAddress(escrow), TARGET)


@pytest.mark.parametrize("same_tenant", [True, False], ids=["same tenant", "other tenant"])
def test_link_escrow_refuses_a_contract_of_another_invoice_and_writes_nothing(
    store: Store, same_tenant: bool
) -> None:
    services = services_over(store)
    tenant_a = new_tenant()
    tenant_b = tenant_a if same_tenant else new_tenant()
    escrow = contract_address()
    services.invoices.link_escrow(tenant_a, ADMIN, approved(services, tenant_a).id, link(escrow))
    candidate = approved(services, tenant_b)
    history = services.invoices.history(tenant_b, ADMIN, candidate.id)
    with store.unit_of_work(tenant_b) as uow:
        audit = uow.audit.for_resource(tenant_b, "invoice", candidate.id)

    with pytest.raises(LiquifactError) as raised:
        services.invoices.link_escrow(tenant_b, ADMIN, candidate.id, link(escrow))

    assert_escrow_already_linked(raised.value)
    assert services.invoices.get(tenant_b, ADMIN, candidate.id) == candidate
    assert services.invoices.history(tenant_b, ADMIN, candidate.id) == history
    with store.unit_of_work(tenant_b) as uow:
        assert uow.audit.for_resource(tenant_b, "invoice", candidate.id) == audit


def test_relinking_an_invoice_to_its_own_contract_is_still_an_invalid_transition(
    store: Store, tenant: str
) -> None:
    services = services_over(store)
    subject = approved(services, tenant)
    escrow = contract_address()
    linked = services.invoices.link_escrow(tenant, ADMIN, subject.id, link(escrow))

    with pytest.raises(InvalidTransition):
        services.invoices.link_escrow(tenant, ADMIN, subject.id, link(escrow))

    assert services.invoices.get(tenant, ADMIN, subject.id) == linked


def race_links(services: Services, subjects: list[Invoice], escrow: str) -> list[object]:
    """Link each subject to ``escrow`` at the same moment, one thread each; each result or
    raised domain error, in the order of ``subjects``."""
    barrier = threading.Barrier(len(subjects))

    def run(subject: Invoice) -> object:
        barrier.wait()
        try:
            return services.invoices.link_escrow(subject.tenant_id, ADMIN, subject.id, link(escrow))
        except LiquifactError as error:
            return error

    with ThreadPoolExecutor(max_workers=len(subjects)) as pool:
        return list(pool.map(run, subjects))


def test_racing_links_of_one_contract_let_exactly_one_win(store: Store) -> None:
    """Two operators link two invoices (of two tenants) to one contract at the same moment.
    Each unit locks only its own invoice row, so only the store's unique index can stop the
    second; on PostgreSQL it waits for the first to commit, then refuses."""
    services = services_over(store)
    for _ in range(5):
        subjects = [approved(services, new_tenant()) for _ in range(2)]

        outcomes = race_links(services, subjects, contract_address())

        winners = [o for o in outcomes if isinstance(o, Invoice)]
        losers = [o for o in outcomes if isinstance(o, LiquifactError)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        assert_escrow_already_linked(losers[0])
        loser = subjects[outcomes.index(losers[0])]
        assert services.invoices.get(loser.tenant_id, ADMIN, loser.id) == loser
