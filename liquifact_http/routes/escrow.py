"""``GET /v1/escrow/{invoiceId}`` (spec alias ``/api/escrow/{invoiceId}``): an invoice's escrow
as the indexer last projected it, with the derived figures, its legal hold and freshness; the
contract's address in ``X-Escrow-Address``. No chain call on the request path.

With REDIS_ESCROW_CACHE_ENABLED (and REDIS_URL) answers are cached (``caching.cached``) per
tenant, invoice and caller (``caching.escrow_key``) for REDIS_ESCROW_CACHE_TTL_SECONDS. The
invoice's changes and each new projection of its escrow drop its entries
(``liquifact_adapters.cache.invalidation``); an entry is also read again from the projection
once the indexer has seen more than REDIS_ESCROW_LEDGER_GAP_THRESHOLD ledgers past it, or
when it was or would now be stale (``EscrowService.may_serve_again``).
"""

from __future__ import annotations

import json
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.services.escrows import ServedEscrow
from liquifact_http import representations as rep
from liquifact_http.caching import cached, escrow_key
from liquifact_http.callers import caller_of
from liquifact_http.routes.common import blocking, json_response, resource, services
from liquifact_http.settings import Settings

ESCROW_PATH = "/v1/escrow/{invoiceId}"
ESCROW_ADDRESS_HEADER = "X-Escrow-Address"
ESCROW_KEY = escrow_key()


def escrow_cache_ttl(request: Request) -> float | None:
    """REDIS_ESCROW_CACHE_TTL_SECONDS, or None when the escrow cache is off."""
    settings: Settings = request.app.state.settings
    if not settings.redis_escrow_cache_enabled:
        return None
    return float(settings.redis_escrow_cache_ttl_seconds)


def served_escrow(entry: Response) -> ServedEscrow:
    """What a cached escrow answer said (its ``Escrow`` body); ValueError, KeyError or
    TypeError for an entry that is not one."""
    body = json.loads(bytes(entry.body))
    return ServedEscrow(
        status=InvoiceStatus(body["invoiceStatus"]),
        ledger=int(body["ledger"]),
        checked_at=datetime.fromisoformat(body["checkedAt"]),
        stale=bool(body["stale"]),
    )


async def still_current(request: Request, entry: Response) -> bool:
    """The gap rule and the staleness rules (``EscrowService.may_serve_again``)."""
    settings: Settings = request.app.state.settings
    return await blocking(
        services(request).escrows.may_serve_again,
        served_escrow(entry),
        settings.redis_escrow_ledger_gap_threshold,
    )


@cached(ESCROW_KEY, ttl_seconds=escrow_cache_ttl, serve_if=still_current)
async def get_escrow(request: Request) -> Response:
    caller = caller_of(request)
    view = await blocking(
        services(request).escrows.view,
        caller.tenant_id,
        caller.actor,
        request.path_params["invoiceId"],
    )
    # Cache-Control: every answer of this authenticated route leaves with "private, no-store"
    # (routes.common.mark_private); the server-side cache above may keep it.
    return json_response(
        rep.escrow(view), headers={ESCROW_ADDRESS_HEADER: view.projection.contract}
    )


routes = [resource(ESCROW_PATH, GET=get_escrow)]
