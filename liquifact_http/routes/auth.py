"""Wallet sign-in (SEP-1 stellar.toml, SEP-10 challenge and token), self-registration, and
the admins' wallet directory (``/v1/admin/wallets``).

A wallet proves control of its account by signing our challenge (``sep10.SignIn``); the wallet
directory (``WalletService``) says which principal it is; the token is our usual JWT
(``auth.mint_token``) naming that principal and the wallet. A challenge is redeemed once, and
only when it buys a token, so an unknown wallet may take the same signed challenge to
``/v1/auth/register``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.addresses import AccountAddress
from liquifact_core.errors import Unauthenticated
from liquifact_core.wallets import (
    BindWallet,
    ChallengeRequest,
    SelfRegistration,
    SignedChallenge,
    WalletBinding,
    WalletsQuery,
)
from liquifact_http.auth import mint_token
from liquifact_http.callers import caller_of
from liquifact_http.problems import Problem
from liquifact_http.routes.common import (
    blocking,
    body,
    json_response,
    query,
    reads_query,
    resource,
    services,
)
from liquifact_http.sep10 import (
    STELLAR_TOML_PATH,
    ProvenWallet,
    SignIn,
    invalid_challenge,
    wallet_not_registered,
)
from liquifact_http.settings import Settings
from liquifact_http.wallet_bodies import (
    ChallengeBody,
    RegisteredBody,
    RegisteredProfileBody,
    TokenBody,
    WalletBody,
    WalletPageBody,
)
from liquifact_http.wallet_bodies import body as render

AUTH_PATH = "/v1/auth"
REGISTER_PATH = "/v1/auth/register"
WALLETS_PATH = "/v1/admin/wallets"
# SEP-1: any web page may read the document.
TOML_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"}


def sign_in(request: Request) -> SignIn:
    """The app's SEP-10 server (built once, in ``bootstrap.create_app``)."""
    result: SignIn = request.app.state.sign_in
    return result


def _settings(request: Request) -> Settings:
    result: Settings = request.app.state.settings
    return result


async def stellar_toml(request: Request) -> Response:
    return Response(
        sign_in(request).stellar_toml(),
        media_type="text/plain; charset=utf-8",
        headers=TOML_HEADERS,
    )


@reads_query
async def challenge(request: Request) -> Response:
    wanted = query(request, ChallengeRequest)
    server = sign_in(request)
    transaction = await blocking(server.challenge, wanted)
    reply = ChallengeBody(transaction=transaction, network_passphrase=server.network_passphrase)
    return json_response(render(reply), headers={"Cache-Control": "no-store"})


async def token(request: Request) -> Response:
    signed = await body(request, SignedChallenge)
    _jwt_secret(request)  # before the challenge is used up
    proven = await blocking(sign_in(request).verify, signed.transaction)
    wallets = services(request).wallets
    binding = await blocking(wallets.principal_of, proven.account)
    if binding is None:
        raise wallet_not_registered(REGISTER_PATH)
    await _redeem(request, proven)
    reply = TokenBody(token=_token_for(request, binding))
    return json_response(render(reply), headers={"Cache-Control": "no-store"})


async def register(request: Request) -> Response:
    wanted = await body(request, SelfRegistration)
    tenant = _settings(request).self_service_tenant
    if tenant is None:
        raise Problem(
            403,
            "SELF_REGISTRATION_DISABLED",
            "Self-registration is off on this server; ask an admin to bind your wallet.",
        )
    _jwt_secret(request)
    proven = await blocking(sign_in(request).verify, wanted.transaction)
    wallets = services(request).wallets
    if await blocking(wallets.principal_of, proven.account) is not None:
        raise Problem(
            409,
            "WALLET_ALREADY_BOUND",
            f"This wallet is already registered: sign in with POST {AUTH_PATH}.",
        )
    await _redeem(request, proven)
    profile = wanted.profile
    binding = await blocking(wallets.register_self, tenant, proven.account, wanted.role, profile)
    reply = RegisteredBody(
        token=_token_for(request, binding),
        wallet=WalletBody.of(binding),
        profile=None if profile is None else RegisteredProfileBody.of(profile),
    )
    return json_response(render(reply), 201, headers={"Cache-Control": "no-store"})


async def _redeem(request: Request, proven: ProvenWallet) -> None:
    try:
        await blocking(services(request).wallets.redeem_challenge, proven.digest, proven.expires_at)
    except Unauthenticated:
        raise invalid_challenge("challenge_replayed") from None


def _jwt_secret(request: Request) -> str:
    """The key tokens are signed with; 503 SIGN_IN_NOT_CONFIGURED without one."""
    secret = _settings(request).jwt_secret
    if secret is None:
        raise Problem(
            503,
            "SIGN_IN_NOT_CONFIGURED",
            "Wallet sign-in is not configured on this server (JWT_SECRET).",
        )
    return secret


def _token_for(request: Request, binding: WalletBinding) -> str:
    settings = _settings(request)
    _jwt_secret(request)
    return mint_token(
        settings,
        role=binding.role,
        tenant_id=binding.tenant_id,
        subject=binding.subject,
        wallet=binding.address,
        ttl_seconds=settings.sign_in_token_ttl_seconds,
    )


# ---- the admins' wallet directory ----------------------------------------------------------
@reads_query
async def list_wallets(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, WalletsQuery)
    page = await blocking(services(request).wallets.list, caller.tenant_id, caller.actor, wanted)
    return json_response(render(WalletPageBody.of(page, wanted)))


async def bind_wallet(request: Request) -> Response:
    caller = caller_of(request)
    command = await body(request, BindWallet)
    binding = await blocking(
        services(request).wallets.bind, caller.tenant_id, caller.actor, command
    )
    headers = {"Location": f"{WALLETS_PATH}/{binding.address}"}
    return json_response(render(WalletBody.of(binding)), 201, headers)


async def unbind_wallet(request: Request) -> Response:
    caller = caller_of(request)
    address = AccountAddress.parse(
        request.path_params["address"], "address", "INVALID_WALLET_ADDRESS"
    ).value
    await blocking(services(request).wallets.unbind, caller.tenant_id, caller.actor, address)
    return Response(status_code=204)


routes = [
    resource(STELLAR_TOML_PATH, GET=stellar_toml),
    resource(AUTH_PATH, GET=challenge, POST=token),
    resource(REGISTER_PATH, POST=register),
    resource(WALLETS_PATH, GET=list_wallets, POST=bind_wallet),
    resource(f"{WALLETS_PATH}/{{address}}", DELETE=unbind_wallet),
]
