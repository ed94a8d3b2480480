"""The OpenAPI entries of the tenant webhook endpoint and the background jobs (issue 11).
Built with the helpers of ``liquifact_http.openapi``, which merges these into the document."""

from __future__ import annotations

from liquifact_core.jobs import JOB_ID_PATTERN
from liquifact_core.webhook_endpoints import JobsQuery, WebhookSettings
from liquifact_http import webhook_bodies as bodies
from liquifact_http.openapi import (
    JSON,
    Component,
    Object,
    _json_response,
    _operation,
    _schema,
    response,
)
from liquifact_http.openapi_auth import _errors
from liquifact_http.routes.webhooks import JOBS_PATH, WEBHOOK_PATH

_TAG = "Webhooks and jobs"
_STORE_DOWN = "The data store is unavailable; retry later with backoff."
_NOT_CONFIGURED = "The tenant has no webhook endpoint (WEBHOOK_NOT_CONFIGURED)."
_TENANT = "A missing or invalid X-Tenant-Id header, or an unknown parameter."
_BAD_JOB = "The job id is not `job_` and 1-120 of [A-Za-z0-9_] (INVALID_JOB_ID), " + _TENANT
_NO_JOB = "The tenant has no such job (JOB_NOT_FOUND)."


def components() -> dict[str, Component]:
    """The object schemas of these routes, with the classes they are generated from."""
    return {
        **response(bodies.WebhookBody, "The tenant's webhook endpoint."),
        "WebhookSettings": Component(
            WebhookSettings,
            "Where the tenant's signed invoice events go: an https URL whose host resolves "
            "only to public addresses.",
        ),
        **response(bodies.JobBody, "A background job of the tenant."),
        **response(bodies.JobPageBody, "The tenant's jobs, newest first."),
    }


def parameters() -> Object:
    return {
        "JobId": {
            "name": "jobId",
            "in": "path",
            "required": True,
            "description": "A job's id (else 400 INVALID_JOB_ID).",
            "schema": {"type": "string", "pattern": JOB_ID_PATTERN, "maxLength": 124},
        },
    }


def headers() -> Object:
    return {
        "JobLocation": {
            "description": "The job just queued.",
            "required": True,
            "schema": {"type": "string", "pattern": "^/v1/admin/jobs/job_[A-Za-z0-9_]{1,120}$"},
        },
    }


def _webhook(description: str, status: int = 200) -> Object:
    return {str(status): _json_response(description, _schema("Webhook"))}


def _job(description: str, status: int = 200, *headers: str) -> Object:
    answer = _json_response(description, _schema("Job"))
    for name in headers:
        answer.setdefault("headers", {})["Location"] = {"$ref": f"#/components/headers/{name}"}
    return {str(status): answer}


_URL_REFUSED = (
    "The URL is refused: not https (WEBHOOK_URL_NOT_HTTPS; plain http only to a loopback "
    "host when WEBHOOK_ALLOW_INSECURE_LOOPBACK is set), malformed, with user info or a "
    "fragment (WEBHOOK_URL_INVALID), its host resolves to a private, loopback, link-local or "
    "metadata address (WEBHOOK_URL_BLOCKED) or does not resolve (WEBHOOK_HOST_UNRESOLVED); "
    "field codes on `errors`."
)


