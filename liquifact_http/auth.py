"""Authentication: who is calling, proven by a JWT bearer token or a service API key.

``Authenticator`` is the app's caller resolver (see ``callers.py``). It never says *which*
check failed: every bad credential is the same 401 ``INVALID_TOKEN``; the reason is logged
(by class name, never the token) for operators.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import jwt
from cachetools import TLRUCache
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Scope

from liquifact_core.addresses import is_valid_account
from liquifact_core.ids import parse_tenant_id
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_http.api_keys import ApiKey, find_key
from liquifact_http.callers import TENANT_HEADER, Caller
from liquifact_http.logs import get_logger
from liquifact_http.problems import Problem
from liquifact_http.ratelimit import Principal
from liquifact_http.settings import Settings

AUTHORIZATION_HEADER = "Authorization"
API_KEY_HEADER = "X-API-Key"
REALM = "liquifact"
TOKEN_ROLES = frozenset({Role.SME, Role.INVESTOR, Role.ADMIN})
TOKEN_MAX_LENGTH = 8192
# Exactly "Bearer", one space, then a JWS in compact form (an empty signature is still parsed,
# so that an unsigned token is refused by the algorithm check like any other).
_BEARER = re.compile(r"Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)")
_SUBJECT = re.compile(r"[!-~]{1,128}")  # printable ASCII, no spaces
_TENANT = re.compile(r"[A-Za-z0-9_-]{1,128}")
_TIME_CLAIMS = ("exp", "nbf", "iat")
# Verified bearer tokens remembered per process (see Authenticator._verified), so a client
# sending the same token on every request pays the signature check once, not per request.
VERIFIED_TOKENS_MAX = 4096
_log = get_logger("liquifact.auth")


def unauthenticated() -> Problem:
    return Problem(
        401,
        "AUTHENTICATION_REQUIRED",
        f"Authentication is required: send '{AUTHORIZATION_HEADER}: Bearer <token>' or "
        f"'{API_KEY_HEADER}: <key>'.",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
    )


class _Rejected(Exception):
    """A credential failed one check; ``reason`` names which, for the log only."""

    def __init__(self, reason: str, detail: str = "The credentials are not valid.") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def invalid_credentials(reason: str, detail: str = "The credentials are not valid.") -> Problem:
    """The one answer to every bad credential, logged once (``reason`` goes to the log only).

    ``detail`` stays the generic sentence except for rules a client must know to mint a good
    token (the maximum lifetime), which say what they are and reveal nothing about the key.
    """
    _log.info("authentication_failed", reason=reason)
    return Problem(
        401,
        "INVALID_TOKEN",
        detail,
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
    )


def tenant_forbidden(detail: str) -> Problem:
    return Problem(403, "TENANT_FORBIDDEN", detail)


class _Verified:
    """A token that passed every check: its claims, and the actor they name once derived."""

    __slots__ = ("actor", "claims", "valid_until")

    def __init__(self, claims: Mapping[str, Any], valid_until: float) -> None:
        self.claims = claims
        self.valid_until = valid_until
        self.actor: Actor | None = None


def _valid_until(_token: str, verified: _Verified, _now: float) -> float:
    return verified.valid_until


class Authenticator:
    """The caller resolver of a real deployment: JWT bearer tokens and ``X-API-Key``.

    Tokens that pass every check are remembered, keyed by the whole token string (signature
    included), for at most ``VERIFIED_TOKENS_MAX`` tokens and never past the moment PyJWT
    would call them expired (``exp + JWT_LEEWAY_SECONDS``); every other check only ever
    turns from failing to passing as time goes on (``nbf``, ``iat``, the maximum lifetime),
    so a remembered token answers exactly as a fresh check would. Refused tokens are never
    remembered: each is checked, and logged, every time. ``clock`` (seconds since the epoch)
    is what the memo compares expiry times with; tests pass their own.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        verified_tokens_max: int = VERIFIED_TOKENS_MAX,
    ) -> None:
        self._secret = settings.jwt_secret
        self._algorithms = list(settings.jwt_algorithms)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._max_ttl = settings.jwt_max_ttl_seconds
        self._api_keys = settings.api_keys
        self._clock = clock
        self._tokens: TLRUCache[str, _Verified, float] = TLRUCache(
            verified_tokens_max, _valid_until, clock
        )
        self._tokens_lock = threading.Lock()  # routes may resolve callers from worker threads

    def __call__(self, request: Request) -> Caller:
        authorization = request.headers.getlist("authorization")
        api_keys = request.headers.getlist("x-api-key")
        if authorization and api_keys:
            raise invalid_credentials("both_credentials")
        if api_keys:
            return self._api_key_caller(request, api_keys)
        if authorization:
            return self._token_caller(request, authorization)
        raise unauthenticated()

    def identify(self, scope: Scope) -> Principal | None:
        """Who a request's valid credentials name, for rate limiting; None if they name no one.

        Silent: the same request reaches ``__call__`` later, which logs a bad credential once.
        """
        headers = Headers(scope=scope)
        keys, authorization = headers.getlist("x-api-key"), headers.getlist("authorization")
        if len(keys) == 1 and not authorization and len(keys[0]) <= TOKEN_MAX_LENGTH:
            entry = find_key(self._api_keys, keys[0])
            return None if entry is None or entry.revoked else Principal("api_key", entry.client_id)
        match = (
            _BEARER.fullmatch(authorization[0]) if len(authorization) == 1 and not keys else None
        )
        if match is None or len(authorization[0]) > TOKEN_MAX_LENGTH:
            return None
        try:
            claims = self._verified(match.group(1)).claims
        except _Rejected:
            return None
        return Principal("user", f"{claims.get('tenantId')}:{claims['sub']}")

    # ---- bearer tokens ----------------------------------------------------------------------
    def _token_caller(self, request: Request, values: list[str]) -> Caller:
        if len(values) != 1 or len(values[0]) > TOKEN_MAX_LENGTH:
            raise invalid_credentials("malformed_authorization")
        match = _BEARER.fullmatch(values[0])
        if match is None:
            raise invalid_credentials("malformed_authorization")
        verified = self._verify(match.group(1))
        claims = verified.claims
        actor = verified.actor
        if actor is None:
            # Derived once per remembered token; a bad claim is refused (and logged) each time.
            actor = verified.actor = _actor(claims)
        tenant_id = claims["tenantId"]
        for sent in request.headers.getlist(TENANT_HEADER):
            if sent != tenant_id:
                raise tenant_forbidden(
                    f"{TENANT_HEADER} does not match the tenant of the bearer token."
                )
        return Caller(tenant_id, actor)

    def verify(self, token: str) -> Mapping[str, Any]:
        """The claims of a valid token (read-only); raises the 401 problem (and logs why)
        otherwise."""
        return self._verify(token).claims

    def _verify(self, token: str) -> _Verified:
        try:
            return self._verified(token)
        except _Rejected as rejected:
            raise invalid_credentials(rejected.reason, rejected.detail) from None

    def _verified(self, token: str) -> _Verified:
        """``token`` checked (``_claims``), or remembered from an earlier check that passed
        and has not expired since; raises _Rejected naming the failed check."""
        with self._tokens_lock:
            found = self._tokens.get(token)
        if found is not None and self._clock() < found.valid_until:
            return found
        claims = self._claims(token)
        # PyJWT refuses a token once int(exp) <= now - leeway (it drops a fractional exp's
        # fraction first): it is valid while now < int(exp) + leeway.
        verified = _Verified(MappingProxyType(claims), int(claims["exp"]) + self._leeway)
        with self._tokens_lock:
            self._tokens[token] = verified
        return verified

    def _claims(self, token: str) -> Mapping[str, Any]:
        """The claims of a valid token; raises _Rejected naming the failed check.

        Beyond PyJWT's checks: NumericDates are finite JSON numbers (RFC 7519 section 2), and
        the token lives at most ``JWT_MAX_TTL_SECONDS``: ``exp - now`` and, when ``iat`` is
        present, ``exp - iat`` may not exceed it (a stolen long-lived token stays useful for
        at most that long; docs/security.md).
        """
        if self._secret is None:
            raise _Rejected("jwt_not_configured")
        required = ["exp", "sub"] + (["iss"] if self._issuer else [])
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=self._algorithms,
                options={"require": required},
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
            )
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as error:
            raise _Rejected(type(error).__name__) from None
        for name in _TIME_CLAIMS:
            # PyJWT would accept "123", true and NaN; RFC 7519 NumericDates are JSON numbers.
            value = claims.get(name)
            if name in claims and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise _Rejected(f"bad_{name}_claim")
        too_long = (
            f"The token's lifetime exceeds the maximum of {self._max_ttl} seconds: "
            "mint one whose exp is at most that far after iat and after now."
        )
        if claims["exp"] - time.time() > self._max_ttl + self._leeway:
            raise _Rejected("token_lifetime_exceeded", too_long)
        if "iat" in claims and claims["exp"] - claims["iat"] > self._max_ttl:
            raise _Rejected("token_lifetime_exceeded", too_long)
        return claims

    # ---- API keys ---------------------------------------------------------------------------
    def _api_key_caller(self, request: Request, values: list[str]) -> Caller:
        entry: ApiKey | None = None
        if len(values) == 1 and len(values[0]) <= TOKEN_MAX_LENGTH:
            entry = find_key(self._api_keys, values[0])
        if entry is None or entry.revoked:
            raise invalid_credentials("unknown_or_revoked_api_key")
        tenants = request.headers.getlist(TENANT_HEADER)
        if not tenants:
            raise Problem(
                400,
                "TENANT_REQUIRED",
                f"The {TENANT_HEADER} header is required with an API key.",
            )
        if len(tenants) > 1:
            raise Problem(400, "VALIDATION_ERROR", f"Send one {TENANT_HEADER} header.")
        tenant_id = parse_tenant_id(tenants[0], field=TENANT_HEADER)
        if not entry.allows_tenant(tenant_id):
            raise tenant_forbidden("This API key may not act for this tenant.")
        return Caller(tenant_id, Actor(entry.client_id, Role.SERVICE), scopes=entry.scopes)


