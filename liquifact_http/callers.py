"""Who is calling, and for which tenant.

The app is built with one ``CallerResolver``. In a real deployment it is
``liquifact_http.auth.Authenticator`` (JWT bearer tokens and service API keys); tests and
embedders may pass another to ``create_app(resolve_caller=...)``. Routes never resolve callers
themselves: the access table (``access.py``) does it once per request, before the handler runs,
and handlers read the result with ``caller_of``.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from starlette.requests import Request

from liquifact_core.ids import parse_tenant_id
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_http.api_keys import ApiScope
from liquifact_http.problems import Problem

TENANT_HEADER = "X-Tenant-Id"
LOCAL_OPERATOR = Actor("local-operator", Role.ADMIN)
_STATE_KEY = "caller"


@attrs.frozen
class Caller:
    """A verified principal: the tenant it acts in, the actor, and (API keys) its scopes."""

    tenant_id: str
    actor: Actor
    scopes: frozenset[ApiScope] = frozenset()


CallerResolver = Callable[[Request], Caller]


def caller_of(request: Request) -> Caller:
    """The caller of this request, resolved once by the resolver the app was built with."""
    state = request.scope.setdefault("state", {})
    cached = state.get(_STATE_KEY)
    if isinstance(cached, Caller):
        return cached
    resolver: CallerResolver = request.app.state.resolve_caller
    caller = resolver(request)
    state[_STATE_KEY] = caller
    return caller


def require_bound_wallet(caller: Caller) -> str:
    """The Stellar account bound to the verified principal (the spec's ``authorizeSmeWallet``).

    The wallet comes only from the credential (the token's ``walletAddress`` claim, checked when
    the token was verified); an ``x-stellar-address`` header is never a source. No bound
    wallet is a 403.
    """
    wallet = caller.actor.wallet
    if wallet is None:
        raise Problem(
            403,
            "WALLET_NOT_BOUND",
            "No verified Stellar wallet is bound to this account.",
        )
    return wallet


def header_tenant_caller(request: Request) -> Caller:
    """Trusts ``X-Tenant-Id`` and acts as a local admin. For tests and embedding only: it
    authenticates nobody and is never the default."""
    raw = request.headers.get(TENANT_HEADER)
    if raw is None:
        raise Problem(400, "TENANT_REQUIRED", f"The {TENANT_HEADER} header is required.")
    return Caller(parse_tenant_id(raw, field=TENANT_HEADER), LOCAL_OPERATOR)
