"""The OpenAPI entries of wallet sign-in (SEP-1, SEP-10), self-registration and the admins'
wallet directory. Built with the helpers of ``liquifact_http.openapi``, which merges these into
the document."""

from __future__ import annotations

from collections.abc import Mapping

from liquifact_core.rules import Account
from liquifact_core.wallets import (
    BindWallet,
    ChallengeRequest,
    SelfRegistration,
    SignedChallenge,
    WalletsQuery,
)
from liquifact_http import schemas as typed
from liquifact_http import wallet_bodies as bodies
from liquifact_http.openapi import (
    JSON,
    Component,
    Object,
    _json_response,
    _operation,
    _problem_response,
    _schema,
    response,
)

_RATE_LIMIT_HEADERS = ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
_STORE_DOWN = "The data store is unavailable; retry later with backoff."
_INVALID_CHALLENGE = (
    "The challenge failed verification (INVALID_CHALLENGE): not signed by this server, for "
    "another home or web-auth domain or network, outside its time bounds, altered after "
    "signing, already used, or without client signatures reaching the account's medium "
    "threshold (its master key when the account is unknown to Horizon or no HORIZON_URL is "
    "set), or without the client_domain's signature when it names one. The answer never says "
    "which check failed: request a new challenge."
)
_NOT_CONFIGURED = (
    "Sign-in is not configured (SIGN_IN_NOT_CONFIGURED: no SEP10_SIGNING_SECRET or "
    "JWT_SECRET), Horizon cannot be asked for the account's signers (SIGN_IN_UNAVAILABLE), or "
    "the data store is unavailable."
)


def _errors(meanings: Mapping[int, str]) -> Object:
    """Problem responses with route-specific meanings, plus 429 and 500."""
    result = {
        str(status): _problem_response(status, meaning, *_challenge_header(status))
        for status, meaning in meanings.items()
    }
    result["429"] = _problem_response(429, None, *_RATE_LIMIT_HEADERS)
    result["500"] = _problem_response(500)
    return dict(sorted(result.items()))


def _challenge_header(status: int) -> tuple[str, ...]:
    return ("WWW-Authenticate",) if status == 401 else ()


def _body(schema_name: str) -> Object:
    return {"required": True, "content": {JSON: {"schema": _schema(schema_name)}}}


def components() -> dict[str, Component]:
    """The object schemas of these routes, with the classes they are generated from."""
    return {
        **response(bodies.ChallengeBody, "A SEP-10 challenge."),
        "Sep10SignedChallenge": Component(
            SignedChallenge, "The challenge, signed by the wallet's key(s)."
        ),
        **response(bodies.TokenBody, "A bearer token."),
        "WalletRegistration": Component(
            SelfRegistration,
            "A signed challenge, the role the wallet takes and, for an SME, optionally its "
            "profile.",
        ),
        **response(bodies.RegisteredBody, "The new binding and a bearer token for it."),
        **response(bodies.WalletBody, "A wallet bound to a principal."),
        "WalletBinding": Component(BindWallet, "Bind a wallet to a principal."),
        **response(bodies.WalletPageBody, "The tenant's wallets, by address."),
    }


def parameters() -> Object:
    return {
        "WalletAddress": {
            "name": "address",
            "in": "path",
            "required": True,
            "description": "The wallet (a checksummed G... address; else 400).",
            "schema": typed.rule_schema(Account()),
        },
    }


def headers() -> Object:
    return {
        "AllowAnyOrigin": {
            "description": "`*`: any web page may read this document (SEP-1).",
            "required": True,
            "schema": {"type": "string", "enum": ["*"]},
        },
        "WalletLocation": {
            "description": "The binding just created.",
            "required": True,
            "schema": {"type": "string", "pattern": "^/v1/admin/wallets/G[A-Z2-7]{55}$"},
        },
    }


