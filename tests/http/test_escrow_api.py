"""``GET /v1/escrow/{invoiceId}`` (and ``/api/escrow/...``) over the indexer's projection, on
SQLite and PostgreSQL, with the chain a FakeEscrowLedger: who may read it, the figures, the
legal hold, ``X-Escrow-Address``, ``stale`` and the ledger; 404 before the first index; the
readiness information and the indexer gauges; ``liquifact index-once``'s summary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_adapters.memory.fakes import FakeEscrowLedger
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.errors import Unavailable
from liquifact_core.escrow import EscrowReading, EscrowStatus, InvoiceEscrow
from liquifact_core.services import Services
from liquifact_http.bootstrap import create_app
from liquifact_http.cli import run_index_once
from tests.auth_helpers import bearer, test_settings
from tests.factories import account_address, contract_address, invoice_payload
from tests.http.conftest import HTTP_STORES
from tests.http.openapi_validation import assert_matches_openapi

TARGET = 12_500_000_000
ADMIN_KEY = account_address()


@pytest.fixture
def ledger() -> FakeEscrowLedger:
    return FakeEscrowLedger()


@pytest.fixture
def app(
    http_store_kind: str, request: pytest.FixtureRequest, tmp_path: Path, ledger: FakeEscrowLedger
) -> Iterator[Starlette]:
    store = HTTP_STORES[http_store_kind](request, tmp_path)
    yield create_app(test_settings(), store=store, ledger=ledger)
    store.close()


def services_of(app: Starlette) -> Services:
    wired: Services = app.state.services
    return wired


def index(app: Starlette, tenant: str) -> None:
    """One indexer pass over ``tenant`` only: the PostgreSQL database is shared with other
    tests, whose tenants this test's fake chain knows nothing of."""
    services = services_of(app)
    assert services.indexer is not None
    escrows = [e for e in services.store.linked_escrows() if e.tenant_id == tenant]
    services.indexer.index_tenant(tenant, escrows)


def reading(invoice_id: str, funded: int, *, status: int = 0, hold: bool = False) -> EscrowReading:
    escrow = InvoiceEscrow(
        invoice_id=invoice_id[:32],
        admin=ADMIN_KEY,
        sme_address=ADMIN_KEY,
        amount=TARGET,
        funding_target=TARGET,
        funded_amount=funded,
        yield_bps=650,
        maturity=4_000_000_000,
        status=status,
    )
    return EscrowReading(escrow, legal_hold=hold)


def linked_invoice(
    client: TestClient, tenant: str, ledger: FakeEscrowLedger, sme: dict[str, str]
) -> tuple[str, str]:
    admin = bearer("admin", tenant, "test-admin")
    created = client.post("/v1/invoices", json=invoice_payload(), headers=sme)
    assert created.status_code == 201, created.text
    invoice_id: str = created.json()["id"]
    assert client.post(f"/v1/invoices/{invoice_id}/approve", headers=admin).status_code == 200
    contract = contract_address()
    ledger.put(contract, reading(invoice_id, 0))  # the link reads the contract first
    linked = client.post(
        f"/v1/invoices/{invoice_id}/link-escrow",
        json={"escrowAddress": contract, "fundingTargetStroops": str(TARGET)},
        headers=admin,
    )
    assert linked.status_code == 200, linked.text
    return invoice_id, contract


