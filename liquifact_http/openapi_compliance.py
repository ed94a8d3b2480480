"""The OpenAPI entries of the audit export, retention policies, legal holds and the purge
preview (issue 16). Built with the helpers of ``liquifact_http.openapi``, which merges these
into the document."""

from __future__ import annotations

from liquifact_core.audit_export import CSV_COLUMNS, EXPORT_LIMIT_DEFAULT, AuditExportQuery
from liquifact_core.retention import (
    HOLD_ID_PATTERN,
    POLICY_ID_PATTERN,
    PREVIEW_LIMIT_DEFAULT,
    HoldRelease,
    HoldRequest,
    HoldsQuery,
    PoliciesQuery,
    PolicyDraft,
    PreviewQuery,
)
from liquifact_http import compliance_bodies as bodies
from liquifact_http.admin_audit import (
    ACTION_HEADER,
    ACTION_PATTERN,
    TARGET_ID_HEADER,
    TARGET_ID_PATTERN,
    TARGET_TYPE_HEADER,
    TARGET_TYPE_PATTERN,
)
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
from liquifact_http.routes.audit import EXPORT_PATH
from liquifact_http.routes.retention import (
    HOLDS_PATH,
    INVOICE_HOLDS_PATH,
    POLICIES_PATH,
    PREVIEW_PATH,
)

_AUDIT_TAG = "Audit"
_RETENTION_TAG = "Retention and legal holds"
_STORE_DOWN = "The data store is unavailable; retry later with backoff."
_TENANT = "A missing or invalid X-Tenant-Id header, or an unknown parameter."
_BODY = {413: "The request body is too large.", 415: "The body is not sent as application/json."}
_NO_POLICY = "The tenant has no such policy (RETENTION_POLICY_NOT_FOUND)."
_NO_HOLD = "The tenant has no such legal hold (LEGAL_HOLD_NOT_FOUND)."
_BAD_POLICY_ID = "The policy id is not `rpol_` and 1-40 of [A-Za-z0-9] (INVALID_ID). Or: "
_BAD_HOLD_ID = "The hold id is not `hold_` and 1-40 of [A-Za-z0-9] (INVALID_ID). Or: "
# Admin writes may name their audit event (the spec's x-admin-action and x-audit-target-*).
ADMIN_AUDIT_PARAMETERS = ("AdminAction", "AuditTargetType", "AuditTargetId")


def components() -> dict[str, Component]:
    """The object schemas of these routes, with the classes they are generated from."""
    return {
        **response(bodies.AuditEventBody, "One audit event."),
        **response(bodies.AuditPageBody, "One page of an invoice's audit trail, oldest first."),
        **response(bodies.PolicyBody, "A retention policy of the tenant."),
        **response(bodies.PolicyPageBody, "The tenant's retention policies, newest first."),
        "RetentionPolicyDraft": Component(
            PolicyDraft,
            "A retention policy: its name (unique in the tenant), the days an invoice's "
            "personal data is kept after the invoice closes, the buyer fields a purge erases, "
            "and whether it applies.",
        ),
        **response(bodies.HoldBody, "A LiquiFact legal hold on an invoice."),
        **response(bodies.HoldPageBody, "The tenant's legal holds, newest first."),
        "LegalHoldRequest": Component(
            HoldRequest, "A legal hold to place on an invoice: its type and why."
        ),
        "LegalHoldRelease": Component(HoldRelease, "Why the hold is released (optional)."),
        **response(bodies.InvoiceHoldsBody, "An invoice's two legal holds, side by side."),
        **response(bodies.PurgeDecisionBody, "What the next purge does to one invoice."),
        **response(bodies.PurgePreviewBody, "What a purge now would do; nothing is written."),
    }


