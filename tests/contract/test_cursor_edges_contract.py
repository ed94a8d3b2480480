"""Signed cursors carrying edge values (issue 9, item 6): anyone holding the development
secret can sign one, so every store must answer an out-of-range or unparseable sort value
with 400 INVALID_CURSOR, never a 500, and serve in-range extremes normally."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from liquifact_core.errors import ValidationError
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_core.marketplace import CursorCodec, Keyset, MarketplaceSearch, SortValue
from liquifact_core.ports import Store
from liquifact_core.services.marketplace import MarketplaceService
from liquifact_http.wire import structure_query

from .contract_support import new_invoice_id, save
from .market_support import listed

SECRET = "s" * 32
INVESTOR = Actor("investor-1", Role.INVESTOR)
PLUS_5 = timezone(timedelta(hours=5))
MINUS_5 = timezone(timedelta(hours=-5))
CREATED = {"sortBy": "created_at"}


def signed(tenant: str, params: dict[str, str], value: SortValue) -> str:
    search = structure_query(params.items(), MarketplaceSearch)
    return CursorCodec(SECRET.encode()).encode(tenant, search, Keyset(value, new_invoice_id()))


def search(store: Store, tenant: str, params: dict[str, str], value: SortValue) -> int:
    service = MarketplaceService(store.read_unit, SECRET)
    cursor = signed(tenant, params, value)
    query = structure_query({**params, "cursor": cursor}.items(), MarketplaceSearch)
    return len(service.search(tenant, INVESTOR, query).items)


OUT_OF_RANGE: dict[str, tuple[dict[str, str], SortValue]] = {
    "year 1 east of UTC": (CREATED, datetime(1, 1, 1, 0, 0, tzinfo=PLUS_5)),
    "year 9999 west of UTC": (CREATED, datetime(9999, 12, 31, 23, 59, tzinfo=MINUS_5)),
    "year 1 ascending": ({**CREATED, "order": "asc"}, datetime(1, 1, 1, 4, 59, 59, tzinfo=PLUS_5)),
    "amount with 5 decimals": ({"sortBy": "amount"}, Decimal("100.00001")),
}


@pytest.mark.parametrize(("params", "value"), OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_out_of_range_sort_values_are_invalid_cursors(
    store: Store, tenant: str, params: dict[str, str], value: SortValue
) -> None:
    save(store, listed(tenant))
    with pytest.raises(ValidationError) as raised:
        search(store, tenant, params, value)
    assert raised.value.code == "INVALID_CURSOR"
    assert raised.value.message == "cursor is not a cursor issued by this API"


IN_RANGE: dict[str, tuple[dict[str, str], SortValue, int]] = {
    "year 1 in UTC, newest first": (CREATED, datetime(1, 1, 1, tzinfo=UTC), 0),
    "year 1 west of UTC": ({**CREATED, "order": "asc"}, datetime(1, 1, 1, tzinfo=MINUS_5), 1),
    "year 9999 in UTC": (CREATED, datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 1),
    "year 9999 east of UTC": (CREATED, datetime(9999, 12, 31, 23, 59, tzinfo=PLUS_5), 1),
    "largest amount": ({"sortBy": "amount"}, Decimal("999999999999999999.9999"), 1),
    "first day": ({"sortBy": "maturity_date", "order": "asc"}, date(1, 1, 1), 1),
    "last day": ({"sortBy": "maturity_date"}, date(9999, 12, 31), 1),
}


@pytest.mark.parametrize(("params", "value", "expected"), IN_RANGE.values(), ids=IN_RANGE.keys())
def test_extreme_sort_values_in_range_page_normally(
    store: Store, tenant: str, params: dict[str, str], value: SortValue, expected: int
) -> None:
    save(store, listed(tenant))
    assert search(store, tenant, params, value) == expected
