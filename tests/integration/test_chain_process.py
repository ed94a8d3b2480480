"""The real server process reading a real Soroban peer process over HTTP: readiness follows
the RPC, and link-escrow checks the contract (issue 12, items 4 and 5)."""

from __future__ import annotations

from pathlib import Path

import httpx2 as httpx
import pytest
from stellar_sdk import Keypair

from tests.auth_helpers import TEST_SECRET, bearer
from tests.factories import invoice_payload, new_tenant
from tests.integration.server import running_server
from tests.soroban_peer import peer_process

pytestmark = pytest.mark.slow

TARGET = 12_500_000_000  # invoice_payload's 1250.00 in stroops


def test_serve_checks_links_and_readiness_on_the_chain(tmp_path: Path) -> None:
    headers = bearer("admin", new_tenant(), "chain-admin")
    with peer_process() as peer:
        env = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'chain.db'}",
            "JWT_SECRET": TEST_SECRET,
            "STELLAR_NETWORK": "STANDALONE",
            "SOROBAN_RPC_URL": peer.url,
            "SOROBAN_CB_FAILURE_THRESHOLD": "2",
        }
        with running_server(env, cwd=tmp_path) as base:
            ready = httpx.get(base + "/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["chain"]["status"] == "up"

            created = httpx.post(base + "/v1/invoices", json=invoice_payload(), headers=headers)
            invoice_id = created.json()["id"]
            approved = httpx.post(base + f"/v1/invoices/{invoice_id}/approve", headers=headers)
            assert approved.status_code == 200, approved.text
            sme = Keypair.random().public_key
            foreign = peer.control.create_escrow("inv_not_ours", sme, TARGET)["address"]
            ours = peer.control.create_escrow(invoice_id, sme, TARGET)["address"]

            def link(address: str) -> httpx.Response:
                return httpx.post(
                    base + f"/v1/invoices/{invoice_id}/link-escrow",
                    json={"escrowAddress": address, "fundingTargetStroops": str(TARGET)},
                    headers=headers,
                )

            refused = link(foreign)
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "ESCROW_INVOICE_MISMATCH"
            linked = link(ours)
            assert linked.status_code == 200, linked.text
            assert linked.json()["status"] == "linked_escrow"

            peer.process.terminate()
            peer.process.wait(timeout=10)

            down = httpx.get(base + "/readyz")
            assert down.status_code == 503, down.text
            assert down.json()["checks"]["chain"]["status"] == "down"
            assert peer.url not in down.text
