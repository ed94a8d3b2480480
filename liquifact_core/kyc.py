"""KYC (know your customer): a subject's verification status, its history, the mapping of a
provider's statuses onto ours, and the gate funding and escrow links pass through.

A KYC record belongs to one principal: (tenant, subject), the subject being the JWT ``sub``
(an SME's invoices carry it as ``sme_id``, an investor's commitments as ``actor_id``). Its
``status`` is one of the spec's KYC_STATUSES:

* ``pending``: verification was requested and the provider has not decided (yet);
* ``verified``: the provider verified the subject;
* ``rejected``: the provider refused the subject;
* ``exempted``: an admin exempted the subject, with a reason (audited). An exemption is an
  operator's decision: later provider events are recorded in the history but do not change it.

Funding needs a verified or exempted investor, linking an escrow a verified or exempted SME
(``require_passing``). A subject without a record counts as the provider says
(``KycProvider.assumed_status``): nothing for a real provider (they must be verified first),
the mock's default policy when no provider is configured (development and tests).

Every change appends one ``KycChange`` to the subject's history, in the unit that changes the
record. Provider events arrive on a signed webhook (``liquifact_core.webhooks``' scheme: the
``X-Signature`` header ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + raw body>``), each
applied at most once (its ``eventId``), and never older over newer (``provider_event_at``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from liquifact_core.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    Unprocessable,
    ValidationError,
)
from liquifact_core.jobs import Job, new_job
from liquifact_core.lifecycle import Role
from liquifact_core.rules import Checked, Pattern, Reason, query_error, rule_field
from liquifact_core.wallets import SUBJECT_PATTERN

KYC_REFERENCE_PREFIX = "kyc_"
KYC_REFERENCE_PATTERN = "^kyc_[A-Za-z0-9_]{1,60}$"
KYC_EVENT_ID_PATTERN = "^[A-Za-z0-9_.:-]{1,128}$"
# What a provider may send as a status (mapped by ``map_provider_status``, kept as sent in the
# history after normalising).
PROVIDER_STATUS_PATTERN = "^[A-Za-z0-9_ -]{1,64}$"
PROVIDER_REFERENCE_PATTERN = "^[A-Za-z0-9_.:-]{1,128}$"
KYC_SUBMISSION = "kyc_submission"
# How long a webhook event id is remembered: the signature's tolerance either way, plus a
# margin. Older events are refused by their timestamp, so nothing older needs remembering.
EVENT_MEMORY_MARGIN = timedelta(minutes=5)
DEFAULT_WEBHOOK_TOLERANCE = timedelta(minutes=5)

_SUBJECT = re.compile(SUBJECT_PATTERN[1:-1])
_REFERENCE = re.compile(KYC_REFERENCE_PATTERN[1:-1])


class KycStatus(enum.StrEnum):
    """The spec's KYC_STATUSES."""

    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"
    EXEMPTED = "exempted"


PASSING = frozenset({KycStatus.VERIFIED, KycStatus.EXEMPTED})


class KycSource(enum.StrEnum):
    """What changed a record: the provider's answer to our submission, a provider webhook
    event, or an admin (exemption)."""

    SUBMISSION = "submission"
    PROVIDER = "provider"
    ADMIN = "admin"


class KycRole(enum.StrEnum):
    """Who is verified: an SME (a business) or an investor (a person or a fund)."""

    SME = "sme"
    INVESTOR = "investor"


# Provider vocabularies differ; these are the words providers commonly use, normalised
# (lower case, spaces and hyphens as underscores). Anything else is refused (KYC_STATUS_UNKNOWN):
# guessing could verify someone the provider did not.
PROVIDER_STATUSES: Mapping[str, KycStatus] = {
    **dict.fromkeys(
        ("approved", "verified", "completed", "passed", "accepted", "success", "green"),
        KycStatus.VERIFIED,
    ),
    **dict.fromkeys(
        ("rejected", "declined", "denied", "failed", "blocked", "red"), KycStatus.REJECTED
    ),
    **dict.fromkeys(
        (
            "pending",
            "created",
            "submitted",
            "started",
            "initiated",
            "in_review",
            "review",
            "processing",
            "in_progress",
            "awaiting_input",
            "on_hold",
            "yellow",
        ),
        KycStatus.PENDING,
    ),
    **dict.fromkeys(("exempt", "exempted", "waived", "not_required"), KycStatus.EXEMPTED),
}


