"""Response bodies of the tenant webhook and job operations (``Representation``): the same
classes give the JSON and its schema in the document."""

from __future__ import annotations

from typing import Any

import attrs

from liquifact_core.jobs import JOB_ID_PATTERN, JOB_TYPE_PATTERN, Job, JobPage, JobStatus
from liquifact_core.webhook_endpoints import WebhookEndpoint, WebhookSettings
from liquifact_http.pages import PageMeta
from liquifact_http.representations import _at, timestamp
from liquifact_http.response_fields import Representation, out


@attrs.frozen
class WebhookBody(Representation):
    """The tenant's webhook endpoint; ``secret`` only in the answer that created it."""

    component = "Webhook"

    url: str = out(like=(WebhookSettings, "url"))
    host: str = out({"description": "The URL's host: what audit events name."})
    secret_set: bool = out({"description": "True once a signing secret exists."})
    secret_rotated_at: str | None = out(_at("When the secret was last created"), nullable=True)
    updated_at: str = out(_at("When the endpoint was last changed"))
    secret: str | None = out(
        {
            "pattern": "^[0-9a-f]{64}$",
            "description": "The signing secret (HMAC-SHA256 key of X-Signature), shown only "
            "in this answer: it is stored sealed and never shown again. Rotate it to get a "
            "new one.",
        },
        omit_none=True,
    )

    @classmethod
    def of(cls, item: WebhookEndpoint, secret: str | None = None) -> WebhookBody:
        rotated = item.secret_rotated_at
        return cls(
            url=item.url,
            host=item.host,
            secret_set=item.active,
            secret_rotated_at=None if rotated is None else timestamp(rotated),
            updated_at=timestamp(item.updated_at),
            secret=secret,
        )


@attrs.frozen
class JobBody(Representation):
    """One background job of the tenant (a dead letter when ``status`` is dead)."""

    component = "Job"

    id: str = out({"pattern": JOB_ID_PATTERN})
    type: str = out({"pattern": JOB_TYPE_PATTERN, "description": "e.g. webhook_delivery."})
    status: str = out({"enum": [status.value for status in JobStatus]})
    attempts: int = out({"minimum": 0, "description": "Attempts started so far."})
    max_attempts: int = out({"minimum": 1, "maximum": 10})
    run_after: str = out(_at("When it is (or was) next due"))
    created_at: str = out(_at("When it was written"))
    updated_at: str = out(_at("When its state last changed"))
    last_error: str | None = out(
        {"description": "Why the last attempt failed (sanitised: no secrets, no URL paths)."},
        nullable=True,
    )
    payload: dict[str, Any] = out(
        {
            "type": "object",
            "additionalProperties": True,
            "description": "What the job works on (for webhook_delivery: the event without "
            "its timestamp, which is set when it is sent).",
        }
    )

    @classmethod
    def of(cls, item: Job) -> JobBody:
        return cls(
            id=item.id,
            type=item.type,
            status=item.status.value,
            attempts=item.attempts,
            max_attempts=item.max_attempts,
            run_after=timestamp(item.run_after),
            created_at=timestamp(item.created_at),
            updated_at=timestamp(item.updated_at),
            last_error=item.last_error,
            payload=dict(item.payload),
        )


@attrs.frozen
class JobPageBody(Representation):
    """One page of the tenant's jobs, newest first."""

    component = "JobList"

    data: list[JobBody] = out()
    meta: PageMeta = out()

    @classmethod
    def of(cls, page: JobPage, limit: int) -> JobPageBody:
        return cls(
            data=[JobBody.of(item) for item in page.items],
            meta=PageMeta.by_cursor(page.total, limit, page.next_after),
        )
