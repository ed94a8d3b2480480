"""KYC use cases: a subject starts its verification, the provider's answers and webhook events
update the record, admins read it and exempt, and the gate funding and escrow links pass.

Nothing here holds a transaction across a network call: starting writes the record and a
``kyc_submission`` job in one unit; the job asks the provider (``KycProvider.submit``) with no
unit open, then records the answer in a unit of its own. Webhook events are authenticated
(``authenticate``) before their body is even parsed, then applied once (``apply_event``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import attrs

from liquifact_core.audit import AuditEvent
from liquifact_core.errors import (
    Forbidden,
    LiquifactError,
    NotFound,
    Unauthenticated,
    Unavailable,
    Unprocessable,
)
from liquifact_core.invoices import Actor
from liquifact_core.jobs import DEFAULT_MAX_ATTEMPTS, JOB_ID_PREFIX, Job, JobFailed, JobFailure
from liquifact_core.kyc import (
    DEFAULT_WEBHOOK_TOLERANCE,
    EVENT_MEMORY_MARGIN,
    KYC_REFERENCE_PREFIX,
    ExemptKyc,
    KycChange,
    KycEvent,
    KycRecord,
    KycRole,
    KycSource,
    KycStatus,
    KycView,
    ProviderAnswer,
    exempted,
    kyc_event_replayed,
    kyc_record_not_found,
    kyc_reference_unknown,
    map_provider_status,
    new_record,
    normalise_provider_status,
    parse_subject,
    require_passing,
    submission_job,
    with_provider_status,
)
from liquifact_core.lifecycle import Role
from liquifact_core.ports import Clock, IdGenerator, KycProvider, UnitOfWork, UnitOfWorkFactory
from liquifact_core.webhooks import (
    MalformedSignature,
    SignatureMismatch,
    StaleSignature,
    verify_signature,
)

# Who provider-driven changes are attributed to in the history and the audit log.
PROVIDER_ACTOR = Actor("kyc-provider", Role.SERVICE)
_SUBJECTS = frozenset({Role.SME, Role.INVESTOR})
_PURGE_BATCH = 1000


class MockKycProvider:
    """The in-memory mock provider: used only when no provider is configured
    (KYC_PROVIDER_URL and KYC_PROVIDER_API_KEY unset), for development and tests. Its policy
    is one status (KYC_MOCK_DEFAULT_STATUS, default ``verified``): a subject without a record
    counts as that, and a submission is answered with it at once. No network, no state."""

    name = "mock"

    def __init__(self, default_status: KycStatus = KycStatus.VERIFIED) -> None:
        self.assumed_status: KycStatus | None = KycStatus(default_status)

    def submit(self, reference: str, subject: str, role: KycRole | None) -> ProviderAnswer:
        del subject, role
        assert self.assumed_status is not None
        return ProviderAnswer(f"mock_{reference}", self.assumed_status.value)

    def check(self) -> None:
        return None


@attrs.frozen
class KycGate:
    """The check funding and escrow links pass: the subject's record, else the status the
    provider assumes for a subject without one (``KycProvider.assumed_status``)."""

    provider: str = "mock"
    assumed_status: KycStatus | None = KycStatus.VERIFIED

    def view(self, uow: UnitOfWork, tenant_id: str, subject: str) -> KycView:
        """The subject's KYC as the gate sees it, read in ``uow``."""
        record = uow.kyc.get(tenant_id, subject)
        status = self.assumed_status if record is None else record.status
        return KycView(subject, status, record, self.provider)

    def require(self, uow: UnitOfWork, tenant_id: str, subject: str, role: KycRole) -> None:
        """Forbidden (INVESTOR_KYC_NOT_VERIFIED, SME_KYC_NOT_VERIFIED) unless the subject is
        verified or exempted (``kyc.require_passing``)."""
        require_passing(self.view(uow, tenant_id, subject), role)


@attrs.frozen
class StartedKyc:
    """What ``start`` did: the record, and whether a submission to the provider was queued
    (False: the subject was already pending, verified or exempted, or the mock answered)."""

    record: KycRecord
    queued: bool


