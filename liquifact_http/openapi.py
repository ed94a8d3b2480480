"""The OpenAPI 3.0.3 document of the HTTP API, built in Python.

Each operation is described once, for its canonical path; the deprecated ``/api/...`` twins are
derived from the ``/v1/...`` operations so the two can never drift apart. Limits and patterns
come from the modules that enforce them; every object schema is generated from a class
(``object_components``): a response body's ``Representation`` or a request body's command.
Tests validate real responses against this document (``tests/http/openapi_validation.py``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.metadata import version
from typing import Any

import attrs

from liquifact_core.amounts import CURRENCY_EXPONENTS, MONEY_MAX_DIGITS
from liquifact_core.errors import FieldError
from liquifact_core.invoices import (
    EscrowLink,
    InvoiceDraft,
    InvoiceListQuery,
    InvoicePatch,
    TransitionReason,
)
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_http import pages, probe_bodies, problems, schemas, wire
from liquifact_http import representations as rep
from liquifact_http.access import access_for
from liquifact_http.auth import API_KEY_HEADER, REALM
from liquifact_http.callers import TENANT_HEADER
from liquifact_http.middleware.correlation import HEADER as CORRELATION_HEADER
from liquifact_http.middleware.deprecation import (
    CANONICAL_PREFIX,
    DEPRECATION,
    LEGACY_PREFIX,
    SUNSET,
)
from liquifact_http.response_fields import Representation
from liquifact_http.routes.common import IF_MATCH_SYNTAX
from liquifact_http.settings import Settings

Object = dict[str, Any]
_DEFAULTS = Settings()  # the documented defaults of configurable limits

JSON = "application/json"
PROBLEM_JSON = problems.PROBLEM_MEDIA_TYPE
LEGACY_SUFFIX = "Legacy"
CORRELATION_ID_PATTERN = problems.CORRELATION_ID_PATTERN

INVOICE_ID_PATTERN = "^inv_[A-Za-z0-9_]{1,28}$"
TENANT_ID_PATTERN = "^[A-Za-z0-9_-]{1,128}$"
AMOUNT_PATTERN = f"^(0|[1-9][0-9]{{0,{MONEY_MAX_DIGITS - 1}}})(\\.[0-9]+)?$"
ETAG_PATTERN = '^"v[0-9]{1,18}"$'
# The If-Match grammar of RFC 9110 (routes.common.IF_MATCH_SYNTAX states it once).
IF_MATCH_PATTERN = IF_MATCH_SYNTAX

_EXAMPLE_ID = "inv_01JG8ZK3W6Q2R5T7V9X1Y3A5C7"
_EXAMPLE_CORRELATION_ID = "req_5f0c2a9e7d4b4c1a8e3f6b2d"
_EXAMPLE_TIME = "2026-01-15T09:30:00.000Z"


# ---- small builders ---------------------------------------------------------------------------
def _ref(kind: str, name: str) -> Object:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> Object:
    return _ref("schemas", name)


def _headers(*names: str) -> Object:
    return {name: _ref("headers", name) for name in (CORRELATION_HEADER, *names)}


def _json_response(
    description: str, schema: Object, *headers: str, media_type: str = JSON
) -> Object:
    return {
        "description": description,
        "headers": _headers(*headers),
        "content": {media_type: {"schema": schema}},
    }


# ---- schemas ----------------------------------------------------------------------------------
_TEXT_RULES = (
    "Text fields are NFC-normalised and trimmed before their length is checked and may not "
    "contain control or invisible format characters (the description may hold line breaks and "
    "tabs); no string or key may hold an unpaired surrogate or NUL (400, field code "
    "INVALID_TEXT; see docs/security.md, Text rules)."
)


def _invoice_example() -> Object:
    return {
        "id": _EXAMPLE_ID,
        "tenantId": "acme",
        "smeId": "local-operator",
        "smeWallet": None,
        "invoiceNumber": "INV-0001",
        "buyerName": "Acme Retail Ltd",
        "buyerEmail": "ap@acme.example",
        "buyerTaxId": None,
        "amount": "1250.00",
        "currency": "USD",
        "issueDate": "2026-01-15",
        "dueDate": "2026-03-15",
        "yieldBps": 650,
        "description": None,
        "metadata": {},
        "maturityDate": "2026-03-15",
        "status": "pending",
        "statusReason": None,
        "version": 1,
        "createdAt": _EXAMPLE_TIME,
        "updatedAt": _EXAMPLE_TIME,
        "escrowAddress": None,
        "fundingTargetStroops": None,
        "fundedStroops": None,
        "fundedRatio": None,
    }


@attrs.frozen
class Component:
    """A component object schema and the class it is generated from: a response body
    (``Representation``: ``schemas.response_schema``) or a request body (a command:
    ``schemas.body_schema``). No object schema of the document is written by hand."""

    cls: type[Any]
    description: str
    example: Object | None = None
    at_least_one: bool = False  # request bodies: at least one field must be sent

    def schema(self) -> Object:
        if issubclass(self.cls, Representation):
            schema = schemas.response_schema(self.cls, self.description)
        else:
            schema = schemas.body_schema(self.cls, self.description, at_least_one=self.at_least_one)
        if self.example is not None:
            schema["example"] = self.example
        return schema


def response(cls: type[Representation], description: str, **extra: Any) -> dict[str, Component]:
    """The component of a response body, under the name the class gives (``component``)."""
    assert cls.component is not None, f"{cls.__name__} names no component"
    return {cls.component: Component(cls, description, **extra)}


_READINESS_EXAMPLE = {"status": "ready", "checks": {"database": {"status": "up", "latencyMs": 1.4}}}


def _components() -> dict[str, Component]:
    return {
        **response(rep.InvoiceBody, "An invoice.", example=_invoice_example()),
        "InvoiceCreate": Component(
            InvoiceDraft,
            "A new invoice. dueDate must be on or after issueDate (DUE_BEFORE_ISSUE). "
            f"{_TEXT_RULES}",
        ),
        "InvoicePatch": Component(
            InvoicePatch,
            "Fields to change on a pending invoice; at least one. null clears an optional "
            f"field. The merged invoice must still be valid. {_TEXT_RULES}",
            at_least_one=True,
        ),
        **response(pages.InvoicePageBody, "One page of invoices, newest first."),
        **response(pages.PageMeta, "About one page of a list: the same shape on every list."),
        **response(rep.StateBody, "Where an invoice is in its lifecycle and where it can go next."),
        **response(rep.TransitionBody, "One step of an invoice's history."),
        **response(pages.HistoryBody, "Every lifecycle step of an invoice, oldest first."),
        **response(
            rep.PublicTransitionBody, "One state change of an invoice, as investors see it."
        ),
        **response(
            pages.PublicHistoryBody,
            "An investable invoice's state changes, oldest first, as investors see them.",
        ),
        "ReasonBody": Component(TransitionReason, "Why the invoice changes status."),
        "LinkEscrowBody": Component(
            EscrowLink, "The escrow contract and the funding target of an approved invoice."
        ),
        "EmptyBody": Component(wire.NoFields, "No fields; the body may be omitted."),
        **response(probe_bodies.HealthBody, "The process is alive."),
        **response(
            probe_bodies.ReadinessBody,
            "Whether this process can serve requests now, check by check.",
            example=_READINESS_EXAMPLE,
        ),
        **response(probe_bodies.ReadinessCheckBody, "One dependency check."),
        **response(probe_bodies.ApiIndexBody, "The API's name, version and links."),
        **response(problems.ProblemBody, "An RFC 9457 problem; the one error format of the API."),
        **response(problems.FieldErrorBody, "One invalid input field."),
    }


def object_components() -> dict[str, Component]:
    """Every object schema of the document by name, with the class it is generated from."""
    from liquifact_http import (
        openapi_auth,
        openapi_compliance,
        openapi_documents,
        openapi_escrow,
        openapi_kyc,
        openapi_market,
        openapi_reconciliation,
        openapi_webhooks,
    )

    return {
        **_components(),
        **openapi_market.components(),
        **openapi_auth.components(),
        **openapi_webhooks.components(),
        **openapi_reconciliation.components(),
        **openapi_escrow.components(),
        **openapi_kyc.components(),
        **openapi_documents.components(),
        **openapi_compliance.components(),
    }


def _schemas() -> Object:
    return {
        "InvoiceId": {
            "type": "string",
            "pattern": INVOICE_ID_PATTERN,
            "example": _EXAMPLE_ID,
        },
        "TenantId": {"type": "string", "pattern": TENANT_ID_PATTERN, "example": "acme"},
        "InvoiceStatus": {"type": "string", "enum": [s.value for s in InvoiceStatus]},
        "Currency": {
            "type": "string",
            "enum": sorted(CURRENCY_EXPONENTS),
            "description": "An ISO 4217 alphabetic code.",
            "example": "USD",
        },
        "Amount": {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "description": "A positive decimal string in the invoice currency, with no more "
            "decimals than the currency has (never a JSON number).",
            "example": "1250.00",
        },
        **{name: component.schema() for name, component in object_components().items()},
    }


# ---- parameters and headers -------------------------------------------------------------------
def _parameters() -> Object:
    return {
        "CorrelationId": {
            "name": CORRELATION_HEADER,
            "in": "header",
            "required": False,
            "description": "Any value is accepted: it is echoed back when it is 8-128 of "
            f"`[A-Za-z0-9._:-]` (`{CORRELATION_ID_PATTERN}`); otherwise a new id is issued. "
            "Appears in the response header, error bodies and logs.",
            "schema": {"type": "string"},
        },
        "TenantId": {
            "name": TENANT_HEADER,
            "in": "header",
            "required": False,
            "description": "The tenant the request acts for. Required with an API key (400 "
            "without it; 403 if the key is limited to other tenants). With a bearer token the "
            "tenant is the token's `tenantId` claim: the header may be left out, and if sent "
            "it must be equal to the claim (else 403; it never overrides the claim).",
            "schema": _schema("TenantId"),
        },
        "InvoiceId": {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": _schema("InvoiceId"),
        },
        "IfMatch": {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "description": "RFC 9110 If-Match: `*`, or a comma-separated list of entity-tags "
            'such as `"v3"` or `"v3", "v4"`. The change happens only if one listed tag is the '
            'invoice\'s current ETag by strong comparison (a weak tag such as `W/"v3"` never '
            "matches), else 412; the precondition is checked before the body. `*` or absent: "
            "no version check. A value that is not `*` or a list of entity-tags is 400.",
            "schema": {"type": "string", "pattern": IF_MATCH_PATTERN, "example": '"v1"'},
        },
    }


def _header(description: str, schema: Object) -> Object:
    return {"description": description, "required": True, "schema": schema}


def _response_headers() -> Object:
    return {
        CORRELATION_HEADER: _header(
            "The request's correlation id.",
            {"type": "string", "pattern": CORRELATION_ID_PATTERN},
        ),
        "ETag": _header(
            "The invoice version; send it back in If-Match.",
            {"type": "string", "pattern": ETAG_PATTERN, "example": '"v1"'},
        ),
        "Location": _header(
            "The new invoice.",
            {"type": "string", "pattern": "^/v1/invoices/inv_[A-Za-z0-9_]{1,28}$"},
        ),
        "Allow": _header("The methods the resource supports.", {"type": "string"}),
        "WWW-Authenticate": _header(
            "The authentication challenge (RFC 6750).",
            {
                "type": "string",
                "pattern": f'^Bearer realm="{REALM}"',
                "example": f'Bearer realm="{REALM}"',
            },
        ),
        "Cache-Control": _header(
            "Probe answers are never cached.", {"type": "string", "enum": ["no-store"]}
        ),
        "Deprecation": _header(
            "RFC 9745: when this path was deprecated.",
            {"type": "string", "pattern": "^@[0-9]+$", "example": DEPRECATION},
        ),
        "Sunset": _header(
            "RFC 8594: when this path stops answering.",
            {"type": "string", "example": SUNSET},
        ),
        "Retry-After": _header(
            "Seconds to wait before retrying.", {"type": "string", "pattern": "^[0-9]+$"}
        ),
        "RateLimit-Limit": _header(
            "Requests allowed in the window of the policy closest to its limit.",
            {"type": "string", "pattern": "^[0-9]+$"},
        ),
        "RateLimit-Remaining": _header(
            "Requests left in that window.", {"type": "string", "pattern": "^[0-9]+$"}
        ),
        "RateLimit-Reset": _header(
            "Seconds until that window resets.", {"type": "string", "pattern": "^[0-9]+$"}
        ),
        "Link": _header(
            "The canonical /v1 successor of this path.",
            {
                "type": "string",
                "pattern": '^<[^>]+>; rel="successor-version"$',
                "example": '</v1/invoices>; rel="successor-version"',
            },
        ),
    }


# ---- error responses --------------------------------------------------------------------------
_ERROR_MEANINGS: Mapping[int, str] = {
    400: "The request is invalid: malformed JSON, a body that is not an object, an unknown "
    "or invalid field or query parameter, or a missing or invalid X-Tenant-Id header or "
    "invoice id. `errors` lists each invalid field.",
    401: "No credentials (AUTHENTICATION_REQUIRED), or credentials that are not valid "
    "(INVALID_TOKEN: malformed, unsigned, tampered, expired, not yet valid, wrong issuer or "
    "audience, unknown or revoked API key, ...). The answer never says which check failed.",
    403: "The caller is authenticated but may not do this: its role is not allowed "
    "(FORBIDDEN), its bound wallet is missing or is not the one named (WALLET_NOT_BOUND, "
    "WALLET_MISMATCH), its API key lacks the scope (INSUFFICIENT_SCOPE), the X-Tenant-Id header "
    "names another tenant than the credential allows (TENANT_FORBIDDEN), or the browser's "
    "Origin is not allowed (CORS_FORBIDDEN).",
    404: "No invoice with this id is visible to the caller (an invoice of another tenant, or "
    "of another SME, is not visible).",
    405: "The path does not support this method; Allow lists those it does.",
    409: "The request clashes with the invoice's current state.",
    412: "If-Match does not name the invoice's current version, or the invoice changed "
    "concurrently. Re-read it and retry.",
    422: "The request is well-formed but what it names cannot be used; `code` says why.",
    413: "The request body is larger than its limit: invoice create/edit "
    f"{_DEFAULTS.body_limit_invoice} bytes (BODY_LIMIT_INVOICE), other JSON bodies "
    f"{_DEFAULTS.body_limit_json} bytes (BODY_LIMIT_JSON), urlencoded "
    f"{_DEFAULTS.body_limit_urlencoded} bytes (BODY_LIMIT_URLENCODED); defaults shown, the "
    "deployment may differ. Checked on the bytes received, not only Content-Length.",
    429: "Too many requests from this principal (user, API key or client address) in the "
    "current window. Retry-After and RateLimit-Reset say when to retry.",
    415: "The body is not sent as application/json.",
    500: "An unexpected error; nothing internal is disclosed.",
    503: "A dependency is unavailable (the data store, or the blockchain RPC: CHAIN_UNAVAILABLE, "
    "also while its circuit breaker is open); retry later with backoff.",
}

_ERROR_EXAMPLES: Mapping[int, tuple[str, str]] = {
    400: ("VALIDATION_ERROR", "Invoice payload has invalid fields."),
    401: ("INVALID_TOKEN", "The credentials are not valid."),
    403: ("FORBIDDEN", "A caller with role 'investor' may not call this operation."),
    404: ("NOT_FOUND", f"Invoice '{_EXAMPLE_ID}' was not found."),
    405: ("METHOD_NOT_ALLOWED", "Method PUT is not allowed here."),
    409: ("INVALID_TRANSITION", "Cannot move an invoice from 'approved' to 'rejected'."),
    412: ("PRECONDITION_FAILED", "Invoice is at version 2, not 1; re-read it and retry."),
    422: ("ESCROW_INVOICE_MISMATCH", "The escrow contract was initialised for another invoice."),
    423: (
        "ESCROW_LEGAL_HOLD",
        "The escrow is under a legal hold; it accepts no change until the hold is cleared.",
    ),
    413: ("PAYLOAD_TOO_LARGE", f"Request body exceeds {_DEFAULTS.body_limit_invoice} bytes."),
    429: ("RATE_LIMITED", "Too many requests; retry after the time in Retry-After."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Send the request body as application/json."),
    500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred."),
    503: ("SERVICE_UNAVAILABLE", "The data store is unavailable."),
}


def _problem_example(status: int) -> Object:
    """A body exactly as the API renders it (built by the renderer itself)."""
    code, detail = _ERROR_EXAMPLES[status]
    field_errors = (
        [FieldError("dueDate", "must be on or after issueDate", "DUE_BEFORE_ISSUE")]
        if status == 400
        else []
    )
    problem = problems.Problem(
        status, code, detail, field_errors=field_errors, retryable=status in {429, 503}
    )
    response = problems.render(problem, _EXAMPLE_CORRELATION_ID, f"/v1/invoices/{_EXAMPLE_ID}")
    example: Object = json.loads(bytes(response.body))
    return example


def _problem_response(status: int, meaning: str | None = None, *headers: str) -> Object:
    response = _json_response(
        meaning or _ERROR_MEANINGS[status], _schema("Problem"), *headers, media_type=PROBLEM_JSON
    )
    response["content"][PROBLEM_JSON]["examples"] = {
        problems.slug(_ERROR_EXAMPLES[status][0]): _ref("examples", f"Problem{status}")
    }
    return response


def _examples() -> Object:
    return {
        f"Problem{status}": {
            "summary": problems.PROBLEM_TITLES[status],
            "value": _problem_example(status),
        }
        for status in _ERROR_EXAMPLES
    }


_RATE_LIMIT_HEADERS = ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def _errors(*statuses: int, conflict: str | None = None, limited: bool = True) -> Object:
    """Problem responses for ``statuses`` (and 500, and 429 unless the path is not rate
    ``limited``); ``conflict`` says what a 409 means here."""
    extra = {500, 429} if limited else {500}
    return {
        str(status): _problem_response(
            status,
            conflict if status == 409 else None,
            *(_RATE_LIMIT_HEADERS if status == 429 else ()),
        )
        for status in sorted({*statuses, *extra})
    }


# ---- operations -------------------------------------------------------------------------------
def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: Object,
    *,
    description: str | None = None,
    parameters: Iterable[str] = (),
    request_body: Object | None = None,
    query: type[Any] | None = None,
    query_notes: Mapping[str, str] | None = None,
) -> Object:
    """One operation; ``query`` (a typed query class) documents its query parameters, from the
    rules of its fields (``schemas.query_parameters``)."""
    operation: Object = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        operation["description"] = description
    operation["parameters"] = [_ref("parameters", name) for name in ("CorrelationId", *parameters)]
    if query is not None:
        operation["parameters"] += schemas.query_parameters(query, dict(query_notes or {}))
    if request_body is not None:
        operation["requestBody"] = request_body
    operation["responses"] = responses
    return operation


def _body(schema_name: str, *, required: bool = True) -> Object:
    return {"required": required, "content": {JSON: {"schema": _schema(schema_name)}}}


def _invoice_ok(description: str, status: int = 200, *headers: str) -> Object:
    return {str(status): _json_response(description, _schema("Invoice"), "ETag", *headers)}


_INVOICE = ("TenantId", "InvoiceId")
_WRITE = (*_INVOICE, "IfMatch")
_BODY_ERRORS = (400, 404, 409, 412, 413, 415, 503)


def _action(
    operation_id: str,
    summary: str,
    description: str,
    body: Object,
    conflict: str,
    extra: Iterable[int] = (),
) -> Object:
    return _operation(
        operation_id,
        summary,
        "Invoice lifecycle",
        {
            **_invoice_ok("The invoice after the transition."),
            **_errors(*_BODY_ERRORS, *extra, conflict=conflict),
        },
        description=description,
        parameters=_WRITE,
        request_body=body,
    )


def _reason_action(operation_id: str, summary: str, description: str) -> Object:
    return _action(
        operation_id,
        summary,
        description,
        _body("ReasonBody"),
        "The invoice's status does not allow this transition (INVALID_TRANSITION).",
    )


def _readiness_responses() -> Object:
    return {
        "200": _json_response("Every check is up.", _schema("Readiness"), "Cache-Control"),
        "503": _json_response("A check is down.", _schema("Readiness"), "Cache-Control"),
        **_errors(limited=False),
    }


_METRICS_DESCRIPTION = """Prometheus text exposition of the API's metrics (request counts and \
latency by route template, readiness_gauge, body_size_limit_rejections_total, rate-limit and \
response-cache counters, background job gauges).

