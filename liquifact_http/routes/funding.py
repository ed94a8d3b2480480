"""``/v1/invest/fund-invoice`` (idempotent funding intents) and ``/v1/investor/locks``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.commitments import FundingRequest, LockQuery, LocksQuery
from liquifact_core.errors import LiquifactError
from liquifact_core.idempotency import (
    IDEMPOTENCY_HEADER,
    StoredResponse,
    parse_idempotency_key,
    request_fingerprint,
)
from liquifact_core.ports import UnitOfWork
from liquifact_http import problems, wire
from liquifact_http import representations as rep
from liquifact_http.bodies import read_object
from liquifact_http.caching import INVESTOR_LOCKS_KEY, cached, investor_lock_key
from liquifact_http.callers import caller_of
from liquifact_http.routes.common import (
    blocking,
    json_response,
    query,
    resource,
    services,
)

FUND_PATH = "/v1/invest/fund-invoice"
REPLAYED_HEADER = "Idempotent-Replayed"


def _stored(response: Response) -> StoredResponse:
    headers = tuple(
        (name, value)
        for name, value in response.headers.items()
        if name in ("content-type", "location")
    )
    return StoredResponse(response.status_code, headers, bytes(response.body))


async def fund_invoice(request: Request) -> Response:
    caller = caller_of(request)
    key = parse_idempotency_key(request.headers.get(IDEMPOTENCY_HEADER))
    payload = await read_object(request)
    tenant_id, actor = caller.tenant_id, caller.actor
    # The canonical path: a retry through the /api alias is the same request.
    fingerprint = request_fingerprint("POST", FUND_PATH, f"{actor.role}:{actor.id}", payload)
    wired = services(request)

    def work(uow: UnitOfWork) -> StoredResponse:
        wired.funding.check_can_fund(actor)  # who may fund is answered before what
        funding = wire.structure(payload, FundingRequest)
        commitment = wired.funding.fund_invoice_in(uow, tenant_id, actor, funding, key)
        location = f"/v1/investor/locks/{commitment.invoice_id}"
        return _stored(json_response(rep.commitment(commitment), 201, {"Location": location}))

    def client_error(error: LiquifactError) -> StoredResponse | None:
        problem = problems.problem_from_error(error)
        if problem.status >= 500:
            return None  # not the request's fault: release the key so a retry runs again
        return _stored(problems.render_in(problem, request.scope))

    outcome = await blocking(
        wired.idempotency.execute, tenant_id, key, fingerprint, work, client_error
    )
    if not outcome.replayed and outcome.response.status == 201:
        wired.funding.invalidate_reads(tenant_id)
    headers = dict(outcome.response.headers)
    if outcome.replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(outcome.response.body, outcome.response.status, headers=headers)


@cached(INVESTOR_LOCKS_KEY)
async def list_locks(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, LocksQuery)
    result = await blocking(services(request).funding.locks, caller.tenant_id, caller.actor, wanted)
    page, limit = wanted.page, wanted.limit
    body: dict[str, Any] = {
        "data": [rep.lock(item) for item in result.items],
        "meta": {
            "total": result.total,
            "page": page,
            "limit": limit,
            "hasMore": page * limit < result.total,
        },
    }
    return json_response(body)


@cached(investor_lock_key())
async def get_lock(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, LockQuery)
    lock = await blocking(
        services(request).funding.lock,
        caller.tenant_id,
        caller.actor,
        request.path_params["invoiceId"],
        wanted,
    )
    return json_response(rep.lock(lock))


routes = [
    resource(FUND_PATH, POST=fund_invoice),
    resource("/v1/investor/locks", GET=list_locks),
    resource("/v1/investor/locks/{invoiceId}", GET=get_lock),
]
