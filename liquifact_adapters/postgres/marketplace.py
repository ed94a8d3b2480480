"""Marketplace queries: one fixed statement per (sort, order, keyset or not), built at import
time from constant column names, so no SQL is ever built from a request."""

from __future__ import annotations

from collections.abc import Mapping

from liquifact_adapters.postgres.mapping import ROWS
from liquifact_adapters.sql.rows import Params, marketplace_params
from liquifact_adapters.sql.statements import marketplace_pages
from liquifact_core.marketplace import MarketplaceQuery, SortField

# Repeated verbatim from the partial indexes of migration 0002: the planner uses a partial
# index only when the query implies its predicate.
INVESTABLE_LIVE = "deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded')"

# Every parameter is cast to its column's type: a NULL bound alone has no type to infer.
_FILTERED = f"""
WHERE tenant_id = %(tenant_id)s AND {INVESTABLE_LIVE}
    AND (%(yield_min)s::integer IS NULL OR yield_bps >= %(yield_min)s::integer)
    AND (%(yield_max)s::integer IS NULL OR yield_bps <= %(yield_max)s::integer)
    AND (%(maturity_from)s::date IS NULL OR due_date >= %(maturity_from)s::date)
    AND (%(maturity_to)s::date IS NULL OR due_date <= %(maturity_to)s::date)
    AND (%(ratio_min)s::integer IS NULL OR funded_ratio_hundredths >= %(ratio_min)s::integer)
    AND (%(ratio_max)s::integer IS NULL OR funded_ratio_hundredths <= %(ratio_max)s::integer)
    AND (%(amount_min)s::numeric IS NULL OR amount_key >= %(amount_min)s::numeric)
    AND (%(amount_max)s::numeric IS NULL OR amount_key <= %(amount_max)s::numeric)
"""

_SORT_TYPES: Mapping[SortField, str] = {
    SortField.YIELD_BPS: "integer",
    SortField.MATURITY_DATE: "date",
    SortField.FUNDED_RATIO: "integer",
    SortField.AMOUNT: "numeric",
    SortField.CREATED_AT: "timestamptz",
}

# Ids are ordered in the "C" collation (code point order, as Python compares strings), which
# the sort indexes use for their id column too.
_ID = 'id COLLATE "C"'


_MATCHING = "\nFROM invoices" + _FILTERED
PAGE_SQL = marketplace_pages(
    _MATCHING,
    id_column=_ID,
    after_value=lambda sort: f"%(after_value)s::{_SORT_TYPES[sort]}",
    after_id="%(after_id)s::text",
    limit="LIMIT %(limit)s OFFSET %(offset)s",
)
# An index-only scan of invoices_market_filters, which covers every filter column.
COUNT_SQL = "SELECT count(*) AS total\nFROM invoices" + _FILTERED


def params(query: MarketplaceQuery) -> Params:
    """The parameters of ``PAGE_SQL`` and ``COUNT_SQL`` for ``query``."""
    return marketplace_params(query, ROWS)
