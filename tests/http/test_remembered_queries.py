"""Hot list routes parse a query string once and reuse the (immutable) result; refused query
strings are refused, with every error, each time."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from liquifact_core.errors import ValidationError
from liquifact_core.marketplace import MarketplaceSearch, SortField
from liquifact_http.routes.common import remembered_query


def _request(query: bytes) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/v1/marketplace", "headers": [],
                    "query_string": query})  # fmt: skip


def test_the_same_query_string_is_parsed_once() -> None:
    raw = b"sortBy=maturity_date&order=asc&limit=7&yieldBpsMin=100"
    first = remembered_query(_request(raw), MarketplaceSearch)
    assert first.sort is SortField.MATURITY_DATE and first.limit == 7
    assert remembered_query(_request(raw), MarketplaceSearch) is first
    other = remembered_query(_request(raw + b"&yieldBpsMax=200"), MarketplaceSearch)
    assert other is not first and other.yield_bps_max == 200


def test_a_refused_query_string_is_refused_every_time() -> None:
    raw = b"limit=0&yieldBpsMin=9&yieldBpsMax=1&bogus=1"
    for _ in range(2):
        with pytest.raises(ValidationError) as refused:
            remembered_query(_request(raw), MarketplaceSearch)
        codes = sorted(error.code for error in refused.value.field_errors)
        assert codes == ["INVALID_RANGE", "INVALID_VALUE", "UNKNOWN_FIELD"]