def test_the_escrow_of_an_indexed_invoice(
    client: TestClient, app: Starlette, tenant: str, ledger: FakeEscrowLedger
) -> None:
    sme = bearer("sme", tenant, "sme-1")
    invoice_id, contract = linked_invoice(client, tenant, ledger, sme)
    admin = bearer("admin", tenant, "test-admin")

    missing = client.get(f"/v1/escrow/{invoice_id}", headers=admin)
    assert missing.status_code == 404
    assert_matches_openapi(missing)
    assert missing.json()["code"] == "ESCROW_NOT_INDEXED"

    ledger.put(contract, reading(invoice_id, TARGET // 4, hold=True))
    ledger.emit(
        contract, "escrow_funded", "funded", invoice_id[:32], ADMIN_KEY, value={"amount": 1}
    )
    index(app, tenant)
    # Other tests' cursors on a shared database may be far ahead: only this test's ledgers count.
    services_of(app).escrows.stale_ledger_gap = 10**9

    response = client.get(f"/v1/escrow/{invoice_id}", headers=admin)
    assert response.status_code == 200, response.text
    assert_matches_openapi(response)
    assert response.headers["x-escrow-address"] == contract
    body: dict[str, Any] = response.json()
    assert body["invoiceId"] == invoice_id
    assert body["invoiceStatus"] == "partially_funded"
    assert body["escrowStatus"] == "open"
    assert body["fundedAmountStroops"] == str(TARGET // 4)
    assert body["remainingCapacityStroops"] == str(TARGET - TARGET // 4)
    assert body["fundedPercent"] == "25.00"
    assert body["couponPercent"] == "6.50"
    assert body["legalHold"] is True and body["paused"] is False
    assert body["ledger"] == 101 and body["stale"] is False
    assert isinstance(body["daysToMaturity"], int) and body["annualRatePercent"] is not None

    # The owner SME and an investor (the invoice is investable) read it; another SME does not.
    assert client.get(f"/v1/escrow/{invoice_id}", headers=sme).json() == body
    investor = bearer("investor", tenant, "inv-1")
    assert client.get(f"/v1/escrow/{invoice_id}", headers=investor).status_code == 200
    stranger = client.get(f"/v1/escrow/{invoice_id}", headers=bearer("sme", tenant, "sme-2"))
    assert stranger.status_code == 404 and stranger.json()["code"] == "NOT_FOUND"
    assert client.get(f"/v1/escrow/{invoice_id}").status_code == 401

    # The spec's alias answers the same, deprecated.
    alias = client.get(f"/api/escrow/{invoice_id}", headers=admin)
    assert alias.status_code == 200 and alias.json() == body
    assert "deprecation" in alias.headers

    # Funded on chain: investors no longer see the invoice, so neither its escrow.
    ledger.put(contract, reading(invoice_id, TARGET, status=int(EscrowStatus.FUNDED)))
    ledger.emit(contract, "escrow_funded", "funded", invoice_id[:32], ADMIN_KEY, value={})
    index(app, tenant)
    funded = client.get(f"/v1/escrow/{invoice_id}", headers=admin).json()
    assert funded["invoiceStatus"] == "funded" and funded["escrowStatus"] == "funded"
    assert funded["remainingCapacityStroops"] == "0" and funded["ledger"] == 102
    assert client.get(f"/v1/escrow/{invoice_id}", headers=investor).status_code == 404


def test_a_failing_chain_makes_the_view_stale_but_never_the_process_unready(
    client: TestClient, app: Starlette, tenant: str, ledger: FakeEscrowLedger
) -> None:
    sme = bearer("sme", tenant, "sme-1")
    invoice_id, _contract = linked_invoice(client, tenant, ledger, sme)
    services = services_of(app)
    assert services.indexer is not None
    index(app, tenant)
    # Five ledgers later only another tenant's pass commits (this tenant's keeps failing):
    # this tenant's view falls more than the gap behind the newest ledger reached.
    services.escrows.stale_ledger_gap = 3
    for _ in range(5):
        ledger.emit(contract_address(), "x", "other", value={})
    other_tenant = "t-other-" + tenant[-6:]
    linked_invoice(client, other_tenant, ledger, bearer("sme", other_tenant, "sme-9"))
    others = [e for e in services.store.linked_escrows() if e.tenant_id == other_tenant]
    assert services.indexer.index_tenant(other_tenant, others).latest_ledger == 105

    view = client.get(f"/v1/escrow/{invoice_id}", headers=bearer("admin", tenant, "a"))
    assert view.status_code == 200 and view.json()["stale"] is True

    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert_matches_openapi(ready)
    indexer_info = ready.json()["indexer"]
    assert indexer_info["lagLedgers"] >= 5
    assert indexer_info["lastRunAgeSeconds"] >= 0

    scraped = generate_latest(app.state.metrics.registry).decode()
    assert "liquifact_indexer_lag_ledgers" in scraped
    assert "liquifact_indexer_last_run_age_seconds" in scraped


def test_index_once_prints_a_summary(
    tmp_path: Path, tenant: str, ledger: FakeEscrowLedger, capsys: Any
) -> None:
    # A store of its own: a pass indexes every tenant, and the PostgreSQL database of the HTTP
    # suite is shared with other tests' tenants.
    app = create_app(test_settings(), store=SqliteStore(str(tmp_path / "cli.db")), ledger=ledger)
    with TestClient(app) as client:
        _index_once_summary(client, app, tenant, ledger, capsys)


def _index_once_summary(
    client: TestClient, app: Starlette, tenant: str, ledger: FakeEscrowLedger, capsys: Any
) -> None:
    invoice_id, contract = linked_invoice(client, tenant, ledger, bearer("sme", tenant, "sme-1"))
    ledger.put(contract, reading(invoice_id, 5))
    ledger.emit(contract, "escrow_funded", "funded", invoice_id[:32], ADMIN_KEY, value={})
    assert run_index_once(services_of(app)) == 0
    out = capsys.readouterr().out
    assert f"{tenant}: 1 events, 1 contracts read, 1 projections, 1 invoices moved" in out
    assert contract not in out

    ledger.fail_with(Unavailable("The chain RPC is unavailable."))
    assert run_index_once(services_of(app)) == 1
    assert "failed: SERVICE_UNAVAILABLE (cursor kept)" in capsys.readouterr().out


def test_index_once_without_a_chain_says_so(capsys: Any) -> None:
    app = create_app(test_settings(), store=InMemoryStore())
    assert run_index_once(services_of(app)) == 2
    assert "No escrow chain is configured" in capsys.readouterr().err
