"""Negative security suite: every way in that should be shut, is; nothing secret leaks out."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import jwt
import pytest
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.bootstrap import create_app
from liquifact_http.callers import Caller, require_bound_wallet
from liquifact_http.problems import Problem
from liquifact_http.routes.docs import _PAGE
from liquifact_http.settings import TrustProxy
from tests.auth_helpers import (
    ALL_KEY,
    OMIT,
    PINNED_KEY,
    PINNED_TENANT,
    READ_KEY,
    REVOKED_KEY,
    TEST_SECRET,
    WRITE_KEY,
    api_key,
    bearer,
    test_settings,
    token,
)
from tests.factories import account_address, invoice_payload
from tests.http.conftest import HTTP_STORES
from tests.redis_support import require_redis, unique_namespace

PUBLIC_PATHS = [
    "/health",
    "/healthz",
    "/v1",
    "/api",
    "/openapi.json",
    "/docs",
    "/docs/init.js",
    "/docs/static/swagger-ui.css",
]
LIST = "/v1/invoices"


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
def app(request: pytest.FixtureRequest, http_store_kind: str, tmp_path: Path) -> Iterator[Any]:
    """The suite runs with the in-process rate-limit counters and cache, and with Redis's."""
    store = HTTP_STORES[http_store_kind](request, tmp_path)
    settings = test_settings()
    if request.param == "redis":
        settings = attrs.evolve(
            settings, redis_url=require_redis(), redis_key_prefix=unique_namespace("security")
        )
    yield create_app(settings, store=store)
    store.close()


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def assert_invalid_token(response: Any) -> None:
    """The one answer to every bad credential: it never says which check failed."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == "INVALID_TOKEN"
    assert body["detail"] == "The credentials are not valid."
    assert response.headers["www-authenticate"].startswith('Bearer realm="liquifact"')
    assert response.headers["content-type"] == "application/problem+json"


def created(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post(LIST, json=invoice_payload(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# ---- no or malformed credentials --------------------------------------------------------------
def test_no_credentials_is_401_authentication_required(client: TestClient) -> None:
    response = client.get(LIST)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_REQUIRED"
    assert response.headers["www-authenticate"] == 'Bearer realm="liquifact"'


@pytest.mark.parametrize(
    "value",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNzd29yZA==",
        "bearer  two  parts",
        "Bearer two parts",
        "Bearer not-a-jwt",
        "Token {token}",
        "{token}",
        "bearer {token}",
        "BEARER {token}",
        "Bearer  {token}",
        "Bearer {token} ",
        "Bearer {token}.extra",
        "Bearer {token},Bearer {token}",
        "Bearer " + "A" * 9000 + ".b.c",
    ],
)
def test_malformed_authorization_is_401(client: TestClient, tenant: str, value: str) -> None:
    valid = token("admin", tenant)
    assert_invalid_token(client.get(LIST, headers={"Authorization": value.format(token=valid)}))


def test_two_authorization_headers_are_refused(client: TestClient, tenant: str) -> None:
    valid = f"Bearer {token('admin', tenant)}"
    response = client.get(LIST, headers=[("Authorization", valid), ("Authorization", valid)])
    # Refused before anyone reads either copy (issue 9: repeated singleton headers are 400).
    assert response.status_code == 400
    assert response.json()["code"] == "DUPLICATE_HEADER"
    assert response.json()["errors"][0]["field"] == "Authorization"


@pytest.mark.parametrize("name", ["access_token", "token", "jwt", "api_key"])
def test_credentials_in_the_query_string_are_ignored(
    client: TestClient, tenant: str, name: str
) -> None:
    response = client.get(LIST, params={name: token("admin", tenant)})
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_REQUIRED"


def test_header_name_is_case_insensitive(client: TestClient, tenant: str) -> None:
    response = client.get(LIST, headers={"aUtHoRiZaTiOn": f"Bearer {token('admin', tenant)}"})
    assert response.status_code == 200


# ---- tokens that are not what they claim ------------------------------------------------------
def test_tampered_signature_is_401(client: TestClient, tenant: str) -> None:
    header, payload, signature = token("admin", tenant).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    response = client.get(LIST, headers={"Authorization": f"Bearer {header}.{payload}.{flipped}"})
    assert_invalid_token(response)


def test_tampered_payload_is_401(client: TestClient, tenant: str) -> None:
    header, _, signature = token("sme", tenant).split(".")
    now = int(time.time())
    forged = _b64({"sub": "x", "tenantId": tenant, "role": "admin", "exp": now + 600})
    response = client.get(LIST, headers={"Authorization": f"Bearer {header}.{forged}.{signature}"})
    assert_invalid_token(response)


def test_token_signed_with_another_secret_is_401(client: TestClient, tenant: str) -> None:
    other = "another-secret-that-is-long-enough-0123456789"
    assert_invalid_token(client.get(LIST, headers=bearer("admin", tenant, secret=other)))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_alg_none_token_is_401(client: TestClient, tenant: str, alg: str) -> None:
    now = int(time.time())
    claims = {"sub": "x", "tenantId": tenant, "role": "admin", "exp": now + 600}
    unsigned = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}."
    assert_invalid_token(client.get(LIST, headers={"Authorization": f"Bearer {unsigned}"}))


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_algorithm_outside_the_allow_list_is_401(client: TestClient, tenant: str, alg: str) -> None:
    # Correctly signed with the right secret, but HS256 is the only algorithm allowed.
    assert_invalid_token(client.get(LIST, headers=bearer("admin", tenant, algorithm=alg)))


def test_listed_stronger_algorithm_is_accepted(tenant: str) -> None:
    secret = "s" * 64
    app = create_app(
        test_settings(jwt_secret=secret, jwt_algorithms=("HS512",)), store=InMemoryStore()
    )
    with TestClient(app) as client:
        ok = client.get(LIST, headers=bearer("admin", tenant, secret=secret, algorithm="HS512"))
        assert ok.status_code == 200
        weak = client.get(LIST, headers=bearer("admin", tenant, secret=secret))
        assert_invalid_token(weak)


def test_expired_token_is_401_but_small_skew_is_tolerated(client: TestClient, tenant: str) -> None:
    now = int(time.time())
    expired = bearer("admin", tenant, exp=now - 3600, iat=now - 7200)
    assert_invalid_token(client.get(LIST, headers=expired))
    skewed = bearer("admin", tenant, exp=now - 5, iat=now - 600)  # leeway is 30 s
    assert client.get(LIST, headers=skewed).status_code == 200


def test_not_yet_valid_token_is_401(client: TestClient, tenant: str) -> None:
    now = int(time.time())
    assert_invalid_token(client.get(LIST, headers=bearer("admin", tenant, nbf=now + 3600)))
    assert_invalid_token(client.get(LIST, headers=bearer("admin", tenant, iat=now + 3600)))


def test_token_without_exp_is_401(client: TestClient, tenant: str) -> None:
    assert_invalid_token(client.get(LIST, headers=bearer("admin", tenant, exp=OMIT)))


def test_no_secret_configured_refuses_every_token(tenant: str) -> None:
    app = create_app(test_settings(jwt_secret=None), store=InMemoryStore())
    with TestClient(app) as client:
        assert_invalid_token(client.get(LIST, headers=bearer("admin", tenant)))


@pytest.fixture
def strict_client() -> Iterator[TestClient]:
    settings = test_settings(jwt_issuer="https://auth.liquifact.test", jwt_audience="lf-api")
    with TestClient(create_app(settings, store=InMemoryStore())) as client:
        yield client


def test_issuer_and_audience_are_checked_when_configured(
    strict_client: TestClient, tenant: str
) -> None:
    good: dict[str, Any] = {"iss": "https://auth.liquifact.test", "aud": "lf-api"}
    assert strict_client.get(LIST, headers=bearer("admin", tenant, **good)).status_code == 200
    listed: dict[str, Any] = {**good, "aud": ["other-api", "lf-api"]}
    assert strict_client.get(LIST, headers=bearer("admin", tenant, **listed)).status_code == 200
    for bad in (
        {**good, "iss": "https://evil.test"},
        {**good, "iss": OMIT},
        {**good, "aud": "other-api"},
        {**good, "aud": OMIT},
    ):
        assert_invalid_token(strict_client.get(LIST, headers=bearer("admin", tenant, **bad)))


def test_audience_claim_without_configured_audience_is_401(client: TestClient, tenant: str) -> None:
    assert_invalid_token(client.get(LIST, headers=bearer("admin", tenant, aud="other-api")))


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": 42},
        {"sub": ""},
        {"sub": "has space"},
        {"sub": OMIT},
        {"tenantId": 7},
        {"tenantId": "../other"},
        {"tenantId": OMIT},
        {"role": ["admin"]},
        {"role": "ADMIN"},
        {"role": OMIT},
        {"walletAddress": "G" + "A" * 55},  # the right shape, a wrong checksum
        {"walletAddress": 12},
        {"walletAddress": None},
        {"exp": "9999999999"},
        {"exp": True},
        {"exp": 1e400},
        {"nbf": "0"},
        {"iat": "0"},
    ],
    ids=str,
)
def test_wrong_type_or_invalid_claims_are_401(
    client: TestClient, tenant: str, claims: dict[str, Any]
) -> None:
    claims = dict(claims)
    role = claims.pop("role", "admin")
    if role is OMIT:
        now = int(time.time())
        signed = jwt.encode({"sub": "s", "tenantId": tenant, "exp": now + 60}, TEST_SECRET)
    else:
        signed = token(role, tenant, **claims)
    assert_invalid_token(client.get(LIST, headers={"Authorization": f"Bearer {signed}"}))


@pytest.mark.parametrize("role", ["superadmin", "service", "chain", "root", ""])
def test_unknown_or_non_token_roles_are_401(client: TestClient, tenant: str, role: str) -> None:
    assert_invalid_token(client.get(LIST, headers=bearer(role, tenant)))


# ---- API keys ---------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["lf_unknown_key_1", REVOKED_KEY, READ_KEY + "x", "", "lf_"])
def test_unknown_or_revoked_api_key_is_401(client: TestClient, tenant: str, key: str) -> None:
    assert_invalid_token(client.get(LIST, headers=api_key(key, tenant)))


def test_api_key_scope_is_enforced(client: TestClient, tenant: str) -> None:
    missing = client.post(LIST, json=invoice_payload(), headers=api_key(READ_KEY, tenant))
    assert missing.status_code == 403
    assert missing.json()["code"] == "INSUFFICIENT_SCOPE"
    unreadable = client.get(LIST, headers=api_key(WRITE_KEY, tenant))
    assert unreadable.json()["code"] == "INSUFFICIENT_SCOPE"
    assert client.get(LIST, headers=api_key(READ_KEY, tenant)).status_code == 200


def test_api_keys_act_as_their_client_with_role_service(client: TestClient, tenant: str) -> None:
    invoice = created(client, api_key(WRITE_KEY, tenant))
    assert invoice["smeId"] == "writer-svc" and invoice["tenantId"] == tenant
    history = client.get(f"{LIST}/{invoice['id']}/history", headers=api_key(ALL_KEY, tenant))
    assert history.json()["data"][0]["actorRole"] == "service"
    approve = client.post(f"{LIST}/{invoice['id']}/approve", headers=api_key(ALL_KEY, tenant))
    assert approve.status_code == 200


def test_api_keys_may_not_call_routes_without_a_scope(client: TestClient, tenant: str) -> None:
    invoice = created(client, api_key(ALL_KEY, tenant))
    response = client.post(
        f"{LIST}/{invoice['id']}/cancel", json={"reason": "r"}, headers=api_key(ALL_KEY, tenant)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


def test_api_key_limited_to_tenants(client: TestClient, tenant: str) -> None:
    elsewhere = client.get(LIST, headers=api_key(PINNED_KEY, tenant))
    assert elsewhere.status_code == 403
    assert elsewhere.json()["code"] == "TENANT_FORBIDDEN"
    assert client.get(LIST, headers=api_key(PINNED_KEY, PINNED_TENANT)).status_code == 200


def test_api_key_needs_exactly_one_tenant_header(client: TestClient, tenant: str) -> None:
    missing = client.get(LIST, headers=api_key(READ_KEY, None))
    assert missing.status_code == 400 and missing.json()["code"] == "TENANT_REQUIRED"
    two = client.get(
        LIST,
        headers=[("X-API-Key", READ_KEY), ("X-Tenant-Id", tenant), ("X-Tenant-Id", "other")],
    )
    assert two.status_code == 400


def test_both_credentials_at_once_are_refused(client: TestClient, tenant: str) -> None:
    headers = {**bearer("admin", tenant), **api_key(ALL_KEY, tenant)}
    assert_invalid_token(client.get(LIST, headers=headers))


def test_revoked_and_unknown_keys_get_identical_answers(client: TestClient, tenant: str) -> None:
    revoked = client.get(LIST, headers=api_key(REVOKED_KEY, tenant)).json()
    unknown = client.get(LIST, headers=api_key("lf_never_issued", tenant)).json()
    for body in (revoked, unknown):
        del body["correlation_id"]
    assert revoked == unknown


# ---- tenants and roles ------------------------------------------------------------------------
def test_tenant_header_never_overrides_the_token(client: TestClient, tenant: str) -> None:
    spoofed = client.get(LIST, headers={**bearer("admin", tenant), "X-Tenant-Id": "victim"})
    assert spoofed.status_code == 403
    assert spoofed.json()["code"] == "TENANT_FORBIDDEN"
    same = client.get(LIST, headers={**bearer("admin", tenant), "X-Tenant-Id": tenant})
    assert same.status_code == 200


def test_cross_tenant_id_guessing_is_404(client: TestClient, tenant: str) -> None:
    invoice_id = created(client, bearer("admin", tenant))["id"]
    intruder = bearer("admin", "intruder-tenant")
    for method, suffix, body in [
        ("GET", "", None),
        ("GET", "/state", None),
        ("GET", "/history", None),
        ("PATCH", "", {"buyerName": "x"}),
        ("DELETE", "", None),
        ("POST", "/approve", None),
        ("POST", "/reject", {"reason": "r"}),
    ]:
        response = client.request(
            method, f"{LIST}/{invoice_id}{suffix}", json=body, headers=intruder
        )
        assert response.status_code == 404, (method, suffix, response.text)
        assert response.json()["code"] == "NOT_FOUND"
    service = client.get(f"{LIST}/{invoice_id}", headers=api_key(READ_KEY, "intruder-tenant"))
    assert service.status_code == 404


def test_smes_see_only_their_own_invoices(client: TestClient, tenant: str) -> None:
    mine = bearer("sme", tenant, "sme-a")
    theirs = bearer("sme", tenant, "sme-b")
    invoice_id = created(client, mine)["id"]
    assert client.get(f"{LIST}/{invoice_id}", headers=mine).status_code == 200
    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"buyerName": "x"}),
        ("DELETE", "", None),
        ("POST", "/cancel", {"reason": "r"}),
    ]:
        response = client.request(method, f"{LIST}/{invoice_id}{suffix}", json=body, headers=theirs)
        assert response.status_code == 404, (method, suffix)
    assert client.get(LIST, headers=theirs).json()["meta"]["total"] == 0
    cancelled = client.post(f"{LIST}/{invoice_id}/cancel", json={"reason": "r"}, headers=mine)
    assert cancelled.json()["status"] == "cancelled"


@pytest.mark.parametrize(
    ("role", "method", "suffix", "body"),
    [
        ("sme", "POST", "/approve", None),
        ("sme", "POST", "/reject", {"reason": "r"}),
        ("sme", "POST", "/default", {"reason": "r"}),
        ("investor", "GET", "/state", None),
        ("investor", "POST", "/cancel", {"reason": "r"}),
    ],
)
def test_roles_outside_the_access_table_are_403(
    client: TestClient, tenant: str, role: str, method: str, suffix: str, body: Any
) -> None:
    invoice_id = created(client, bearer("sme", tenant, "owner"))["id"]
    response = client.request(
        method, f"{LIST}/{invoice_id}{suffix}", json=body, headers=bearer(role, tenant, "owner")
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


def test_investors_cannot_list_or_submit_invoices(client: TestClient, tenant: str) -> None:
    investor = bearer("investor", tenant)
    assert client.get(LIST, headers=investor).status_code == 403
    assert client.post(LIST, json=invoice_payload(), headers=investor).status_code == 403


# ---- wallet binding ---------------------------------------------------------------------------
def test_wallet_comes_only_from_the_verified_token(client: TestClient, tenant: str) -> None:
    wallet = account_address()
    bound = created(client, bearer("sme", tenant, "sme-w", wallet=wallet))
    assert bound["smeWallet"] == wallet
    spoofed = created(
        client, {**bearer("sme", tenant, "sme-x"), "x-stellar-address": account_address()}
    )
    assert spoofed["smeWallet"] is None


def test_require_bound_wallet() -> None:
    from liquifact_core.invoices import Actor
    from liquifact_core.lifecycle import Role

    wallet = account_address()
    assert require_bound_wallet(Caller("t", Actor("s", Role.SME, wallet))) == wallet
    with pytest.raises(Problem) as refused:
        require_bound_wallet(Caller("t", Actor("s", Role.SME)))
    assert (refused.value.status, refused.value.code) == (403, "WALLET_NOT_BOUND")


# ---- public routes ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", PUBLIC_PATHS)
@pytest.mark.parametrize(
    "garbage",
    [
        {"Authorization": "Basic Z2FyYmFnZQ=="},
        {"Authorization": "Bearer a.b.c"},
        {"X-API-Key": "lf_garbage_key"},
        {"Authorization": "Bearer", "X-API-Key": "x", "X-Tenant-Id": "../.."},
    ],
)
def test_public_routes_ignore_garbage_credentials(
    client: TestClient, path: str, garbage: dict[str, str]
) -> None:
    assert client.get(path, headers=garbage).status_code == 200


# ---- nothing leaks ----------------------------------------------------------------------------
def test_no_secret_token_or_trace_in_any_error(
    tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(test_settings(), store=InMemoryStore())
    now = int(time.time())
    tokens = [
        token("admin", tenant, exp=now - 3600),
        token("admin", tenant, secret="wrong-secret-wrong-secret-wrong-secret"),
        token("admin", tenant, algorithm="HS512"),
        token("admin", tenant, walletAddress="GBAD"),
    ]
    requests: list[dict[str, str]] = [{"Authorization": f"Bearer {t}"} for t in tokens]
    requests += [api_key(REVOKED_KEY, tenant), api_key(READ_KEY + "zz", tenant), {}]
    requests += [{**bearer("admin", tenant), "X-Tenant-Id": "victim"}]
    secrets = [TEST_SECRET, REVOKED_KEY, READ_KEY, *tokens]
    forbidden = [*secrets, "Traceback", "Error:", "jwt.", "Signature", "Expired", "Decode"]
    with TestClient(app) as client:
        for headers in requests:
            response = client.get(LIST, headers=headers)
            assert response.status_code in (401, 403)
            exposed = response.text + json.dumps(dict(response.headers))
            for secret in forbidden:
                assert secret not in exposed, (secret, exposed)
    logged = capsys.readouterr()
    for secret in secrets:
        assert secret not in logged.out + logged.err
    assert "authentication_failed" in logged.err


# ---- security headers and CORS ----------------------------------------------------------------
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.mark.parametrize("path", ["/health", "/docs", LIST, "/nope", "/v1/invoices/inv_x1"])
def test_security_headers_on_every_response(client: TestClient, tenant: str, path: str) -> None:
    for headers in ({}, bearer("admin", tenant)):
        response = client.get(path, headers=headers)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers  # plain HTTP


def test_security_headers_on_unexpected_500s(tenant: str) -> None:
    app = create_app(test_settings(), store=InMemoryStore())

    def explode(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    app.state.services.invoices.list = explode
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(LIST, headers=bearer("admin", tenant))
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"


def test_docs_csp_allows_only_local_scripts() -> None:
    app = create_app(test_settings(), store=InMemoryStore())
    with TestClient(app) as client:
        page = client.get("/docs")
    csp = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["content-security-policy"].split(";")
    )
    assert csp["script-src"] == "'self'"
    assert csp["connect-src"] == "'self'"
    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)
    assert inline_scripts == [] and page.text == _PAGE
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert asset.startswith("/docs/")
        assert client.get(asset).status_code == 200


def test_hsts_only_over_tls() -> None:
    app = create_app(test_settings(), store=InMemoryStore())
    with TestClient(app, base_url="https://testserver") as tls:
        assert tls.get("/health").headers["strict-transport-security"].startswith("max-age=")
    with TestClient(app) as plain:
        forwarded = plain.get("/health", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in forwarded.headers  # proxy not trusted


def test_forwarded_proto_is_honoured_only_behind_a_trusted_proxy() -> None:
    app = create_app(test_settings(trust_proxy=TrustProxy(hops=1)), store=InMemoryStore())
    with TestClient(app) as client:
        forwarded = client.get("/health", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" in forwarded.headers
        assert "strict-transport-security" not in client.get("/health").headers


@pytest.fixture
def cors_client() -> Iterator[TestClient]:
    settings = test_settings(cors_allowed_origins=("https://app.liquifact.test",))
    with TestClient(create_app(settings, store=InMemoryStore())) as client:
        yield client


ALLOWED = "https://app.liquifact.test"


def _preflight(origin: str, method: str = "POST", headers: str = "authorization") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


def test_preflight_from_an_allowed_origin(cors_client: TestClient) -> None:
    response = cors_client.options(
        LIST, headers=_preflight(ALLOWED, headers="Authorization, Content-Type, If-Match")
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "PATCH" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"]
    assert "Origin" in response.headers["vary"]
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        _preflight("https://evil.test"),
        _preflight("https://app.liquifact.test.evil.test"),
        _preflight("http://app.liquifact.test"),
        _preflight("null"),
        _preflight(ALLOWED, method="TRACE"),
        _preflight(ALLOWED, headers="authorization, x-evil"),
    ],
)
def test_refused_preflights_are_403(cors_client: TestClient, headers: dict[str, str]) -> None:
    response = cors_client.options(LIST, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "CORS_FORBIDDEN"
    assert response.headers.get("access-control-allow-origin") in (None, ALLOWED)
    assert "Origin" in response.headers["vary"]


def test_actual_requests_by_origin(cors_client: TestClient, tenant: str) -> None:
    allowed = cors_client.get(LIST, headers={**bearer("admin", tenant), "Origin": ALLOWED})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "X-Correlation-Id" in allowed.headers["access-control-expose-headers"]
    assert "Origin" in allowed.headers["vary"]
    evil = cors_client.get(LIST, headers={**bearer("admin", tenant), "Origin": "https://evil.test"})
    assert evil.status_code == 403 and evil.json()["code"] == "CORS_FORBIDDEN"
    assert "access-control-allow-origin" not in evil.headers
    probe = cors_client.get("/health", headers={"Origin": "https://evil.test"})
    assert probe.status_code == 403


def test_no_allowed_origins_means_no_cross_origin_access(client: TestClient, tenant: str) -> None:
    assert client.options(LIST, headers=_preflight(ALLOWED)).status_code == 403
    response = client.get(LIST, headers={**bearer("admin", tenant), "Origin": ALLOWED})
    assert response.status_code == 403


def test_same_origin_requests_pass_without_listing(client: TestClient, tenant: str) -> None:
    # What Swagger UI on /docs sends when "Try it out" posts from the API's own origin.
    headers = {**bearer("admin", tenant), "Origin": "http://testserver"}
    response = client.post(LIST, json=invoice_payload(), headers=headers)
    assert response.status_code == 201
    assert client.get("/health").headers["vary"] == "Origin"


def test_plain_options_without_cors_headers_is_still_405(client: TestClient) -> None:
    assert client.options(LIST).status_code == 405


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
def limited_client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """A small budget (5 requests per window) on the in-process counters, and on Redis's."""
    settings = test_settings(rate_limit_max_requests=5)
    if request.param == "redis":
        settings = attrs.evolve(
            settings, redis_url=require_redis(), redis_key_prefix=unique_namespace("abuse")
        )
    with TestClient(create_app(settings, store=InMemoryStore())) as client:
        yield client


def test_credential_stuffing_is_rate_limited(limited_client: TestClient, tenant: str) -> None:
    forged = [{"Authorization": f"Bearer {token('admin', tenant, secret='x' * 64)}"}] * 8
    statuses = [limited_client.get(LIST, headers=headers).status_code for headers in forged]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    limited = limited_client.get(LIST, headers=forged[0])
    body = limited.json()
    assert (body["code"], body["retryable"]) == ("RATE_LIMITED", True)
    assert int(limited.headers["retry-after"]) > 0
    assert limited.headers["ratelimit-remaining"] == "0"
    assert "x" * 16 not in limited.text and "Traceback" not in limited.text


def test_one_abusive_user_does_not_exhaust_another(limited_client: TestClient, tenant: str) -> None:
    abuser, other = bearer("admin", tenant, "abuser"), bearer("admin", tenant, "other")
    assert [limited_client.get(LIST, headers=abuser).status_code for _ in range(6)][-1] == 429
    assert limited_client.get(LIST, headers=other).status_code == 200