_CHALLENGE_NOTES = {
    "account": "The wallet's Stellar account (G..., checksummed).",
    "client_domain": "The wallet application's domain (SEP-10 client attribution): the "
    "challenge then also needs the signature of that domain's stellar.toml SIGNING_KEY. Only "
    "the domains of SEP10_CLIENT_DOMAINS when that list is set (else 400, field code "
    "CLIENT_DOMAIN_NOT_ALLOWED); one whose stellar.toml gives no key is 400 "
    "CLIENT_DOMAIN_UNAVAILABLE.",
    "home_domain": "The domain the challenge is for; only this server's HOME_DOMAIN is "
    "accepted (else 400, field code UNKNOWN_HOME_DOMAIN).",
}


def _challenge_operation() -> Object:
    operation = _operation(
        "getSep10Challenge",
        "Request a sign-in challenge (SEP-10)",
        "Wallet sign-in",
        {
            "200": _json_response(
                "A challenge transaction to sign with the wallet's key(s).",
                _schema("Sep10Challenge"),
            ),
            **_errors(
                {
                    400: "Missing or invalid account, client_domain or home_domain, or an "
                    "unknown parameter; a home_domain other than this server's (field code "
                    "UNKNOWN_HOME_DOMAIN); a client_domain outside SEP10_CLIENT_DOMAINS when "
                    "that list is set (CLIENT_DOMAIN_NOT_ALLOWED) or whose stellar.toml "
                    "cannot be read or has no valid SIGNING_KEY (CLIENT_DOMAIN_UNAVAILABLE).",
                    503: _NOT_CONFIGURED,
                }
            ),
        },
        description="Returns a transaction with sequence number 0, time bounds of "
        "SEP10_CHALLENGE_TTL_SECONDS, a manage-data operation `<home domain> auth` with a "
        "random nonce for the account, and `web_auth_domain` (and `client_domain`) "
        "operations, signed by SIGNING_KEY.",
        query=ChallengeRequest,
        query_notes=_CHALLENGE_NOTES,
    )
    for parameter in operation["parameters"]:
        if parameter.get("name") == "account":
            parameter["required"] = True  # the one field of the query without a default
    return operation


