"""What only PostgreSQL adds to the maintained totals of migration 0016: statement-level
triggers whose notes are applied once per transaction at commit, counters striped per backend,
row-level security on the counters, concurrency (no lost increment, no deadlock, no stale
total), bulk statements, TRUNCATE, the backfill, and an owner that is not a superuser."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import attrs
import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg import sql

from liquifact_adapters import postgres
from liquifact_adapters.postgres import DEFAULT_APP_ROLE, PostgresStore
from liquifact_adapters.postgres.mapping import ROWS
from liquifact_adapters.sql.statements import INSERT_INVOICE, UPDATE_INVOICE, pyformat
from liquifact_core.amounts import Stroops
from liquifact_core.errors import Conflict, StaleVersion
from liquifact_core.invoices import Actor, Invoice
from liquifact_core.lifecycle import INVESTABLE, TRANSITIONS, InvoiceStatus, Role
from liquifact_core.marketplace import MarketplaceFilters, MarketplaceQuery
from liquifact_core.ports import InvoiceQuery
from liquifact_core.profiles import SmeProfile
from tests.factories import contract_address
from tests.pg import ADMIN_URL, fresh_database, require_postgres, url_for

from .contract_support import T0, invoice, new_tenant, save
from .market_support import listed
from .totals_support import maintained_and_fresh, raw_query

pytestmark = pytest.mark.postgres

ADMIN = Actor("admin-1", Role.ADMIN)
CHAIN = Actor("indexer", Role.CHAIN)
YIELDING = MarketplaceFilters(yield_bps_min=400)
_INSERT = pyformat(INSERT_INVOICE)
_UPDATE = pyformat(UPDATE_INVOICE)
_AS_TENANT = "SELECT set_config('role', %s, true), set_config('app.tenant_id', %s, true)"
_PENDING_NOTES = "SELECT count(*) FROM invoice_totals_pending"


def _superuser(url: str, statement: str, params: Any = ()) -> list[tuple[Any, ...]]:
    """Run one statement as the database's login (the superuser in tests, unless the URL
    names another); its rows, if it returns any."""
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(statement, params)
        return cursor.fetchall() if cursor.description is not None else []


def _check_counts(
    store: PostgresStore, url: str, request: pytest.FixtureRequest, *tenants: str
) -> None:
    query = raw_query("postgres", request, store)
    for tenant in tenants:
        maintained, fresh = maintained_and_fresh(store, query, tenant)
        assert maintained == fresh, tenant
    # Notes never outlive their transaction.
    assert _superuser(url, _PENDING_NOTES) == [(0,)]


# ---- concurrency -----------------------------------------------------------------------------


def _random_change(current: Invoice, rng: random.Random, at: Any) -> Invoice | None:
    if current.status in INVESTABLE and rng.random() < 0.5:
        funded = rng.choice([1, 500, 999, 1000])
        updated, _step = current.record_funding(funded, CHAIN, at)
        return None if updated is current else updated
    if rng.random() < 0.1:
        return attrs.evolve(current, deleted_at=at, updated_at=at, version=current.version + 1)
    targets = sorted(
        set(TRANSITIONS[current.status]) - {InvoiceStatus.PARTIALLY_FUNDED, InvoiceStatus.FUNDED}
    )
    if not targets:
        return None
    target = rng.choice(targets)
    actor = ADMIN if Role.ADMIN in TRANSITIONS[current.status][target].roles else CHAIN
    moved, _step = current.move_to(
        target,
        actor,
        at,
        reason="concurrency test",
        escrow_address=contract_address(),
        funding_target=Stroops(1000),
    )
    return moved


def test_concurrent_writers_lose_no_increment_and_readers_never_see_a_stale_total(
    pg_store: PostgresStore, postgres_url: str, request: pytest.FixtureRequest
) -> None:
    tenants = [new_tenant(), new_tenant()]
    ids: dict[str, list[str]] = {}
    for tenant in tenants:
        rows = [listed(tenant, yield_bps=500 + n % 2 * 100) for n in range(12)]
        rows += [invoice(tenant, sme_id=f"sme-{n % 3}") for n in range(12)]
        save(pg_store, *rows)
        ids[tenant] = [row.id for row in rows]
    stop = threading.Event()
    failures: list[BaseException] = []

    def write(seed: int) -> None:
        rng = random.Random(seed)
        for step in range(30):
            tenant = rng.choice(tenants)
            # Several invoices per transaction, locked in id order (as a careful caller does):
            # any deadlock left would come from the counters.
            chosen = sorted(rng.sample(ids[tenant], rng.choice([1, 1, 2, 3])))
            try:
                with pg_store.unit_of_work(tenant) as uow:
                    if rng.random() < 0.2:
                        uow.invoices.add(listed(tenant, sme_id=f"sme-{seed}"))
                    for invoice_id in chosen:
                        current = uow.invoices.get(tenant, invoice_id)
                        if current is None:
                            continue
                        at = T0 + timedelta(minutes=step)
                        changed = _random_change(current, rng, at)
                        if changed is not None:
                            uow.invoices.update(changed, current.version)
                    if rng.random() < 0.15:
                        continue  # rolled back when the block ends
                    uow.commit()
            except Conflict as error:
                if isinstance(error.__cause__, pg_errors.DeadlockDetected):
                    failures.append(error)

    def read() -> None:
        # In one snapshot, a remembered or counted total equals a count of the rows.
        fresh = (
            "SELECT count(*) AS n FROM invoices WHERE deleted_at IS NULL"
            " AND status IN ('linked_escrow', 'partially_funded') AND yield_bps >= 400"
        )
        while not stop.is_set():
            for tenant in tenants:
                with pg_store.read_unit(tenant) as uow:
                    total = uow.invoices.marketplace(MarketplaceQuery(tenant, YIELDING)).total
                    [row] = uow.execute_unfiltered(fresh)
                    listed_total = uow.invoices.list(InvoiceQuery(tenant)).total
                    [live] = uow.execute_unfiltered(
                        "SELECT count(*) AS n FROM invoices WHERE deleted_at IS NULL"
                    )
                if (total, listed_total) != (row["n"], live["n"]):
                    failures.append(AssertionError((tenant, total, row, listed_total, live)))

    with ThreadPoolExecutor(max_workers=6) as pool:
        readers = [pool.submit(read) for _ in range(2)]
        writers = [pool.submit(write, seed) for seed in range(4)]
        for future in writers:
            future.result()
        stop.set()
        for future in readers:
            future.result()
    assert failures == []
    _check_counts(pg_store, postgres_url, request, *tenants)


def _same_slot_connections(url: str) -> tuple[psycopg.Connection[Any], psycopg.Connection[Any]]:
    """Two connections whose backends share a counter stripe (pid mod 16): their flushes
    update the same counter rows."""
    opened: list[psycopg.Connection[Any]] = []
    try:
        while True:
            connection = psycopg.connect(url)
            pid = connection.info.backend_pid
            for other in opened:
                if other.info.backend_pid % 16 == pid % 16:
                    opened.remove(other)
                    return other, connection
            opened.append(connection)
    finally:
        for connection in opened:
            connection.close()


def test_crossing_transactions_on_the_same_counter_rows_neither_deadlock_nor_lose_counts(
    pg_store: PostgresStore, postgres_url: str, request: pytest.FixtureRequest
) -> None:
    tenant = new_tenant()
    pending = [invoice(tenant) for _ in range(2)]
    approved = [invoice(tenant, status=InvoiceStatus.APPROVED) for _ in range(2)]
    save(pg_store, *pending, *approved)
    first, second = _same_slot_connections(postgres_url)
    both_wrote_once = threading.Barrier(2)

    def crossing(
        connection: psycopg.Connection[Any], moves: list[tuple[Invoice, InvoiceStatus]]
    ) -> None:
        # Each statement moves a row between the same two groups as the other transaction's,
        # in the other order; the first statements of both are done before either goes on (a
        # counter locked by a statement would make the other wait here), then both commit.
        with connection:
            connection.execute(_AS_TENANT, (DEFAULT_APP_ROLE, tenant))
            for n, (current, target) in enumerate(moves):
                moved = attrs.evolve(current, status=target, version=current.version + 1)
                params = {**ROWS.invoice_params(moved), "expected_version": current.version}
                connection.execute(_UPDATE, params)
                if n == 0:
                    both_wrote_once.wait(timeout=10)

    to_approved, to_pending = InvoiceStatus.APPROVED, InvoiceStatus.PENDING
    with first, second, ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = [
            pool.submit(crossing, first, [(pending[0], to_approved), (approved[0], to_pending)]),
            pool.submit(crossing, second, [(approved[1], to_pending), (pending[1], to_approved)]),
        ]
        for outcome in outcomes:
            outcome.result()  # neither waited on the other nor deadlocked
    with pg_store.read_unit(tenant) as uow:
        for status in (to_approved, to_pending):
            assert uow.invoices.list(InvoiceQuery(tenant, frozenset({status}))).total == 2
    _check_counts(pg_store, postgres_url, request, tenant)


# ---- bulk statements -------------------------------------------------------------------------


def test_bulk_statements_and_many_statements_in_one_transaction(
    pg_store: PostgresStore, postgres_url: str, request: pytest.FixtureRequest
) -> None:
    tenant = new_tenant()
    rows = [
        listed(tenant, sme_id=f"sme-{n % 7}") if n % 3 else invoice(tenant, sme_id=f"sme-{n % 7}")
        for n in range(1500)
    ]
    with psycopg.connect(postgres_url) as connection:
        connection.execute(_AS_TENANT, (DEFAULT_APP_ROLE, tenant))
        # 1500 single-row statements in one transaction: applied once, at commit.
        with connection.cursor() as cursor:
            cursor.executemany(_INSERT, [ROWS.invoice_params(row) for row in rows])
        # One statement copying them all (1500 rows in its transition table).
        connection.execute(
            "INSERT INTO invoices SELECT * FROM invoices WHERE false"  # a statement of no row
        )
        connection.execute(
            """
            INSERT INTO invoices
            SELECT tenant_id, 'inv_c' || substr(id, 5, 23), sme_id, sme_wallet, invoice_number,
                buyer_name, buyer_email, buyer_tax_id, amount, currency, issue_date, due_date,
                yield_bps, description, metadata, status, status_reason, version, NULL,
                funding_target_stroops, funded_stroops, created_at, updated_at, deleted_at,
                funded_ratio_hundredths, amount_key, invoice_number_key || '#copy',
                buyer_name_key, attestation_digest
            FROM invoices WHERE tenant_id = %s
            """,
            (tenant,),
        )
        connection.execute(
            "UPDATE invoices SET deleted_at = %s WHERE sme_id IN ('sme-1', 'sme-2')", (T0,)
        )
        connection.execute(
            "UPDATE invoices SET status = 'approved', version = version + 1"
            " WHERE status = 'pending' AND sme_id = 'sme-3'"
        )
    _check_counts(pg_store, postgres_url, request, tenant)
    [(live,)] = _superuser(
        postgres_url,
        "SELECT count(*) FROM invoices WHERE tenant_id = %s AND deleted_at IS NULL",
        (tenant,),
    )
    with pg_store.read_unit(tenant) as uow:
        assert uow.invoices.list(InvoiceQuery(tenant)).total == live


def test_a_refused_or_rolled_back_write_leaves_no_note_and_no_count(
    pg_store: PostgresStore, postgres_url: str, request: pytest.FixtureRequest
) -> None:
    tenant = new_tenant()
    kept = invoice(tenant)
    save(pg_store, kept)
    with pg_store.unit_of_work(tenant) as uow:
        with pytest.raises(Conflict):  # refused inside its savepoint; the unit goes on
            uow.invoices.add(invoice(tenant, invoice_number=kept.draft.invoice_number))
        uow.invoices.add(invoice(tenant))
        uow.commit()
    with pg_store.unit_of_work(tenant) as uow:
        uow.invoices.add(listed(tenant))  # never committed
    with pg_store.read_unit(tenant) as uow:
        assert uow.invoices.list(InvoiceQuery(tenant)).total == 2
        assert uow.invoices.marketplace(MarketplaceQuery(tenant)).total == 0
    _check_counts(pg_store, postgres_url, request, tenant)


def test_a_stale_update_counts_nothing(pg_store: PostgresStore) -> None:
    tenant = new_tenant()
    row = invoice(tenant)
    save(pg_store, row)
    with pg_store.unit_of_work(tenant) as uow, pytest.raises(StaleVersion):
        uow.invoices.update(attrs.evolve(row, status=InvoiceStatus.APPROVED, version=9), 8)
    with pg_store.read_unit(tenant) as uow:
        pending = frozenset({InvoiceStatus.PENDING})
        assert uow.invoices.list(InvoiceQuery(tenant, pending)).total == 1


# ---- row-level security and least privilege --------------------------------------------------


@pytest.mark.parametrize("table", ["invoice_counts", "invoice_sme_counts", "market_generations"])
def test_the_application_role_reads_only_its_own_counters_and_writes_none(
    pg_store: PostgresStore, table: str
) -> None:
    mine, theirs = new_tenant(), new_tenant()
    for tenant in (mine, theirs):
        save(pg_store, listed(tenant))
    with pg_store.unit_of_work(mine) as uow:
        # The flag names the owner's policy: set by hand, it grants this role nothing.
        uow.execute_unfiltered("SELECT set_config('liquifact.totals_maintenance', 'on', true)")
        rows = uow.execute_unfiltered(f"SELECT DISTINCT tenant_id FROM {table}")
    assert rows == [{"tenant_id": mine}]
    for statement in (
        f"UPDATE {table} SET tenant_id = tenant_id",
        f"DELETE FROM {table}",
        "SELECT * FROM invoice_totals_pending",
        "INSERT INTO invoice_totals_pending (xid, delta) VALUES (pg_current_xact_id(), 0)",
        "SELECT invoice_totals_note(ARRAY['x'], ARRAY['y'], ARRAY['pending'], ARRAY[1]::bigint[],"
        " NULL::text[])",
    ):
        with pg_store.unit_of_work(mine) as uow, pytest.raises(pg_errors.InsufficientPrivilege):
            uow.execute_unfiltered(statement)


# ---- schema: backfill, round trip, TRUNCATE, an owner that is not a superuser -----------------


@pytest.fixture
def fresh_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


_OBJECTS = (
    "SELECT relname FROM pg_class WHERE relname IN ('invoice_counts', 'invoice_sme_counts',"
    " 'market_generations', 'market_generation_seq', 'invoice_totals_pending')"
    " UNION ALL SELECT proname FROM pg_proc WHERE proname IN ('invoice_totals_note',"
    " 'invoices_note_totals', 'invoice_totals_flush', 'invoices_truncated_totals',"
    " 'sme_profiles_note_generation')"
)


def test_0016_backfills_existing_rows_and_rolls_back(fresh_url: str) -> None:
    postgres.migrate(fresh_url)
    undone = postgres.rollback(fresh_url)
    assert undone is not None and undone.version == 16
    assert _superuser(fresh_url, _OBJECTS) == []
    tenant, other = new_tenant(), new_tenant()
    store = PostgresStore(fresh_url)
    try:
        save(store, listed(tenant), listed(tenant, funded=5), invoice(tenant, sme_id="sme-2"))
        save(store, invoice(tenant, deleted_at=T0))
        save(store, invoice(other))
        postgres.migrate(fresh_url)
        assert len(_superuser(fresh_url, _OBJECTS)) == 10
        for each in (tenant, other):
            rows = _superuser(
                fresh_url,
                "SELECT status, sum(n) FROM invoice_counts WHERE tenant_id = %s GROUP BY status"
                " ORDER BY status",
                (each,),
            )
            fresh = _superuser(
                fresh_url,
                "SELECT status, count(*) FROM invoices WHERE tenant_id = %s"
                " AND deleted_at IS NULL GROUP BY status ORDER BY status",
                (each,),
            )
            assert rows == fresh
        with store.read_unit(tenant) as uow:
            assert uow.invoices.list(InvoiceQuery(tenant, sme_id="sme-2")).total == 1
            assert uow.invoices.marketplace(MarketplaceQuery(tenant)).total == 2
            assert uow.invoices.marketplace(MarketplaceQuery(tenant, YIELDING)).total == 2
        [(generations,)] = _superuser(
            fresh_url, "SELECT count(*) FROM market_generations WHERE tenant_id = %s", (tenant,)
        )
        assert generations == 1
    finally:
        store.close()


def test_truncate_resets_the_counters_and_moves_every_generation(fresh_url: str) -> None:
    postgres.migrate(fresh_url)
    tenant = new_tenant()
    store = PostgresStore(fresh_url)
    try:
        save(store, listed(tenant), invoice(tenant))
        with store.read_unit(tenant) as uow:
            assert uow.invoices.marketplace(MarketplaceQuery(tenant, YIELDING)).total == 1
        before = _superuser(fresh_url, "SELECT generation FROM market_generations")
        _superuser(fresh_url, "TRUNCATE invoices CASCADE")
        assert _superuser(fresh_url, "SELECT count(*) FROM invoice_counts") == [(0,)]
        after = _superuser(fresh_url, "SELECT generation FROM market_generations")
        assert len(after) == len(before) and not set(after) & set(before)
        with store.read_unit(tenant) as uow:
            assert uow.invoices.list(InvoiceQuery(tenant)).total == 0
            assert uow.invoices.marketplace(MarketplaceQuery(tenant, YIELDING)).total == 0
        save(store, listed(tenant))
        with store.read_unit(tenant) as uow:
            assert uow.invoices.marketplace(MarketplaceQuery(tenant)).total == 1
    finally:
        store.close()


@pytest.fixture
def owner_url() -> Iterator[tuple[str, str]]:
    """A database owned by a login that is neither a superuser nor BYPASSRLS (as in
    production), and an application role of its own; both dropped at the end."""
    require_postgres()
    suffix = uuid.uuid4().hex[:10]
    owner, app_role, database = f"lq_owner_{suffix}", f"lq_app_{suffix}", f"lq_totals_{suffix}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS CREATEROLE").format(
                sql.Identifier(owner)
            )
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(owner)
            )
        )
    scheme, _, rest = url_for(database).partition("://")
    _user, _, host = rest.partition("@")
    try:
        yield f"{scheme}://{owner}@{host}", app_role
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(app_role)))
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(owner)))


def test_an_owner_that_is_not_a_superuser_maintains_the_totals(
    owner_url: tuple[str, str],
) -> None:
    url, app_role = owner_url
    [(superuser,)] = _superuser(url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    assert superuser is False
    postgres.migrate(url, app_role=app_role)
    store = PostgresStore(url, app_role=app_role)
    tenant = new_tenant()
    try:
        row = listed(tenant, buyer_name="Acme Buyer")
        save(store, row, invoice(tenant))
        with store.unit_of_work(tenant) as uow:
            uow.profiles.upsert(SmeProfile(tenant, "sme-1", "Acme Trading", "DE", T0))
            funded, _step = row.record_funding(400, CHAIN, T0)
            uow.invoices.update(funded, row.version)
            uow.commit()
        with store.read_unit(tenant) as uow:
            assert uow.invoices.list(InvoiceQuery(tenant)).total == 2
            ratio = MarketplaceFilters(funded_ratio_min=3000)
            assert uow.invoices.marketplace(MarketplaceQuery(tenant, ratio)).total == 1
        # The owner's backfill of folded buyer names runs with no tenant set: its flush writes
        # the generation through the owner's policy (and so does this UPDATE of the owner).
        maintenance = "SELECT set_config('liquifact.totals_maintenance', %s, false)"
        with psycopg.connect(url, autocommit=True) as owner:
            owner.execute("ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY")
            owner.execute("UPDATE invoices SET buyer_name_key = NULL")
            owner.execute("ALTER TABLE invoices FORCE ROW LEVEL SECURITY")
            owner.execute(maintenance, ("on",))
            generations = owner.execute("SELECT generation FROM market_generations").fetchall()
        assert postgres.backfill(url) >= 1
        with psycopg.connect(url, autocommit=True) as owner:
            owner.execute(maintenance, ("on",))
            moved = owner.execute("SELECT generation FROM market_generations").fetchall()
            # Without the flag the owner sees no counter at all (forced row-level security).
            owner.execute(maintenance, ("",))
            assert owner.execute("SELECT count(*) FROM invoice_counts").fetchall() == [(0,)]
        assert moved and moved != generations
        with store.read_unit(tenant) as uow:
            search = MarketplaceFilters(search="acme")
            assert uow.invoices.marketplace(MarketplaceQuery(tenant, search)).total == 1
    finally:
        store.close()
