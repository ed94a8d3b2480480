"""``InvoiceFileRepository`` on every store (memory, SQLite, PostgreSQL), the invoice's
attestation digest round trip, and migration 0013 (row-level security, rollback)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest

from liquifact_adapters import postgres, sqlite
from liquifact_core.documents import DocumentType, FileStatus, InvoiceFile
from liquifact_core.errors import Conflict
from liquifact_core.ports import Store
from tests.pg import fresh_database

from .contract_support import T0, invoice, load, save


def pending(tenant: str, invoice_id: str, n: int, **changes: Any) -> InvoiceFile:
    file = InvoiceFile(
        id=f"fil_{n:026d}",
        tenant_id=tenant,
        invoice_id=invoice_id,
        object_key=f"tenants/{tenant}/invoices/{invoice_id}/{n:08d}-0000-0000-0000-000000000000-a.pdf",
        filename="a.pdf",
        content_type=DocumentType.PDF,
        size=10 + n,
        sha256=f"{n:064x}",
        status=FileStatus.PENDING,
        primary=False,
        uploaded_by="sme-1",
        created_at=T0 + timedelta(seconds=n),
        upload_expires_at=T0 + timedelta(minutes=15),
    )
    return attrs.evolve(file, **changes)


def stored(file: InvoiceFile) -> InvoiceFile:
    return attrs.evolve(file, status=FileStatus.STORED, stored_at=file.created_at)


def test_files_round_trip_in_order(store: Store, tenant: str) -> None:
    subject = invoice(tenant)
    save(store, subject)
    files = [pending(tenant, subject.id, n) for n in (3, 1, 2)]
    with store.unit_of_work(tenant) as uow:
        for file in files:
            uow.files.add(file)
        uow.commit()
    with store.read_unit(tenant) as uow:
        assert list(uow.files.list(tenant, subject.id)) == sorted(files, key=lambda f: f.created_at)
        assert uow.files.get(tenant, subject.id, files[0].id) == files[0]
        assert uow.files.get(tenant, "inv_other", files[0].id) is None


def test_a_duplicate_file_conflicts(store: Store, tenant: str) -> None:
    subject = invoice(tenant)
    save(store, subject)
    first = pending(tenant, subject.id, 1)
    with store.unit_of_work(tenant) as uow:
        uow.files.add(first)
        uow.commit()
    for duplicate in (first, attrs.evolve(first, id="fil_other")):
        with pytest.raises(Conflict) as clash, store.unit_of_work(tenant) as uow:
            uow.files.add(duplicate)
        assert clash.value.code == "DUPLICATE_FILE"


def test_confirming_writes_only_a_pending_row(store: Store, tenant: str) -> None:
    subject = invoice(tenant)
    save(store, subject)
    file = pending(tenant, subject.id, 1)
    with store.unit_of_work(tenant) as uow:
        uow.files.add(file)
        uow.commit()
    with store.unit_of_work(tenant) as uow:
        assert uow.files.mark_stored(stored(file)) is True
        assert uow.files.mark_stored(stored(file)) is False
        uow.commit()
    with store.read_unit(tenant) as uow:
        assert uow.files.get(tenant, subject.id, file.id) == stored(file)


def test_primary_flags_and_removal(store: Store, tenant: str) -> None:
    subject = invoice(tenant)
    save(store, subject)
    a, b = stored(pending(tenant, subject.id, 1)), pending(tenant, subject.id, 2)
    with store.unit_of_work(tenant) as uow:
        uow.files.add(a)
        uow.files.add(b)
        uow.files.set_primary(tenant, subject.id, a.id)
        uow.commit()
    with store.unit_of_work(tenant) as uow:
        assert [f.primary for f in uow.files.list(tenant, subject.id)] == [True, False]
        uow.files.set_primary(tenant, subject.id, b.id)
        assert [f.primary for f in uow.files.list(tenant, subject.id)] == [False, True]
        assert uow.files.remove(tenant, subject.id, a.id) is None  # stored: not removed
        assert uow.files.remove(tenant, subject.id, b.id) == attrs.evolve(b, primary=True)
        assert uow.files.remove(tenant, subject.id, b.id) is None
        uow.commit()
    with store.unit_of_work(tenant) as uow:
        assert [f.id for f in uow.files.remove_invoice(tenant, subject.id)] == [a.id]
        assert uow.files.list(tenant, subject.id) == []
        uow.commit()


def test_the_attestation_digest_is_kept_with_the_invoice(store: Store, tenant: str) -> None:
    subject = invoice(tenant)
    save(store, subject)
    digest = "ab" * 32
    with store.unit_of_work(tenant) as uow:
        current = uow.invoices.get(tenant, subject.id)
        assert current is not None and current.attestation_digest is None
        uow.invoices.update(
            attrs.evolve(current, attestation_digest=digest, version=current.version + 1),
            current.version,
        )
        uow.commit()
    reloaded = load(store, tenant, subject.id)
    assert reloaded is not None and reloaded.attestation_digest == digest


# ---- migration 0013 ------------------------------------------------------------------------------
def test_0013_rolls_back_and_forward_on_sqlite(tmp_path: Path) -> None:
    path = str(tmp_path / "m.sqlite3")
    sqlite.migrate(path)
    undone = sqlite.rollback(path)
    while undone is not None and undone.version > 13:  # later migrations first
        undone = sqlite.rollback(path)
    assert undone is not None and undone.version == 13
    with closing(sqlite3.connect(path)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        columns = {row[1] for row in connection.execute("PRAGMA table_info(invoices)")}
    assert "invoice_files" not in tables and "attestation_digest" not in columns
    assert [m.version for m in sqlite.migrate(path)][:1] == [13]


@pytest.mark.postgres
def test_0013_isolates_tenants_grants_little_and_rolls_back() -> None:
    with fresh_database() as url:
        postgres.migrate(url)
        with psycopg.connect(url) as connection:
            flags = connection.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
                " WHERE relname = 'invoice_files'"
            ).fetchall()
            policies = connection.execute(
                "SELECT policyname FROM pg_policies WHERE tablename = 'invoice_files'"
            ).fetchall()
            updatable = connection.execute(
                "SELECT column_name FROM information_schema.column_privileges"
                " WHERE table_name = 'invoice_files' AND privilege_type = 'UPDATE'"
                " AND grantee = 'liquifact_app' ORDER BY column_name"
            ).fetchall()
        assert flags == [(True, True)]
        assert policies == [("tenant_isolation",)]
        assert [row[0] for row in updatable] == [
            "is_primary",
            "sha256",
            "size_bytes",
            "status",
            "stored_at",
        ]
        undone = postgres.rollback(url)
        while undone is not None and undone.version > 13:  # later migrations first
            undone = postgres.rollback(url)
        assert undone is not None and undone.version == 13
        with psycopg.connect(url) as connection:
            gone = connection.execute("SELECT to_regclass('invoice_files')").fetchone()
        assert gone == (None,)
        assert [m.version for m in postgres.migrate(url)][:1] == [13]