Access: with METRICS_BEARER_TOKEN set, `Authorization: Bearer <token>` is required; without it, \
only clients connected from the loopback interface (127.0.0.1, ::1, ::ffff:127.0.0.1) are \
served. X-Forwarded-For is never consulted. Every refusal is the same 401. Not rate limited."""


# /metrics is PUBLIC in the access table (no JWT or API key is looked at) but applies its own
# rule: the METRICS_BEARER_TOKEN scheme, or (without one) loopback peers with no credentials.
METRICS_SECURITY: list[Object] = [{"metricsBearerAuth": []}, {}]


def _metrics_paths() -> Object:
    exposition = {"type": "string", "description": "Prometheus text format."}
    unauthorized = _problem_response(401)
    unauthorized["headers"]["WWW-Authenticate"] = _header(
        "The metrics route's own challenge (not the API's realm).",
        {"type": "string", "enum": ['Bearer realm="metrics"']},
    )
    operation = _operation(
        "getMetrics",
        "Prometheus metrics",
        "Probes",
        {
            "200": _json_response("The metrics.", exposition, media_type="text/plain"),
            "401": unauthorized,
            **_errors(limited=False),
        },
        description=_METRICS_DESCRIPTION,
    )
    operation["security"] = copy.deepcopy(METRICS_SECURITY)
    return {"/metrics": {"get": operation}}


def _probe_paths() -> Object:
    health = {
        "200": _json_response("The process is alive.", _schema("Health")),
        **_errors(limited=False),
    }
    probe = "Liveness only: never touches a dependency. Not rate limited."
    return {
        "/readyz": {
            "get": _operation(
                "getReadyz",
                "Readiness (critical dependencies)",
                "Probes",
                _readiness_responses(),
                description="Checks what every request needs: the database (`SELECT 1`, short "
                "timeout, schema up to date). 503 while any is down.",
            )
        },
        "/ready": {
            "get": _operation(
                "getReady",
                "Readiness (all dependencies)",
                "Probes",
                _readiness_responses(),
                description="The `/readyz` checks plus those of optional dependencies, as they "
                "are added. 503 while any is down.",
            )
        },
        "/health": {
            "get": _operation("getHealth", "Liveness", "Probes", health, description=probe)
        },
        "/healthz": {
            "get": _operation(
                "getHealthz", "Liveness (Kubernetes name)", "Probes", health, description=probe
            )
        },
        "/v1": {
            "get": _operation(
                "getApiIndex",
                "API index",
                "API",
                {
                    "200": _json_response("Name, version and links.", _schema("ApiIndex")),
                    **_errors(),
                },
            )
        },
    }


def _docs_paths() -> Object:
    def text(description: str, media_type: str) -> Object:
        schema = {"type": "string"}
        return {"200": _json_response(description, schema, media_type=media_type), **_errors()}

    document = {"type": "object", "required": ["openapi", "info", "paths"]}
    return {
        "/openapi.json": {
            "get": _operation(
                "getOpenApiDocument",
                "This OpenAPI document",
                "Documentation",
                {"200": _json_response("The OpenAPI 3.0.3 document.", document), **_errors()},
            )
        },
        "/docs": {
            "get": _operation(
                "getSwaggerUi",
                "Swagger UI",
                "Documentation",
                text("The Swagger UI page (assets served locally).", "text/html"),
            )
        },
        "/docs/init.js": {
            "get": _operation(
                "getSwaggerUiInit",
                "Swagger UI start-up script",
                "Documentation",
                text("The script that starts Swagger UI.", "application/javascript"),
            )
        },
    }


def _invoice_paths() -> Object:
    base = "/v1/invoices"
    item = f"{base}/{{id}}"
    not_editable = "The invoice is not pending (INVOICE_NOT_EDITABLE)"
    return {
        base: {
            "get": _operation(
                "listInvoices",
                "List invoices",
                "Invoices",
                {
                    "200": _json_response("One page of invoices.", _schema("InvoiceList")),
                    **_errors(400, 503),
                },
                description="Newest first. Unknown query parameters are refused (400).",
                parameters=("TenantId",),
                query=InvoiceListQuery,
                query_notes={
                    "status": "Only invoices in these statuses.",
                    "page": "1-based page number.",
                    "limit": "Invoices per page.",
                },
            ),
            "post": _operation(
                "createInvoice",
                "Submit an invoice",
                "Invoices",
                {
                    **_invoice_ok("The new invoice, pending.", 201, "Location"),
                    **_errors(
                        400,
                        409,
                        413,
                        415,
                        503,
                        conflict="The invoice number is already used by one of this SME's live "
                        "invoices, compared in canonical form (DUPLICATE_INVOICE_NUMBER).",
                    ),
                },
                parameters=("TenantId",),
                request_body=_body("InvoiceCreate"),
            ),
        },
        item: {
            "get": _operation(
                "getInvoice",
                "Read an invoice",
                "Invoices",
                {
                    "200": _json_response(
                        "The invoice. Investors get the buyer-safe `MarketplaceItem` view, and "
                        "only of an investable invoice of their tenant.",
                        {"oneOf": [_schema("Invoice"), _schema("MarketplaceItem")]},
                        "ETag",
                    ),
                    **_errors(400, 404, 503),
                },
                description="Investors may read an invoice only while it is investable "
                "(linked_escrow or partially_funded); any other is 404, as is another "
                "tenant's or SME's.",
                parameters=_INVOICE,
            ),
            "patch": _operation(
                "updateInvoice",
                "Edit a pending invoice",
                "Invoices",
                {
                    **_invoice_ok("The invoice after the change."),
                    **_errors(
                        *_BODY_ERRORS,
                        conflict=f"{not_editable}, or the new invoice number is already used "
                        "(DUPLICATE_INVOICE_NUMBER).",
                    ),
                },
                description="Merge-patch of client fields; only while the invoice is pending.",
                parameters=_WRITE,
                request_body=_body("InvoicePatch"),
            ),
            "delete": _operation(
                "deleteInvoice",
                "Delete a pending invoice",
                "Invoices",
                {
                    "204": {"description": "Deleted.", "headers": _headers()},
                    **_errors(400, 404, 409, 412, 503, conflict=f"{not_editable}."),
                },
                description="A soft delete: the invoice disappears from reads; its history "
                "and audit trail remain.",
                parameters=_WRITE,
            ),
        },
        f"{item}/state": {
            "get": _operation(
                "getInvoiceState",
                "Lifecycle state",
                "Invoice lifecycle",
                {
                    "200": _json_response("Status and next steps.", _schema("InvoiceState")),
                    **_errors(400, 404, 503),
                },
                parameters=_INVOICE,
            )
        },
        f"{item}/history": {
            "get": _operation(
                "getInvoiceHistory",
                "Lifecycle history",
                "Invoice lifecycle",
                {
                    "200": _json_response(
                        "Every transition. Investors get the public history (`PublicHistory`): "
                        "state changes and their times, not who took them or why.",
                        {"oneOf": [_schema("History"), _schema("PublicHistory")]},
                    ),
                    **_errors(400, 404, 503),
                },
                description="Investors may read the history of an investable invoice only.",
                parameters=_INVOICE,
            )
        },
        f"{item}/approve": {
            "post": _action(
                "approveInvoice",
                "Approve",
                "pending -> approved. The body may be omitted or `{}`.",
                _body("EmptyBody", required=False),
                "Only a pending invoice can be approved (INVALID_TRANSITION).",
            )
        },
        f"{item}/reject": {
            "post": _reason_action("rejectInvoice", "Reject", "pending -> rejected.")
        },
        f"{item}/cancel": {
            "post": _reason_action(
                "cancelInvoice",
                "Cancel",
                "pending, approved, linked_escrow or partially_funded -> cancelled.",
            )
        },
        f"{item}/link-escrow": {
            "post": _action(
                "linkInvoiceEscrow",
                "Link an escrow",
                "approved -> linked_escrow, recording the escrow contract and funding target. "
                "When the server reads a chain (SOROBAN_RPC_URL set), the contract is read "
                "first and the link is refused with 422 unless it is an initialised LiquiFact "
                "escrow (ESCROW_NOT_RECOGNISED) for this invoice id (ESCROW_INVOICE_MISMATCH), "
                "open (ESCROW_NOT_OPEN), with this funding target "
                "(ESCROW_FUNDING_TARGET_MISMATCH); ESCROW_ADDR_BY_INVOICE may refuse it too "
                "(ESCROW_ADDRESS_NOT_MAPPED, ESCROW_NOT_ALLOWLISTED). 503 (retryable) when the "
                "chain cannot be read.",
                _body("LinkEscrowBody"),
                "Only an approved invoice can be linked (INVALID_TRANSITION), and only to a "
                "contract no other invoice, of any tenant, is linked to: each invoice has an "
                "escrow contract of its own (ESCROW_ALREADY_LINKED; the answer names no "
                "other invoice or tenant).",
                extra=(422,),
            )
        },
        f"{item}/default": {
            "post": _reason_action(
                "markInvoiceDefaulted", "Mark defaulted", "disbursed -> defaulted."
            )
        },
    }


SECURITY_SCHEMES: Object = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "`Authorization: Bearer <JWT>`, signed with an algorithm of "
        "JWT_ALGORITHMS (HS256 by default). Claims: `sub` (the caller's id), `tenantId`, "
        "`role` (sme, investor or admin), `exp` (required), optional `nbf`, `iat`, "
        "`walletAddress` (a checksummed G... account bound to the caller), and `iss`/`aud` "
        "when the server is configured with them.",
    },
    "apiKeyAuth": {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": "A service API key (`lf_...`) from API_KEYS. Acts with role `service` "
        "for the tenant named in X-Tenant-Id, within the key's scopes (each operation names "
        "the scope it needs in `x-liquifact-access`).",
    },
    "metricsBearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "For `GET /metrics` only: `Authorization: Bearer <METRICS_BEARER_TOKEN>`, "
        "an opaque shared secret (not a JWT; JWTs and API keys are not accepted there). Without "
        "METRICS_BEARER_TOKEN, only loopback peers are served, with no credentials.",
    },
}


def _secure(paths: Object) -> Object:
    """Each operation's ``security``, 401/403 answers and access note, from ``access.ACCESS``."""
    for path, item in paths.items():
        for method, operation in item.items():
            access = access_for(path, method)
            operation["x-liquifact-access"] = {
                "public": access.public,
                "roles": sorted(role.value for role in access.roles),
                "apiKeyScope": access.scope.value if access.scope else None,
            }
            if access.public and "security" in operation:
                continue  # a public route with its own rule (/metrics) declares it itself
            note = access.describe()
            original = operation.get("description")
            operation["description"] = f"{original}\n\n{note}" if original else note
            if access.public:
                operation["security"] = []
                continue
            schemes: list[Object] = [{"bearerAuth": []}]
            if access.scope is not None:
                schemes.append({"apiKeyAuth": []})
            operation["security"] = schemes
            responses = operation["responses"]
            responses["401"] = _problem_response(401, None, "WWW-Authenticate")
            responses["403"] = _problem_response(403)
            operation["responses"] = dict(sorted(responses.items()))
    return paths


