"""How every store answers ``meta.total`` without counting rows (migration 0016): unfiltered
and status-only totals from maintained counters; a filtered marketplace total counted once
per (tenant, filter set, generation), reused by every page and cursor of that filter set, and
dropped by the next change to the tenant's investable invoices or SME profiles; units of work
always count afresh."""

from __future__ import annotations

from datetime import timedelta

import attrs

from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.marketplace import (
    Keyset,
    MarketplaceFilters,
    MarketplaceQuery,
    SortOrder,
    maintained_statuses,
    sort_value,
)
from liquifact_core.ports import InvoiceQuery, Store
from liquifact_core.profiles import SmeProfile
from liquifact_core.search import fold

from .contract_support import T0, invoice, save
from .market_support import listed

YIELDING = MarketplaceFilters(yield_bps_min=400)
CHAIN = Actor("indexer", Role.CHAIN)


def _market_total(store: Store, query: MarketplaceQuery) -> int | None:
    with store.read_unit(query.tenant_id) as uow:
        return uow.invoices.marketplace(query).total


def _poison(store: Store, tenant: str, filters: MarketplaceFilters, total: int) -> None:
    """Replace the remembered total of ``filters`` (at its generation) with ``total``: a read
    that answers it did not count."""
    entry = store.totals.entry(tenant, filters.canonical())  # type: ignore[attr-defined]
    assert entry is not None
    store.totals.put(tenant, filters.canonical(), entry[0], total)  # type: ignore[attr-defined]


def test_a_filtered_total_is_counted_once_and_reused_by_every_page_and_cursor(
    store: Store, tenant: str
) -> None:
    rows = [listed(tenant, yield_bps=500, created_at=T0 + timedelta(seconds=n)) for n in range(5)]
    save(store, *rows, listed(tenant, yield_bps=100))
    query = MarketplaceQuery(tenant, YIELDING, limit=2)
    assert _market_total(store, query) == 5

    _poison(store, tenant, YIELDING, 42)
    assert _market_total(store, query) == 42
    assert _market_total(store, attrs.evolve(query, offset=2)) == 42
    with store.read_unit(tenant) as uow:
        first = uow.invoices.marketplace(query)
        last = first.items[-1].invoice
        after = Keyset(sort_value(last, query.sort), last.id)
        assert uow.invoices.marketplace(attrs.evolve(query, after=after)).total == 42
    # Another sort of the same filters shares the count: the total ignores the order.
    assert _market_total(store, attrs.evolve(query, order=SortOrder.ASC)) == 42


def test_a_change_to_an_investable_invoice_drops_the_filtered_total(
    store: Store, tenant: str
) -> None:
    row = listed(tenant, yield_bps=500, target=1000)
    save(store, row, listed(tenant, yield_bps=500))
    query = MarketplaceQuery(tenant, YIELDING)
    assert _market_total(store, query) == 2
    _poison(store, tenant, YIELDING, 42)

    funded, _step = row.record_funding(1000, CHAIN, T0 + timedelta(hours=1))  # leaves the market
    with store.unit_of_work(tenant) as uow:
        uow.invoices.update(funded, row.version)
        uow.commit()
    assert _market_total(store, query) == 1


def test_a_change_outside_the_marketplace_keeps_the_filtered_total(
    store: Store, tenant: str
) -> None:
    pending = invoice(tenant)
    save(store, pending, listed(tenant, yield_bps=500))
    query = MarketplaceQuery(tenant, YIELDING)
    assert _market_total(store, query) == 1
    _poison(store, tenant, YIELDING, 42)

    approved = attrs.evolve(pending, status=InvoiceStatus.APPROVED, version=2)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.update(approved, pending.version)
        uow.commit()
    assert _market_total(store, query) == 42  # still that generation: nothing listed changed


def test_a_profile_change_drops_a_name_search_total(store: Store, tenant: str) -> None:
    save(store, listed(tenant, sme_id="sme-1", buyer_name="Zeta GmbH"))
    searching = MarketplaceFilters(search=fold("nordwind"))
    query = MarketplaceQuery(tenant, searching)
    assert _market_total(store, query) == 0

    with store.unit_of_work(tenant) as uow:
        uow.profiles.upsert(SmeProfile(tenant, "sme-1", "Nordwind Handel", "DE", T0))
        uow.commit()
    assert _market_total(store, query) == 1


def test_units_of_work_count_afresh(store: Store, tenant: str) -> None:
    save(store, listed(tenant, yield_bps=500))
    query = MarketplaceQuery(tenant, YIELDING)
    assert _market_total(store, query) == 1
    _poison(store, tenant, YIELDING, 42)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.add(listed(tenant, yield_bps=900))
        # Its own uncommitted invoice counts; the remembered total is not consulted.
        assert uow.invoices.marketplace(query).total == 2
        assert uow.invoices.list(InvoiceQuery(tenant)).total == 2


def test_unfiltered_and_status_totals_come_from_the_counters(store: Store, tenant: str) -> None:
    save(
        store,
        listed(tenant),
        listed(tenant, funded=10),
        listed(tenant, funded=20, sme_id="sme-2"),
        invoice(tenant),
        invoice(tenant, deleted_at=T0),
    )
    expectations = {
        MarketplaceFilters(): 3,
        MarketplaceFilters(statuses=frozenset({InvoiceStatus.PARTIALLY_FUNDED})): 2,
        MarketplaceFilters(statuses=frozenset({InvoiceStatus.PENDING})): 0,
    }
    for filters, total in expectations.items():
        assert maintained_statuses(filters) is not None
        assert _market_total(store, MarketplaceQuery(tenant, filters)) == total
        assert store.totals.entry(tenant, filters.canonical()) is None  # type: ignore[attr-defined]
    with store.read_unit(tenant) as uow:
        assert uow.invoices.list(InvoiceQuery(tenant)).total == 4
        assert uow.invoices.list(InvoiceQuery(tenant, sme_id="sme-2")).total == 1
        pending = frozenset({InvoiceStatus.PENDING})
        assert uow.invoices.list(InvoiceQuery(tenant, pending, "sme-1")).total == 1
        assert uow.invoices.list(InvoiceQuery(tenant, sme_id="nobody")).total == 0


def test_only_statuses_make_a_search_countable_from_the_counters() -> None:
    assert maintained_statuses(MarketplaceFilters()) == frozenset(
        {InvoiceStatus.LINKED_ESCROW, InvoiceStatus.PARTIALLY_FUNDED}
    )
    linked = frozenset({InvoiceStatus.LINKED_ESCROW})
    assert maintained_statuses(MarketplaceFilters(statuses=linked)) == linked
    assert maintained_statuses(MarketplaceFilters(statuses=frozenset({InvoiceStatus.FUNDED}))) == (
        frozenset()
    )
    assert maintained_statuses(MarketplaceFilters(statuses=linked, currency="EUR")) is None
    assert maintained_statuses(MarketplaceFilters(search="acme")) is None
