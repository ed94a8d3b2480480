"""What only the PostgreSQL store promises: tenant isolation in the database itself, the
append-only audit table, schema tooling, races between transactions, and failure modes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import attrs
import psycopg
import pytest
from psycopg import errors as pg_errors

from liquifact_adapters.postgres import (
    MigrationStatus,
    PostgresStore,
    known_migrations,
    migrate,
    rollback,
    status,
)
from liquifact_adapters.system import RandomIdGenerator, SystemClock
from liquifact_core.errors import Conflict, InvalidTransition, StaleVersion, Unavailable
from liquifact_core.invoices import Actor, TransitionReason
from liquifact_core.lifecycle import Role
from liquifact_core.services import Services
from tests.integration.server import free_port
from tests.pg import fresh_database

from .contract_support import (
    T0,
    audit_event,
    draft,
    full_invoice,
    invoice,
    load,
    new_tenant,
    save,
    transition,
)

pytestmark = pytest.mark.postgres

SAFE_MESSAGE = "The data store is unavailable."
ADMIN = Actor("admin-1", Role.ADMIN)


@pytest.fixture
def fresh_url() -> Iterator[str]:
    """An empty database of its own, for tests that change the schema."""
    with fresh_database() as url:
        yield url


def _services(store: PostgresStore) -> Services:
    # Random ids: the session database is shared, and audit event ids are unique across it.
    return Services.from_ports(store, SystemClock(), RandomIdGenerator())


# ---- tenant isolation by row-level security ------------------------------------------------


def _two_tenants_with_data(store: PostgresStore) -> tuple[str, str]:
    mine, theirs = new_tenant(), new_tenant()
    for tenant in (mine, theirs):
        subject = invoice(tenant)
        with store.unit_of_work(tenant) as uow:
            uow.invoices.add(subject)
            uow.invoices.add_transition(transition(subject, 1))
            uow.audit.append(audit_event(tenant, subject.id))
            uow.commit()
    return mine, theirs


@pytest.mark.parametrize("table", ["invoices", "invoice_transitions", "audit_log_events"])
def test_a_query_without_tenant_filter_sees_only_its_tenant(
    pg_store: PostgresStore, owner: psycopg.Connection[Any], table: str
) -> None:
    mine, theirs = _two_tenants_with_data(pg_store)

    with pg_store.unit_of_work(mine) as uow:
        # Deliberately unfiltered: only the database's policy stands between tenants here.
        rows = uow.execute_unfiltered(f"SELECT * FROM {table}")

    assert rows
    assert {row["tenant_id"] for row in rows} == {mine}
    everyone = owner.execute(f"SELECT DISTINCT tenant_id FROM {table}").fetchall()
    assert (theirs,) in everyone


def test_units_run_as_the_application_role_with_their_tenant(pg_store: PostgresStore) -> None:
    tenant = new_tenant()
    with pg_store.unit_of_work(tenant) as uow:
        [row] = uow.execute_unfiltered(
            "SELECT current_user AS role, current_setting('app.tenant_id') AS tenant,"
            " r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user"
        )

    assert row == {"role": "liquifact_app", "tenant": tenant, "rolsuper": False,
                   "rolbypassrls": False}  # fmt: skip


def test_role_and_tenant_do_not_outlive_the_transaction(
    pg_store: PostgresStore, postgres_url: str
) -> None:
    tenant = new_tenant()
    save(pg_store, invoice(tenant))
    with pg_store.unit_of_work(tenant) as uow:
        uow.commit()
        # After a commit the next statement starts a new transaction, set up again.
        [row] = uow.execute_unfiltered("SELECT current_user AS role, count(*) AS n FROM invoices")
        assert row == {"role": "liquifact_app", "n": 1}
    # A pooled connection given back carries neither the role nor the tenant.
    single = PostgresStore(postgres_url, pool_min_size=1, pool_max_size=1)
    try:
        with single.unit_of_work(tenant):
            pass
        connection = single.acquire()
        try:
            leftover = connection.execute(
                "SELECT current_user AS role, current_setting('app.tenant_id', true) AS tenant"
            ).fetchone()
        finally:
            single.release(connection)
    finally:
        single.close()
    assert leftover is not None
    assert leftover["role"] != "liquifact_app"
    assert leftover["tenant"] in (None, "")


_CHARACTERISTICS = (
    "SELECT current_setting('transaction_isolation') AS isolation,"
    " current_setting('transaction_read_only') AS read_only"
)


def test_a_read_units_snapshot_mode_does_not_outlive_it(postgres_url: str) -> None:
    # One pooled connection: every unit below runs on the connection the read unit used.
    single = PostgresStore(postgres_url, pool_min_size=1, pool_max_size=1)
    tenant = new_tenant()
    try:
        with single.read_unit(tenant) as reader:
            [read] = reader.execute_unfiltered(_CHARACTERISTICS)
        with single.unit_of_work(tenant) as writer:
            [written] = writer.execute_unfiltered(_CHARACTERISTICS)
        connection = single.acquire()
        try:
            direct = connection.execute(_CHARACTERISTICS).fetchone()
        finally:
            single.release(connection)
        with single.read_unit(tenant) as reader:
            [again] = reader.execute_unfiltered(_CHARACTERISTICS)
    finally:
        single.close()
    assert read == again == {"isolation": "repeatable read", "read_only": "on"}
    assert written == direct == {"isolation": "read committed", "read_only": "off"}


def test_writing_another_tenants_row_is_refused_by_the_database(pg_store: PostgresStore) -> None:
    mine, theirs = new_tenant(), new_tenant()
    with pg_store.unit_of_work(mine) as uow, pytest.raises(pg_errors.InsufficientPrivilege):
        uow.execute_unfiltered(
            "INSERT INTO audit_log_events (id, tenant_id, actor_id, actor_role, action,"
            f" resource_type, resource_id, at) VALUES ('aud_x', '{theirs}', 'a', 'admin',"
            " 'x', 'invoice', 'inv_x', now()) RETURNING id"
        )


def test_the_application_role_cannot_delete_invoices(pg_store: PostgresStore) -> None:
    tenant = new_tenant()
    save(pg_store, invoice(tenant))
    with pg_store.unit_of_work(tenant) as uow, pytest.raises(pg_errors.InsufficientPrivilege):
        uow.execute_unfiltered("DELETE FROM invoices RETURNING id")


# ---- the append-only audit table ------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log_events SET action = 'tampered' WHERE id = %s",
        "DELETE FROM audit_log_events WHERE id = %s",
        "TRUNCATE audit_log_events",
    ],
)
def test_audit_rows_cannot_be_changed_or_removed_even_by_the_owner(
    pg_store: PostgresStore, owner: psycopg.Connection[Any], statement: str
) -> None:
    event = audit_event(new_tenant(), "inv_x")
    with pg_store.unit_of_work(event.tenant_id) as uow:
        uow.audit.append(event)
        uow.commit()

    params = (event.id,) if "%s" in statement else ()
    with pytest.raises(psycopg.Error, match="append-only"):
        owner.execute(statement.encode(), params)

    with pg_store.unit_of_work(event.tenant_id) as uow:
        assert list(uow.audit.for_resource(event.tenant_id, "invoice", "inv_x")) == [event]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log_events SET action = 'tampered'", "DELETE FROM audit_log_events"],
)
def test_the_application_role_cannot_change_audit_rows(
    pg_store: PostgresStore, statement: str
) -> None:
    tenant = new_tenant()
    with pg_store.unit_of_work(tenant) as uow:
        uow.audit.append(audit_event(tenant, "inv_x"))
        uow.commit()
        with pytest.raises(pg_errors.InsufficientPrivilege):
            uow.execute_unfiltered(statement + " RETURNING id")


# ---- native types ---------------------------------------------------------------------------


def test_amounts_timestamps_and_metadata_use_exact_native_types(
    pg_store: PostgresStore, owner: psycopg.Connection[Any]
) -> None:
    subject = full_invoice(new_tenant())
    save(pg_store, subject)

    row = owner.execute(
        "SELECT amount::text, pg_typeof(amount)::text, funding_target_stroops,"
        " pg_typeof(funding_target_stroops)::text, funded_stroops, created_at,"
        " pg_typeof(created_at)::text, jsonb_typeof(metadata) FROM invoices WHERE id = %s",
        (subject.id,),
    ).fetchone()

    assert row == (
        "999999999999999999.99",
        "numeric",
        10**18,
        "bigint",
        10**18 - 1,
        T0,
        "timestamp with time zone",
        "object",
    )


def test_naive_timestamps_are_refused(pg_store: PostgresStore) -> None:
    tenant = new_tenant()
    naive = invoice(tenant, created_at=T0.replace(tzinfo=None))

    with pg_store.unit_of_work(tenant) as uow, pytest.raises(ValueError, match="aware"):
        uow.invoices.add(naive)


# ---- migrations -----------------------------------------------------------------------------


def _table_names(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_migrations_ship_in_pairs_numbered_from_one() -> None:
    versions = [migration.version for migration in known_migrations()]

    assert versions == list(range(1, len(versions) + 1))
    assert all(migration.down_sql.strip() for migration in known_migrations())


def test_migrate_rollback_and_status_round_trip(fresh_url: str) -> None:
    newest = known_migrations()[-1]
    pending = [MigrationStatus(m.version, m.name, applied=False) for m in known_migrations()]
    applied = [MigrationStatus(m.version, m.name, applied=True) for m in known_migrations()]

    assert status(fresh_url) == pending
    assert migrate(fresh_url) == list(known_migrations())
    assert status(fresh_url) == applied
    assert migrate(fresh_url) == []

    assert rollback(fresh_url) == newest
    assert status(fresh_url)[-1] == MigrationStatus(newest.version, newest.name, applied=False)
    assert migrate(fresh_url) == [newest]
    assert status(fresh_url) == applied


def test_rolling_everything_back_leaves_only_the_ledger(fresh_url: str) -> None:
    migrate(fresh_url)

    while rollback(fresh_url) is not None:
        pass

    assert _table_names(fresh_url) == {"schema_migrations"}


def test_concurrent_migrators_apply_each_migration_once(fresh_url: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(migrate, [fresh_url] * 4))

    assert sorted(len(applied) for applied in results) == [0, 0, 0, len(known_migrations())]
    assert all(state.applied for state in status(fresh_url))


def test_a_failing_migration_leaves_nothing_behind(
    fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    [first, *_] = known_migrations()
    broken = attrs.evolve(first, up_sql=first.up_sql + "\nSELECT no_such_function();\n")
    monkeypatch.setattr("liquifact_adapters.postgres.schema.known_migrations", lambda: (broken,))

    with pytest.raises(psycopg.errors.UndefinedFunction):
        migrate(fresh_url)

    assert _table_names(fresh_url) == {"schema_migrations"}
    monkeypatch.undo()
    assert not any(state.applied for state in status(fresh_url))


def test_an_unmigrated_database_is_not_current_and_not_ready(fresh_url: str) -> None:
    # The role exists (other databases created it); the schema here does not.
    store = PostgresStore(fresh_url)
    try:
        assert [m.label for m in store.pending_migrations()] == [
            m.label for m in known_migrations()
        ]
        with pytest.raises(Unavailable):
            store.ping()

        migrate(fresh_url)

        assert store.pending_migrations() == []
        assert store.schema_is_current()
        store.ping()
    finally:
        store.close()


def test_a_migration_from_newer_code_is_not_current_but_still_ready(
    fresh_url: str,
) -> None:
    migrate(fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as connection:
        connection.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')")
    store = PostgresStore(fresh_url)
    try:
        assert not store.schema_is_current()
        assert store.pending_migrations() == []
        store.ping()
    finally:
        store.close()


def test_a_custom_application_role_is_created_and_used(fresh_url: str) -> None:
    migrate(fresh_url, app_role="liquifact_app_custom")
    store = PostgresStore(fresh_url, app_role="liquifact_app_custom")
    try:
        tenant = new_tenant()
        save(store, invoice(tenant))
        with store.unit_of_work(tenant) as uow:
            [row] = uow.execute_unfiltered(
                "SELECT current_user AS role, count(*) AS n FROM invoices"
            )
        assert row == {"role": "liquifact_app_custom", "n": 1}
    finally:
        store.close()


def test_role_names_that_need_quoting_are_refused() -> None:
    with pytest.raises(ValueError, match="a-z0-9_"):
        PostgresStore("postgresql://postgres@127.0.0.1/none", app_role='x"; DROP TABLE x; --')


# ---- races between transactions -------------------------------------------------------------


def _race(*calls: Callable[[], object]) -> list[object]:
    """Run ``calls`` at the same moment on separate threads; each result or raised error."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        barrier.wait()
        try:
            return call()
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.mark.parametrize("with_expected_version", [False, True])
def test_two_racing_transitions_never_both_succeed(
    pg_store: PostgresStore, with_expected_version: bool
) -> None:
    services = _services(pg_store)
    tenant = new_tenant()
    version = 1 if with_expected_version else None
    for _ in range(8):
        subject = services.invoices.submit(tenant, Actor("sme-1", Role.SME), draft())

        invoice_id = subject.id
        outcomes = _race(
            partial(services.invoices.approve, tenant, ADMIN, invoice_id, version),
            partial(
                services.invoices.reject,
                tenant,
                ADMIN,
                invoice_id,
                TransitionReason("Unknown buyer"),
                version,
            ),
        )

        winners = [o for o in outcomes if not isinstance(o, Exception)]
        losers = [o for o in outcomes if isinstance(o, Exception)]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1
        assert isinstance(losers[0], StaleVersion if with_expected_version else InvalidTransition)
        final = services.invoices.get(tenant, ADMIN, subject.id)
        assert final.version == 2
        history = services.invoices.history(tenant, ADMIN, subject.id)
        assert [step.sequence for step in history] == [1, 2]