def paths() -> Object:
    toml = {
        "description": "The SEP-1 document: NETWORK_PASSPHRASE, SIGNING_KEY and "
        "WEB_AUTH_ENDPOINT (the last two only when sign-in is configured).",
        "headers": {
            "X-Correlation-Id": {"$ref": "#/components/headers/X-Correlation-Id"},
            "Access-Control-Allow-Origin": {"$ref": "#/components/headers/AllowAnyOrigin"},
        },
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    token_ok = _json_response("A bearer token for the wallet's principal.", _schema("Sep10Token"))
    created = _json_response("The wallet, bound.", _schema("Wallet"))
    created["headers"]["Location"] = {"$ref": "#/components/headers/WalletLocation"}
    return {
        "/.well-known/stellar.toml": {
            "get": _operation(
                "getStellarToml",
                "Stellar info file (SEP-1)",
                "Wallet sign-in",
                {"200": toml, **_errors({400: "A query parameter was sent (none are accepted)."})},
                description="What wallets read to sign in here (SEP-10). Any origin may read "
                "it (CORS `*`).",
            )
        },
        "/v1/auth": {
            "get": _challenge_operation(),
            "post": _operation(
                "postSep10Token",
                "Exchange a signed challenge for a token (SEP-10)",
                "Wallet sign-in",
                {
                    "200": token_ok,
                    **_errors(
                        {
                            400: "The body is not a JSON object with one base64 `transaction`.",
                            401: f"{_INVALID_CHALLENGE} Or the challenge is valid but the "
                            "wallet is bound to no principal (WALLET_NOT_REGISTERED; the "
                            "challenge is not used up, so it may go to /v1/auth/register).",
                            413: "The request body is too large.",
                            415: "The body is not sent as application/json.",
                            503: _NOT_CONFIGURED,
                        }
                    ),
                },
                description="Verifies the signed challenge, uses it up (a challenge buys one "
                "token), and returns a JWT for the principal the wallet is bound to: `sub`, "
                "`tenantId` and `role` of the binding, `walletAddress` the verified account.",
                request_body=_body("Sep10SignedChallenge"),
            ),
        },
        "/v1/auth/register": {
            "post": _operation(
                "registerWallet",
                "Register an unknown wallet (self-service)",
                "Wallet sign-in",
                {
                    "201": _json_response(
                        "The wallet, bound to itself as an unverified investor or SME of the "
                        "self-service tenant, and a token.",
                        _schema("WalletRegistered"),
                    ),
                    **_errors(
                        {
                            400: "Invalid fields: `transaction` (base64), `role` (investor "
                            "or sme), `displayName` and `country` (both or neither, else "
                            "REQUIRED_TOGETHER on the missing one; role sme only, else "
                            "NOT_ALLOWED_FOR_ROLE).",
                            401: _INVALID_CHALLENGE,
                            403: "Self-registration is off (SELF_REGISTRATION_DISABLED: no "
                            "SELF_SERVICE_TENANT).",
                            409: "The wallet is already bound (WALLET_ALREADY_BOUND): sign in "
                            "with POST /v1/auth.",
                            413: "The request body is too large.",
                            415: "The body is not sent as application/json.",
                            503: _NOT_CONFIGURED,
                        }
                    ),
                },
                description="For a wallet no admin has bound: with a challenge signed as for "
                "POST /v1/auth, binds the wallet in SELF_SERVICE_TENANT with subject = its "
                "address and `verified: false`, audited as `wallet.self_registered`. An SME "
                "may send its profile (`displayName`, `country`): it is stored with the "
                "binding, in the same transaction, and audited as `sme_profile.created`.",
                request_body=_body("WalletRegistration"),
            )
        },
        "/v1/admin/wallets": {
            "get": _operation(
                "listWallets",
                "List the tenant's wallets",
                "Wallet directory",
                {
                    "200": _json_response("One page of wallets.", _schema("WalletList")),
                    **_errors(
                        {
                            400: "Invalid page or limit, an unknown parameter, or a missing "
                            "or invalid X-Tenant-Id header.",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                parameters=("TenantId",),
                query=WalletsQuery,
                query_notes={"page": "1-based page number.", "limit": "Wallets per page."},
            ),
            "post": _operation(
                "bindWallet",
                "Bind a wallet to a principal",
                "Wallet directory",
                {
                    "201": created,
                    **_errors(
                        {
                            400: "Invalid fields (address, role, subject, verified).",
                            409: "The wallet is already bound, in this tenant or another "
                            "(WALLET_ALREADY_BOUND).",
                            413: "The request body is too large.",
                            415: "The body is not sent as application/json.",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="The wallet then signs in (POST /v1/auth) as this subject and role "
                "of the admin's tenant. Audited as `wallet.bound`.",
                parameters=("TenantId",),
                request_body=_body("WalletBinding"),
            ),
        },
        "/v1/admin/wallets/{address}": {
            "delete": _operation(
                "unbindWallet",
                "Unbind a wallet",
                "Wallet directory",
                {
                    "204": {
                        "description": "Unbound. Tokens already issued stay valid until they "
                        "expire.",
                        "headers": {
                            "X-Correlation-Id": {"$ref": "#/components/headers/X-Correlation-Id"}
                        },
                    },
                    **_errors(
                        {
                            400: "The address is not a checksummed G... address, or the "
                            "X-Tenant-Id header is missing or invalid.",
                            404: "The wallet is not bound in this tenant (WALLET_NOT_FOUND).",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="Audited as `wallet.unbound`.",
                parameters=("TenantId", "WalletAddress"),
            )
        },
    }


TAGS = [
    {"name": "Wallet sign-in", "description": "SEP-1 and SEP-10: a wallet gets a token."},
    {"name": "Wallet directory", "description": "Which principal each wallet signs in as."},
]