def _actor(claims: Mapping[str, Any]) -> Actor:
    """The actor a verified token names; any missing or wrong-typed claim is a bad token."""
    subject, tenant, role = claims.get("sub"), claims.get("tenantId"), claims.get("role")
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        raise invalid_credentials("bad_sub_claim")
    if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):
        raise invalid_credentials("bad_tenant_claim")
    if not isinstance(role, str) or role not in {r.value for r in TOKEN_ROLES}:
        raise invalid_credentials("bad_role_claim")
    wallet = claims.get("walletAddress")
    if "walletAddress" in claims and (not isinstance(wallet, str) or not is_valid_account(wallet)):
        raise invalid_credentials("bad_wallet_claim")
    return Actor(subject, Role(role), wallet)


def mint_token(
    settings: Settings,
    *,
    role: Role,
    tenant_id: str,
    subject: str,
    wallet: str | None = None,
    ttl_seconds: int = 3600,
    now: float | None = None,
) -> str:
    """A token this deployment accepts (for ``liquifact token`` and local development)."""
    if settings.jwt_secret is None:
        raise ValueError("JWT_SECRET is not set")
    if role not in TOKEN_ROLES:
        raise ValueError(f"role must be one of: {', '.join(sorted(TOKEN_ROLES))}")
    if not _SUBJECT.fullmatch(subject):
        raise ValueError("sub must be 1-128 printable ASCII characters without spaces")
    if wallet is not None and not is_valid_account(wallet):
        raise ValueError("wallet must be a valid Stellar account address (G..., with checksum)")
    parse_tenant_id(tenant_id)
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": subject,
        "tenantId": tenant_id,
        "role": role.value,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
    }
    if wallet is not None:
        claims["walletAddress"] = wallet
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithms[0])
