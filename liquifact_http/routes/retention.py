"""``/v1/retention/...`` (the spec's ``/api/retention/...``): retention policies, legal holds
and the purge preview; and ``/v1/invoices/{id}/legal-holds``, an invoice's LiquiFact hold
beside its escrow's on-chain hold. Admins only; every operation acts on the caller's tenant
(``RetentionService``), and every write is audited with before/after snapshots. The writes
count against the stricter ``sensitive`` rate limit (``liquifact_http.ratelimit``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.retention import (
    HoldRelease,
    HoldRequest,
    HoldsQuery,
    PoliciesQuery,
    PolicyDraft,
    PreviewQuery,
)
from liquifact_http.callers import caller_of
from liquifact_http.compliance_bodies import (
    HoldBody,
    HoldPageBody,
    InvoiceHoldsBody,
    PolicyBody,
    PolicyPageBody,
    PurgePreviewBody,
)
from liquifact_http.routes.common import (
    blocking,
    body,
    json_response,
    query,
    reads_query,
    resource,
    services,
)
from liquifact_http.wallet_bodies import body as render

POLICIES_PATH = "/v1/retention/policies"
HOLDS_PATH = "/v1/retention/legal-holds"
PREVIEW_PATH = "/v1/retention/purge-preview"
INVOICE_HOLDS_PATH = "/v1/invoices/{id}/legal-holds"


@reads_query
async def list_policies(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, PoliciesQuery)
    page = await blocking(
        services(request).retention.policies, caller.tenant_id, caller.actor, wanted
    )
    return json_response(render(PolicyPageBody.of(page, wanted.page, wanted.limit)))


async def create_policy(request: Request) -> Response:
    caller = caller_of(request)
    draft = await body(request, PolicyDraft)
    policy = await blocking(
        services(request).retention.create_policy, caller.tenant_id, caller.actor, draft
    )
    location = {"Location": f"{POLICIES_PATH}/{policy.id}"}
    return json_response(render(PolicyBody.of(policy)), 201, location)


async def get_policy(request: Request) -> Response:
    caller = caller_of(request)
    policy = await blocking(
        services(request).retention.policy,
        caller.tenant_id,
        caller.actor,
        request.path_params["policyId"],
    )
    return json_response(render(PolicyBody.of(policy)))


async def update_policy(request: Request) -> Response:
    caller = caller_of(request)
    policy_id = request.path_params["policyId"]
    draft = await body(request, PolicyDraft)
    policy = await blocking(
        services(request).retention.update_policy, caller.tenant_id, caller.actor, policy_id, draft
    )
    return json_response(render(PolicyBody.of(policy)))


@reads_query
async def list_holds(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, HoldsQuery)
    page = await blocking(services(request).retention.holds, caller.tenant_id, caller.actor, wanted)
    return json_response(render(HoldPageBody.of(page, wanted.page, wanted.limit)))


async def place_hold(request: Request) -> Response:
    caller = caller_of(request)
    wanted = await body(request, HoldRequest)
    hold = await blocking(
        services(request).retention.place_hold, caller.tenant_id, caller.actor, wanted
    )
    return json_response(render(HoldBody.of(hold)), 201, {"Location": f"{HOLDS_PATH}/{hold.id}"})


async def get_hold(request: Request) -> Response:
    caller = caller_of(request)
    hold = await blocking(
        services(request).retention.hold,
        caller.tenant_id,
        caller.actor,
        request.path_params["holdId"],
    )
    return json_response(render(HoldBody.of(hold)))


async def release_hold(request: Request) -> Response:
    caller = caller_of(request)
    hold_id = request.path_params["holdId"]
    release = await body(request, HoldRelease, required=False)
    hold = await blocking(
        services(request).retention.release_hold, caller.tenant_id, caller.actor, hold_id, release
    )
    return json_response(render(HoldBody.of(hold)))


@reads_query
async def purge_preview(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, PreviewQuery)
    preview = await blocking(
        services(request).retention.preview, caller.tenant_id, caller.actor, wanted
    )
    return json_response(render(PurgePreviewBody.of(preview)))


async def invoice_holds(request: Request) -> Response:
    caller = caller_of(request)
    holds = await blocking(
        services(request).retention.invoice_holds,
        caller.tenant_id,
        caller.actor,
        request.path_params["id"],
    )
    return json_response(render(InvoiceHoldsBody.of(holds)))


routes = [
    resource(POLICIES_PATH, GET=list_policies, POST=create_policy),
    resource(f"{POLICIES_PATH}/{{policyId}}", GET=get_policy, PUT=update_policy),
    resource(HOLDS_PATH, GET=list_holds, POST=place_hold),
    resource(f"{HOLDS_PATH}/{{holdId}}", GET=get_hold),
    resource(f"{HOLDS_PATH}/{{holdId}}/release", POST=release_hold),
    resource(PREVIEW_PATH, GET=purge_preview),
    resource(INVOICE_HOLDS_PATH, GET=invoice_holds),
]
