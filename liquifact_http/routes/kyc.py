"""KYC (``/v1/kyc/...``, ``/v1/admin/kyc/...``) and contact e-mails (``/v1/me/contact``).

The provider's webhook (``POST /v1/kyc/webhook``, the spec's ``/api/kyc/webhook``) is public:
its credential is the ``X-Signature`` over the raw body, checked before the body is parsed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.errors import Unauthenticated
from liquifact_core.kyc import ExemptKyc, KycEvent, parse_subject
from liquifact_core.reminders import ContactUpdate
from liquifact_core.webhooks import SIGNATURE_HEADER
from liquifact_http import wire
from liquifact_http.bodies import read_object
from liquifact_http.callers import caller_of
from liquifact_http.kyc_bodies import ContactBody, KycEventReceiptBody, KycMeBody, KycRecordBody
from liquifact_http.problems import Problem
from liquifact_http.routes.common import blocking, body, json_response, resource, services
from liquifact_http.wallet_bodies import body as render

KYC_ME = "/v1/kyc/me"
KYC_WEBHOOK = "/v1/kyc/webhook"
KYC_ADMIN = "/v1/admin/kyc/{subject}"
CONTACT = "/v1/me/contact"
# A 401 names its scheme (RFC 9110 section 11.6.1): the provider's signature, not a token.
SIGNATURE_CHALLENGE = 'Signature realm="kyc-webhook", headers="X-Signature"'


async def my_kyc(request: Request) -> Response:
    caller = caller_of(request)
    view = await blocking(services(request).kyc.mine, caller.tenant_id, caller.actor)
    return json_response(render(KycMeBody.of(view)))


async def start_kyc(request: Request) -> Response:
    caller = caller_of(request)
    wire.refuse_fields(await read_object(request, required=False))
    started = await blocking(services(request).kyc.start, caller.tenant_id, caller.actor)
    view = await blocking(services(request).kyc.mine, caller.tenant_id, caller.actor)
    return json_response(render(KycMeBody.of(view)), 202 if started.queued else 200)


async def kyc_webhook(request: Request) -> Response:
    kyc = services(request).kyc
    raw = await request.body()
    try:
        signed_at = kyc.authenticate(raw, request.headers.get(SIGNATURE_HEADER))
    except Unauthenticated as refused:
        raise Problem(
            401, refused.code, refused.message, headers={"WWW-Authenticate": SIGNATURE_CHALLENGE}
        ) from None
    event = await body(request, KycEvent)
    record = await blocking(kyc.apply_event, event, signed_at)
    return json_response(render(KycEventReceiptBody.of(record)))


async def subject_kyc(request: Request) -> Response:
    caller = caller_of(request)
    subject = parse_subject(request.path_params["subject"])
    record, history = await blocking(
        services(request).kyc.record, caller.tenant_id, caller.actor, subject
    )
    return json_response(render(KycRecordBody.of(record, history)))


async def exempt_subject(request: Request) -> Response:
    caller = caller_of(request)
    subject = parse_subject(request.path_params["subject"])
    command = await body(request, ExemptKyc)
    kyc = services(request).kyc
    await blocking(kyc.exempt, caller.tenant_id, caller.actor, subject, command)
    record, history = await blocking(kyc.record, caller.tenant_id, caller.actor, subject)
    return json_response(render(KycRecordBody.of(record, history)))


async def my_contact(request: Request) -> Response:
    caller = caller_of(request)
    contact = await blocking(services(request).reminders.contact, caller.tenant_id, caller.actor)
    return json_response(render(ContactBody.of(contact)))


async def put_contact(request: Request) -> Response:
    caller = caller_of(request)
    update = await body(request, ContactUpdate)
    contact = await blocking(
        services(request).reminders.set_contact, caller.tenant_id, caller.actor, update
    )
    return json_response(render(ContactBody.of(contact)))


routes = [
    resource(KYC_ME, GET=my_kyc),
    resource(f"{KYC_ME}/verification", POST=start_kyc),
    resource(KYC_WEBHOOK, POST=kyc_webhook),
    resource(KYC_ADMIN, GET=subject_kyc),
    resource(f"{KYC_ADMIN}/exempt", POST=exempt_subject),
    resource(CONTACT, GET=my_contact, PUT=put_contact),
]