def test_racing_inserts_of_one_invoice_number_conflict(pg_store: PostgresStore) -> None:
    tenant = new_tenant()
    first = invoice(tenant)
    second = invoice(tenant, invoice_number=first.draft.invoice_number)

    outcomes = _race(lambda: save(pg_store, first), lambda: save(pg_store, second))

    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1
    assert isinstance(errors[0], Conflict)
    assert errors[0].code == "DUPLICATE_INVOICE_NUMBER"


def test_a_deadlock_becomes_a_retryable_concurrent_update(pg_store: PostgresStore) -> None:
    tenant = new_tenant()
    one, two = invoice(tenant), invoice(tenant)
    save(pg_store, one, two)
    both_locked_one = threading.Barrier(2)

    def lock_in_order(first: str, second: str) -> None:
        with pg_store.unit_of_work(tenant) as uow:
            uow.invoices.get(tenant, first)
            both_locked_one.wait()
            uow.invoices.get(tenant, second)
            uow.commit()

    outcomes = _race(lambda: lock_in_order(one.id, two.id), lambda: lock_in_order(two.id, one.id))

    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1
    assert isinstance(errors[0], Conflict)
    assert errors[0].code == "CONCURRENT_UPDATE"
    assert errors[0].retryable
    assert isinstance(errors[0].__cause__, pg_errors.DeadlockDetected)


