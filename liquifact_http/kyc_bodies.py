"""Response bodies of the KYC and contact operations (``Representation``): the same classes
give the JSON and its schema in the document."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from liquifact_core.kyc import (
    KYC_REFERENCE_PATTERN,
    KycChange,
    KycRecord,
    KycRole,
    KycSource,
    KycStatus,
    KycView,
)
from liquifact_core.reminders import Contact, ContactUpdate
from liquifact_core.wallets import SUBJECT_PATTERN
from liquifact_http.representations import _at, timestamp
from liquifact_http.response_fields import Representation, out

_STATUSES = [status.value for status in KycStatus]
_ROLES = [role.value for role in KycRole]


@attrs.frozen
class KycMeBody(Representation):
    """The caller's KYC status as funding and escrow links see it."""

    component = "KycOwnStatus"

    subject: str = out({"pattern": SUBJECT_PATTERN})
    status: str | None = out(
        {
            "enum": _STATUSES,
            "description": "pending, verified, rejected or exempted; null: not started (the "
            "provider has never been asked). Funding and escrow links need verified or "
            "exempted.",
        },
        nullable=True,
    )
    recorded: bool = out(
        {
            "description": "False when no KYC record exists and `status` is what the "
            "provider assumes (the in-memory mock's policy; null with a real provider)."
        }
    )
    provider: str = out({"enum": ["mock", "http"], "description": "Who decides."})
    verification_url: str | None = out(
        {"description": "Where to complete the provider's verification flow, if it gave one."},
        nullable=True,
    )
    updated_at: str | None = out(_at("When the record last changed"), nullable=True)

    @classmethod
    def of(cls, view: KycView) -> KycMeBody:
        record = view.record
        return cls(
            subject=view.subject,
            status=None if view.status is None else view.status.value,
            recorded=record is not None,
            provider=view.provider,
            verification_url=None if record is None else record.verification_url,
            updated_at=None if record is None else timestamp(record.updated_at),
        )


@attrs.frozen
class KycChangeBody(Representation):
    """One step of a subject's KYC history."""

    component = "KycChange"

    sequence: int = out({"minimum": 1})
    status: str = out({"enum": _STATUSES, "description": "The record's status after it."})
    source: str = out(
        {
            "enum": [source.value for source in KycSource],
            "description": "submission: the provider's answer to a submission (or the "
            "subject's start); provider: a provider webhook event; admin: an exemption.",
        }
    )
    actor_id: str = out({"description": "Who made it (`kyc-provider` for the provider)."})
    at: str = out(_at("When it happened"))
    provider_status: str | None = out(
        {"description": "The provider's own status word, normalised."}, nullable=True
    )
    reason: str | None = out(nullable=True)
    event_id: str | None = out({"description": "The provider event's id."}, nullable=True)

    @classmethod
    def of(cls, change: KycChange) -> KycChangeBody:
        return cls(
            sequence=change.sequence,
            status=change.status.value,
            source=change.source.value,
            actor_id=change.actor_id,
            at=timestamp(change.at),
            provider_status=change.provider_status,
            reason=change.reason,
            event_id=change.event_id,
        )


@attrs.frozen
class KycRecordBody(Representation):
    """A subject's KYC record with its history (admins)."""

    component = "KycRecord"

    subject: str = out({"pattern": SUBJECT_PATTERN})
    status: str = out({"enum": _STATUSES})
    role: str | None = out({"enum": _ROLES}, nullable=True)
    reference: str = out(
        {"pattern": KYC_REFERENCE_PATTERN, "description": "Our id the provider echoes."}
    )
    provider_reference: str | None = out(
        {"description": "The provider's id of the applicant."}, nullable=True
    )
    reason: str | None = out({"description": "Why it was rejected or exempted."}, nullable=True)
    created_at: str = out(_at("When the record was created"))
    updated_at: str = out(_at("When it last changed"))
    history: list[KycChangeBody] = out()

    @classmethod
    def of(cls, record: KycRecord, history: Sequence[KycChange]) -> KycRecordBody:
        return cls(
            subject=record.subject,
            status=record.status.value,
            role=None if record.role is None else record.role.value,
            reference=record.reference,
            provider_reference=record.provider_reference,
            reason=record.reason,
            created_at=timestamp(record.created_at),
            updated_at=timestamp(record.updated_at),
            history=[KycChangeBody.of(change) for change in history],
        )


@attrs.frozen
class KycEventReceiptBody(Representation):
    """What the provider's webhook is answered: the record's reference and its status now."""

    component = "KycEventReceipt"

    reference: str = out({"pattern": KYC_REFERENCE_PATTERN})
    status: str = out({"enum": _STATUSES})

    @classmethod
    def of(cls, record: KycRecord) -> KycEventReceiptBody:
        return cls(reference=record.reference, status=record.status.value)


@attrs.frozen
class ContactBody(Representation):
    """The caller's contact e-mail (where maturity reminders go)."""

    component = "Contact"

    email: str = out(like=(ContactUpdate, "email"))
    updated_at: str = out(_at("When it was set"))

    @classmethod
    def of(cls, contact: Contact) -> ContactBody:
        return cls(email=contact.email, updated_at=timestamp(contact.updated_at))