def _legacy_path(path: str) -> str:
    return LEGACY_PREFIX + path[len(CANONICAL_PREFIX) :]


def _legacy_twin(path: str, item: Object) -> Object:
    """The ``/api`` alias of a ``/v1`` path item: same operations, marked deprecated."""
    twin = copy.deepcopy(item)
    for method, operation in twin.items():
        operation["operationId"] += LEGACY_SUFFIX
        operation["deprecated"] = True
        notice = (
            f"Deprecated alias of `{method.upper()} {path}`; answers the same and adds "
            f"Deprecation, Sunset ({SUNSET}) and Link headers."
        )
        original = operation.get("description")
        operation["description"] = f"{notice}\n\n{original}" if original else notice
        for response in operation["responses"].values():
            response["headers"].update(_headers("Deprecation", "Sunset", "Link"))
    return twin


def _routed(described: Object) -> Object:
    """The operations of the route table (``routes.common.resource``), in its order.

    Paths and methods come from the routes: a route or method without a description here, or a
    description without a route, stops the document from being built.
    """
    from liquifact_http.bootstrap import all_routes  # the route table imports this module

    remaining = dict(described)
    routed: Object = {}
    for route in all_routes():
        handlers = getattr(route, "handlers", None)
        if handlers is None:
            continue  # a mounted static-file app (Swagger UI assets), not an operation
        path: str = route.path  # type: ignore[attr-defined]
        item = remaining.pop(path, None)
        methods = {method.lower() for method in handlers}
        if item is None or set(item) != methods:
            raise LookupError(f"{path} {sorted(methods)} is not described for the document")
        routed[path] = {method: item[method] for method in sorted(methods)}
    if remaining:
        raise LookupError(f"Described but not routed: {sorted(remaining)}")
    return routed