def parameters() -> Object:
    def header(name: str, pattern: str, description: str) -> Object:
        return {
            "name": name,
            "in": "header",
            "required": False,
            "description": description,
            "schema": {"type": "string", "pattern": pattern},
        }

    return {
        "AuditInvoiceId": {
            "name": "invoiceId",
            "in": "path",
            "required": True,
            "description": "The invoice whose trail is exported (else 400 INVALID_ID); it "
            "need not exist any more.",
            "schema": _schema("InvoiceId"),
        },
        "PolicyId": {
            "name": "policyId",
            "in": "path",
            "required": True,
            "description": "A retention policy's id (else 400 INVALID_ID).",
            "schema": {"type": "string", "pattern": POLICY_ID_PATTERN},
        },
        "HoldId": {
            "name": "holdId",
            "in": "path",
            "required": True,
            "description": "A legal hold's id (else 400 INVALID_ID).",
            "schema": {"type": "string", "pattern": HOLD_ID_PATTERN},
        },
        "AdminAction": header(
            ACTION_HEADER,
            ACTION_PATTERN,
            "The spec's x-admin-action: the `action` of the audit event this successful "
            'write appends (default: "<METHOD> <route>"). Malformed: 400 INVALID_HEADER.',
        ),
        "AuditTargetType": header(
            TARGET_TYPE_HEADER,
            TARGET_TYPE_PATTERN,
            "The spec's x-audit-target-type: the resource type of that event (default: "
            f"`admin_route`). Sent with {TARGET_ID_HEADER} or not at all (400 "
            "REQUIRED_TOGETHER).",
        ),
        "AuditTargetId": header(
            TARGET_ID_HEADER,
            TARGET_ID_PATTERN,
            "The spec's x-audit-target-id: the resource id of that event (default: the "
            f"route). Sent with {TARGET_TYPE_HEADER} or not at all.",
        ),
    }


def headers() -> Object:
    return {
        "Content-Disposition": {
            "description": 'CSV only: `attachment; filename="audit-<invoiceId>.csv"`.',
            "required": False,
            "schema": {
                "type": "string",
                "pattern": '^attachment; filename="audit-inv_[A-Za-z0-9_]{1,28}\\.csv"$',
            },
        },
        "PolicyLocation": {
            "description": "The new policy.",
            "required": True,
            "schema": {"type": "string", "pattern": "^/v1/retention/policies/rpol_[A-Za-z0-9]+$"},
        },
        "HoldLocation": {
            "description": "The new legal hold.",
            "required": True,
            "schema": {
                "type": "string",
                "pattern": "^/v1/retention/legal-holds/hold_[A-Za-z0-9]+$",
            },
        },
    }


_EXPORT_DESCRIPTION = (
    "The invoice's audit trail, oldest first: every event about the invoice (its lifecycle, "
    "commitments, webhook deliveries, legal holds and purges), in the order appended. "
    "`format=json` (the default) answers one page of `limit` events (1-500, default "
    f"{EXPORT_LIMIT_DEFAULT}); `meta.nextCursor` continues it, so paging visits each event "
    "exactly once. `format=csv` streams the whole trail from a database cursor (a chunk at a "
    "time, never loaded at once) as `text/csv` with `Content-Disposition: attachment; "
    'filename="audit-<invoiceId>.csv"` and the columns '
    + ", ".join(f"`{name}`" for name in CSV_COLUMNS)
    + " (the spec's nine, then the actor's role and the metadata as JSON). Cells are "
    "neutralised for spreadsheets (a cell starting with TAB or CR, or with `= + - @ |` after "
    "leading whitespace, gets a leading `'`) and quoted as RFC 4180 says. A stream that fails "
    "after the headers is cut short (the connection is closed without the final chunk). Only "
    "the caller's tenant's events are ever read. See docs/compliance.md."
)


def _csv_and_json() -> Object:
    answer = _json_response(
        "`format=json`: one page of events. `format=csv`: the whole trail as a CSV file.",
        _schema("AuditEventList"),
        "Content-Disposition",
    )
    answer["content"]["text/csv"] = {
        "schema": {
            "type": "string",
            "description": "RFC 4180 CSV with a header row, UTF-8 (charset=utf-8).",
        }
    }
    return answer


def _policy(description: str, status: int = 200) -> Object:
    answer = _json_response(description, _schema("RetentionPolicy"))
    if status == 201:
        answer["headers"]["Location"] = {"$ref": "#/components/headers/PolicyLocation"}
    return {str(status): answer}


def _hold(description: str, status: int = 200) -> Object:
    answer = _json_response(description, _schema("LegalHold"))
    if status == 201:
        answer["headers"]["Location"] = {"$ref": "#/components/headers/HoldLocation"}
    return {str(status): answer}


def _body(schema_name: str, *, required: bool = True) -> Object:
    return {"required": required, "content": {JSON: {"schema": _schema(schema_name)}}}


