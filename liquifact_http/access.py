"""Who may call what: one declarative table, route (path template, method) -> access rule.

Every route built with ``routes.common.resource`` must have a row here, or the app does not
import (deny by default). The rule is checked before the handler runs:

* ``PUBLIC`` routes never look at credentials (garbage ``Authorization`` headers are ignored).
* Otherwise the caller is authenticated (401 without valid credentials), then a token caller's
  role must be listed (else 403 ``FORBIDDEN``) and an API-key caller (role ``service``) must
  hold the rule's scope (else 403 ``INSUFFICIENT_SCOPE``; no scope in the rule: 403).

Finer rules stay in the core use cases: an SME sees and changes only its own invoices, and an
invoice the caller may not see is 404, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from starlette.requests import Request

from liquifact_core.lifecycle import Role
from liquifact_http.api_keys import ApiScope
from liquifact_http.callers import Caller, caller_of
from liquifact_http.problems import Problem


@attrs.frozen
class Access:
    """Who may call one operation: token roles, and the API-key scope that admits services."""

    roles: frozenset[Role] = frozenset()
    scope: ApiScope | None = None
    public: bool = False

    def describe(self) -> str:
        """One sentence for humans (the OpenAPI description uses it)."""
        if self.public:
            return "Public: no credentials needed."
        roles = ", ".join(role.value for role in sorted(self.roles)) or "none"
        keys = f"API keys with scope `{self.scope.value}`" if self.scope else "no API keys"
        return f"Allowed: bearer tokens with role {roles}; {keys}."


PUBLIC = Access(public=True)


def allow(*roles: Role, scope: ApiScope | None = None) -> Access:
    return Access(frozenset(roles), scope)


S, SME, ADMIN, INVESTOR = ApiScope, Role.SME, Role.ADMIN, Role.INVESTOR
# SMEs see and change only their own invoices (the core enforces it). Investors may read one
# investable invoice and its public history (the core hides the rest as 404; the shell answers
# them the buyer-safe view), but list invoices only through the marketplace.
READ_INVOICES = allow(SME, ADMIN, scope=S.INVOICES_READ)
READ_INVOICE = allow(SME, ADMIN, INVESTOR, scope=S.INVOICES_READ)
WRITE_INVOICES = allow(SME, ADMIN, scope=S.INVOICES_WRITE)
OPERATE_INVOICES = allow(ADMIN, scope=S.INVOICES_WRITE)
CANCEL_INVOICES = allow(SME, ADMIN)

# Investors browse and fund; admins and read-scoped services may look too.
BROWSE_MARKET = allow(INVESTOR, ADMIN, scope=S.INVOICES_READ)
SME_METRICS = allow(SME, ADMIN, scope=S.INVOICES_READ)
# A profile is the calling SME's own (keyed by its token's sub): no other principal has one to
# read or set. Admins and services see issuers' profiles through the marketplace items.
OWN_PROFILE = allow(SME)
FUND = allow(INVESTOR)  # a person with a bound wallet: never an API key
# Locks and the commitments they group: an investor's own (the core enforces it), any for operators.
READ_LOCKS = allow(INVESTOR, ADMIN, scope=S.ESCROW_READ)
# An invoice's escrow: whoever may read the invoice (SMEs their own, investors investable
# ones, admins any; the core enforces it), and services with the escrow read scope.
READ_ESCROW = allow(SME, ADMIN, INVESTOR, scope=S.ESCROW_READ)
# Wallet sign-in is how a caller gets credentials, so it needs none; the directory is the
# admins' (a person's decision: no API key binds wallets).
MANAGE_WALLETS = allow(ADMIN)
# The tenant's webhook endpoint and background jobs: a person's decision, no API key.
MANAGE_WEBHOOKS = allow(ADMIN)
# Reconciliation runs: the spec's admin-only history (JWT or API key). No API-key scope names
# it yet, so only admin tokens are admitted.
READ_RECONCILIATION = allow(ADMIN)
# Compliance (issue 16): the audit export, retention policies, legal holds and the purge
# preview are a person's decisions and evidence: admin tokens only, no API key.
READ_AUDIT = allow(ADMIN)
MANAGE_RETENTION = allow(ADMIN)

# KYC and contact e-mails (issue 15): a subject's own (SMEs and investors, by their token's
# sub; no API key is a subject); a subject's record and exemption are an admin's decision. The
# provider's webhook carries no token: its X-Signature is its credential (checked by the route).
OWN_KYC = allow(SME, INVESTOR)
MANAGE_KYC = allow(ADMIN)
KYC_PROVIDER = PUBLIC

# An invoice's documents: its SME and the tenant's operators (admins, API keys). Investors
# and other SMEs pass this table and are answered 404 by the core, as for an invoice they
# cannot see.
READ_FILES = allow(SME, ADMIN, INVESTOR, scope=S.INVOICES_READ)
WRITE_FILES = allow(SME, ADMIN, INVESTOR, scope=S.INVOICES_WRITE)
_INVOICE = "/v1/invoices/{id}"
ACCESS: Mapping[tuple[str, str], Access] = {
    ("/health", "GET"): PUBLIC,
    ("/healthz", "GET"): PUBLIC,
    ("/readyz", "GET"): PUBLIC,
    ("/ready", "GET"): PUBLIC,
    ("/v1", "GET"): PUBLIC,
    ("/openapi.json", "GET"): PUBLIC,
    ("/docs", "GET"): PUBLIC,
    ("/docs/init.js", "GET"): PUBLIC,
    # /metrics applies its own rule: METRICS_BEARER_TOKEN, or loopback peers only.
    ("/metrics", "GET"): PUBLIC,
    ("/v1/invoices", "GET"): READ_INVOICES,
    ("/v1/invoices", "POST"): WRITE_INVOICES,
    (_INVOICE, "GET"): READ_INVOICE,
    (_INVOICE, "PATCH"): WRITE_INVOICES,
    (_INVOICE, "DELETE"): WRITE_INVOICES,
    (f"{_INVOICE}/state", "GET"): READ_INVOICES,
    (f"{_INVOICE}/history", "GET"): READ_INVOICE,
    (f"{_INVOICE}/approve", "POST"): OPERATE_INVOICES,
    (f"{_INVOICE}/reject", "POST"): OPERATE_INVOICES,
    (f"{_INVOICE}/link-escrow", "POST"): OPERATE_INVOICES,
    (f"{_INVOICE}/default", "POST"): OPERATE_INVOICES,
    (f"{_INVOICE}/cancel", "POST"): CANCEL_INVOICES,
    ("/v1/marketplace", "GET"): BROWSE_MARKET,
    ("/v1/invest/opportunities", "GET"): BROWSE_MARKET,
    ("/v1/sme/metrics", "GET"): SME_METRICS,
    ("/v1/sme/profile", "GET"): OWN_PROFILE,
    ("/v1/sme/profile", "PUT"): OWN_PROFILE,
    ("/v1/invest/fund-invoice", "POST"): FUND,
    ("/v1/invest/commitments/{commitmentId}/submit", "POST"): FUND,
    ("/v1/investor/locks", "GET"): READ_LOCKS,
    ("/v1/investor/commitments", "GET"): READ_LOCKS,
    ("/v1/investor/locks/{invoiceId}", "GET"): READ_LOCKS,
    ("/v1/escrow/{invoiceId}", "GET"): READ_ESCROW,
    ("/.well-known/stellar.toml", "GET"): PUBLIC,
    ("/v1/auth", "GET"): PUBLIC,
    ("/v1/auth", "POST"): PUBLIC,
    ("/v1/auth/register", "POST"): PUBLIC,
    ("/v1/admin/wallets", "GET"): MANAGE_WALLETS,
    ("/v1/admin/wallets", "POST"): MANAGE_WALLETS,
    ("/v1/admin/wallets/{address}", "DELETE"): MANAGE_WALLETS,
    ("/v1/admin/webhook", "GET"): MANAGE_WEBHOOKS,
    ("/v1/admin/webhook", "PUT"): MANAGE_WEBHOOKS,
    ("/v1/admin/webhook", "DELETE"): MANAGE_WEBHOOKS,
    ("/v1/admin/webhook/secret", "POST"): MANAGE_WEBHOOKS,
    ("/v1/admin/webhook/test", "POST"): MANAGE_WEBHOOKS,
    ("/v1/admin/jobs", "GET"): MANAGE_WEBHOOKS,
    ("/v1/admin/jobs/{jobId}", "GET"): MANAGE_WEBHOOKS,
    ("/v1/admin/jobs/{jobId}/replay", "POST"): MANAGE_WEBHOOKS,
    ("/v1/admin/reconciliation/runs", "GET"): READ_RECONCILIATION,
    ("/v1/admin/reconciliation/runs/{runId}", "GET"): READ_RECONCILIATION,
    ("/v1/kyc/me", "GET"): OWN_KYC,
    ("/v1/kyc/me/verification", "POST"): OWN_KYC,
    ("/v1/kyc/webhook", "POST"): KYC_PROVIDER,
    ("/v1/admin/kyc/{subject}", "GET"): MANAGE_KYC,
    ("/v1/admin/kyc/{subject}/exempt", "POST"): MANAGE_KYC,
    ("/v1/me/contact", "GET"): OWN_KYC,
    ("/v1/me/contact", "PUT"): OWN_KYC,
    (f"{_INVOICE}/files", "GET"): READ_FILES,
    (f"{_INVOICE}/files", "POST"): WRITE_FILES,
    (f"{_INVOICE}/files/{{fileId}}/download-url", "GET"): READ_FILES,
    (f"{_INVOICE}/files/{{fileId}}/confirm", "POST"): WRITE_FILES,
    ("/v1/sme/invoice/presigned-url", "POST"): WRITE_FILES,
    # The local store's signed URLs: the token is the credential (its route checks it).
    ("/v1/objects/{token}", "GET"): PUBLIC,
    ("/v1/objects/{token}", "PUT"): PUBLIC,
    ("/v1/admin/audit/invoices/{invoiceId}/export", "GET"): READ_AUDIT,
    ("/v1/retention/policies", "GET"): MANAGE_RETENTION,
    ("/v1/retention/policies", "POST"): MANAGE_RETENTION,
    ("/v1/retention/policies/{policyId}", "GET"): MANAGE_RETENTION,
    ("/v1/retention/policies/{policyId}", "PUT"): MANAGE_RETENTION,
    ("/v1/retention/legal-holds", "GET"): MANAGE_RETENTION,
    ("/v1/retention/legal-holds", "POST"): MANAGE_RETENTION,
    ("/v1/retention/legal-holds/{holdId}", "GET"): MANAGE_RETENTION,
    ("/v1/retention/legal-holds/{holdId}/release", "POST"): MANAGE_RETENTION,
    ("/v1/retention/purge-preview", "GET"): MANAGE_RETENTION,
    (f"{_INVOICE}/legal-holds", "GET"): MANAGE_RETENTION,
}


def access_for(path: str, method: str) -> Access:
    """The rule of one route; a route without a rule is a programming error."""
    try:
        return ACCESS[(path, method.upper())]
    except KeyError:
        raise LookupError(
            f"{method.upper()} {path} has no access rule in liquifact_http/access.py"
        ) from None


def authorize(request: Request, access: Access) -> Caller | None:
    """The caller if ``access`` admits it (None for public routes); raises 401/403 otherwise."""
    if access.public:
        return None
    caller = caller_of(request)
    role = caller.actor.role
    if role is Role.SERVICE:
        if access.scope is None:
            raise Problem(403, "FORBIDDEN", "API keys may not call this operation.")
        if access.scope not in caller.scopes:
            raise Problem(
                403,
                "INSUFFICIENT_SCOPE",
                f"This API key lacks the '{access.scope.value}' scope.",
            )
    elif role not in access.roles:
        raise Problem(
            403, "FORBIDDEN", f"A caller with role '{role.value}' may not call this operation."
        )
    return caller
