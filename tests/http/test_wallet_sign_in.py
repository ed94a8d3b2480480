"""Wallet sign-in over HTTP (SEP-1, SEP-10) with stellar-sdk's Keypair as the wallet, the
self-service registration and the admins' wallet directory, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient
from stellar_sdk import Keypair, TransactionEnvelope
from stellar_sdk.sep.stellar_web_authentication import build_challenge_transaction

from liquifact_adapters.sqlite import SqliteStore
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import SEP10_SECRET, TEST_SECRET, bearer, test_settings
from tests.factories import invoice_payload, new_tenant
from tests.http.conftest import HTTP_STORES
from tests.http.openapi_validation import assert_matches_openapi
from tests.sep10_support import challenge_for, sign_in, signed, signed_challenge

SERVER = Keypair.from_secret(SEP10_SECRET)
TESTNET = "Test SDF Network ; September 2015"


@pytest.fixture
def self_service() -> str:
    return new_tenant()


@pytest.fixture
def wallet_client(
    http_store_kind: str, request: pytest.FixtureRequest, tmp_path: Path, self_service: str
) -> Iterator[TestClient]:
    store = HTTP_STORES[http_store_kind](request, tmp_path)
    settings = test_settings(self_service_tenant=self_service, rate_limit_enabled=False)
    with TestClient(create_app(settings, store=store)) as client:
        yield client
    store.close()


def _bind(
    client: TestClient, tenant: str, wallet: Keypair, role: str = "investor", subject: str = "u-1"
) -> Any:
    body = {"address": wallet.public_key, "role": role, "subject": subject}
    admin = bearer("admin", tenant, "boss", ttl=60)
    return client.post("/v1/admin/wallets", json=body, headers=admin)


def _claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
    return decoded


def _refused(response: Any, code: str = "INVALID_CHALLENGE") -> None:
    assert_matches_openapi(response)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# ---- SEP-1 ------------------------------------------------------------------------------------
def test_stellar_toml_names_the_network_signing_key_and_endpoint(client: TestClient) -> None:
    response = client.get("/.well-known/stellar.toml", headers={"Origin": "https://x.example"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.text.splitlines() == [
        f'NETWORK_PASSPHRASE = "{TESTNET}"',
        f'SIGNING_KEY = "{SERVER.public_key}"',
        'WEB_AUTH_ENDPOINT = "http://localhost:3001/v1/auth"',
    ]


# ---- SEP-10 -----------------------------------------------------------------------------------
def test_a_bound_wallet_gets_a_token_that_works_on_v1(
    wallet_client: TestClient, tenant: str
) -> None:
    wallet = Keypair.random()
    assert _bind(wallet_client, tenant, wallet, subject="inv-7").status_code == 201

    transaction, passphrase = challenge_for(wallet_client, wallet.public_key)
    envelope = TransactionEnvelope.from_xdr(transaction, passphrase)
    assert passphrase == TESTNET
    assert envelope.transaction.sequence == 0
    response = wallet_client.post(
        "/v1/auth", json={"transaction": signed(transaction, passphrase, wallet)}
    )

    assert_matches_openapi(response)
    assert response.status_code == 200, response.text
    claims = _claims(response.json()["token"])
    assert (claims["sub"], claims["tenantId"], claims["role"], claims["walletAddress"]) == (
        "inv-7",
        tenant,
        "investor",
        wallet.public_key,
    )
    assert claims["exp"] - claims["iat"] == 3600
    auth = {"Authorization": f"Bearer {response.json()['token']}"}
    assert wallet_client.get("/v1/marketplace", headers=auth).status_code == 200


@pytest.mark.parametrize("http_store_kind", ["sqlite"])
def test_the_token_lifetime_is_capped_by_jwt_max_ttl(http_store_kind: str, tmp_path: Path) -> None:
    settings = test_settings(jwt_max_ttl_seconds=120, sep10_jwt_ttl_seconds=3600)
    store = HTTP_STORES[http_store_kind](None, tmp_path)  # type: ignore[arg-type]
    tenant, wallet = new_tenant(), Keypair.random()
    with TestClient(create_app(settings, store=store)) as client:
        _bind(client, tenant, wallet)
        claims = _claims(sign_in(client, wallet).json()["token"])

    assert claims["exp"] - claims["iat"] == 120


def test_a_challenge_buys_one_token(wallet_client: TestClient, tenant: str) -> None:
    wallet = Keypair.random()
    _bind(wallet_client, tenant, wallet)
    proof = signed_challenge(wallet_client, wallet)

    assert wallet_client.post("/v1/auth", json={"transaction": proof}).status_code == 200
    _refused(wallet_client.post("/v1/auth", json={"transaction": proof}))


def test_a_signature_by_another_key_is_refused(wallet_client: TestClient, tenant: str) -> None:
    wallet = Keypair.random()
    _bind(wallet_client, tenant, wallet)

    _refused(sign_in(wallet_client, wallet, Keypair.random()))
    _refused(sign_in(wallet_client, wallet, wallet, Keypair.random()))  # an extra signature


def test_an_expired_challenge_is_refused(wallet_client: TestClient, tenant: str) -> None:
    wallet = Keypair.random()
    _bind(wallet_client, tenant, wallet)
    transaction = build_challenge_transaction(
        SEP10_SECRET, wallet.public_key, "localhost:3001", "localhost:3001", TESTNET, timeout=1
    )
    time.sleep(2.1)

    proof = signed(transaction, TESTNET, wallet)
    _refused(wallet_client.post("/v1/auth", json={"transaction": proof}))


def test_a_challenge_changed_after_signing_is_refused(
    wallet_client: TestClient, tenant: str
) -> None:
    wallet = Keypair.random()
    _bind(wallet_client, tenant, wallet)
    envelope = TransactionEnvelope.from_xdr(signed_challenge(wallet_client, wallet), TESTNET)
    envelope.transaction.fee += 100  # the server's and the wallet's signatures no longer match

    _refused(wallet_client.post("/v1/auth", json={"transaction": envelope.to_xdr()}))


def test_a_challenge_not_signed_by_this_server_is_refused(
    wallet_client: TestClient, tenant: str
) -> None:
    wallet = Keypair.random()
    _bind(wallet_client, tenant, wallet)
    forged = build_challenge_transaction(
        Keypair.random().secret, wallet.public_key, "localhost:3001", "localhost:3001", TESTNET
    )

    proof = signed(forged, TESTNET, wallet)
    _refused(wallet_client.post("/v1/auth", json={"transaction": proof}))


def test_another_accounts_challenge_is_refused(wallet_client: TestClient, tenant: str) -> None:
    victim, thief = Keypair.random(), Keypair.random()
    _bind(wallet_client, tenant, victim)
    _bind(wallet_client, tenant, thief, subject="u-2")
    transaction, passphrase = challenge_for(wallet_client, victim.public_key)

    proof = signed(transaction, passphrase, thief)
    _refused(wallet_client.post("/v1/auth", json={"transaction": proof}))


def test_malformed_sign_in_requests_are_400(wallet_client: TestClient) -> None:
    wallet = Keypair.random().public_key
    broken = wallet[:-1] + ("B" if wallet.endswith("A") else "A")  # checksum off
    for response in (
        wallet_client.get("/v1/auth"),
        wallet_client.get("/v1/auth", params={"account": broken}),
        wallet_client.get("/v1/auth", params={"account": wallet, "home_domain": "other.example"}),
        wallet_client.get("/v1/auth", params={"account": wallet, "client_domain": "evil.example"}),
        wallet_client.post("/v1/auth", json={"transaction": "not base64!"}),
        wallet_client.post("/v1/auth", json={}),
        wallet_client.post("/v1/auth", json={"transaction": "AAAA", "extra": 1}),
    ):
        assert_matches_openapi(response)
        assert response.status_code == 400, response.text


# ---- self-registration --------------------------------------------------------------------------
def test_an_unknown_wallet_registers_itself_with_the_same_challenge(
    wallet_client: TestClient, self_service: str
) -> None:
    wallet = Keypair.random()
    proof = signed_challenge(wallet_client, wallet)
    _refused(wallet_client.post("/v1/auth", json={"transaction": proof}), "WALLET_NOT_REGISTERED")

    response = wallet_client.post(
        "/v1/auth/register", json={"transaction": proof, "role": "investor"}
    )

    assert_matches_openapi(response)
    assert response.status_code == 201, response.text
    registered = response.json()["wallet"]
    assert (registered["tenantId"], registered["role"], registered["verified"]) == (
        self_service,
        "investor",
        False,
    )
    assert registered["subject"] == wallet.public_key
    _refused(wallet_client.post("/v1/auth", json={"transaction": proof}))  # used up
    again = wallet_client.post(
        "/v1/auth/register",
        json={"transaction": signed_challenge(wallet_client, wallet), "role": "sme"},
    )
    assert (again.status_code, again.json()["code"]) == (409, "WALLET_ALREADY_BOUND")
    claims = _claims(sign_in(wallet_client, wallet).json()["token"])
    assert (claims["tenantId"], claims["role"]) == (self_service, "investor")


def test_a_self_registered_sme_submits_an_invoice(wallet_client: TestClient) -> None:
    wallet = Keypair.random()
    proof = signed_challenge(wallet_client, wallet)
    token = wallet_client.post(
        "/v1/auth/register", json={"transaction": proof, "role": "sme"}
    ).json()["token"]

    response = wallet_client.post(
        "/v1/invoices", json=invoice_payload(), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["smeId"] == wallet.public_key


def test_a_self_registering_sme_stores_its_profile(
    wallet_client: TestClient, self_service: str
) -> None:
    wallet = Keypair.random()
    body = {"role": "sme", "displayName": " Société Lyonnaise ", "country": "FR"}

    response = wallet_client.post(
        "/v1/auth/register", json={**body, "transaction": signed_challenge(wallet_client, wallet)}
    )

    assert_matches_openapi(response)
    assert response.status_code == 201, response.text
    assert response.json()["profile"] == {"displayName": "Société Lyonnaise", "country": "FR"}
    sme = {"Authorization": f"Bearer {response.json()['token']}"}
    profile = wallet_client.get("/v1/sme/profile", headers=sme)
    assert_matches_openapi(profile)
    assert (profile.status_code, profile.json()["displayName"]) == (200, "Société Lyonnaise")


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"role": "investor", "displayName": "Acme", "country": "FR"},
            {("displayName", "NOT_ALLOWED_FOR_ROLE"), ("country", "NOT_ALLOWED_FOR_ROLE")},
        ),
        ({"role": "sme", "displayName": "Acme"}, {("country", "REQUIRED_TOGETHER")}),
        ({"role": "sme", "country": "FR"}, {("displayName", "REQUIRED_TOGETHER")}),
        ({"role": "sme", "displayName": "Acme", "country": "fr"}, {("country", "INVALID_COUNTRY")}),
    ],
)
def test_a_registration_with_a_bad_profile_is_400_and_binds_nothing(
    wallet_client: TestClient, body: dict[str, Any], errors: set[tuple[str, str]]
) -> None:
    wallet = Keypair.random()
    proof = signed_challenge(wallet_client, wallet)

    response = wallet_client.post("/v1/auth/register", json={**body, "transaction": proof})

    assert_matches_openapi(response)
    assert response.status_code == 400, response.text
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == errors
    # Nothing was bound and the challenge was not used: the same proof still registers.
    fixed = wallet_client.post("/v1/auth/register", json={"transaction": proof, "role": "sme"})
    assert fixed.status_code == 201, fixed.text
    assert "profile" not in fixed.json()


def test_self_registration_is_off_without_a_self_service_tenant(client: TestClient) -> None:
    wallet = Keypair.random()
    proof = signed_challenge(client, wallet)

    response = client.post("/v1/auth/register", json={"transaction": proof, "role": "investor"})

    assert_matches_openapi(response)
    assert (response.status_code, response.json()["code"]) == (403, "SELF_REGISTRATION_DISABLED")
    admin_role = client.post("/v1/auth/register", json={"transaction": proof, "role": "admin"})
    assert admin_role.status_code == 400  # never admin, whatever the setting


# ---- the admins' wallet directory ---------------------------------------------------------------
def test_admins_bind_list_and_unbind_wallets_with_audit(
    wallet_client: TestClient, tenant: str
) -> None:
    admin = bearer("admin", tenant, "boss")
    first, second = sorted((Keypair.random() for _ in range(2)), key=lambda k: k.public_key)
    created = _bind(wallet_client, tenant, first, role="sme", subject="sme-1")
    assert_matches_openapi(created)
    assert created.status_code == 201
    assert created.headers["Location"] == f"/v1/admin/wallets/{first.public_key}"
    _bind(wallet_client, tenant, second, subject="inv-2")

    listed = wallet_client.get("/v1/admin/wallets", params={"limit": 1}, headers=admin)
    assert_matches_openapi(listed)
    assert [w["address"] for w in listed.json()["data"]] == [first.public_key]
    assert listed.json()["meta"] == {
        "total": 2,
        "page": 1,
        "limit": 1,
        "totalPages": 2,
        "hasMore": True,
        "nextCursor": None,
    }

    gone = wallet_client.delete(f"/v1/admin/wallets/{first.public_key}", headers=admin)
    assert_matches_openapi(gone)
    assert gone.status_code == 204
    again = wallet_client.delete(f"/v1/admin/wallets/{first.public_key}", headers=admin)
    assert (again.status_code, again.json()["code"]) == (404, "WALLET_NOT_FOUND")
    _refused(sign_in(wallet_client, first), "WALLET_NOT_REGISTERED")

    store = wallet_client.app.state.services.store  # type: ignore[attr-defined]
    with store.read_unit(tenant) as uow:
        events = uow.audit.for_resource(tenant, "wallet", first.public_key)
    assert [(e.action, e.actor_id, e.actor_role) for e in events] == [
        ("wallet.bound", "boss", "admin"),
        ("wallet.unbound", "boss", "admin"),
    ]


def test_a_wallet_is_bound_to_one_principal_in_all_tenants(
    wallet_client: TestClient, tenant: str
) -> None:
    wallet = Keypair.random()
    assert _bind(wallet_client, tenant, wallet).status_code == 201

    again = _bind(wallet_client, new_tenant(), wallet, subject="someone-else")
    assert_matches_openapi(again)
    assert (again.status_code, again.json()["code"]) == (409, "WALLET_ALREADY_BOUND")


def test_only_admins_manage_wallets(wallet_client: TestClient, tenant: str) -> None:
    body = {"address": Keypair.random().public_key, "role": "investor", "subject": "x"}
    for role in ("sme", "investor"):
        headers = bearer(role, tenant, "someone")
        assert wallet_client.post("/v1/admin/wallets", json=body, headers=headers).status_code == (
            403
        )
        assert wallet_client.get("/v1/admin/wallets", headers=headers).status_code == 403
    refused = wallet_client.delete(
        "/v1/admin/wallets/not-an-address", headers=bearer("admin", tenant, "boss")
    )
    assert refused.status_code == 400


def test_sign_in_without_keys_is_503_and_uses_no_challenge(tmp_path: Path) -> None:
    wallet, tenant = Keypair.random(), new_tenant()
    path = str(tmp_path / "keys.sqlite3")

    def app(**changes: Any) -> TestClient:  # each app closes its store when it stops
        return TestClient(create_app(test_settings(**changes), store=SqliteStore(path)))

    with app() as client:
        _bind(client, tenant, wallet)
        proof = signed_challenge(client, wallet)
    with app(jwt_secret=None) as client:
        refused = client.post("/v1/auth", json={"transaction": proof})
        assert (refused.status_code, refused.json()["code"]) == (503, "SIGN_IN_NOT_CONFIGURED")
    with app(sep10_signing_secret=None) as client:
        assert client.get("/v1/auth", params={"account": wallet.public_key}).status_code == 503
        assert "SIGNING_KEY" not in client.get("/.well-known/stellar.toml").text
    with app() as client:
        assert client.post("/v1/auth", json={"transaction": proof}).status_code == 200


def test_without_a_client_domain_list_no_client_domain_is_fetched(tmp_path: Path) -> None:
    # Found by an outside attack: with an open list any caller named the host this server
    # fetched from (slow hosts froze the thread pool; redirects reached internal addresses).
    settings = test_settings(sep10_client_domains=())
    store = SqliteStore(str(tmp_path / "domains.sqlite3"))
    with TestClient(create_app(settings, store=store)) as client:
        for domain in ("127.0.0.1:6379", "wallet.example", "localhost"):
            answer = client.get(
                "/v1/auth",
                params={"account": Keypair.random().public_key, "client_domain": domain},
            )
            assert answer.status_code == 400, answer.text
            assert answer.json()["errors"][0]["code"] == "CLIENT_DOMAIN_NOT_ALLOWED"
    store.close()
