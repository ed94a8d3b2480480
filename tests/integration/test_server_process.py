"""Black-box tests of the real server process on the embedded store."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.auth_helpers import TEST_SECRET, bearer
from tests.factories import invoice_payload
from tests.integration.server import LIQUIFACT, free_port, running_server

pytestmark = pytest.mark.slow


def test_invoice_survives_a_restart_on_the_default_store(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'data.db'}", "JWT_SECRET": TEST_SECRET}
    headers = bearer("admin", "restart-test")
    with running_server(env) as base:
        created = httpx.post(base + "/v1/invoices", json=invoice_payload(), headers=headers)
        assert created.status_code == 201
        invoice_id = created.json()["id"]
        approved = httpx.post(f"{base}/v1/invoices/{invoice_id}/approve", headers=headers)
        assert approved.status_code == 200
    with running_server(env) as base:
        again = httpx.get(f"{base}/v1/invoices/{invoice_id}", headers=headers)
        assert again.status_code == 200
        assert again.json()["status"] == "approved"
        assert again.json() == approved.json()


def test_default_database_url_is_a_file_under_var(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "", "JWT_SECRET": TEST_SECRET}
    demo_admin = bearer("admin", "demo-tenant")
    with running_server(env, "--seed-demo-if-empty", cwd=tmp_path) as base:
        demo = httpx.get(base + "/v1/invoices", headers=demo_admin)
        assert demo.json()["meta"]["total"] == 6
        statuses = {item["status"] for item in demo.json()["data"]}
        assert {"pending", "approved", "linked_escrow", "partially_funded", "funded"} <= statuses
        market = httpx.get(base + "/v1/marketplace", headers=bearer("investor", "demo-tenant"))
        issuers = {item["issuer"]["displayName"] for item in market.json()["data"]}
        assert issuers == {"Lumière Textiles SARL"}  # the demo SME has a profile
    assert (tmp_path / "var" / "liquifact.db").is_file()
    with running_server(env, "--seed-demo-if-empty", cwd=tmp_path) as base:
        # seeding only happens on an empty store
        demo = httpx.get(base + "/v1/invoices", headers=demo_admin)
        assert demo.json()["meta"]["total"] == 6


def test_invalid_configuration_exits_before_binding(tmp_path: Path) -> None:
    port = free_port()
    secret = "tooshort-secret"
    result = subprocess.run(
        [LIQUIFACT, "serve", "--port", str(port)],
        env={**os.environ, "JWT_SECRET": secret, "LOG_LEVEL": "chatty"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "JWT_SECRET: must be at least 32 characters" in result.stderr
    assert "LOG_LEVEL: must be one of" in result.stderr
    assert secret not in result.stderr + result.stdout
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)


def test_a_mismatched_stellar_network_and_rpc_url_stop_serve_before_binding(
    tmp_path: Path,
) -> None:
    port = free_port()
    result = subprocess.run(
        [LIQUIFACT, "serve", "--port", str(port)],
        env={
            **os.environ,
            "JWT_SECRET": TEST_SECRET,
            "STELLAR_NETWORK": "TESTNET",
            "SOROBAN_RPC_URL": "https://custom-rpc.example.com",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert (
        'SOROBAN_RPC_URL: Mismatch: STELLAR_NETWORK=TESTNET requires SOROBAN_RPC_URL="https://'
        'soroban-testnet.stellar.org", but got "https://custom-rpc.example.com". This combination '
        "would cause on-chain validation failures."
    ) in result.stderr
    # It stopped before doing anything: no listening line, no store, no development secrets.
    assert "listening" not in result.stdout + result.stderr
    assert not (tmp_path / "var").exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)


def test_serve_runs_on_a_standalone_network_with_a_loopback_rpc_url(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data.db'}",
        "JWT_SECRET": TEST_SECRET,
        "STELLAR_NETWORK": "STANDALONE",
        "SOROBAN_RPC_URL": f"http://127.0.0.1:{free_port()}/soroban/rpc",
    }
    with running_server(env, cwd=tmp_path) as base:
        toml = httpx.get(base + "/.well-known/stellar.toml")
        assert toml.status_code == 200
        assert 'NETWORK_PASSPHRASE = "Standalone Network ; February 2017"' in toml.text