def _with_admin_audit_headers(paths: Object) -> Object:
    """Every write under /v1/admin/ accepts the audit headers (``admin_audit``)."""
    from liquifact_http.admin_audit import is_audited
    from liquifact_http.openapi_compliance import admin_write_parameters

    for path, item in paths.items():
        for method, operation in item.items():
            if is_audited(method.upper(), path):
                operation["parameters"] = [*operation["parameters"], *admin_write_parameters()]
    return paths


def _paths() -> Object:
    from liquifact_http import (
        openapi_auth,
        openapi_compliance,
        openapi_documents,
        openapi_escrow,
        openapi_kyc,
        openapi_market,
        openapi_reconciliation,
        openapi_webhooks,
    )

    canonical = _secure(
        _routed(
            _with_admin_audit_headers(
                {
                    **_probe_paths(),
                    **_metrics_paths(),
                    **_invoice_paths(),
                    **openapi_market.paths(),
                    **openapi_auth.paths(),
                    **openapi_webhooks.paths(),
                    **openapi_reconciliation.paths(),
                    **openapi_escrow.paths(),
                    **openapi_documents.paths(),
                    **openapi_compliance.paths(),
                    **openapi_kyc.paths(),
                    **_docs_paths(),
                }
            )
        )
    )
    legacy = {
        _legacy_path(path): _legacy_twin(path, item)
        for path, item in canonical.items()
        if path == CANONICAL_PREFIX or path.startswith(CANONICAL_PREFIX + "/")
    }
    return {**canonical, **legacy}


