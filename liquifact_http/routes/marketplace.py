"""``/v1/marketplace``, ``/v1/invest/opportunities`` and ``/v1/sme/metrics``: read-only views."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.marketplace import MarketplaceSearch, OpportunitiesQuery
from liquifact_core.services.marketplace import MarketplaceResult
from liquifact_core.services.metrics import SmeMetrics
from liquifact_http import representations as rep
from liquifact_http.caching import MARKETPLACE_KEY, cached
from liquifact_http.callers import caller_of
from liquifact_http.routes.common import (
    blocking,
    json_response,
    no_query,
    query,
    resource,
    services,
)


def _page_body(result: MarketplaceResult) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "total": result.total,
        "limit": result.limit,
        "hasMore": result.has_more,
        "nextCursor": result.next_cursor,
    }
    if result.page is not None:
        meta["page"] = result.page
    return {"data": [rep.market_item(item) for item in result.items], "meta": meta}


@cached(MARKETPLACE_KEY)
async def search_marketplace(request: Request) -> Response:
    caller = caller_of(request)
    search = query(request, MarketplaceSearch)
    result = await blocking(
        services(request).marketplace.search, caller.tenant_id, caller.actor, search
    )
    return json_response(_page_body(result))


@cached(MARKETPLACE_KEY)  # same family: the same lifecycle changes make it stale
async def investment_opportunities(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, OpportunitiesQuery)
    result = await blocking(
        services(request).marketplace.opportunities, caller.tenant_id, caller.actor, wanted
    )
    return json_response(_page_body(result))


def _metrics_body(metrics: SmeMetrics) -> dict[str, Any]:
    by_status: dict[str, dict[str, Any]] = {
        status.value: {
            "count": 0,
            "amounts": {},
            "fundingTargetStroops": "0",
            "fundedStroops": "0",
        }
        for status in InvoiceStatus
    }
    for row in metrics.totals:
        entry = by_status[row.status.value]
        entry["count"] += row.count
        entry["amounts"][row.currency] = rep.money_text(row.amount, row.currency)
        entry["fundingTargetStroops"] = str(
            int(entry["fundingTargetStroops"]) + row.funding_target_stroops
        )
        entry["fundedStroops"] = str(int(entry["fundedStroops"]) + row.funded_stroops)
    return {
        "scope": metrics.scope,
        "smeId": metrics.sme_id,
        "totalCount": sum(row.count for row in metrics.totals),
        "byStatus": by_status,
    }


async def sme_metrics(request: Request) -> Response:
    caller = caller_of(request)
    no_query(request)
    metrics = await blocking(services(request).metrics.sme_metrics, caller.tenant_id, caller.actor)
    return json_response(_metrics_body(metrics))


routes = [
    resource("/v1/marketplace", GET=search_marketplace),
    resource("/v1/invest/opportunities", GET=investment_opportunities),
    resource("/v1/sme/metrics", GET=sme_metrics),
]
