"""The OpenAPI entries of KYC (the subject's own status, the provider's webhook, the admins'
record and exemption) and of contact e-mails (issue 15). Built with the helpers of
``liquifact_http.openapi``, which merges these into the document."""

from __future__ import annotations

from liquifact_core.kyc import ExemptKyc, KycEvent
from liquifact_core.reminders import ContactUpdate
from liquifact_core.wallets import SUBJECT_PATTERN
from liquifact_http import kyc_bodies as bodies
from liquifact_http.openapi import (
    JSON,
    Component,
    Object,
    _header,
    _json_response,
    _operation,
    _problem_response,
    _schema,
    response,
)
from liquifact_http.openapi_auth import _errors
from liquifact_http.routes.kyc import CONTACT, KYC_ADMIN, KYC_ME, KYC_WEBHOOK, SIGNATURE_CHALLENGE

_TAG = "KYC and contacts"
_STORE_DOWN = "The data store is unavailable; retry later with backoff."
_TENANT = "A missing or invalid X-Tenant-Id header, or an unknown parameter."
_BAD_SUBJECT = "The subject is not 1-128 printable ASCII characters (INVALID_SUBJECT). " + _TENANT
_BODY = {
    413: "The request body is too large.",
    415: "The body is not sent as application/json.",
}


def components() -> dict[str, Component]:
    """The object schemas of these routes, with the classes they are generated from."""
    return {
        **response(bodies.KycMeBody, "The caller's KYC status."),
        **response(bodies.KycChangeBody, "One step of a subject's KYC history."),
        **response(bodies.KycRecordBody, "A subject's KYC record with its history."),
        **response(bodies.KycEventReceiptBody, "The record a provider event concerned, now."),
        **response(bodies.ContactBody, "The caller's contact e-mail."),
        "KycExemption": Component(ExemptKyc, "Why the subject is exempted from KYC."),
        "KycProviderEvent": Component(
            KycEvent,
            "A provider's status event. `reference` is the record's reference sent with the "
            "submission; `status` the provider's word (approved, verified, rejected, declined, "
            "pending, in_review ...: see docs/reminders-and-kyc.md).",
        ),
        "ContactUpdate": Component(ContactUpdate, "Where the caller receives notices."),
    }


def parameters() -> Object:
    return {
        "Subject": {
            "name": "subject",
            "in": "path",
            "required": True,
            "description": "A subject (the JWT `sub` of an SME or investor; else 400 "
            "INVALID_SUBJECT). A subject holding `/` cannot be named in a path.",
            "schema": {"type": "string", "pattern": SUBJECT_PATTERN, "maxLength": 128},
        },
        "KycSignature": {
            "name": "X-Signature",
            "in": "header",
            "required": False,
            "description": '`t=<unix seconds>,v1=<hex HMAC-SHA256>` of `"<t>." + raw body` '
            "under KYC_PROVIDER_SECRET (the scheme of the API's own webhooks). Missing, "
            "wrong or outside KYC_WEBHOOK_TOLERANCE_SECONDS: 401.",
            "schema": {"type": "string", "maxLength": 1024},
        },
    }


def _me(description: str, status: int = 200) -> Object:
    return {str(status): _json_response(description, _schema("KycOwnStatus"))}


def _record(description: str) -> Object:
    return {"200": _json_response(description, _schema("KycRecord"))}


def _unsigned() -> Object:
    answer = _problem_response(
        401,
        "The X-Signature header is missing (KYC_SIGNATURE_MISSING), does not match the body "
        "(KYC_SIGNATURE_INVALID) or is outside the time window (KYC_SIGNATURE_EXPIRED).",
    )
    answer["headers"]["WWW-Authenticate"] = _header(
        "The webhook's own challenge (a signature, not a token).",
        {"type": "string", "enum": [SIGNATURE_CHALLENGE]},
    )
    return answer


