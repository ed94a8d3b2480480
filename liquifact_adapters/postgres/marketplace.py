"""Marketplace queries: one fixed statement per (sort, order, keyset or not), built at import
time from constant column names, so no SQL is ever built from a request."""

from __future__ import annotations

from collections.abc import Mapping

from liquifact_adapters.postgres.mapping import ROWS
from liquifact_adapters.sql.rows import Params, marketplace_params
from liquifact_adapters.sql.statements import (
    MARKET_ISSUERS,
    MARKET_SELECT,
    market_filters,
    market_search,
    marketplace_pages,
)
from liquifact_core.marketplace import MarketplaceQuery, SortField

# Repeated verbatim from the partial indexes of migration 0002: the planner uses a partial
# index only when the query implies its predicate.
INVESTABLE_LIVE = "deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded')"

# Every parameter is cast to its column's type: a NULL bound alone has no type to infer.
_TYPES = {"amount": "numeric"}


def _optional(name: str, kind: str) -> str:
    return f"%({name})s::{_TYPES.get(kind, kind)}"


def _flag(name: str) -> str:
    return f"%({name})s::boolean"


def _filtered(search: str) -> str:
    return market_filters(INVESTABLE_LIVE, _optional, _flag, search)


_SORT_TYPES: Mapping[SortField, str] = {
    SortField.YIELD_BPS: "integer",
    SortField.MATURITY_DATE: "date",
    SortField.FUNDED_RATIO: "integer",
    SortField.AMOUNT: "numeric",
    SortField.CREATED_AT: "timestamptz",
}

# Ids are ordered in the "C" collation (code point order, as Python compares strings), which
# the sort indexes use for their id column too.
_ID = 'invoices.id COLLATE "C"'


PAGE_SQL = marketplace_pages(
    "\nFROM invoices" + MARKET_ISSUERS + _filtered(market_search(_optional)),
    select=MARKET_SELECT,
    id_column=_ID,
    after_value=lambda sort: f"%(after_value)s::{_SORT_TYPES[sort]}",
    after_id="%(after_id)s::text",
    limit="LIMIT %(limit)s OFFSET %(offset)s",
)
# An index-only scan of invoices_market_filters when only its columns are filtered on; the
# issuers are joined only for a name search.
COUNT_SQL = "SELECT count(*) AS total\nFROM invoices" + _filtered("TRUE")
COUNT_SEARCH_SQL = (
    "SELECT count(*) AS total\nFROM invoices" + MARKET_ISSUERS + _filtered(market_search(_optional))
)

# The tenant's marketplace generation (migration 0016): one row per slot a transaction has
# bumped it from, in slot order; the whole vector is the generation.
GENERATION_SQL = (
    "SELECT slot, generation FROM market_generations WHERE tenant_id = %(tenant_id)s ORDER BY slot"
)


def params(query: MarketplaceQuery) -> Params:
    """The parameters of ``PAGE_SQL``, ``COUNT_SQL`` and ``COUNT_SEARCH_SQL`` for ``query``."""
    return marketplace_params(query, ROWS)
