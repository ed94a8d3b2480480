"""``/v1/marketplace``, ``/v1/invest/opportunities`` and ``/v1/sme/metrics``: read-only views."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.marketplace import MarketplaceSearch, OpportunitiesQuery
from liquifact_http import pages
from liquifact_http.caching import MARKETPLACE_KEY, cached
from liquifact_http.callers import caller_of
from liquifact_http.routes.common import (
    blocking,
    json_response,
    reads_query,
    remembered_query,
    resource,
    services,
)
from liquifact_http.sme_metrics import SmeMetricsBody
from liquifact_http.wire import unstructure


@cached(MARKETPLACE_KEY)
@reads_query
async def search_marketplace(request: Request) -> Response:
    caller = caller_of(request)
    search = remembered_query(request, MarketplaceSearch)
    result = await blocking(
        services(request).marketplace.search, caller.tenant_id, caller.actor, search
    )
    return json_response(pages.market_page(result))


@cached(MARKETPLACE_KEY)  # same family: the same lifecycle changes make it stale
@reads_query
async def investment_opportunities(request: Request) -> Response:
    caller = caller_of(request)
    wanted = remembered_query(request, OpportunitiesQuery)
    result = await blocking(
        services(request).marketplace.opportunities, caller.tenant_id, caller.actor, wanted
    )
    return json_response(pages.market_page(result))


async def sme_metrics(request: Request) -> Response:
    caller = caller_of(request)
    metrics = await blocking(services(request).metrics.sme_metrics, caller.tenant_id, caller.actor)
    return json_response(unstructure(SmeMetricsBody.of(metrics)))


routes = [
    resource("/v1/marketplace", GET=search_marketplace),
    resource("/v1/invest/opportunities", GET=investment_opportunities),
    resource("/v1/sme/metrics", GET=sme_metrics),
]
