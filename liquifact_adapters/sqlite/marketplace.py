"""Marketplace queries: one fixed statement per (sort, order, keyset or not), built at import
time from constant column names, so no SQL is ever built from a request."""

from __future__ import annotations

from liquifact_adapters.sql.rows import Params, marketplace_params
from liquifact_adapters.sql.statements import marketplace_pages
from liquifact_adapters.sqlite.mapping import ROWS
from liquifact_core.marketplace import MarketplaceQuery

# Repeated verbatim from the partial indexes of migration 0002: the planner uses an index only
# when the query carries its WHERE terms (tests/contract/test_marketplace_sqlite.py checks the
# plans: every page is an index range scan with no sort step).
INVESTABLE_LIVE = "deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded')"

_FILTERED = f"""
WHERE tenant_id = :tenant_id AND {INVESTABLE_LIVE}
    AND (:yield_min IS NULL OR yield_bps >= :yield_min)
    AND (:yield_max IS NULL OR yield_bps <= :yield_max)
    AND (:maturity_from IS NULL OR due_date >= :maturity_from)
    AND (:maturity_to IS NULL OR due_date <= :maturity_to)
    AND (:ratio_min IS NULL OR funded_ratio_hundredths >= :ratio_min)
    AND (:ratio_max IS NULL OR funded_ratio_hundredths <= :ratio_max)
    AND (:amount_min IS NULL OR amount_key >= :amount_min)
    AND (:amount_max IS NULL OR amount_key <= :amount_max)
"""


_MATCHING = "\nFROM invoices" + _FILTERED
PAGE_SQL = marketplace_pages(_MATCHING)
# Counted on the covering index of every filter column: the table is never read. The planner,
# given statistics, tends to pick a sort index and read the rows instead, hence the hint
# (PostgreSQL needs none: it plans an index-only scan on its own).
COUNT_SQL = "SELECT count(*) AS total\nFROM invoices INDEXED BY invoices_market_filters" + _FILTERED


def params(query: MarketplaceQuery) -> Params:
    """The parameters of ``PAGE_SQL`` and ``COUNT_SQL`` for ``query``."""
    return marketplace_params(query, ROWS)