def paths() -> Object:
    return {
        KYC_ME: {
            "get": _operation(
                "getOwnKyc",
                "The caller's KYC status",
                _TAG,
                {**_me("The caller's status."), **_errors({400: _TENANT, 503: _STORE_DOWN})},
                description="Funding needs a verified or exempted investor, linking an "
                "escrow a verified or exempted SME.",
                parameters=("TenantId",),
            )
        },
        f"{KYC_ME}/verification": {
            "post": _operation(
                "startKycVerification",
                "Start the caller's KYC verification",
                _TAG,
                {
                    **_me("Queued: the record is pending and a job asks the provider.", 202),
                    **_me(
                        "Nothing queued: already pending, verified or exempted, or the "
                        "in-memory mock (no provider configured) answered at once."
                    ),
                    **_errors(
                        {400: f"A field in the body. Or: {_TENANT}", 503: _STORE_DOWN, **_BODY}
                    ),
                },
                description="After a rejection, starts again. The provider's answer and "
                "events update the status (GET /v1/kyc/me). Audited as `kyc.started`.",
                parameters=("TenantId",),
                request_body={
                    "required": False,
                    "content": {JSON: {"schema": _schema("EmptyBody")}},
                },
            )
        },
        KYC_WEBHOOK: {
            "post": _operation(
                "receiveKycEvent",
                "The KYC provider's webhook",
                _TAG,
                {
                    "200": _json_response(
                        "Applied (or older than an event applied already: nothing changed).",
                        _schema("KycEventReceipt"),
                    ),
                    "401": _unsigned(),
                    **_errors(
                        {
                            400: "The body is not a KYC event, or an unknown parameter.",
                            404: "No record has this reference (KYC_REFERENCE_UNKNOWN), or no "
                            "KYC_PROVIDER_SECRET is configured: the webhook is not enabled "
                            "(KYC_WEBHOOK_NOT_CONFIGURED).",
                            409: "This event id was received before (KYC_EVENT_REPLAYED).",
                            422: "The provider status is not one we map (KYC_STATUS_UNKNOWN).",
                            503: _STORE_DOWN,
                            **_BODY,
                        }
                    ),
                },
                description="The signature is checked over the raw body, in constant time, "
                "before the body is parsed; each event id is applied once. The spec's path is "
                "`POST /api/kyc/webhook`.",
                parameters=("KycSignature",),
                request_body={
                    "required": True,
                    "content": {JSON: {"schema": _schema("KycProviderEvent")}},
                },
            )
        },
        KYC_ADMIN: {
            "get": _operation(
                "getSubjectKyc",
                "A subject's KYC record and history",
                _TAG,
                {
                    **_record("The record, with its history oldest first."),
                    **_errors(
                        {
                            400: _BAD_SUBJECT,
                            404: "The subject has no KYC record (KYC_RECORD_NOT_FOUND).",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                parameters=("TenantId", "Subject"),
            )
        },
        f"{KYC_ADMIN}/exempt": {
            "post": _operation(
                "exemptSubjectKyc",
                "Exempt a subject from KYC",
                _TAG,
                {
                    **_record("The subject, exempted (unchanged if it was already)."),
                    **_errors(
                        {400: f"No valid reason. Or: {_BAD_SUBJECT}", 503: _STORE_DOWN, **_BODY}
                    ),
                },
                description="A subject without a record gets one. Later provider events are "
                "recorded in the history but do not undo an exemption. Audited as "
                "`kyc.exempted` with the reason.",
                parameters=("TenantId", "Subject"),
                request_body={
                    "required": True,
                    "content": {JSON: {"schema": _schema("KycExemption")}},
                },
            )
        },
        CONTACT: {
            "get": _operation(
                "getOwnContact",
                "The caller's contact e-mail",
                _TAG,
                {
                    "200": _json_response("The contact.", _schema("Contact")),
                    **_errors(
                        {
                            400: _TENANT,
                            404: "No contact e-mail is set (CONTACT_NOT_FOUND).",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                parameters=("TenantId",),
            ),
            "put": _operation(
                "putOwnContact",
                "Set the caller's contact e-mail",
                _TAG,
                {
                    "200": _json_response("The contact, as stored.", _schema("Contact")),
                    **_errors(
                        {400: f"Not an e-mail address. Or: {_TENANT}", 503: _STORE_DOWN, **_BODY}
                    ),
                },
                description="Maturity reminders go there: to an invoice's SME and to the "
                "investors with live commitments, MATURITY_REMINDER_DAYS before maturity.",
                parameters=("TenantId",),
                request_body={
                    "required": True,
                    "content": {JSON: {"schema": _schema("ContactUpdate")}},
                },
            ),
        },
    }


TAGS = [
    {
        "name": _TAG,
        "description": "KYC through a provider (the subject's status, the provider's signed "
        "webhook, admins' reads and exemptions) and the contact e-mail reminders go to.",
    },
]