def _generic_responses() -> Object:
    """Answers any path can give; referenced by tooling, not by operations."""
    return {
        "NotFound": _problem_response(404, "No resource at this path."),
        "MethodNotAllowed": _problem_response(405, None, "Allow"),
    }


_DESCRIPTION = """Invoice liquidity on Stellar: SMEs submit invoices, operators approve them and \
link a Soroban escrow, investors fund them.

* Canonical paths start with `/v1`; the older `/api/...` paths still answer the same but are \
deprecated (Deprecation, Sunset and Link headers).
* Authentication: a JWT bearer token (`Authorization: Bearer <token>`; people: SMEs, \
investors, admins) or a service API key (`X-API-Key`, acting for the tenant named in \
`X-Tenant-Id`). Each operation lists what it accepts in `security` and, in \
`x-liquifact-access`, the roles and API-key scope it admits. Probes and documentation are public.
* A token's tenant is its `tenantId` claim; `X-Tenant-Id`, if sent, must be equal to it.
* Changes can be made conditional with `If-Match` and the ETag of an earlier response.
* Every error is an RFC 9457 `application/problem+json` body; every response carries \
`X-Correlation-Id`.
* JSON field names are camelCase; amounts are decimal strings, stroops are digit strings.
* GET paths also answer HEAD.
* Requests are rate limited per principal (user, API key, else client address): every answer \
carries `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`; \
over the limit the answer is 429 with `Retry-After`. Writes on invoices, funding and \
retention have a stricter limit. Probes and `/metrics` are not limited.
* Request bodies are size-limited (413): invoice create/edit 512 KB, other JSON 100 KB, \
urlencoded 50 KB by default.
"""

