"""Marketplace queries: one fixed statement per (sort, order, keyset or not), built at import
time from constant column names, so no SQL is ever built from a request."""

from __future__ import annotations

from liquifact_adapters.sql.rows import Params, marketplace_params
from liquifact_adapters.sql.statements import (
    MARKET_ISSUERS,
    MARKET_SELECT,
    market_filters,
    market_search,
    marketplace_pages,
)
from liquifact_adapters.sqlite.mapping import ROWS
from liquifact_core.marketplace import MarketplaceQuery

# Repeated verbatim from the partial indexes of migration 0002: the planner uses an index only
# when the query carries its WHERE terms (tests/contract/test_marketplace_sqlite.py checks the
# plans: every page is an index range scan with no sort step).
INVESTABLE_LIVE = "deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded')"


def _optional(name: str, _kind: str) -> str:
    return f":{name}"


def _flag(name: str) -> str:
    return f":{name}"


def _filtered(search: str) -> str:
    return market_filters(INVESTABLE_LIVE, _optional, _flag, search)


PAGE_SQL = marketplace_pages(
    "\nFROM invoices" + MARKET_ISSUERS + _filtered(market_search(_optional)),
    select=MARKET_SELECT,
    expanded_keyset=True,
)
# Counted on the covering index of the bound filters; the table is read only for the filters
# that index lacks. The planner, given statistics, tends to pick a sort index and read the rows
# instead, hence the hint (PostgreSQL needs none). Without a name search the issuers are not
# joined at all.
COUNT_SQL = (
    "SELECT count(*) AS total\nFROM invoices INDEXED BY invoices_market_filters" + _filtered("1")
)
COUNT_SEARCH_SQL = (
    "SELECT count(*) AS total\nFROM invoices INDEXED BY invoices_market_filters"
    + MARKET_ISSUERS
    + _filtered(market_search(_optional))
)

# The tenant's marketplace generation (migration 0016): one row, or none before its first
# investable invoice; slot 0 gives it PostgreSQL's (slot, generation) shape.
GENERATION_SQL = "SELECT 0 AS slot, generation FROM market_generations WHERE tenant_id = :tenant_id"


def params(query: MarketplaceQuery) -> Params:
    """The parameters of ``PAGE_SQL``, ``COUNT_SQL`` and ``COUNT_SEARCH_SQL`` for ``query``."""
    return marketplace_params(query, ROWS)
