"""Black-box security checks against a real ``liquifact serve`` process, and ``make token``."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import httpx2 as httpx
import jwt
import pytest

from tests.auth_helpers import READ_KEY, TEST_SECRET, api_key, bearer, token
from tests.factories import invoice_payload
from tests.integration.server import running_server

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
API_KEYS = (
    f'{{"key":"{READ_KEY}","clientId":"reader","scopes":["invoices:read"]}};'
    '{"key":"lf_revoked_key_1","clientId":"old","scopes":["invoices:read"],"revoked":true}'
)


def test_real_server_authenticates_and_hardens(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'auth.db'}",
        "JWT_SECRET": TEST_SECRET,
        "API_KEYS": API_KEYS,
        "CORS_ALLOWED_ORIGINS": "https://app.example.test",
    }
    with running_server(env) as base:
        url = base + "/v1/invoices"
        anonymous = httpx.get(url)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in anonymous.headers
        spoofed = httpx.get(url, headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in spoofed.headers  # TRUST_PROXY is off
        for value in (
            "Bearer",
            "Basic eDp5",
            "bearer  two  parts",
            f"Bearer {token('admin', 'a')}x",
        ):
            bad = httpx.get(url, headers={"Authorization": value})
            assert (bad.status_code, bad.json()["code"]) == (401, "INVALID_TOKEN")
            assert "Traceback" not in bad.text and TEST_SECRET not in bad.text
        assert httpx.get(url, params={"access_token": token("admin", "a")}).status_code == 401
        expired = httpx.get(url, headers=bearer("admin", "a", exp=1_000_000))
        assert expired.status_code == 401
        admin = bearer("admin", "tenant-a")
        created = httpx.post(url, json=invoice_payload(), headers=admin)
        assert created.status_code == 201
        item = f"{url}/{created.json()['id']}"
        assert httpx.get(item, headers=bearer("admin", "tenant-b")).status_code == 404
        assert httpx.get(item, headers={**admin, "X-Tenant-Id": "tenant-b"}).status_code == 403
        assert httpx.get(item, headers=api_key(READ_KEY, "tenant-a")).status_code == 200
        assert httpx.get(item, headers=api_key("lf_revoked_key_1", "tenant-a")).status_code == 401
        assert httpx.post(url, json={}, headers=api_key(READ_KEY, "tenant-a")).status_code == 403
        assert httpx.get(base + "/health", headers={"Authorization": "garbage"}).status_code == 200
        preflight = httpx.options(
            url,
            headers={
                "Origin": "https://app.example.test",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 204
        evil = httpx.get(url, headers={**admin, "Origin": "https://evil.test"})
        assert evil.status_code == 403


def test_make_token_shares_a_persistent_dev_secret(tmp_path: Path) -> None:
    secret_file = tmp_path / "var" / "dev-jwt-secret"
    env = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "JWT_SECRET_FILE")}
    env.pop("MAKEFLAGS", None)

    def make_token(*variables: str) -> str:
        result = subprocess.run(
            ["make", "-s", "-C", str(REPO), "token", f"DEV_JWT_SECRET={secret_file}", *variables],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout.strip()

    first = make_token()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip()
    assert len(secret) >= 32
    second = make_token("ROLE=sme", "TENANT=acme", "SUB=sme-9")
    assert secret_file.read_text().strip() == secret  # created once, then reused
    assert jwt.decode(first, secret, algorithms=["HS256"])["role"] == "admin"
    claims = jwt.decode(second, secret, algorithms=["HS256"])
    assert (claims["role"], claims["tenantId"], claims["sub"]) == ("sme", "acme", "sme-9")
    with running_server(
        {"JWT_SECRET_FILE": str(secret_file), "DATABASE_URL": ""}, cwd=tmp_path
    ) as base:
        answer = httpx.get(base + "/v1/invoices", headers={"Authorization": f"Bearer {first}"})
        assert answer.status_code == 200