def normalise_provider_status(raw: str) -> str:
    """A provider status as compared and stored: trimmed, lower case, runs of spaces and
    hyphens as one underscore."""
    return re.sub(r"[\s-]+", "_", raw.strip().lower())


def map_provider_status(raw: Any) -> KycStatus:
    """Our status for a provider's; Unprocessable KYC_STATUS_UNKNOWN (field ``status``) for a
    word not in ``PROVIDER_STATUSES`` (the request is well formed; we cannot take it)."""
    found = None
    if isinstance(raw, str) and re.fullmatch(PROVIDER_STATUS_PATTERN[1:-1], raw):
        found = PROVIDER_STATUSES.get(normalise_provider_status(raw))
    if found is None:
        raise Unprocessable(
            "The provider status is not one this service maps; nothing was changed.",
            code="KYC_STATUS_UNKNOWN",
            field_errors=[
                FieldError("status", "is not a known provider status", "KYC_STATUS_UNKNOWN")
            ],
        )
    return found


def parse_subject(raw: Any, field: str = "subject") -> str:
    """A subject as it appears in tokens (1-128 printable ASCII, no spaces); ValidationError
    INVALID_SUBJECT otherwise."""
    if not isinstance(raw, str) or not _SUBJECT.fullmatch(raw):
        raise ValidationError.for_field(
            field, "must be 1-128 printable ASCII characters without spaces", "INVALID_SUBJECT"
        )
    return raw


def is_reference(raw: str) -> bool:
    return _REFERENCE.fullmatch(raw) is not None


@attrs.frozen
class KycRecord:
    """The KYC state of the subject ``subject`` of ``tenant_id``.

    ``reference`` is our id of the record, the one the provider echoes in its events
    (``kyc_`` + a sortable id, unique across tenants); ``provider_reference`` the provider's
    own id once it answered; ``verification_url`` where the subject completes the provider's
    flow (if the provider gave one); ``reason`` why it was rejected or exempted;
    ``provider_event_at`` the signing time of the newest provider event applied. ``version``
    counts changes (optimistic concurrency)."""

    tenant_id: str
    subject: str
    reference: str
    status: KycStatus
    created_at: datetime
    updated_at: datetime
    role: KycRole | None = None
    provider_reference: str | None = None
    verification_url: str | None = None
    reason: str | None = None
    provider_event_at: datetime | None = None
    version: int = 1

    @property
    def passing(self) -> bool:
        return self.status in PASSING


@attrs.frozen
class KycChange:
    """One step of a subject's KYC history: the record's ``status`` after it, what caused it
    (``source``, ``actor_id``), the provider's own status word when a provider said it
    (normalised), the reason (rejection, exemption) and the provider event's id."""

    tenant_id: str
    subject: str
    sequence: int
    status: KycStatus
    source: KycSource
    actor_id: str
    at: datetime
    provider_status: str | None = None
    reason: str | None = None
    event_id: str | None = None


@attrs.frozen
class ProviderAnswer:
    """What a provider said to a submission: its id of the applicant, its status word, and
    where the subject completes the flow (optional)."""

    provider_reference: str
    status: str
    verification_url: str | None = None


@attrs.frozen
class KycView:
    """A subject's KYC status as the gate sees it: the stored record, or (no record) the
    status the provider assumes (the mock's default policy), or None (not started)."""

    subject: str
    status: KycStatus | None
    record: KycRecord | None
    provider: str

    @property
    def passing(self) -> bool:
        return self.status in PASSING


@attrs.frozen
class ExemptKyc(Checked):
    """An admin exempts a subject from KYC (``{"reason": ...}``, 1-1024 characters once
    control characters are stripped; audited)."""

    reason: str = rule_field(Reason())

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The exemption is not valid.")


@attrs.frozen
class KycEvent(Checked):
    """A provider's event as its webhook sends it: ``{eventId, reference, status,
    providerReference?, reason?}``. ``reference`` is our record's reference (sent to the
    provider with the submission); ``status`` the provider's word for the outcome
    (``map_provider_status``)."""

    INVALID_MESSAGE = "The KYC event has invalid fields."

    event_id: str = rule_field(
        Pattern(KYC_EVENT_ID_PATTERN, "must be 1-128 of [A-Za-z0-9_.:-]", 128)
    )
    reference: str = rule_field(
        Pattern(
            KYC_REFERENCE_PATTERN, "must be a KYC reference: 'kyc_' then 1-60 of [A-Za-z0-9_]", 64
        )
    )
    status: str = rule_field(
        Pattern(PROVIDER_STATUS_PATTERN, "must be 1-64 of letters, digits, _, - and spaces", 64)
    )
    provider_reference: str | None = rule_field(
        Pattern(PROVIDER_REFERENCE_PATTERN, "must be 1-128 of [A-Za-z0-9_.:-]", 128),
        default=None,
        optional=True,
    )
    reason: str | None = rule_field(Reason(), default=None, optional=True)


