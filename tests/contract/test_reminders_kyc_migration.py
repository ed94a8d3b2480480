"""Migration 0015 (KYC records and history, webhook events, contacts, maturity reminders and
their dead letters): PostgreSQL's row-level security and least privilege on the new tables,
and the migration rolls back and forward again on both SQL stores."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from psycopg import errors as pg_errors

from liquifact_adapters import postgres, sqlite
from liquifact_adapters.postgres import PostgresStore
from liquifact_core.kyc import KycRole, new_record
from tests.pg import fresh_database

from .contract_support import T0, new_tenant

TENANT_TABLES = (
    "contacts",
    "kyc_history",
    "kyc_records",
    "maturity_reminder_dead_letters",
    "maturity_reminders",
)
NEW_TABLES = {*TENANT_TABLES, "kyc_webhook_events"}
VERSION = 15


def _tables_sqlite(path: str) -> set[str]:
    with closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}


def test_0015_rolls_back_and_forward_on_sqlite(tmp_path: Path) -> None:
    path = str(tmp_path / "m14.sqlite3")
    sqlite.migrate(path)
    assert _tables_sqlite(path) >= NEW_TABLES
    while (undone := sqlite.rollback(path)) is not None and undone.version > VERSION:
        pass
    assert undone is not None and undone.version == VERSION
    assert not NEW_TABLES & _tables_sqlite(path)
    sqlite.migrate(path)
    assert _tables_sqlite(path) >= NEW_TABLES


def test_kyc_history_is_append_only_on_sqlite(tmp_path: Path) -> None:
    path = str(tmp_path / "m14h.sqlite3")
    sqlite.migrate(path)
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(
            "INSERT INTO kyc_records VALUES ('t', 's', 'kyc_1', 'pending', NULL, NULL, NULL,"
            " NULL, NULL, 'x', 'x', 1)"
        )
        connection.execute(
            "INSERT INTO kyc_history VALUES ('t', 's', 1, 'pending', 'admin', 'a', 'x',"
            " NULL, NULL, NULL)"
        )
    for statement in ("UPDATE kyc_history SET status = 'verified'", "DELETE FROM kyc_history"):
        with (
            closing(sqlite3.connect(path)) as connection,
            pytest.raises(sqlite3.IntegrityError, match="append-only"),
        ):
            connection.execute(statement)


@pytest.mark.postgres
def test_0015_tables_have_row_level_security_and_roll_back() -> None:
    with fresh_database() as url:
        postgres.migrate(url)
        with psycopg.connect(url) as connection:
            flags = connection.execute(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
                " WHERE relname = ANY(%s) ORDER BY relname",
                (sorted(NEW_TABLES),),
            ).fetchall()
            policies = connection.execute(
                "SELECT tablename, policyname FROM pg_policies"
                " WHERE tablename = ANY(%s) ORDER BY tablename, policyname",
                (sorted(NEW_TABLES),),
            ).fetchall()
        assert flags == sorted(
            (name, name != "kyc_webhook_events", name != "kyc_webhook_events")
            for name in NEW_TABLES
        )
        assert [p for p in policies if p[1] == "tenant_isolation"] == [
            (name, "tenant_isolation") for name in TENANT_TABLES
        ]
        assert ("kyc_records", "kyc_lookup") in policies
        while (undone := postgres.rollback(url)) is not None and undone.version > VERSION:
            pass
        with psycopg.connect(url) as connection:
            left = connection.execute(
                "SELECT tablename FROM pg_tables WHERE tablename = ANY(%s)", (sorted(NEW_TABLES),)
            ).fetchall()
            functions = connection.execute(
                "SELECT proname FROM pg_proc"
                " WHERE proname IN ('kyc_subject_of', 'reminder_tenants')"
            ).fetchall()
        assert (left, functions) == ([], [])
        postgres.migrate(url)


@pytest.mark.postgres
def test_tenants_see_only_their_kyc_and_the_app_role_cannot_rewrite_history(
    pg_store: PostgresStore,
) -> None:
    mine, theirs = new_tenant(), new_tenant()
    for tenant in (mine, theirs):
        with pg_store.unit_of_work(tenant) as uow:
            uow.kyc.add(new_record(tenant, "alice", f"kyc_{uuid4().hex}", KycRole.SME, T0))
            uow.commit()
    with pg_store.unit_of_work(mine) as uow:
        rows = uow.execute_unfiltered("SELECT tenant_id FROM kyc_records")
        assert {row["tenant_id"] for row in rows} == {mine}
    for statement in (
        "UPDATE kyc_history SET status = 'verified'",
        "DELETE FROM kyc_records",
        "DELETE FROM maturity_reminder_dead_letters",
        "UPDATE kyc_records SET reference = 'kyc_x'",
    ):
        with pg_store.unit_of_work(mine) as uow, pytest.raises(pg_errors.InsufficientPrivilege):
            uow.execute_unfiltered(statement)
