"""Linking checks the chain (issue 12, item 5), readiness asks the RPC, and an RPC outage is a
503 ``retryable`` (item 4): the server configured with ``SOROBAN_RPC_URL`` on the Soroban peer
(tests/soroban_peer), the real stellar-sdk client talking to it over HTTP.

The peer's escrows are initialised through its control API with the invoice ids our server
gave; every assertion is on HTTP answers (and the app's Prometheus registry)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from stellar_sdk import Keypair

from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.network import NetworkName
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import test_settings
from tests.factories import contract_address, invoice_payload
from tests.http.openapi_validation import assert_matches_openapi
from tests.soroban_peer import PeerServer

TARGET = 12_500_000_000  # 1250.00 in stroops: invoice_payload's amount
HTTP_STATUS_TOO_MANY = 1000


def chain_settings(peer_url: str, **overrides: Any) -> Any:
    return test_settings(
        stellar_network=NetworkName.STANDALONE,
        soroban_rpc_url=peer_url,
        soroban_cb_failure_threshold=3,
        soroban_cb_recovery_timeout_ms=600_000,
        soroban_rpc_timeout_ms=2000,
        **overrides,
    )


@pytest.fixture
def chain_app(soroban_peer: PeerServer, tmp_path: Path) -> Iterator[Starlette]:
    store = SqliteStore(str(tmp_path / "chain.sqlite3"))
    yield create_app(chain_settings(soroban_peer.url), store=store)
    store.close()


@pytest.fixture
def chain_client(chain_app: Starlette) -> Iterator[TestClient]:
    with TestClient(chain_app) as client:
        yield client


def approved(client: TestClient, headers: dict[str, str]) -> str:
    created = client.post("/v1/invoices", json=invoice_payload(), headers=headers)
    assert created.status_code == 201, created.text
    invoice_id: str = created.json()["id"]
    assert client.post(f"/v1/invoices/{invoice_id}/approve", headers=headers).status_code == 200
    return invoice_id


def link(client: TestClient, headers: dict[str, str], invoice_id: str, escrow: str) -> Any:
    return client.post(
        f"/v1/invoices/{invoice_id}/link-escrow",
        json={"escrowAddress": escrow, "fundingTargetStroops": str(TARGET)},
        headers=headers,
    )


def escrow_for(peer: PeerServer, invoice_id: str, **options: Any) -> str:
    created = peer.control.create_escrow(
        invoice_id, Keypair.random().public_key, options.pop("amount", TARGET), **options
    )
    return str(created["address"])


def test_an_escrow_initialised_for_the_invoice_is_linked(
    chain_client: TestClient, headers: dict[str, str], soroban_peer: PeerServer
) -> None:
    invoice_id = approved(chain_client, headers)
    escrow = escrow_for(soroban_peer, invoice_id)

    response = link(chain_client, headers, invoice_id, escrow)

    assert response.status_code == 200, response.text
    assert_matches_openapi(response)
    body = response.json()
    assert (body["status"], body["escrowAddress"]) == ("linked_escrow", escrow)
    assert body["fundingTargetStroops"] == str(TARGET)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("other-invoice", "ESCROW_INVOICE_MISMATCH"),
        ("other-target", "ESCROW_FUNDING_TARGET_MISMATCH"),
        ("not-open", "ESCROW_NOT_OPEN"),
        ("no-contract", "ESCROW_NOT_RECOGNISED"),
        ("not-initialised", "ESCROW_NOT_RECOGNISED"),
    ],
)
def test_a_contract_that_does_not_fit_is_refused_and_nothing_changes(
    chain_client: TestClient,
    headers: dict[str, str],
    soroban_peer: PeerServer,
    case: str,
    code: str,
) -> None:
    invoice_id = approved(chain_client, headers)
    if case == "other-invoice":
        escrow = escrow_for(soroban_peer, "inv_someone_else")
    elif case == "other-target":
        escrow = escrow_for(soroban_peer, invoice_id, amount=TARGET + 1)
    elif case == "not-open":
        escrow = escrow_for(soroban_peer, invoice_id)
        soroban_peer.control.set_fields(escrow, status=4)
    elif case == "no-contract":
        escrow = contract_address()
    else:
        escrow = soroban_peer.control.deploy()
    before = chain_client.get(f"/v1/invoices/{invoice_id}", headers=headers)

    response = link(chain_client, headers, invoice_id, escrow)

    assert response.status_code == 422, response.text
    assert_matches_openapi(response)
    problem = response.json()
    assert problem["code"] == code
    assert problem["retryable"] is False
    assert escrow not in response.text
    after = chain_client.get(f"/v1/invoices/{invoice_id}", headers=headers)
    assert after.json() == before.json()
    assert after.json()["status"] == "approved"


def test_rpc_down_is_503_retryable_and_opens_the_breaker(
    chain_app: Starlette,
    chain_client: TestClient,
    headers: dict[str, str],
    soroban_peer: PeerServer,
) -> None:
    invoice_id = approved(chain_client, headers)
    escrow = escrow_for(soroban_peer, invoice_id)
    soroban_peer.control.fail("http_503", count=HTTP_STATUS_TOO_MANY)

    response = link(chain_client, headers, invoice_id, escrow)

    assert response.status_code == 503, response.text
    assert_matches_openapi(response)
    problem = response.json()
    assert (problem["code"], problem["retryable"]) == ("CHAIN_UNAVAILABLE", True)
    assert escrow not in response.text
    state = chain_client.get(f"/v1/invoices/{invoice_id}", headers=headers).json()
    assert state["status"] == "approved"
    # Three attempts (one call and its two retries) reached the threshold of 3.
    registry = chain_app.state.metrics.registry
    opened = registry.get_sample_value(
        "soroban_circuit_breaker_state_transitions_total",
        {"breaker_name": "soroban", "state": "OPEN"},
    )
    assert opened == 1
    # The RPC answers again, but the open breaker keeps answering 503 without asking it.
    soroban_peer.control.clear_faults()
    again = link(chain_client, headers, invoice_id, escrow)
    assert again.status_code == 503
    ready = chain_client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["chain"]["status"] == "down"


def test_readiness_checks_the_chain(chain_client: TestClient, soroban_peer: PeerServer) -> None:
    response = chain_client.get("/readyz")

    assert response.status_code == 200, response.text
    assert_matches_openapi(response)
    checks = response.json()["checks"]
    assert set(checks) == {"database", "chain"}
    assert checks["chain"]["status"] == "up"
    assert chain_client.get("/ready").json()["checks"]["chain"]["status"] == "up"


def test_readiness_with_the_rpc_stopped(tmp_path: Path) -> None:
    with PeerServer() as peer:
        url = peer.url
    store = SqliteStore(str(tmp_path / "down.sqlite3"))
    app = create_app(chain_settings(url), store=store)
    with TestClient(app) as client:
        response = client.get("/readyz")

    assert response.status_code == 503, response.text
    assert_matches_openapi(response)
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["chain"]["status"] == "down"
    assert url not in response.text and "127.0.0.1" not in response.text
    gauge = app.state.metrics.registry.get_sample_value("readiness_gauge", {"check": "chain"})
    assert gauge == 0


def test_without_an_rpc_url_nothing_reads_the_chain(
    client: TestClient, headers: dict[str, str]
) -> None:
    invoice_id = approved(client, headers)

    # Any well-formed contract address is recorded as given, as before.
    response = link(client, headers, invoice_id, contract_address())

    assert response.status_code == 200, response.text
    assert set(client.get("/readyz").json()["checks"]) == {"database"}


# ---- ESCROW_ADDR_BY_INVOICE ----------------------------------------------------------------------


def mapping(*entries: dict[str, Any], allowlist: bool = True) -> str:
    return json.dumps(
        {"mappings": list(entries), "defaultEnvironment": "test", "allowlistEnabled": allowlist}
    )


def test_the_allow_list_refuses_unmapped_invoices(tmp_path: Path, headers: dict[str, str]) -> None:
    settings = test_settings(
        environment="test",
        escrow_addr_by_invoice=mapping(
            {"invoiceId": "inv_other", "escrowAddress": contract_address()}
        ),
    )
    store = SqliteStore(str(tmp_path / "map.sqlite3"))
    with TestClient(create_app(settings, store=store)) as client:
        invoice_id = approved(client, headers)

        response = link(client, headers, invoice_id, contract_address())

    assert response.status_code == 422, response.text
    assert_matches_openapi(response)
    assert response.json()["code"] == "ESCROW_NOT_ALLOWLISTED"


def test_a_mapped_invoice_links_only_to_its_mapped_contract(
    tmp_path: Path, headers: dict[str, str], soroban_peer: PeerServer
) -> None:
    path = str(tmp_path / "mapped.sqlite3")
    first = SqliteStore(path)
    with TestClient(create_app(test_settings(), store=first)) as client:
        invoice_id = approved(client, headers)
    escrow = escrow_for(soroban_peer, invoice_id)
    settings = chain_settings(
        soroban_peer.url,
        environment="test",
        escrow_addr_by_invoice=mapping({"invoiceId": invoice_id, "escrowAddress": escrow}),
    )
    with TestClient(create_app(settings, store=SqliteStore(path))) as client:
        elsewhere = link(client, headers, invoice_id, escrow_for(soroban_peer, invoice_id))
        assert elsewhere.status_code == 422, elsewhere.text
        assert elsewhere.json()["code"] == "ESCROW_ADDRESS_NOT_MAPPED"

        linked = link(client, headers, invoice_id, escrow)

    assert linked.status_code == 200, linked.text
    assert linked.json()["escrowAddress"] == escrow
