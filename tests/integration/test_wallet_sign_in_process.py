"""Wallet sign-in against a real ``liquifact serve`` process, over sockets: a local HTTP
server stands in for Horizon (``GET /accounts/{id}``: signers and thresholds) and for a wallet
application's domain (``/.well-known/stellar.toml`` with its SIGNING_KEY)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2 as httpx
import jwt
import pytest
from stellar_sdk import Keypair

from tests.auth_helpers import SEP10_SECRET, TEST_SECRET, bearer
from tests.factories import new_tenant
from tests.integration.server import running_server
from tests.sep10_support import challenge_for, signed

pytestmark = pytest.mark.slow


class StandIn:
    """Horizon's account records and a wallet domain's stellar.toml, served on 127.0.0.1."""

    def __init__(self) -> None:
        self.accounts: dict[str, Mapping[str, Any]] = {}
        self.client_key = Keypair.random()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the http.server hook's name
                if self.path == "/.well-known/stellar.toml":
                    body = f'SIGNING_KEY = "{stand_in.client_key.public_key}"\n'.encode()
                    self._answer(200, body, "text/plain")
                    return
                account = self.path.removeprefix("/accounts/")
                record = stand_in.accounts.get(account)
                if record is None:
                    problem = {"type": "not_found", "title": "Resource Missing", "status": 404}
                    self._answer(404, json.dumps(problem).encode(), "application/problem+json")
                else:
                    self._answer(200, json.dumps(record).encode(), "application/hal+json")

            def _answer(self, status: int, body: bytes, media_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def multisig(self, master: Keypair, *others: Keypair, medium: int) -> None:
        """``master`` (weight 1) with ``others`` as signers of weight 1 each."""
        signers = [{"key": k.public_key, "weight": 1, "type": "ed25519_public_key"} for k in others]
        signers.append({"key": master.public_key, "weight": 1, "type": "ed25519_public_key"})
        self.accounts[master.public_key] = {
            "id": master.public_key,
            "account_id": master.public_key,
            "thresholds": {"low_threshold": 1, "med_threshold": medium, "high_threshold": 3},
            "signers": signers,
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    serving = StandIn()
    yield serving
    serving.close()


def _env(tmp_path: Path, stand_in: StandIn) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'sign-in.db'}",
        "JWT_SECRET": TEST_SECRET,
        "CURSOR_SECRET": "c" * 40,
        "SEP10_SIGNING_SECRET": SEP10_SECRET,
        "HORIZON_URL": f"http://{stand_in.address}",
        "SEP10_CLIENT_DOMAINS": stand_in.address,
        "SEP10_CLIENT_DOMAIN_ALLOW_HTTP": "true",
        "RATE_LIMIT_ENABLED": "false",
    }


def _exchange(client: httpx.Client, proof: str) -> httpx.Response:
    return client.post("/v1/auth", json={"transaction": proof})


def _bind(client: httpx.Client, tenant: str, wallet: Keypair, role: str = "investor") -> None:
    body = {"address": wallet.public_key, "role": role, "subject": f"s-{wallet.public_key[:8]}"}
    response = client.post("/v1/admin/wallets", json=body, headers=bearer("admin", tenant, "a"))
    assert response.status_code == 201, response.text


def test_a_multisig_account_needs_its_medium_threshold(tmp_path: Path, stand_in: StandIn) -> None:
    master, cosigner, third = Keypair.random(), Keypair.random(), Keypair.random()
    stand_in.multisig(master, cosigner, third, medium=2)
    tenant = new_tenant()
    with running_server(_env(tmp_path, stand_in)) as base, httpx.Client(base_url=base) as client:
        _bind(client, tenant, master)
        challenge, passphrase = challenge_for(client, master.public_key)

        for short in ((master,), (cosigner,), (master, Keypair.random())):
            refused = _exchange(client, signed(challenge, passphrase, *short))
            assert (refused.status_code, refused.json()["code"]) == (401, "INVALID_CHALLENGE")
        accepted = _exchange(client, signed(challenge, passphrase, cosigner, third))
        assert accepted.status_code == 200, accepted.text
        claims = jwt.decode(accepted.json()["token"], TEST_SECRET, algorithms=["HS256"])
        assert claims["walletAddress"] == master.public_key

        again, passphrase = challenge_for(client, master.public_key)
        assert _exchange(client, signed(again, passphrase, master, cosigner)).status_code == 200


def test_an_account_horizon_does_not_know_signs_with_its_master_key(
    tmp_path: Path, stand_in: StandIn
) -> None:
    wallet = Keypair.random()  # not funded: Horizon answers 404
    tenant = new_tenant()
    with running_server(_env(tmp_path, stand_in)) as base, httpx.Client(base_url=base) as client:
        _bind(client, tenant, wallet)
        challenge, passphrase = challenge_for(client, wallet.public_key)
        proof = signed(challenge, passphrase, wallet)

        token = _exchange(client, proof).json()["token"]
        listed = client.get("/v1/marketplace", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200
        replayed = _exchange(client, proof)
        assert (replayed.status_code, replayed.json()["code"]) == (401, "INVALID_CHALLENGE")


def test_a_client_domain_challenge_needs_the_domains_signature(
    tmp_path: Path, stand_in: StandIn
) -> None:
    wallet = Keypair.random()
    tenant = new_tenant()
    with running_server(_env(tmp_path, stand_in)) as base, httpx.Client(base_url=base) as client:
        _bind(client, tenant, wallet)
        challenge, passphrase = challenge_for(
            client, wallet.public_key, client_domain=stand_in.address
        )

        alone = _exchange(client, signed(challenge, passphrase, wallet))
        assert (alone.status_code, alone.json()["code"]) == (401, "INVALID_CHALLENGE")
        both = _exchange(client, signed(challenge, passphrase, wallet, stand_in.client_key))
        assert both.status_code == 200, both.text

        other = client.get(
            "/v1/auth", params={"account": wallet.public_key, "client_domain": "other.example"}
        )
        assert other.status_code == 400
        assert other.json()["errors"][0]["code"] == "CLIENT_DOMAIN_NOT_ALLOWED"
        toml = client.get("/.well-known/stellar.toml", headers={"Origin": "https://w.example"})
        assert toml.headers["access-control-allow-origin"] == "*"
        assert f'SIGNING_KEY = "{Keypair.from_secret(SEP10_SECRET).public_key}"' in toml.text
        port = base.rsplit(":", 1)[1]  # the development home domain is localhost:<port>
        assert f'WEB_AUTH_ENDPOINT = "http://localhost:{port}/v1/auth"' in toml.text
