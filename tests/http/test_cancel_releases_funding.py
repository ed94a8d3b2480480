"""Cancelling an invoice after concurrent fundings (issue 9, item 7), over HTTP on both stores:
no commitment stays pending and the locks show nothing, even when they were cached before."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.commitments import CommitmentQuery
from liquifact_core.ports import Store
from liquifact_http.bootstrap import create_app
from tests.factories import new_tenant
from tests.http.openapi_validation import assert_matches_openapi
from tests.http.roles import as_caller, role_header_caller
from tests.http.test_funding_api import FUND, Investor
from tests.http.test_marketplace_api import list_invoice


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Opens the same database again each call (the app closes its store on shutdown)."""
    if request.param == "sqlite":
        path = str(tmp_path / "liquifact.sqlite3")
        return lambda: SqliteStore(path)
    url = request.getfixturevalue("postgres_url")
    return lambda: PostgresStore(url)


def test_concurrent_fundings_then_cancel_leave_nothing_pending(
    open_store: Callable[[], Store],
) -> None:
    app = create_app(store=open_store(), resolve_caller=role_header_caller)
    tenant = new_tenant()
    admin = as_caller(tenant)
    with TestClient(app) as client:
        invoice_id = list_invoice(client, app, tenant, target=1000)
        investors = [Investor(client, tenant) for _ in range(6)]

        def fund(n: int) -> int:
            investor = investors[n]
            headers = {**investor.headers, "Idempotency-Key": f"key-cancel-{n:04d}"}
            return client.post(
                FUND, json=investor.body(invoice_id, "100"), headers=headers
            ).status_code

        with ThreadPoolExecutor(6) as pool:
            assert sorted(pool.map(fund, range(6))) == [201] * 6

        def locks() -> Any:
            response = client.get("/v1/investor/locks", headers=admin)
            assert response.status_code == 200, response.text
            assert_matches_openapi(response)
            return response.json()

        assert locks()["meta"]["total"] == 6  # read (and cached) before the cancel

        cancelled = client.post(
            f"/v1/invoices/{invoice_id}/cancel", json={"reason": "buyer withdrew"}, headers=admin
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"

        after = locks()
        assert after["data"] == []
        assert after["meta"]["total"] == 0
        own = client.get(f"/v1/investor/locks/{invoice_id}", headers=investors[0].headers)
        assert own.status_code == 404
    # The app closed its store on shutdown; a fresh one reads what was committed.
    store = open_store()
    try:
        with store.unit_of_work(tenant) as uow:
            assert uow.commitments.pending_total_for_update(tenant, invoice_id) == 0
            assert uow.commitments.locks(CommitmentQuery(tenant)).total == 0
    finally:
        store.close()
