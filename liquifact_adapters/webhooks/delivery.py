"""The ``webhook_delivery`` job handler: sign the stored payload and POST it to the tenant's
endpoint (the spec's "Signed delivery" and "Retry"; issue 11, item 5).

Per attempt, outside any transaction: read the endpoint (a read unit of the job's tenant),
check the URL and resolve its host again (``DnsAddressPolicy.pin``), open the secret, sign
the body (``liquifact_core.webhooks``) with ``timestamp`` set now, and POST it to the pinned
address with the URL's host in ``Host`` and TLS SNI (certificates are checked against that
name). Redirects are never followed, proxies from the environment are never used. Outcomes:

* 2xx: delivered.
* 4xx, 3xx, a refused address, no endpoint, a secret that no key opens: failed for good
  (dead letter at once): retrying cannot help.
* 5xx, network errors and timeouts, a host that does not resolve: retried with bounded
  exponential backoff (WEBHOOK_BASE_DELAY, WEBHOOK_MAX_DELAY) until WEBHOOK_MAX_RETRIES.

Each outcome appends one audit event naming the URL's host only (never the path, query or
secret): ``webhook.delivered``, ``webhook.retry_scheduled`` or ``webhook.dead_lettered``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import attrs
import certifi
import httpx

from liquifact_adapters.webhooks.guard import DnsAddressPolicy
from liquifact_core.audit import AuditEvent
from liquifact_core.errors import ValidationError
from liquifact_core.invoices import Actor
from liquifact_core.jobs import Backoff, Job, JobFailed, JobFailure
from liquifact_core.lifecycle import Role
from liquifact_core.ports import Clock, IdGenerator, SecretBox, Store
from liquifact_core.webhook_endpoints import (
    IPAddress,
    WebhookUrl,
    check_webhook_url,
)
from liquifact_core.webhooks import (
    SIGNATURE_HEADER,
    serialise,
    signature_header,
    with_timestamp,
)

USER_AGENT = "LiquiFact-Webhooks/1"
TIMED_OUT = "The endpoint did not answer within WEBHOOK_TIMEOUT_MS."
# Who the outcome audit events name as actor.
DELIVERY_ACTOR = Actor(id="webhook-delivery", role=Role.SERVICE)


@attrs.frozen
class DeliverySettings:
    """The spec's WEBHOOK_TIMEOUT_MS (per request, milliseconds) and
    WEBHOOK_ALLOW_INSECURE_LOOPBACK."""

    timeout_ms: int = 5000
    allow_insecure_loopback: bool = False

    def __attrs_post_init__(self) -> None:
        if self.timeout_ms < 1:
            raise ValueError("the webhook timeout is at least 1 ms")


class WebhookDelivery:
    """``JobHandler`` of ``webhook_delivery`` jobs. ``backoff`` is its own retry schedule
    (WEBHOOK_BASE_DELAY, WEBHOOK_MAX_DELAY; the worker uses it instead of its default one).

    Each request has one deadline, WEBHOOK_TIMEOUT_MS for the whole exchange (connect, send,
    the status line and headers), not per phase: a receiver dripping its answer byte by byte
    cannot hold a worker thread longer, nor outlive the job's lease (the settings refuse a
    timeout that does not fit in WORKER_LEASE_SECONDS), which would run the same delivery
    again beside it."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        clock: Clock,
        ids: IdGenerator,
        backoff: Backoff,
        settings: DeliverySettings | None = None,
        *,
        policy: DnsAddressPolicy | None = None,
    ) -> None:
        self.settings = settings or DeliverySettings()
        self.backoff = backoff
        self._store = store
        self._box = box
        self._clock = clock
        self._ids = ids
        self._policy = policy or DnsAddressPolicy(
            allow_loopback=self.settings.allow_insecure_loopback
        )
        # Loaded once: every delivery's client shares the CA bundle (certifi's, as httpx's).
        self._tls = ssl.create_default_context(cafile=certifi.where())

    def __call__(self, job: Job, /) -> None:
        with self._store.read_unit(job.tenant_id) as uow:
            endpoint = uow.webhooks.get(job.tenant_id)
        if endpoint is None or endpoint.sealed_secret is None:
            self._fail(job, None, "The tenant has no webhook endpoint configured.", False)
        url, address = self._target(job, endpoint.url)
        sealed = endpoint.sealed_secret
        try:
            secret = self._box.open(sealed)
        except ValueError as error:
            self._fail(job, url.host, str(error), False)
        now = self._clock.now()
        body = serialise(with_timestamp(job.payload, now))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(secret, body, now),
            "X-Liquifact-Event": str(job.payload.get("event", "")),
            "X-Liquifact-Delivery": job.id,
        }
        status = self._post(job, url, address, body, headers)
        if 200 <= status < 300:
            self._audit(job, url.host, "webhook.delivered", statusCode=status)
            return
        retryable = status >= 500
        reason = "redirects are not followed" if 300 <= status < 400 else "answered"
        self._fail(job, url.host, f"The endpoint {reason}: HTTP {status}.", retryable, status)

    def _target(self, job: Job, raw_url: str) -> tuple[WebhookUrl, IPAddress]:
        try:
            url = check_webhook_url(
                raw_url, allow_insecure_loopback=self.settings.allow_insecure_loopback
            )
            return url, self._policy.pin(url)
        except ValidationError as refused:
            code = refused.field_errors[0].code if refused.field_errors else refused.code
            # A name that does not resolve now may resolve later; anything else will not.
            self._fail(
                job,
                urlsplit(raw_url).hostname,
                f"The webhook URL was refused: {code}.",
                code == "WEBHOOK_HOST_UNRESOLVED",
            )

    def _post(
        self,
        job: Job,
        url: WebhookUrl,
        address: IPAddress,
        body: bytes,
        headers: dict[str, str],
    ) -> int:
        parts = urlsplit(url.url)
        literal = f"[{address}]" if address.version == 6 else str(address)
        pinned = urlunsplit(
            (parts.scheme, f"{literal}:{url.port}", parts.path or "/", parts.query, "")
        )
        extensions: dict[str, Any] = {}
        if parts.scheme.lower() == "https" and not url.is_ip_literal:
            extensions["sni_hostname"] = url.host
        try:
            return asyncio.run(
                self._exchange(pinned, body, {**headers, "Host": parts.netloc}, extensions)
            )
        except (TimeoutError, httpx.TimeoutException):
            self._fail(job, url.host, TIMED_OUT, True)
        except httpx.HTTPError as error:
            # The class name only: httpx's messages can carry the URL (and its query).
            self._fail(job, url.host, f"Network error: {type(error).__name__}.", True)

    async def _exchange(
        self, url: str, body: bytes, headers: dict[str, str], extensions: dict[str, Any]
    ) -> int:
        """POST and return the status, all within one deadline (``asyncio.timeout``)."""
        seconds = self.settings.timeout_ms / 1000
        async with (
            asyncio.timeout(seconds),
            httpx.AsyncClient(
                timeout=seconds, follow_redirects=False, trust_env=False, verify=self._tls
            ) as client,
        ):
            request = client.build_request(
                "POST", url, content=body, headers=headers, extensions=extensions
            )
            response = await client.send(request, stream=True)
            await response.aclose()  # the body is never read
            return response.status_code

    def _fail(
        self, job: Job, host: str | None, error: str, retryable: bool, status: int | None = None
    ) -> NoReturn:
        final = not retryable or job.attempts >= job.max_attempts
        action = "webhook.dead_lettered" if final else "webhook.retry_scheduled"
        extra: dict[str, Any] = {"error": error}
        if status is not None:
            extra["statusCode"] = status
        self._audit(job, host, action, **extra)
        raise JobFailed(JobFailure(error, retryable=retryable))

    def _audit(self, job: Job, host: str | None, action: str, **details: Any) -> None:
        invoice_id = job.payload.get("invoiceId")
        resource = ("invoice", str(invoice_id)) if invoice_id else ("tenant", job.tenant_id)
        metadata = {
            "host": host,
            "jobId": job.id,
            "event": job.payload.get("event"),
            "attempt": job.attempts,
            "maxAttempts": job.max_attempts,
            **details,
        }
        with self._store.unit_of_work(job.tenant_id) as uow:
            uow.audit.append(
                AuditEvent.by(
                    DELIVERY_ACTOR,
                    event_id=self._ids.new_id("aud_"),
                    tenant_id=job.tenant_id,
                    action=action,
                    resource=resource,
                    at=self._clock.now(),
                    metadata=metadata,
                )
            )
            uow.commit()