def new_record(
    tenant_id: str, subject: str, reference: str, role: KycRole | None, now: datetime
) -> KycRecord:
    """A record awaiting the provider (pending)."""
    return KycRecord(
        tenant_id=tenant_id,
        subject=subject,
        reference=reference,
        status=KycStatus.PENDING,
        created_at=now,
        updated_at=now,
        role=role,
    )


def with_provider_status(
    record: KycRecord,
    status: KycStatus,
    at: datetime,
    *,
    event_at: datetime | None = None,
    provider_reference: str | None = None,
    verification_url: str | None = None,
    reason: str | None = None,
) -> KycRecord | None:
    """The record after the provider said ``status`` (an event signed at ``event_at``, or the
    answer to our submission when None), or None when the record must not change: the event is
    older than one already applied. An exempted record keeps its status (an operator's
    decision) but takes the provider's references. A rejection keeps its reason; any other
    status clears it."""
    if (
        event_at is not None
        and record.provider_event_at is not None
        and event_at < record.provider_event_at
    ):
        return None
    target = record.status if record.status is KycStatus.EXEMPTED else status
    kept_reason = record.reason if record.status is KycStatus.EXEMPTED else None
    return attrs.evolve(
        record,
        status=target,
        reason=reason if target is KycStatus.REJECTED else kept_reason,
        provider_reference=provider_reference or record.provider_reference,
        verification_url=verification_url or record.verification_url,
        provider_event_at=event_at if event_at is not None else record.provider_event_at,
        updated_at=at,
        version=record.version + 1,
    )


def exempted(record: KycRecord, reason: str, at: datetime) -> KycRecord:
    """The record exempted with ``reason``."""
    return attrs.evolve(
        record,
        status=KycStatus.EXEMPTED,
        reason=reason,
        updated_at=at,
        version=record.version + 1,
    )


def submission_job(job_id: str, record: KycRecord, now: datetime, max_attempts: int) -> Job:
    """The ``kyc_submission`` job that sends the record to the provider (payload: the subject
    only; the handler reads the record when it runs)."""
    return new_job(
        job_id=job_id,
        tenant_id=record.tenant_id,
        job_type=KYC_SUBMISSION,
        payload={"subject": record.subject},
        now=now,
        max_attempts=max_attempts,
    )


def role_for_gate(role: Role) -> KycRole:
    return KycRole.INVESTOR if role is Role.INVESTOR else KycRole.SME


def require_passing(view: KycView, role: KycRole) -> None:
    """Forbidden unless the subject is verified or exempted: INVESTOR_KYC_NOT_VERIFIED for an
    investor (funding), SME_KYC_NOT_VERIFIED for an SME (escrow links). The message says the
    status, never another subject's data."""
    if view.passing:
        return
    status = "not started" if view.status is None else view.status.value
    if role is KycRole.INVESTOR:
        raise Forbidden(
            f"The investor's KYC is {status}; only a verified or exempted investor may fund.",
            code="INVESTOR_KYC_NOT_VERIFIED",
        )
    raise Forbidden(
        f"The invoice's SME's KYC is {status}; an escrow is linked only for a verified or "
        "exempted SME.",
        code="SME_KYC_NOT_VERIFIED",
    )


def kyc_record_not_found(subject: str) -> NotFound:
    return NotFound(f"No KYC record exists for subject '{subject}'.", code="KYC_RECORD_NOT_FOUND")


def kyc_reference_unknown() -> NotFound:
    return NotFound("No KYC record has this reference.", code="KYC_REFERENCE_UNKNOWN")


def kyc_event_replayed() -> Conflict:
    return Conflict("This KYC event was already received.", code="KYC_EVENT_REPLAYED")


def kyc_record_exists() -> Conflict:
    """Two first-time starts of one subject at once: one wins (retryable)."""
    return Conflict(
        "The subject's KYC record was created at the same time; retry.",
        code="CONCURRENT_UPDATE",
        retryable=True,
    )
