"""`liquifact db migrate` answers a migration that refuses its data with the migration's own
message and exit 3, never a traceback (found after migration 0005 was added)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from liquifact_adapters.sqlite import schema
from liquifact_adapters.sqlite.mapping import ROWS
from liquifact_http import cli
from tests.contract.market_support import listed
from tests.factories import contract_address, new_tenant


def test_a_refused_migration_is_a_clean_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "db.sqlite3"
    schema.migrate(str(path))
    while schema.rollback(str(path)).version > 4:  # type: ignore[union-attr]
        pass
    shared = contract_address()  # possible before 0005: one contract, two invoices
    with sqlite3.connect(path) as connection:
        for tenant in (new_tenant(), new_tenant()):
            params = ROWS.invoice_params(listed(tenant, escrow_address=shared))
            del params["buyer_name_key"]  # a column of migration 0007, after 0005
            del params["attestation_digest"]  # and one of 0013
            columns = ", ".join(params)
            values = ", ".join(f":{name}" for name in params)
            connection.execute(f"INSERT INTO invoices ({columns}) VALUES ({values})", params)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("JWT_SECRET", "x" * 40)

    assert cli.main(["db", "migrate"]) == 3

    err = capsys.readouterr().err
    assert err.startswith("0005_escrow_address_unique not applied. Migration 0005 stopped:")
    assert "Traceback" not in err and "IntegrityError" not in err
    assert cli.main(["db", "status"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("0005")]
    assert line.split() == ["0005", "escrow_address_unique", "pending"]
    # `serve` on SQLite migrates on start: the same message, the same exit, before binding.
    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve", "--port", "1"])
    assert stopped.value.code == 3
    err = capsys.readouterr().err
    assert "0005_escrow_address_unique not applied. Migration 0005 stopped:" in err
    assert "Traceback" not in err
