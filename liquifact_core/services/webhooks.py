"""Tenant webhooks and background-job operations, for a tenant's admins (issue 11, item 6),
and the outbox writer every invoice transition goes through (item 5).

Delivery itself is a job handler in ``liquifact_adapters.webhooks``: nothing here makes a
network call except the ``AddressPolicy`` check of a URL being saved, which runs before the
unit of work opens (no transaction is held across it).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from liquifact_core.audit import AuditEvent
from liquifact_core.errors import Forbidden, NotFound
from liquifact_core.invoices import Actor, Transition
from liquifact_core.jobs import JOB_ID_PREFIX, Job, JobPage, JobQuery, job_not_found
from liquifact_core.lifecycle import Role
from liquifact_core.ports import (
    AddressPolicy,
    Clock,
    IdGenerator,
    SecretBox,
    UnitOfWork,
    UnitOfWorkFactory,
)
from liquifact_core.webhook_endpoints import (
    DEFAULT_MAX_RETRIES,
    WebhookEndpoint,
    check_max_retries,
    check_webhook_url,
    delivery_job,
    delivery_payload,
    test_payload,
)

# 32 bytes of OS randomness, as hex: the spec asks for at least 32 bytes.
SECRET_BYTES = 32


def new_webhook_secret() -> str:
    """A fresh webhook signing secret: 64 hex characters (32 random bytes)."""
    return secrets.token_hex(SECRET_BYTES)


@attrs.frozen
class WebhookOutbox:
    """Writes the ``webhook_delivery`` job of an invoice transition into the transition's own
    unit of work (the transactional outbox), when the tenant has an active endpoint. The job
    exists exactly when the transition commits; delivering it is the worker's business, so a
    failing receiver can never fail a transition."""

    ids: IdGenerator
    max_retries: int = attrs.field(
        default=DEFAULT_MAX_RETRIES, validator=lambda _i, _a, v: check_max_retries(v)
    )

    def record(self, uow: UnitOfWork, step: Transition) -> Job | None:
        """Enqueue the delivery of ``step`` in ``uow``; the job, or None without an endpoint."""
        endpoint = uow.webhooks.get(step.tenant_id)
        if endpoint is None or not endpoint.active:
            return None
        job = delivery_job(
            self.ids.new_id(JOB_ID_PREFIX),
            step.tenant_id,
            delivery_payload(step),
            step.at,
            self.max_retries,
        )
        uow.jobs.enqueue(job)
        return job


def webhook_not_configured() -> NotFound:
    """The tenant has no webhook endpoint."""
    return NotFound(
        "No webhook endpoint is configured for this tenant.", code="WEBHOOK_NOT_CONFIGURED"
    )


@attrs.frozen
class SecretShown:
    """An endpoint with the secret it was just given, in clear: shown once, never stored."""

    endpoint: WebhookEndpoint
    secret: str | None = attrs.field(repr=False)


class WebhookService:
    """A tenant admin's webhook endpoint and job operations. Every method is admin-only
    (Forbidden otherwise) and acts on the caller's tenant alone."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        read_unit: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        box: SecretBox,
        policy: AddressPolicy,
        outbox: WebhookOutbox,
        *,
        allow_insecure_loopback: bool = False,
        new_secret: Callable[[], str] = new_webhook_secret,
    ) -> None:
        self._uow = unit_of_work
        self._read = read_unit
        self._clock = clock
        self._ids = ids
        self._box = box
        self._policy = policy
        self._outbox = outbox
        self._allow_loopback = allow_insecure_loopback
        self._new_secret = new_secret

    # ---- the endpoint --------------------------------------------------------------------
    def endpoint(self, tenant_id: str, actor: Actor) -> WebhookEndpoint:
        """The tenant's endpoint; NotFound (WEBHOOK_NOT_CONFIGURED) without one."""
        _admin(actor)
        with self._read(tenant_id) as uow:
            return _configured(uow, tenant_id)

    def configure(self, tenant_id: str, actor: Actor, url: object) -> SecretShown:
        """Set the tenant's webhook URL (``check_webhook_url``, then the ``AddressPolicy``).
        A first endpoint gets a new secret, returned here once; a changed URL keeps the
        secret (``secret`` None). ValidationError for a refused URL."""
        _admin(actor)
        checked = check_webhook_url(url, allow_insecure_loopback=self._allow_loopback)
        self._policy.check(checked)  # may resolve DNS: before the transaction opens
        now = self._clock.now()
        with self._uow(tenant_id) as uow:
            # Locked: a rotation running at the same time is not undone by this write.
            current = uow.webhooks.lock(tenant_id)
            if current is not None and current.active:
                secret, sealed, rotated = None, current.sealed_secret, current.secret_rotated_at
            else:
                secret = self._new_secret()
                sealed, rotated = self._box.seal(secret), now
            endpoint = WebhookEndpoint(
                tenant_id=tenant_id,
                url=checked.url,
                host=checked.host,
                updated_at=now,
                sealed_secret=sealed,
                secret_rotated_at=rotated,
            )
            if current is None:
                uow.webhooks.add(endpoint)  # of two first creations at once, one wins (409)
            else:
                uow.webhooks.put(endpoint)
            self._audit(
                uow,
                actor,
                "webhook.configured",
                tenant_id,
                {"host": checked.host, "secretCreated": secret is not None},
            )
            uow.commit()
        return SecretShown(endpoint, secret)

    def rotate_secret(self, tenant_id: str, actor: Actor) -> SecretShown:
        """Replace the tenant's secret; the new one is returned once. Deliveries not yet sent
        are signed with it. NotFound (WEBHOOK_NOT_CONFIGURED) without an endpoint."""
        _admin(actor)
        secret = self._new_secret()
        now = self._clock.now()
        with self._uow(tenant_id) as uow:
            current = _configured(uow, tenant_id, lock=True)
            endpoint = attrs.evolve(
                current, sealed_secret=self._box.seal(secret), secret_rotated_at=now, updated_at=now
            )
            uow.webhooks.put(endpoint)
            self._audit(uow, actor, "webhook.secret_rotated", tenant_id, {"host": endpoint.host})
            uow.commit()
        return SecretShown(endpoint, secret)

    def remove(self, tenant_id: str, actor: Actor) -> None:
        """Delete the tenant's endpoint; deliveries already queued dead-letter when they run
        (there is nowhere to send them). NotFound (WEBHOOK_NOT_CONFIGURED) without one."""
        _admin(actor)
        with self._uow(tenant_id) as uow:
            current = _configured(uow, tenant_id)
            uow.webhooks.remove(tenant_id)
            self._audit(uow, actor, "webhook.removed", tenant_id, {"host": current.host})
            uow.commit()

    def send_test(self, tenant_id: str, actor: Actor) -> Job:
        """Queue a signed ``webhook.test`` event to the tenant's endpoint; the job (its status
        shows the outcome). NotFound (WEBHOOK_NOT_CONFIGURED) without an endpoint."""
        _admin(actor)
        now = self._clock.now()
        with self._uow(tenant_id) as uow:
            endpoint = _configured(uow, tenant_id)
            job = delivery_job(
                self._ids.new_id(JOB_ID_PREFIX),
                tenant_id,
                test_payload(tenant_id, now),
                now,
                self._outbox.max_retries,
            )
            uow.jobs.enqueue(job)
            self._audit(
                uow,
                actor,
                "webhook.test_requested",
                tenant_id,
                {"host": endpoint.host, "jobId": job.id},
            )
            uow.commit()
        return job

    # ---- jobs ------------------------------------------------------------------------------
    def jobs(self, actor: Actor, query: JobQuery) -> JobPage:
        """One page of the tenant's jobs (dead letters: ``statuses={DEAD}``), newest first."""
        _admin(actor)
        with self._read(query.tenant_id) as uow:
            return uow.jobs.list(query)

    def job(self, tenant_id: str, actor: Actor, job_id: str) -> Job:
        """One job of the tenant; NotFound (JOB_NOT_FOUND) otherwise."""
        _admin(actor)
        with self._read(tenant_id) as uow:
            job = uow.jobs.get(tenant_id, job_id)
        if job is None:
            raise job_not_found(job_id)
        return job

    def replay(self, tenant_id: str, actor: Actor, job_id: str) -> Job:
        """Give a dead letter a fresh set of attempts, due now; the job as stored.
        NotFound (JOB_NOT_FOUND), Conflict (JOB_NOT_DEAD)."""
        _admin(actor)
        with self._uow(tenant_id) as uow:
            job = uow.jobs.requeue(tenant_id, job_id, self._clock.now())
            self._audit(
                uow, actor, "job.replayed", tenant_id, {"jobId": job.id, "jobType": job.type}
            )
            uow.commit()
        return job

    def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: str,
        tenant_id: str,
        metadata: Mapping[str, Any],
    ) -> None:
        uow.audit.append(
            AuditEvent.by(
                actor,
                event_id=self._ids.new_id("aud_"),
                tenant_id=tenant_id,
                action=action,
                resource=("tenant", tenant_id),
                at=self._clock.now(),
                metadata=metadata,
            )
        )


def _admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("Only a tenant admin may manage webhooks and jobs.")


def _configured(uow: UnitOfWork, tenant_id: str, *, lock: bool = False) -> WebhookEndpoint:
    endpoint = uow.webhooks.lock(tenant_id) if lock else uow.webhooks.get(tenant_id)
    if endpoint is None:
        raise webhook_not_configured()
    return endpoint