class KycService:
    """KYC records and their provider. ``webhook_secret`` (KYC_PROVIDER_SECRET) verifies the
    provider's webhook (None: the webhook answers 404 KYC_WEBHOOK_NOT_CONFIGURED);
    ``tolerance`` is how far a signature's time may be from ours; ``max_attempts`` bounds the
    submission job's attempts."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        read_unit: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        provider: KycProvider,
        kyc_subject: Callable[[str], tuple[str, str] | None],
        purge_events: Callable[[datetime, int], int],
        *,
        webhook_secret: str | None = None,
        tolerance: timedelta = DEFAULT_WEBHOOK_TOLERANCE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self._uow = unit_of_work
        self._read = read_unit
        self._clock = clock
        self._ids = ids
        self.provider = provider
        self._kyc_subject = kyc_subject
        self._purge = purge_events
        self._secret = webhook_secret
        self.tolerance = tolerance
        self._max_attempts = max_attempts
        self.gate = KycGate(provider.name, provider.assumed_status)

    @property
    def is_mock(self) -> bool:
        """True when no provider is configured and the mock decides."""
        return self.provider.name == MockKycProvider.name

    @property
    def webhook_configured(self) -> bool:
        return self._secret is not None

    # ---- the gate ---------------------------------------------------------------------------
    def require(self, tenant_id: str, subject: str, role: KycRole) -> None:
        """The gate in a read unit of its own (``KycGate.require``)."""
        with self._read(tenant_id) as uow:
            self.gate.require(uow, tenant_id, subject, role)

    def view(self, tenant_id: str, subject: str) -> KycView:
        with self._read(tenant_id) as uow:
            return self.gate.view(uow, tenant_id, subject)

    # ---- the subject's own ------------------------------------------------------------------
    def mine(self, tenant_id: str, actor: Actor) -> KycView:
        """The caller's KYC (SMEs and investors; Forbidden otherwise)."""
        _check_subject(actor)
        return self.view(tenant_id, actor.id)

    def start(self, tenant_id: str, actor: Actor) -> StartedKyc:
        """Start (or, after a rejection, restart) the caller's verification: the record is
        pending and a ``kyc_submission`` job asks the provider, in one unit; audited as
        ``kyc.started``. The mock (no provider configured) is asked at once instead, in the
        same unit, and nothing is queued. A subject already pending, verified or exempted is
        answered as it is (nothing queued). SMEs and investors only (Forbidden otherwise)."""
        _check_subject(actor)
        role = KycRole.INVESTOR if actor.role is Role.INVESTOR else KycRole.SME
        with self._uow(tenant_id) as uow:
            current = uow.kyc.get(tenant_id, actor.id)
            if current is not None and current.status is not KycStatus.REJECTED:
                return StartedKyc(current, False)
            now = self._clock.now()
            if current is None:
                record = new_record(
                    tenant_id, actor.id, self._ids.new_id(KYC_REFERENCE_PREFIX), role, now
                )
                uow.kyc.add(record)
                sequence = 1
            else:
                record = attrs.evolve(
                    current,
                    status=KycStatus.PENDING,
                    reason=None,
                    role=role,
                    provider_reference=None,
                    verification_url=None,
                    updated_at=now,
                    version=current.version + 1,
                )
                uow.kyc.update(record, current.version)
                sequence = len(uow.kyc.history(tenant_id, actor.id)) + 1
            uow.kyc.add_change(_change(record, sequence, KycSource.SUBMISSION, actor.id, now))
            queued = not self.is_mock
            if queued:
                job_id = self._ids.new_id(JOB_ID_PREFIX)
                uow.jobs.enqueue(submission_job(job_id, record, now, self._max_attempts))
            else:
                # The mock asks nobody (no I/O): its answer is recorded at once, so a subject
                # never waits on a worker for the development policy.
                answer = self.provider.submit(record.reference, record.subject, record.role)
                status = map_provider_status(answer.status)
                record = self._answered(uow, record, answer, status, sequence + 1, now)
            self._audit(uow, record, actor, "kyc.started", {"role": role.value})
            uow.commit()
        return StartedKyc(record, queued)

    # ---- admins -----------------------------------------------------------------------------
    def record(
        self, tenant_id: str, actor: Actor, subject: str
    ) -> tuple[KycRecord, Sequence[KycChange]]:
        """A subject's record and history (admins; NotFound KYC_RECORD_NOT_FOUND without a
        record: the gate then assumes the provider's ``assumed_status``)."""
        _check_admin(actor)
        parse_subject(subject)
        with self._read(tenant_id) as uow:
            record = uow.kyc.get(tenant_id, subject)
            if record is None:
                raise kyc_record_not_found(subject)
            return record, uow.kyc.history(tenant_id, subject)

    def exempt(self, tenant_id: str, actor: Actor, subject: str, command: ExemptKyc) -> KycRecord:
        """Exempt a subject from KYC with a reason (admins); a subject without a record gets
        one. Audited as ``kyc.exempted`` (with the reason and the status it had). Exempting an
        exempted subject changes nothing and returns it as it is."""
        _check_admin(actor)
        parse_subject(subject)
        with self._uow(tenant_id) as uow:
            current = uow.kyc.get(tenant_id, subject)
            if current is not None and current.status is KycStatus.EXEMPTED:
                return current
            now = self._clock.now()
            if current is None:
                record = attrs.evolve(
                    new_record(
                        tenant_id, subject, self._ids.new_id(KYC_REFERENCE_PREFIX), None, now
                    ),
                    status=KycStatus.EXEMPTED,
                    reason=command.reason,
                )
                uow.kyc.add(record)
                sequence = 1
            else:
                record = exempted(current, command.reason, now)
                uow.kyc.update(record, current.version)
                sequence = len(uow.kyc.history(tenant_id, subject)) + 1
            uow.kyc.add_change(
                _change(record, sequence, KycSource.ADMIN, actor.id, now, reason=command.reason)
            )
            before = None if current is None else current.status.value
            self._audit(
                uow, record, actor, "kyc.exempted", {"reason": command.reason, "from": before}
            )
            uow.commit()
        return record

    # ---- the provider -----------------------------------------------------------------------
    def authenticate(self, raw_body: bytes, signature: str | None) -> datetime:
        """Check a webhook request's ``X-Signature`` over its raw body with KYC_PROVIDER_SECRET
        (constant-time comparison, ``tolerance`` either way); its signing time. Before any
        parsing of the body. NotFound KYC_WEBHOOK_NOT_CONFIGURED (404) without a secret;
        Unauthenticated (401) KYC_SIGNATURE_MISSING, KYC_SIGNATURE_EXPIRED (outside the
        tolerance), KYC_SIGNATURE_INVALID (malformed, or not this body under this secret)."""
        if self._secret is None:
            # Not a failure of this server: the endpoint is not enabled in this deployment.
            raise NotFound(
                "No KYC provider webhook is configured on this server (KYC_PROVIDER_SECRET).",
                code="KYC_WEBHOOK_NOT_CONFIGURED",
            )
        if not signature:
            raise Unauthenticated(
                "The X-Signature header is missing.", code="KYC_SIGNATURE_MISSING"
            )
        now = self._clock.now()
        try:
            signed = verify_signature(
                self._secret, raw_body, signature, now=now, tolerance=self.tolerance
            )
        except StaleSignature:
            raise Unauthenticated(
                "The signature's timestamp is outside the accepted window.",
                code="KYC_SIGNATURE_EXPIRED",
            ) from None
        except (MalformedSignature, SignatureMismatch):
            raise Unauthenticated(
                "The signature does not match the body.", code="KYC_SIGNATURE_INVALID"
            ) from None
        return datetime.fromtimestamp(signed, tz=now.tzinfo)

    def apply_event(self, event: KycEvent, signed_at: datetime) -> KycRecord:
        """Apply an authenticated provider event once: its id is remembered (Conflict
        KYC_EVENT_REPLAYED for a second delivery) in the unit that updates the record. An
        event older than one applied already changes nothing (the record is returned as it
        is, the event still remembered). Unprocessable KYC_STATUS_UNKNOWN for a status word
        we do not map; NotFound KYC_REFERENCE_UNKNOWN for a reference no record has. A change
        appends to the history and is audited as ``kyc.status_changed``."""
        status = map_provider_status(event.status)
        owner = self._kyc_subject(event.reference)
        if owner is None:
            raise kyc_reference_unknown()
        tenant_id, subject = owner
        now = self._clock.now()
        remember_until = signed_at + self.tolerance + EVENT_MEMORY_MARGIN
        with self._uow(tenant_id) as uow:
            if not uow.kyc.redeem_event(event.event_id, now, remember_until):
                raise kyc_event_replayed()
            current = uow.kyc.get(tenant_id, subject)
            if current is None:  # deleted between the lookup and this unit: never, today
                raise kyc_reference_unknown()
            updated = with_provider_status(
                current,
                status,
                now,
                event_at=signed_at,
                provider_reference=event.provider_reference,
                reason=event.reason,
            )
            if updated is None:
                uow.commit()  # the event is remembered: a replay is refused all the same
                return current
            uow.kyc.update(updated, current.version)
            sequence = len(uow.kyc.history(tenant_id, subject)) + 1
            uow.kyc.add_change(
                _change(
                    updated,
                    sequence,
                    KycSource.PROVIDER,
                    PROVIDER_ACTOR.id,
                    now,
                    provider_status=normalise_provider_status(event.status),
                    reason=event.reason,
                    event_id=event.event_id,
                )
            )
            self._audit(
                uow,
                updated,
                PROVIDER_ACTOR,
                "kyc.status_changed",
                {
                    "from": current.status.value,
                    "to": updated.status.value,
                    "eventId": event.event_id,
                },
            )
            uow.commit()
        return updated

    def submit(self, job: Job, /) -> None:
        """The ``kyc_submission`` job handler: send a pending record to the provider, with no
        unit open, then record its answer (mapped status, its reference, the flow URL).
        Idempotent: a record that is no longer pending or already has the provider's
        reference is left alone, and so is one a webhook event or an admin decided while the
        provider was asked (that decision is newer than the answer). The provider
        unreachable: retryable failure; a refusal or an answer we cannot map: dead letter."""
        subject = str(job.payload.get("subject", ""))
        with self._read(job.tenant_id) as uow:
            record = uow.kyc.get(job.tenant_id, subject)
        if record is None or record.status is not KycStatus.PENDING or record.provider_reference:
            return
        try:
            answer = self.provider.submit(record.reference, record.subject, record.role)
            status = map_provider_status(answer.status)
        except Unprocessable as refused:
            raise JobFailed(JobFailure(f"The provider refused: {refused.code}.", False)) from None
        except Unavailable as down:
            raise JobFailed(JobFailure(f"The provider is unavailable: {down.code}.")) from None
        except LiquifactError as error:
            raise JobFailed(JobFailure(f"The submission failed: {error.code}.", False)) from None
        with self._uow(job.tenant_id) as uow:
            current = uow.kyc.get(job.tenant_id, subject)
            if (
                current is None
                or current.status is not KycStatus.PENDING
                or current.provider_reference
                or current.reference != record.reference
            ):
                # A webhook event (or an admin) decided while the provider was asked: its
                # answer to the submission is older and must not override that decision.
                return
            sequence = len(uow.kyc.history(job.tenant_id, subject)) + 1
            self._answered(uow, current, answer, status, sequence, self._clock.now())
            uow.commit()

    def _answered(
        self,
        uow: UnitOfWork,
        record: KycRecord,
        answer: ProviderAnswer,
        status: KycStatus,
        sequence: int,
        now: datetime,
    ) -> KycRecord:
        """Record the provider's answer to a submission (``status``, its mapped status; its
        reference; the flow URL) with its history step, in ``uow``; the record as it is
        then. ``record`` is the record as stored in ``uow``."""
        updated = with_provider_status(
            record,
            status,
            now,
            provider_reference=answer.provider_reference,
            verification_url=answer.verification_url,
        )
        assert updated is not None  # no event time: never stale
        uow.kyc.update(updated, record.version)
        uow.kyc.add_change(
            _change(
                updated,
                sequence,
                KycSource.SUBMISSION,
                PROVIDER_ACTOR.id,
                now,
                provider_status=normalise_provider_status(answer.status),
            )
        )
        return updated

    def purge_events(self) -> int:
        """Forget webhook event ids whose signatures have expired anyway (hourly)."""
        return self._purge(self._clock.now(), _PURGE_BATCH)

    def _audit(
        self,
        uow: UnitOfWork,
        record: KycRecord,
        actor: Actor,
        action: str,
        metadata: dict[str, object],
    ) -> None:
        uow.audit.append(
            AuditEvent.by(
                actor,
                event_id=self._ids.new_id("aud_"),
                tenant_id=record.tenant_id,
                action=action,
                resource=("kyc_subject", record.subject),
                at=record.updated_at,
                metadata={"status": record.status.value, **metadata},
            )
        )


def _change(
    record: KycRecord,
    sequence: int,
    source: KycSource,
    actor_id: str,
    at: datetime,
    *,
    provider_status: str | None = None,
    reason: str | None = None,
    event_id: str | None = None,
) -> KycChange:
    return KycChange(
        tenant_id=record.tenant_id,
        subject=record.subject,
        sequence=sequence,
        status=record.status,
        source=source,
        actor_id=actor_id,
        at=at,
        provider_status=provider_status,
        reason=reason,
        event_id=event_id,
    )


def _check_subject(actor: Actor) -> None:
    if actor.role not in _SUBJECTS:
        raise Forbidden("Only SMEs and investors have a KYC status of their own.")


def _check_admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("Only admins read and exempt subjects' KYC.")


__all__ = [
    "PROVIDER_ACTOR",
    "KycGate",
    "KycService",
    "MockKycProvider",
    "StartedKyc",
]