_TAGS = [
    {"name": "Invoices", "description": "Submit, read, edit and delete invoices."},
    {"name": "Invoice lifecycle", "description": "Move an invoice through its statuses."},
    {"name": "API", "description": "The API index."},
    {"name": "Probes", "description": "Liveness and readiness for orchestrators, and metrics."},
    {"name": "Documentation", "description": "This document and Swagger UI."},
]


@cache
def openapi_document() -> dict[str, Any]:
    """The complete OpenAPI 3.0.3 document (built once; treat it as read-only)."""
    from liquifact_http import (
        openapi_auth,
        openapi_compliance,
        openapi_documents,
        openapi_escrow,
        openapi_kyc,
        openapi_market,
        openapi_reconciliation,
        openapi_webhooks,
    )

    return {
        "openapi": "3.0.3",
        "info": {
            "title": "LiquiFact API",
            "version": version("liquifact"),
            "description": _DESCRIPTION,
            "license": {"name": "MIT"},
        },
        "tags": [
            *_TAGS,
            *openapi_market.TAGS,
            *openapi_auth.TAGS,
            *openapi_webhooks.TAGS,
            *openapi_reconciliation.TAGS,
            *openapi_escrow.TAGS,
            *openapi_kyc.TAGS,
            *openapi_documents.TAGS,
            *openapi_compliance.TAGS,
        ],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "parameters": {
                **_parameters(),
                **openapi_market.parameters(),
                **openapi_auth.parameters(),
                **openapi_webhooks.parameters(),
                **openapi_reconciliation.parameters(),
                **openapi_escrow.parameters(),
                **openapi_kyc.parameters(),
                **openapi_documents.parameters(),
                **openapi_compliance.parameters(),
            },
            "headers": {
                **_response_headers(),
                **openapi_market.headers(),
                **openapi_auth.headers(),
                **openapi_webhooks.headers(),
                **openapi_escrow.headers(),
                **openapi_documents.headers(),
                **openapi_compliance.headers(),
            },
            "responses": _generic_responses(),
            "examples": _examples(),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