# ---- failures become Unavailable ------------------------------------------------------------


def _assert_safe(error: Unavailable) -> None:
    assert error.message == SAFE_MESSAGE
    assert error.retryable
    assert isinstance(error.__cause__, psycopg.Error)


def test_a_server_that_does_not_answer_is_unavailable() -> None:
    store = PostgresStore(
        f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", pool_timeout_s=0.5
    )
    try:
        with pytest.raises(Unavailable) as raised, store.unit_of_work(new_tenant()):
            pass
        _assert_safe(raised.value)
        with pytest.raises(Unavailable):
            store.ping()
    finally:
        store.close()


def test_an_exhausted_pool_is_unavailable(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, pool_min_size=1, pool_max_size=1, pool_timeout_s=0.2)
    tenant = new_tenant()
    try:
        with store.unit_of_work(tenant):  # noqa: SIM117 - holds the pool's only connection
            with pytest.raises(Unavailable) as raised, store.unit_of_work(tenant):
                pass
        _assert_safe(raised.value)
        assert load(store, tenant, "inv_after_the_wait") is None
    finally:
        store.close()


def test_a_slow_statement_is_cancelled_and_unavailable(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, statement_timeout_ms=50)
    try:
        with store.unit_of_work(new_tenant()) as uow, pytest.raises(Unavailable) as raised:
            uow.execute_unfiltered("SELECT pg_sleep(1)")
        _assert_safe(raised.value)
        assert isinstance(raised.value.__cause__, pg_errors.QueryCanceled)
    finally:
        store.close()