def _audited(change: str) -> str:
    return (
        f"Audited in the same transaction as `{change}`, with `before` and `after` snapshots "
        "in its metadata. Counts against the stricter `sensitive` rate limit "
        "(RATE_LIMIT_SENSITIVE_MAX per RATE_LIMIT_SENSITIVE_WINDOW_MS)."
    )


def paths() -> Object:
    return {
        EXPORT_PATH: {
            "get": _operation(
                "exportInvoiceAudit",
                "Export an invoice's audit trail (JSON pages or streamed CSV)",
                _AUDIT_TAG,
                {
                    "200": _csv_and_json(),
                    **_errors(
                        {
                            400: "A malformed invoice id (INVALID_ID), an invalid `format`, "
                            "`limit` or `cursor` (INVALID_CURSOR, CURSOR_MISMATCH), `limit` or "
                            "`cursor` with `format=csv` (NOT_ALLOWED_FOR_FORMAT). Or: " + _TENANT,
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description=_EXPORT_DESCRIPTION,
                parameters=("TenantId", "AuditInvoiceId"),
                query=AuditExportQuery,
                query_notes={
                    "format": "`json` (default) or `csv`.",
                    "limit": f"JSON only: events per page (default {EXPORT_LIMIT_DEFAULT}).",
                    "cursor": "JSON only: `meta.nextCursor` of the previous page.",
                },
            )
        },
        POLICIES_PATH: {
            "get": _operation(
                "listRetentionPolicies",
                "List the tenant's retention policies",
                _RETENTION_TAG,
                {
                    "200": _json_response("One page of policies.", _schema("RetentionPolicyList")),
                    **_errors({400: "Invalid page or limit. Or: " + _TENANT, 503: _STORE_DOWN}),
                },
                parameters=("TenantId",),
                query=PoliciesQuery,
                query_notes={"page": "Page number, from 1.", "limit": "Policies per page."},
            ),
            "post": _operation(
                "createRetentionPolicy",
                "Create a retention policy",
                _RETENTION_TAG,
                {
                    **_policy("The policy created.", 201),
                    **_errors(
                        {
                            400: "Invalid fields (`errors`). Or: " + _TENANT,
                            409: "The tenant has a policy of that name "
                            "(RETENTION_POLICY_NAME_TAKEN).",
                            **_BODY,
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="Every active policy applies to every invoice of the tenant once "
                "the invoice is closed (deleted, rejected, cancelled, settled or defaulted): "
                "`retentionDays` after it closed, the daily purge erases the `piiFields` it "
                "names, unless a legal hold is active. " + _audited("retention.policy_created"),
                parameters=("TenantId",),
                request_body=_body("RetentionPolicyDraft"),
            ),
        },
        f"{POLICIES_PATH}/{{policyId}}": {
            "get": _operation(
                "getRetentionPolicy",
                "One retention policy",
                _RETENTION_TAG,
                {
                    **_policy("The policy."),
                    **_errors({400: _BAD_POLICY_ID + _TENANT, 404: _NO_POLICY, 503: _STORE_DOWN}),
                },
                parameters=("TenantId", "PolicyId"),
            ),
            "put": _operation(
                "updateRetentionPolicy",
                "Replace a retention policy",
                _RETENTION_TAG,
                {
                    **_policy("The policy at its next version."),
                    **_errors(
                        {
                            400: "Invalid fields (`errors`). Or: " + _BAD_POLICY_ID + _TENANT,
                            404: _NO_POLICY,
                            409: "Another policy of the tenant has that name "
                            "(RETENTION_POLICY_NAME_TAKEN), or the policy changed "
                            "concurrently (CONCURRENT_UPDATE, retryable).",
                            **_BODY,
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="Every field is replaced. " + _audited("retention.policy_updated"),
                parameters=("TenantId", "PolicyId"),
                request_body=_body("RetentionPolicyDraft"),
            ),
        },
        HOLDS_PATH: {
            "get": _operation(
                "listLegalHolds",
                "List the tenant's legal holds",
                _RETENTION_TAG,
                {
                    "200": _json_response("One page of legal holds.", _schema("LegalHoldList")),
                    **_errors(
                        {400: "Invalid invoiceId, page or limit. Or: " + _TENANT, 503: _STORE_DOWN}
                    ),
                },
                description="Active and released holds, newest first.",
                parameters=("TenantId",),
                query=HoldsQuery,
                query_notes={
                    "invoiceId": "Only this invoice's holds.",
                    "page": "Page number, from 1.",
                    "limit": "Holds per page.",
                },
            ),
            "post": _operation(
                "placeLegalHold",
                "Place a legal hold on an invoice",
                _RETENTION_TAG,
                {
                    **_hold("The hold placed.", 201),
                    **_errors(
                        {
                            400: "Invalid fields (`errors`). Or: " + _TENANT,
                            404: "No invoice with this id (live or deleted) in the tenant.",
                            409: "The invoice has an active legal hold (LEGAL_HOLD_ACTIVE).",
                            **_BODY,
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="While the hold is active no retention purge touches the "
                "invoice's data. This is LiquiFact's hold, not the escrow contract's on-chain "
                "legal hold (see `GET /v1/invoices/{id}/legal-holds`). One active hold per "
                "invoice. " + _audited("retention.legal_hold_placed"),
                parameters=("TenantId",),
                request_body=_body("LegalHoldRequest"),
            ),
        },
        f"{HOLDS_PATH}/{{holdId}}": {
            "get": _operation(
                "getLegalHold",
                "One legal hold",
                _RETENTION_TAG,
                {
                    **_hold("The hold."),
                    **_errors({400: _BAD_HOLD_ID + _TENANT, 404: _NO_HOLD, 503: _STORE_DOWN}),
                },
                parameters=("TenantId", "HoldId"),
            )
        },
        f"{HOLDS_PATH}/{{holdId}}/release": {
            "post": _operation(
                "releaseLegalHold",
                "Release a legal hold",
                _RETENTION_TAG,
                {
                    **_hold("The hold, released."),
                    **_errors(
                        {
                            400: "Invalid fields (`errors`). Or: " + _BAD_HOLD_ID + _TENANT,
                            404: _NO_HOLD,
                            409: "The hold was released already (LEGAL_HOLD_RELEASED).",
                            **_BODY,
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="The invoice's data is purgeable again from the next purge on. "
                + _audited("retention.legal_hold_released"),
                parameters=("TenantId", "HoldId"),
                request_body=_body("LegalHoldRelease", required=False),
            )
        },
        PREVIEW_PATH: {
            "get": _operation(
                "previewRetentionPurge",
                "Preview the retention purge",
                _RETENTION_TAG,
                {
                    "200": _json_response(
                        "What a purge now would do; nothing is written.", _schema("PurgePreview")
                    ),
                    **_errors(
                        {
                            400: "Invalid limit or cursor (INVALID_CURSOR, CURSOR_MISMATCH). "
                            "Or: " + _TENANT,
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="The invoices whose personal data a purge now would erase "
                "(`purge`) and those an active legal hold keeps (`held`), by invoice id, with "
                "their total in `meta.total`. The daily purge (03:00 UTC) decides the same "
                "way; it writes only when RETENTION_PURGE_DRY_RUN is false.",
                parameters=("TenantId",),
                query=PreviewQuery,
                query_notes={
                    "limit": f"Decisions per page (default {PREVIEW_LIMIT_DEFAULT}).",
                    "cursor": "`meta.nextCursor` of the previous page.",
                },
            )
        },
        INVOICE_HOLDS_PATH: {
            "get": _operation(
                "getInvoiceLegalHolds",
                "An invoice's LiquiFact hold and its escrow's on-chain hold, side by side",
                _RETENTION_TAG,
                {
                    "200": _json_response(
                        "Both holds and a note on how they differ.", _schema("InvoiceLegalHolds")
                    ),
                    **_errors({400: _TENANT, 404: "No such invoice.", 503: _STORE_DOWN}),
                },
                description=bodies.HOLDS_NOTE,
                parameters=("TenantId", "InvoiceId"),
            )
        },
    }


def admin_write_parameters() -> list[Object]:
    """The audit headers every admin write accepts (``liquifact_http.admin_audit``)."""
    return [{"$ref": f"#/components/parameters/{name}"} for name in ADMIN_AUDIT_PARAMETERS]


TAGS = [
    {
        "name": _AUDIT_TAG,
        "description": "The append-only audit trail: an invoice's events as JSON pages or a "
        "streamed CSV file (admins). Every successful admin write is recorded automatically.",
    },
    {
        "name": _RETENTION_TAG,
        "description": "Retention policies, LiquiFact legal holds and the purge preview (admins).",
    },
]
