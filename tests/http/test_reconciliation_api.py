"""GET /v1/admin/reconciliation/runs and /runs/{runId} over HTTP on SQLite and PostgreSQL
(every answer checked against the generated document): the tenant's runs newest first with
PageMeta, one run with its per-invoice results and no contract address, admins of the tenant
only; the spec's four metrics and the alert log line when a run reaches the threshold."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.memory.fakes import FakeEscrowLedger
from liquifact_core.invoices import Invoice
from liquifact_core.services import Services
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import bearer, test_settings
from tests.contract.contract_support import invoice, save
from tests.factories import new_tenant
from tests.http.conftest import HTTP_STORES
from tests.http.openapi_validation import assert_matches_openapi
from tests.service.test_reconciliation_service import TARGET, linked, reading

RUNS = "/v1/admin/reconciliation/runs"


@pytest.fixture
def ledger() -> FakeEscrowLedger:
    return FakeEscrowLedger()


@pytest.fixture
def app(
    http_store_kind: str, request: pytest.FixtureRequest, tmp_path: Path, ledger: FakeEscrowLedger
) -> Iterator[Starlette]:
    store = HTTP_STORES[http_store_kind](request, tmp_path)
    yield create_app(
        test_settings(reconciliation_drift_threshold=1, log_format="json"),
        store=store,
        ledger=ledger,
    )
    store.close()


def services_of(app: Starlette) -> Services:
    wired: Services = app.state.services
    return wired


def get(client: TestClient, path: str, headers: dict[str, str], status: int = 200) -> Any:
    response = client.get(path, headers=headers)
    assert response.status_code == status, response.text
    assert_matches_openapi(response)
    return response.json()


def seeded(app: Starlette, ledger: FakeEscrowLedger, tenant: str) -> list[Invoice]:
    items = [linked(tenant, 0), linked(tenant, 3_000_000), linked(tenant, TARGET)]
    save(services_of(app).store, *items, invoice(tenant))
    for item in items:
        assert item.escrow_address is not None
        ledger.put(item.escrow_address, reading(item.id, item.funded_stroops))
    return items


def test_admins_read_their_tenants_runs_and_one_runs_results(
    app: Starlette, client: TestClient, ledger: FakeEscrowLedger, tenant: str
) -> None:
    items = seeded(app, ledger, tenant)
    clean = services_of(app).reconciliation.reconcile(tenant)
    diverged = items[1]
    assert diverged.escrow_address is not None
    ledger.put(diverged.escrow_address, reading(diverged.id, 3_000_500))
    drifted = services_of(app).reconciliation.reconcile(tenant)
    admin = bearer("admin", tenant, "test-admin")

    page = get(client, RUNS, admin)

    assert [row["id"] for row in page["data"]] == [drifted.id, clean.id]
    newest = page["data"][0]
    assert {k: newest[k] for k in ("total", "matches", "mismatches", "errors")} == {
        "total": 3,
        "matches": 2,
        "mismatches": 1,
        "errors": 0,
    }
    assert (newest["totalDriftStroops"], newest["threshold"], newest["alerted"]) == ("500", 1, True)
    assert set(newest) >= {"reconciledAt", "createdAt"} and "results" not in newest
    assert page["meta"] == {
        "total": 2,
        "limit": 20,
        "hasMore": False,
        "nextCursor": None,
        "page": 1,
        "totalPages": 1,
    }
    second = get(client, f"{RUNS}?page=2&limit=1", admin)
    assert [row["id"] for row in second["data"]] == [clean.id]
    assert (second["meta"]["hasMore"], second["meta"]["totalPages"]) == (False, 2)

    detail = get(client, f"{RUNS}/{drifted.id}", admin)

    assert detail["id"] == drifted.id and detail["mismatches"] == 1
    by_invoice = {row["invoiceId"]: row for row in detail["results"]}
    assert [row["invoiceId"] for row in detail["results"]] == sorted(i.id for i in items)
    assert by_invoice[diverged.id] == {
        "invoiceId": diverged.id,
        "outcome": "mismatch",
        "storeFundedStroops": "3000000",
        "chainFundedStroops": "3000500",
        "driftStroops": "500",
        "reason": None,
        "contractError": None,
    }
    text = json.dumps(detail) + json.dumps(page)
    assert not any(i.escrow_address and i.escrow_address in text for i in items)


def test_runs_are_for_the_tenants_admins_only(
    app: Starlette, client: TestClient, ledger: FakeEscrowLedger, tenant: str
) -> None:
    seeded(app, ledger, tenant)
    run = services_of(app).reconciliation.reconcile(tenant)
    stranger = bearer("admin", new_tenant(), "other-admin")

    assert get(client, RUNS, stranger)["meta"]["total"] == 0
    missing = get(client, f"{RUNS}/{run.id}", stranger, 404)
    assert missing["code"] == "RECONCILIATION_RUN_NOT_FOUND"
    for role in ("sme", "investor"):
        assert get(client, RUNS, bearer(role, tenant), 403)["code"] == "FORBIDDEN"
    get(client, RUNS, {}, 401)
    bad = get(client, f"{RUNS}/job_{run.id[4:]}", bearer("admin", tenant), 400)
    assert [e["code"] for e in bad["errors"]] == ["INVALID_RUN_ID"]
    refused = get(client, f"{RUNS}?limit=101", bearer("admin", tenant), 400)
    assert [e["field"] for e in refused["errors"]] == ["limit"]


def test_the_spec_path_answers_as_a_deprecated_alias(
    app: Starlette, client: TestClient, ledger: FakeEscrowLedger, tenant: str
) -> None:
    seeded(app, ledger, tenant)
    run = services_of(app).reconciliation.reconcile(tenant)

    response = client.get("/api/admin/reconciliation/runs", headers=bearer("admin", tenant))

    assert response.status_code == 200, response.text
    assert response.headers["Deprecation"]
    assert [row["id"] for row in response.json()["data"]] == [run.id]


def test_runs_feed_the_four_metrics_and_an_alert_logs_counts_only(
    app: Starlette,
    client: TestClient,
    ledger: FakeEscrowLedger,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = new_tenant(), new_tenant()
    for tenant in (first, second):
        seeded(app, ledger, tenant)
    diverged = linked(second, 100)
    save(services_of(app).store, diverged)
    assert diverged.escrow_address is not None
    ledger.put(diverged.escrow_address, reading(diverged.id, 175))
    capsys.readouterr()

    runs = services_of(app).reconciliation.reconcile_all()

    ours = [run for run in runs if run.tenant_id in (first, second)]
    assert sorted(run.alerted for run in ours) == [False, True]
    registry = app.state.metrics.registry
    sample = registry.get_sample_value
    assert sample("escrow_reconciliation_mismatches_total") == 1
    assert sample("escrow_reconciliation_drift_alerts_total") == 1
    assert sample("escrow_reconciliation_mismatched_invoices") == 1
    assert sample("escrow_reconciliation_drift_magnitude") == 75
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    [alert] = [line for line in lines if line.get("event") == "reconciliation_drift_alert"]
    alerted = next(run for run in ours if run.alerted)
    assert alert["level"] == "error"
    assert (alert["tenant_id"], alert["run_id"]) == (second, alerted.id)
    assert (alert["mismatches"], alert["threshold"], alert["total"]) == (1, 1, 4)
    assert "reconciled_at" in alert
    # Counts only: no amount (funded totals, drifts) of this or any tenant in the line.
    assert not {"totalDrift", "total_drift", "drift"} & set(alert)
    assert not {75, 175, "75", "175"} & set(alert.values())
