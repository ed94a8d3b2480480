"""`liquifact reconcile [--tenant T]`: runs reconciliation now against the configured store,
prints one summary line per tenant run and exits 0 whatever the drift (the spec's runner
prints its summary; alerting is the log line and the metrics); 2 without an escrow ledger or
with a malformed tenant. The ledger is the in-memory fake, put where the server's wiring
takes the Soroban adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from liquifact_adapters import composition
from liquifact_adapters.memory.fakes import FakeEscrowLedger
from liquifact_adapters.sqlite import SqliteStore
from liquifact_http import cli
from tests.auth_helpers import TEST_SECRET
from tests.contract.contract_support import save
from tests.factories import new_tenant
from tests.service.test_reconciliation_service import linked, reading


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = str(tmp_path / "cli.sqlite3")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("RECONCILIATION_DRIFT_THRESHOLD", "1")
    return path


def test_reconcile_prints_each_runs_summary_and_records_it(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = FakeEscrowLedger()
    # The ledger open_services would build from SOROBAN_RPC_URL, replaced by the fake.
    monkeypatch.setattr(composition, "open_ledger", lambda _config, **_: ledger)
    agreeing, drifting = new_tenant(), new_tenant()
    store = SqliteStore(database)
    try:
        for tenant, chain in ((agreeing, 500), (drifting, 520)):
            item = linked(tenant, 500)
            save(store, item)
            assert item.escrow_address is not None
            ledger.put(item.escrow_address, reading(item.id, chain))
    finally:
        store.close()

    assert cli.main(["reconcile"]) == 0

    lines = capsys.readouterr().out.splitlines()
    by_tenant = {line.split()[0]: line for line in lines[:-1]}
    assert set(by_tenant) == {agreeing, drifting}
    assert by_tenant[agreeing].endswith(
        "total 1, matches 1, mismatches 0, errors 0, total drift 0 stroops, threshold 1"
    )
    assert by_tenant[drifting].endswith(
        "total 1, matches 0, mismatches 1, errors 0, total drift 20 stroops, threshold 1, ALERT"
    )
    assert lines[-1] == "Reconciled 2 tenants."

    assert cli.main(["reconcile", "--tenant", agreeing]) == 0
    [line, last] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{agreeing} rec_") and last == "Reconciled 1 tenant."
    store = SqliteStore(database)
    try:
        with store.read_unit(agreeing) as uow:
            assert uow.reconciliations.list(agreeing, 20, 0).total == 2
        with store.read_unit(drifting) as uow:
            [run] = uow.reconciliations.list(drifting, 20, 0).items
            assert (run.summary.mismatches, run.alerted) == (1, True)
    finally:
        store.close()


def test_reconcile_without_a_ledger_or_with_a_bad_tenant_exits_2(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["reconcile"]) == 2
    assert "no escrow ledger is configured" in capsys.readouterr().err

    assert cli.main(["reconcile", "--tenant", "not a tenant!"]) == 2
    assert "--tenant must be" in capsys.readouterr().err