def paths() -> Object:
    return {
        WEBHOOK_PATH: {
            "get": _operation(
                "getWebhook",
                "The tenant's webhook endpoint",
                _TAG,
                {
                    **_webhook("The endpoint (never its secret)."),
                    **_errors({400: _TENANT, 404: _NOT_CONFIGURED, 503: _STORE_DOWN}),
                },
                parameters=("TenantId",),
            ),
            "put": _operation(
                "putWebhook",
                "Set the tenant's webhook URL",
                _TAG,
                {
                    **_webhook("The URL changed; the secret is kept (not shown)."),
                    **_webhook(
                        "The endpoint created, with its new secret: shown in this answer only.",
                        201,
                    ),
                    **_errors(
                        {
                            400: f"{_URL_REFUSED} Or: {_TENANT}",
                            413: "The request body is too large.",
                            415: "The body is not sent as application/json.",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="Every invoice transition of the tenant then queues a signed "
                "`webhook_delivery` job in the transition's own transaction (see "
                "docs/webhooks.md). The host is resolved now and again at every delivery. "
                "Audited as `webhook.configured`.",
                parameters=("TenantId",),
                request_body={
                    "required": True,
                    "content": {JSON: {"schema": _schema("WebhookSettings")}},
                },
            ),
            "delete": _operation(
                "deleteWebhook",
                "Remove the tenant's webhook endpoint",
                _TAG,
                {
                    "204": {
                        "description": "Removed. Deliveries already queued dead-letter.",
                        "headers": {
                            "X-Correlation-Id": {"$ref": "#/components/headers/X-Correlation-Id"}
                        },
                    },
                    **_errors({400: _TENANT, 404: _NOT_CONFIGURED, 503: _STORE_DOWN}),
                },
                description="Audited as `webhook.removed`.",
                parameters=("TenantId",),
            ),
        },
        f"{WEBHOOK_PATH}/secret": {
            "post": _operation(
                "rotateWebhookSecret",
                "Rotate the tenant's webhook secret",
                _TAG,
                {
                    **_webhook("The endpoint with its new secret, shown in this answer only."),
                    **_errors({400: _TENANT, 404: _NOT_CONFIGURED, 503: _STORE_DOWN}),
                },
                description="Deliveries sent from now on, retries of earlier events included, "
                "are signed with the new secret. Audited as `webhook.secret_rotated`.",
                parameters=("TenantId",),
            )
        },
        f"{WEBHOOK_PATH}/test": {
            "post": _operation(
                "sendWebhookTest",
                "Send a signed test event",
                _TAG,
                {
                    **_job("The `webhook.test` delivery, queued.", 202, "JobLocation"),
                    **_errors({400: _TENANT, 404: _NOT_CONFIGURED, 503: _STORE_DOWN}),
                },
                description="Its job's status (GET the Location) shows the outcome. Audited "
                "as `webhook.test_requested`.",
                parameters=("TenantId",),
            )
        },
        JOBS_PATH: {
            "get": _operation(
                "listJobs",
                "List the tenant's background jobs",
                _TAG,
                {
                    "200": _json_response("One page of jobs.", _schema("JobList")),
                    **_errors(
                        {
                            400: "Invalid status, type, cursor or limit. Or: " + _TENANT,
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="`status=dead` lists the dead letters (the spec's "
                "webhook_dead_letters when `type=webhook_delivery`).",
                parameters=("TenantId",),
                query=JobsQuery,
                query_notes={
                    "status": "Comma-separated statuses; none: every status.",
                    "type": "One job type.",
                    "cursor": "`meta.nextCursor` of the previous page.",
                    "limit": "Jobs per page.",
                },
            )
        },
        f"{JOBS_PATH}/{{jobId}}": {
            "get": _operation(
                "getJob",
                "One background job of the tenant",
                _TAG,
                {
                    **_job("The job."),
                    **_errors({400: _BAD_JOB, 404: _NO_JOB, 503: _STORE_DOWN}),
                },
                parameters=("TenantId", "JobId"),
            )
        },
        f"{JOBS_PATH}/{{jobId}}/replay": {
            "post": _operation(
                "replayJob",
                "Replay a dead letter",
                _TAG,
                {
                    **_job("The job, pending again with a fresh set of attempts."),
                    **_errors(
                        {
                            400: _BAD_JOB,
                            404: _NO_JOB,
                            409: "The job is not a dead letter (JOB_NOT_DEAD).",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="Audited as `job.replayed`.",
                parameters=("TenantId", "JobId"),
            )
        },
    }


TAGS = [
    {
        "name": _TAG,
        "description": "The tenant's signed-webhook endpoint, its background jobs and dead "
        "letters (admins).",
    },
]
