"""InvoiceRepository.marketplace and status_totals, against every store."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import attrs
import pytest

from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.marketplace import (
    Keyset,
    MarketplaceFilters,
    MarketplaceQuery,
    SortField,
    SortOrder,
    ordering_key,
    page_in_memory,
    sort_value,
)
from liquifact_core.ports import Store

from .contract_support import T0, invoice, money, save
from .market_support import listed, varied


def _page(store: Store, query: MarketplaceQuery):  # type: ignore[no-untyped-def]
    with store.unit_of_work(query.tenant_id) as uow:
        return uow.invoices.marketplace(query)


def test_only_live_investable_invoices_of_the_tenant_are_listed(store: Store, tenant: str) -> None:
    linked = listed(tenant)
    partial = listed(tenant, funded=10)
    others = [
        invoice(tenant),
        listed(tenant, funded=1000, status=InvoiceStatus.FUNDED),
        listed(tenant, status=InvoiceStatus.CANCELLED),
        listed(tenant, deleted_at=T0),
    ]
    save(store, linked, partial, *others)
    save(store, listed(tenant + "-other"))

    page = _page(store, MarketplaceQuery(tenant, limit=10))

    assert {item.id for item in page.invoices} == {linked.id, partial.id}
    assert page.total == 2
    assert page.has_more is False


@pytest.mark.parametrize("sort", list(SortField))
@pytest.mark.parametrize("order", list(SortOrder))
def test_order_ties_and_keyset_agree_with_the_reference(
    store: Store, tenant: str, sort: SortField, order: SortOrder
) -> None:
    rows = [varied(tenant, n) for n in range(14)]
    save(store, *rows)
    seen = []
    after = None
    while True:
        query = MarketplaceQuery(tenant, sort=sort, order=order, limit=4, after=after)
        page = _page(store, query)
        assert page == page_in_memory(rows, query)
        seen += page.invoices
        if not page.has_more:
            break
        after = Keyset(sort_value(page.invoices[-1], sort), page.invoices[-1].id)
    expected = sorted(rows, key=lambda i: ordering_key(i, sort), reverse=order is SortOrder.DESC)
    assert [i.id for i in seen] == [i.id for i in expected]


def test_offset_pages_and_totals(store: Store, tenant: str) -> None:
    rows = [varied(tenant, n) for n in range(7)]
    save(store, *rows)
    query = MarketplaceQuery(tenant, sort=SortField.YIELD_BPS, limit=3, offset=6)
    page = _page(store, query)
    assert page == page_in_memory(rows, query)
    assert len(page.items) == 1 and page.total == 7 and not page.has_more
    assert _page(store, attrs.evolve(query, with_total=False)).total is None


FILTERS = {
    "yield": MarketplaceFilters(yield_bps_min=250, yield_bps_max=500),
    "maturity": MarketplaceFilters(maturity_from=date(2026, 6, 2), maturity_to=date(2026, 6, 2)),
    "ratio": MarketplaceFilters(funded_ratio_min=2000, funded_ratio_max=6850),
    "amount": MarketplaceFilters(amount_min=Decimal("150.00001"), amount_max=Decimal("200")),
    "empty range": MarketplaceFilters(amount_min=Decimal("201"), amount_max=Decimal("249.99")),
}


@pytest.mark.parametrize("filters", FILTERS.values(), ids=FILTERS.keys())
def test_filters_are_inclusive_bounds(
    store: Store, tenant: str, filters: MarketplaceFilters
) -> None:
    rows = [varied(tenant, n) for n in range(20)]
    save(store, *rows)
    query = MarketplaceQuery(tenant, filters=filters, limit=100)
    page = _page(store, query)
    assert page == page_in_memory(rows, query)
    assert all(filters.matches(item) for item in page.invoices)


def test_funded_ratio_is_rounded_half_even_like_the_invoice(store: Store, tenant: str) -> None:
    # 1/8 = 12.5% -> 1250 exactly; 1/3 = 33.333% -> 3333; 2/3 -> 6667; overfunded caps at 100.
    rows = [
        listed(tenant, target=8, funded=1),
        listed(tenant, target=3, funded=1),
        listed(tenant, target=3, funded=2),
        listed(tenant, target=20000, funded=1),  # 0.005% rounds to even: 0.00
        listed(tenant, target=10**18, funded=10**18 - 1),  # 99.9999...% -> 100.00
    ]
    save(store, *rows)
    by_ratio = MarketplaceQuery(tenant, sort=SortField.FUNDED_RATIO, order=SortOrder.ASC)
    page = _page(store, by_ratio)
    assert [sort_value(i, SortField.FUNDED_RATIO) for i in page.invoices] == [
        0,
        1250,
        3333,
        6667,
        10000,
    ]
    exact = MarketplaceFilters(funded_ratio_min=1250, funded_ratio_max=1250)
    assert [i.id for i in _page(store, MarketplaceQuery(tenant, filters=exact)).invoices] == [
        rows[0].id
    ]


def test_amounts_sort_numerically_across_magnitudes(store: Store, tenant: str) -> None:
    amounts = ["9.99", "10.00", "100.00", "999999999999999999.99", "0.01", "1234.50"]
    rows = [listed(tenant, amount=money(a)) for a in amounts]
    save(store, *rows)
    query = MarketplaceQuery(tenant, sort=SortField.AMOUNT, order=SortOrder.ASC)
    assert [str(i.draft.amount) for i in _page(store, query).invoices] == sorted(
        amounts, key=Decimal
    )


def test_sort_keys_follow_updates(store: Store, tenant: str) -> None:
    row = listed(tenant, target=1000, funded=0)
    save(store, row)
    with store.unit_of_work(tenant) as uow:
        funded = attrs.evolve(
            row, funded_stroops=500, status=InvoiceStatus.PARTIALLY_FUNDED, version=2
        )
        uow.invoices.update(funded, 1)
        uow.commit()
    half = MarketplaceFilters(funded_ratio_min=5000, funded_ratio_max=5000)
    assert [i.id for i in _page(store, MarketplaceQuery(tenant, filters=half)).invoices] == [row.id]


def test_status_totals_are_exact_and_scoped(store: Store, tenant: str) -> None:
    rows = [
        invoice(tenant, sme_id="sme-a", amount=money("0.10")),
        invoice(tenant, sme_id="sme-a", amount=money("0.20")),
        invoice(tenant, sme_id="sme-a", amount=money("5", "JPY")),
        listed(tenant, sme_id="sme-a", target=10**18, funded=10**18 - 1),
        listed(tenant, sme_id="sme-a", target=10**18, funded=10**18),
        invoice(tenant, sme_id="sme-b", amount=money("7.00")),
        invoice(tenant, sme_id="sme-a", deleted_at=T0),
    ]
    save(store, *rows)
    with store.unit_of_work(tenant) as uow:
        mine = uow.invoices.status_totals(tenant, "sme-a")
        everyone = uow.invoices.status_totals(tenant, None)
    pending_usd = next(t for t in mine if t.status is InvoiceStatus.PENDING and t.currency == "USD")
    assert (pending_usd.count, pending_usd.amount) == (2, Decimal("0.30"))
    partial = next(t for t in mine if t.status is InvoiceStatus.PARTIALLY_FUNDED)
    assert partial.funding_target_stroops == 2 * 10**18
    assert partial.funded_stroops == 2 * 10**18 - 1
    assert sum(t.count for t in mine) == 5
    assert sum(t.count for t in everyone) == 6
    assert [(t.status, t.currency) for t in mine] == sorted((t.status, t.currency) for t in mine)


def test_due_dates_filter_by_calendar_day(store: Store, tenant: str) -> None:
    rows = [listed(tenant, due_date=date(2026, 6, 1) + timedelta(days=d)) for d in range(5)]
    save(store, *rows)
    window = MarketplaceFilters(maturity_from=date(2026, 6, 2), maturity_to=date(2026, 6, 3))
    assert _page(store, MarketplaceQuery(tenant, filters=window)).total == 2
