"""``GET /v1/escrow/{invoiceId}`` (spec alias ``/api/escrow/{invoiceId}``): an invoice's escrow
as the indexer last projected it, with the derived figures, its legal hold and freshness; the
contract's address in ``X-Escrow-Address``. No chain call on the request path."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from liquifact_http import representations as rep
from liquifact_http.callers import caller_of
from liquifact_http.routes.common import blocking, json_response, resource, services

ESCROW_PATH = "/v1/escrow/{invoiceId}"
ESCROW_ADDRESS_HEADER = "X-Escrow-Address"


async def get_escrow(request: Request) -> Response:
    caller = caller_of(request)
    view = await blocking(
        services(request).escrows.view,
        caller.tenant_id,
        caller.actor,
        request.path_params["invoiceId"],
    )
    return json_response(
        rep.escrow(view),
        headers={ESCROW_ADDRESS_HEADER: view.projection.contract, "Cache-Control": "no-store"},
    )


routes = [resource(ESCROW_PATH, GET=get_escrow)]
