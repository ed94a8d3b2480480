"""Property: walking a marketplace search page by page with cursors returns every matching row
that existed before the walk exactly once, in order, whatever is inserted or deleted between
pages (keyset pagination), for random data, filters and sorts, on every store."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from uuid import uuid4

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liquifact_core.invoices import Invoice
from liquifact_core.marketplace import (
    Keyset,
    MarketplaceFilters,
    MarketplaceQuery,
    SortField,
    SortOrder,
    ordering_key,
    sort_value,
)
from liquifact_core.ports import Store

from .contract_support import T0, money, save
from .market_support import listed


@st.composite
def invoices(draw: st.DrawFn, tenant: str) -> Invoice:
    # Few distinct values, so ties on the sort value (broken by id) are common. Ids are drawn
    # too, never random: page boundaries depend on them, and Hypothesis must replay exactly.
    # Keys are (tenant, id) and every example has its own tenant, so ids never collide across
    # examples; within one, `unique_ids` below keeps only the first invoice of each id.
    target = draw(st.sampled_from([1000, 3, 10**18]))
    return listed(
        tenant,
        id=f"inv_p{draw(st.integers(0, 999)):03d}",
        target=target,
        funded=draw(st.integers(0, target - 1)),
        yield_bps=draw(st.sampled_from([0, 250, 500, 10_000])),
        due_date=date(2026, 6, 1) + timedelta(days=draw(st.integers(0, 3))),
        amount=money(draw(st.sampled_from(["0.01", "99.99", "100.00", "12345.67"]))),
        created_at=T0 + timedelta(microseconds=draw(st.integers(0, 3))),
    )


FILTERS = st.builds(
    MarketplaceFilters,
    yield_bps_min=st.none() | st.sampled_from([0, 250, 500]),
    yield_bps_max=st.none() | st.sampled_from([500, 10_000]),
    maturity_from=st.none() | st.just(date(2026, 6, 2)),
    maturity_to=st.none() | st.just(date(2026, 6, 3)),
    funded_ratio_min=st.none() | st.sampled_from([0, 3333, 5000]),
    funded_ratio_max=st.none() | st.sampled_from([6667, 10_000]),
    amount_min=st.none() | st.sampled_from([Decimal("0.01"), Decimal("99.995")]),
    amount_max=st.none() | st.sampled_from([Decimal("100"), Decimal("20000")]),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_cursor_walk_returns_each_preexisting_match_once_in_order(
    store: Store, data: st.DataObject
) -> None:
    tenant = f"tenant-{uuid4().hex}"
    by_id = st.lists(invoices(tenant), min_size=0, max_size=25, unique_by=lambda row: row.id)
    rows = data.draw(by_id, label="rows")
    used_ids = {row.id for row in rows}
    if rows:
        save(store, *rows)
    sort = data.draw(st.sampled_from(list(SortField)), label="sort")
    order = data.draw(st.sampled_from(list(SortOrder)), label="order")
    filters = data.draw(FILTERS, label="filters")
    limit = data.draw(st.integers(1, 6), label="limit")
    live = {row.id: row for row in rows}
    deleted: set[str] = set()
    seen: list[Invoice] = []
    after: Keyset | None = None
    for _ in range(len(rows) + 30):
        query = MarketplaceQuery(tenant, filters, sort, order, limit, after)
        with store.unit_of_work(tenant) as uow:
            page = uow.invoices.marketplace(query)
        seen += page.invoices
        if not page.has_more:
            break
        after = Keyset(sort_value(page.invoices[-1], sort), page.invoices[-1].id)
        # Between pages, others add invoices and delete some (soft delete, as the API does).
        drawn = data.draw(st.lists(invoices(tenant), max_size=3), label="inserted")
        added = list({row.id: row for row in drawn if row.id not in used_ids}.values())
        used_ids.update(row.id for row in added)
        if added:
            save(store, *added)
        delete_one: bool = bool(live) and data.draw(st.booleans(), label="delete one")
        if delete_one:
            victim = live.pop(data.draw(st.sampled_from(sorted(live)), label="victim"))
            deleted.add(victim.id)
            with store.unit_of_work(tenant) as uow:
                gone = attrs.evolve(victim, deleted_at=T0, version=victim.version + 1)
                uow.invoices.update(gone, victim.version)
                uow.commit()
    else:
        raise AssertionError("the walk did not end")

    ids = [row.id for row in seen]
    assert len(ids) == len(set(ids)), "a row was repeated"
    key = [ordering_key(row, sort) for row in seen]
    assert key == sorted(key, reverse=order is SortOrder.DESC), "rows out of order"
    survivors = [row for row in rows if row.id not in deleted and filters.matches(row)]
    assert {row.id for row in survivors} <= set(ids), "a pre-existing row was skipped"
    assert all(filters.matches(row) for row in seen)
