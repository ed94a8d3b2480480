"""``/v1/admin/webhook`` (the tenant's signed-webhook endpoint and its secret) and
``/v1/admin/jobs`` (the tenant's background jobs and dead letters, and their replay).
Admins only; every operation acts on the caller's tenant (``WebhookService``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.jobs import parse_job_id
from liquifact_core.webhook_endpoints import JobsQuery, WebhookSettings
from liquifact_http.callers import caller_of
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
from liquifact_http.webhook_bodies import JobBody, JobPageBody, WebhookBody

WEBHOOK_PATH = "/v1/admin/webhook"
JOBS_PATH = "/v1/admin/jobs"
# The secret appears in these answers: no cache anywhere may keep them.
_NO_STORE = {"Cache-Control": "no-store"}


async def get_webhook(request: Request) -> Response:
    caller = caller_of(request)
    endpoint = await blocking(services(request).webhooks.endpoint, caller.tenant_id, caller.actor)
    return json_response(render(WebhookBody.of(endpoint)))


async def put_webhook(request: Request) -> Response:
    caller = caller_of(request)
    wanted = await body(request, WebhookSettings)
    shown = await blocking(
        services(request).webhooks.configure, caller.tenant_id, caller.actor, wanted.url
    )
    status = 200 if shown.secret is None else 201
    return json_response(render(WebhookBody.of(shown.endpoint, shown.secret)), status, _NO_STORE)


async def delete_webhook(request: Request) -> Response:
    caller = caller_of(request)
    await blocking(services(request).webhooks.remove, caller.tenant_id, caller.actor)
    return Response(status_code=204)


async def rotate_secret(request: Request) -> Response:
    caller = caller_of(request)
    shown = await blocking(services(request).webhooks.rotate_secret, caller.tenant_id, caller.actor)
    return json_response(render(WebhookBody.of(shown.endpoint, shown.secret)), 200, _NO_STORE)


async def send_test(request: Request) -> Response:
    caller = caller_of(request)
    job = await blocking(services(request).webhooks.send_test, caller.tenant_id, caller.actor)
    return json_response(render(JobBody.of(job)), 202, {"Location": f"{JOBS_PATH}/{job.id}"})


@reads_query
async def list_jobs(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, JobsQuery)
    page = await blocking(
        services(request).webhooks.jobs, caller.actor, wanted.for_tenant(caller.tenant_id)
    )
    return json_response(render(JobPageBody.of(page, wanted.limit)))


async def get_job(request: Request) -> Response:
    caller = caller_of(request)
    job_id = parse_job_id(request.path_params["jobId"])
    job = await blocking(services(request).webhooks.job, caller.tenant_id, caller.actor, job_id)
    return json_response(render(JobBody.of(job)))


async def replay_job(request: Request) -> Response:
    caller = caller_of(request)
    job_id = parse_job_id(request.path_params["jobId"])
    job = await blocking(services(request).webhooks.replay, caller.tenant_id, caller.actor, job_id)
    return json_response(render(JobBody.of(job)))


routes = [
    resource(WEBHOOK_PATH, GET=get_webhook, PUT=put_webhook, DELETE=delete_webhook),
    resource(f"{WEBHOOK_PATH}/secret", POST=rotate_secret),
    resource(f"{WEBHOOK_PATH}/test", POST=send_test),
    resource(JOBS_PATH, GET=list_jobs),
    resource(f"{JOBS_PATH}/{{jobId}}", GET=get_job),
    resource(f"{JOBS_PATH}/{{jobId}}/replay", POST=replay_job),
]
