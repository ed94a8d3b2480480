"""``/v1/invest/fund-invoice`` (idempotent funding intents),
``/v1/invest/commitments/{id}/submit`` (a wallet-signed funding transaction, delegated signing
mode), ``/v1/investor/commitments`` (each commitment) and ``/v1/investor/locks`` (commitments
grouped per invoice and funder)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.commitments import CommitmentsQuery, FundingRequest, LockQuery, LocksQuery
from liquifact_core.errors import LiquifactError
from liquifact_core.idempotency import IDEMPOTENCY_HEADER, parse_idempotency_key
from liquifact_core.submissions import SignedSubmission
from liquifact_http import pages, problems, wire
from liquifact_http import representations as rep
from liquifact_http.bodies import read_object
from liquifact_http.caching import INVESTOR_LOCKS_KEY, cached, investor_lock_key
from liquifact_http.callers import caller_of
from liquifact_http.routes.common import (
    blocking,
    json_response,
    query,
    reads_query,
    resource,
    services,
)

FUND_PATH = "/v1/invest/fund-invoice"
REPLAYED_HEADER = "Idempotent-Replayed"
# What the funding use case keeps with its outcome for us: a replayed problem names the
# correlation id and path of the first attempt, so its body is the first body byte for byte.
_CORRELATION_ID = "correlation_id"
_INSTANCE = "instance"


async def fund_invoice(request: Request) -> Response:
    """Typed request in, ``FundingOutcome`` out, rendered. Idempotency (claim, record, replay,
    409s) is the use case's own; a replay answers as the first attempt did, plus
    ``Idempotent-Replayed: true``."""
    caller = caller_of(request)
    key = parse_idempotency_key(request.headers.get(IDEMPOTENCY_HEADER))
    payload = await read_object(request)
    wired = services(request)
    wired.funding.check_can_fund(caller.actor)  # who may fund is answered before what
    funding = wire.structure(payload, FundingRequest)
    state = request.scope.get("state", {})
    context = {
        _CORRELATION_ID: str(state.get("correlation_id", "unknown")),
        _INSTANCE: str(state.get("original_path", request.url.path)),
    }
    try:
        outcome = await blocking(
            wired.funding.fund_invoice,
            caller.tenant_id,
            caller.actor,
            funding,
            key,
            context=context,
        )
    except LiquifactError as error:
        if error.replayed_context is None:
            raise  # a live error: the app's handlers render it for this request
        first = error.replayed_context
        problem = problems.problem_from_error(error)
        # The body names the first attempt; the correlation middleware sets this exchange's
        # id on the X-Correlation-Id header, as for every response.
        response = problems.render(problem, first[_CORRELATION_ID], first[_INSTANCE])
        response.headers[REPLAYED_HEADER] = "true"
        return response
    commitment = outcome.commitment
    headers = {"Location": f"/v1/investor/locks/{commitment.invoice_id}"}
    if outcome.replayed:
        headers[REPLAYED_HEADER] = "true"
    return json_response(rep.commitment(commitment), 201, headers)


async def submit_signed(request: Request) -> Response:
    """The investor's wallet-signed transaction of a ``requires_signature`` commitment:
    checked, then queued for the submission job (202: the chain's answer comes later)."""
    caller = caller_of(request)
    payload = await read_object(request)
    wired = services(request)
    wired.funding.check_can_fund(caller.actor)
    signed = wire.structure(payload, SignedSubmission)
    commitment = await blocking(
        wired.funding.submit_signed,
        caller.tenant_id,
        caller.actor,
        request.path_params["commitmentId"],
        signed,
    )
    return json_response(rep.commitment(commitment), 202)


@reads_query
async def list_commitments(request: Request) -> Response:
    # Not cached: a commitment's status changes as the chain reports it, and investors read
    # this list to see exactly that.
    caller = caller_of(request)
    wanted = query(request, CommitmentsQuery)
    result = await blocking(
        services(request).funding.commitments, caller.tenant_id, caller.actor, wanted
    )
    return json_response(pages.commitment_page(result, wanted))


@cached(INVESTOR_LOCKS_KEY)
@reads_query
async def list_locks(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, LocksQuery)
    result = await blocking(services(request).funding.locks, caller.tenant_id, caller.actor, wanted)
    return json_response(pages.lock_page(result, wanted))


@cached(investor_lock_key())
@reads_query
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
    resource("/v1/invest/commitments/{commitmentId}/submit", POST=submit_signed),
    resource("/v1/investor/commitments", GET=list_commitments),
    resource("/v1/investor/locks", GET=list_locks),
    resource("/v1/investor/locks/{invoiceId}", GET=get_lock),
]
