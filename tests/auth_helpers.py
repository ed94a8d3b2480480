"""Credentials for tests: JWTs signed with a test secret, and a test API-key registry.

Tokens are built with PyJWT directly (not with the code under test), so a bug in the server's
minting cannot hide a bug in its verification.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from stellar_sdk import Keypair

from liquifact_http.api_keys import parse_api_keys
from liquifact_http.settings import Settings

TEST_SECRET = "test-secret-for-liquifact-tests-0123456789abcdef-0123456789abcdef"
# The SEP-10 signing key of test servers (a fixed seed: test processes and servers agree).
SEP10_SECRET = Keypair.from_raw_ed25519_seed(bytes(range(32))).secret
UNRESOLVABLE_WALLET_DOMAIN = "wallet.invalid"  # RFC 6761: never resolves


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()  # pass as a claim value to leave the claim out

READ_KEY = "lf_test_read_0001"
WRITE_KEY = "lf_test_write_0001"
ALL_KEY = "lf_test_all_00001"
REVOKED_KEY = "lf_test_revoked_01"
PINNED_KEY = "lf_test_pinned_001"
PINNED_TENANT = "pinned-tenant"
API_KEYS = ";".join(
    [
        f'{{"key":"{READ_KEY}","clientId":"reader-svc","scopes":["invoices:read"]}}',
        f'{{"key":"{WRITE_KEY}","clientId":"writer-svc","scopes":["invoices:write"]}}',
        f'{{"key":"{ALL_KEY}","clientId":"ops-svc",'
        '"scopes":["invoices:read","invoices:write","escrow:read"]}',
        f'{{"key":"{REVOKED_KEY}","clientId":"old-svc","scopes":["invoices:read"],"revoked":true}}',
        f'{{"key":"{PINNED_KEY}","clientId":"pinned-svc","scopes":["invoices:read"],'
        f'"tenants":["{PINNED_TENANT}"]}}',
    ]
)


def test_settings(**overrides: Any) -> Settings:
    """Settings with the test secret and API keys (as the settings gate would build them), and
    wallet sign-in with the test signing key; client attribution is limited to a domain that
    cannot resolve, so no test (nor the fuzz stage) makes the server fetch from the network."""
    values: dict[str, Any] = {
        "jwt_secret": TEST_SECRET,
        "api_keys": parse_api_keys(API_KEYS),
        "sep10_signing_secret": SEP10_SECRET,
        "sep10_client_domains": (UNRESOLVABLE_WALLET_DOMAIN,),
    }
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def token(
    role: str,
    tenant: str,
    sub: str = "test-user",
    wallet: str | None = None,
    *,
    secret: str = TEST_SECRET,
    algorithm: str = "HS256",
    # Six hours: tokens minted when a module is imported must outlive the slowest gate (a
    # loaded machine has taken 25 minutes), and stay under JWT_MAX_TTL_SECONDS' default.
    ttl: int = 6 * 3600,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A signed JWT. ``claims`` add or replace claims; a claim set to ``OMIT`` is left out."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": sub,
        "tenantId": tenant,
        "role": role,
        "iat": now,
        "exp": now + ttl,
    }
    if wallet is not None:
        payload["walletAddress"] = wallet
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not OMIT}
    return jwt.encode(payload, secret, algorithm=algorithm, headers=headers)


def bearer(role: str, tenant: str, sub: str = "test-user", **kwargs: Any) -> dict[str, str]:
    """Request headers carrying ``token(...)``."""
    return {"Authorization": f"Bearer {token(role, tenant, sub, **kwargs)}"}


def api_key(key: str, tenant: str | None) -> dict[str, str]:
    headers = {"X-API-Key": key}
    if tenant is not None:
        headers["X-Tenant-Id"] = tenant
    return headers
