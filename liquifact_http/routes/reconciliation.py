"""``/v1/admin/reconciliation/runs`` (the spec's ``/api/admin/reconciliation/runs``): the
tenant's reconciliation runs and one run with its per-invoice results. Admins only; every
operation acts on the caller's tenant (``ReconciliationService``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.reconciliation import parse_run_id
from liquifact_core.services.reconciliation import RunsQuery
from liquifact_http.callers import caller_of
from liquifact_http.reconciliation_bodies import RunDetailBody, RunPageBody
from liquifact_http.routes.common import (
    blocking,
    json_response,
    query,
    reads_query,
    resource,
    services,
)
from liquifact_http.wallet_bodies import body as render

RUNS_PATH = "/v1/admin/reconciliation/runs"


@reads_query
async def list_runs(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, RunsQuery)
    page = await blocking(
        services(request).reconciliation.runs, caller.tenant_id, caller.actor, wanted
    )
    return json_response(render(RunPageBody.of(page, wanted.page, wanted.limit)))


async def get_run(request: Request) -> Response:
    caller = caller_of(request)
    run_id = parse_run_id(request.path_params["runId"])
    run = await blocking(
        services(request).reconciliation.run, caller.tenant_id, caller.actor, run_id
    )
    return json_response(render(RunDetailBody.of(run)))


routes = [
    resource(RUNS_PATH, GET=list_runs),
    resource(f"{RUNS_PATH}/{{runId}}", GET=get_run),
]