def test_a_killed_connection_is_unavailable_and_the_pool_heals(
    pg_store: PostgresStore, owner: psycopg.Connection[Any]
) -> None:
    tenant = new_tenant()
    subject = invoice(tenant)
    with pg_store.unit_of_work(tenant) as uow:
        [me] = uow.execute_unfiltered("SELECT pg_backend_pid() AS pid")
        owner.execute("SELECT pg_terminate_backend(%s)", (me["pid"],))
        with pytest.raises(Unavailable) as raised:
            uow.invoices.add(subject)
    _assert_safe(raised.value)

    # Nothing was committed, and the next unit gets a working connection.
    assert load(pg_store, tenant, subject.id) is None
    save(pg_store, subject)
    assert load(pg_store, tenant, subject.id) == subject


def test_idle_pooled_connections_killed_by_the_server_are_replaced(
    pg_store: PostgresStore, owner: psycopg.Connection[Any], postgres_url: str
) -> None:
    tenant = new_tenant()
    save(pg_store, invoice(tenant))
    database = postgres_url.rpartition("/")[2]
    owner.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = %s AND application_name = 'liquifact'",
        (database,),
    )

    subject = invoice(tenant)
    save(pg_store, subject)

    assert load(pg_store, tenant, subject.id) == subject
    pg_store.ping()


def test_ping_after_close_is_unavailable(pg_store: PostgresStore) -> None:
    pg_store.ping()
    pg_store.close()

    with pytest.raises(Unavailable) as raised:
        pg_store.ping()

    assert raised.value.message == SAFE_MESSAGE
