"""What only the PostgreSQL store promises for the marketplace and funding tables: row-level
security on the new tables, immutable commitment terms, the cross-tenant purge, the 0002
backfill, index-only plans, and funding races between transactions and over HTTP."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from starlette.testclient import TestClient

from liquifact_adapters.postgres import PostgresStore, known_migrations, migrate, rollback
from liquifact_adapters.postgres import mapping as pg_mapping
from liquifact_adapters.postgres import marketplace as market
from liquifact_adapters.system import RandomIdGenerator, SystemClock
from liquifact_core.addresses import AccountAddress
from liquifact_core.amounts import Stroops
from liquifact_core.commitments import FundingRequest
from liquifact_core.errors import Conflict
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_core.marketplace import (
    Keyset,
    MarketplaceFilters,
    MarketplaceQuery,
    SortField,
    SortOrder,
    SortValue,
    funded_ratio_hundredths,
)
from liquifact_core.services import Services
from liquifact_http.bootstrap import create_app
from tests.factories import account_address
from tests.http.roles import as_caller, role_header_caller
from tests.http.test_marketplace_api import list_invoice
from tests.pg import fresh_database

from .contract_support import T0, money, new_tenant, save
from .market_support import INVESTOR, claim, commitment, listed

pytestmark = pytest.mark.postgres


def _funded_tenant(store: PostgresStore) -> str:
    tenant = new_tenant()
    target = listed(tenant)
    save(store, target)
    with store.unit_of_work(tenant) as uow:
        uow.commitments.add(commitment(target, 100))
        uow.idempotency.claim(claim(tenant), T0)
        uow.commit()
    return tenant


# ---- row-level security ---------------------------------------------------------------------


@pytest.mark.parametrize("table", ["investor_commitments", "idempotency_records"])
def test_a_query_without_tenant_filter_sees_only_its_tenant(
    pg_store: PostgresStore, owner: psycopg.Connection[Any], table: str
) -> None:
    mine, theirs = _funded_tenant(pg_store), _funded_tenant(pg_store)

    with pg_store.unit_of_work(mine) as uow:
        rows = uow.execute_unfiltered(f"SELECT tenant_id FROM {table}")  # deliberately unfiltered
    with pg_store.read_unit(mine) as reader:
        read_rows = reader.execute_unfiltered(f"SELECT tenant_id FROM {table}")

    assert rows and {row["tenant_id"] for row in rows} == {mine}
    assert {row["tenant_id"] for row in read_rows} == {mine}
    assert (theirs,) in owner.execute(f"SELECT DISTINCT tenant_id FROM {table}").fetchall()


def test_the_application_role_cannot_delete_commitments(pg_store: PostgresStore) -> None:
    tenant = _funded_tenant(pg_store)
    with pg_store.unit_of_work(tenant) as uow, pytest.raises(pg_errors.InsufficientPrivilege):
        uow.execute_unfiltered("DELETE FROM investor_commitments RETURNING id")


def test_a_read_unit_is_read_only_and_takes_no_locks(pg_store: PostgresStore) -> None:
    tenant = new_tenant()
    target = listed(tenant)
    save(pg_store, target)
    with pg_store.read_unit(tenant) as reader:
        [row] = reader.execute_unfiltered(
            "SELECT current_setting('transaction_read_only') AS ro,"
            " current_setting('transaction_isolation') AS iso, current_user AS role"
        )
        assert row == {"ro": "on", "iso": "repeatable read", "role": "liquifact_app"}
        assert reader.invoices.get(tenant, target.id) == target
        # A writer is not blocked by the reader's read of the same row.
        with pg_store.unit_of_work(tenant) as writer:
            writer.execute_unfiltered("SELECT set_config('lock_timeout', '200ms', true) AS x")
            assert writer.invoices.get(tenant, target.id) == target
        with pytest.raises(pg_errors.ReadOnlySqlTransaction):
            reader.execute_unfiltered("UPDATE invoices SET version = version RETURNING id")


# ---- commitment terms -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        "amount_stroops = 1",
        f"investor_address = '{account_address()}'",
        "invoice_id = 'inv_other'",
        "tenant_id = 'elsewhere'",
    ],
    ids=["amount", "investor", "invoice", "tenant"],  # stable ids: xdist workers must agree
)
def test_commitment_terms_cannot_be_rewritten_even_by_the_owner(
    pg_store: PostgresStore, owner: psycopg.Connection[Any], change: str
) -> None:
    tenant = _funded_tenant(pg_store)
    with pytest.raises(psycopg.IntegrityError, match="immutable"):
        owner.execute(f"UPDATE investor_commitments SET {change} WHERE tenant_id = %s", (tenant,))
    with pg_store.unit_of_work(tenant) as uow, pytest.raises(pg_errors.InsufficientPrivilege):
        # The application role may update the state columns only.
        uow.execute_unfiltered("UPDATE investor_commitments SET amount_stroops = 1 RETURNING id")
    with pytest.raises(pg_errors.CheckViolation):
        owner.execute(
            "UPDATE investor_commitments SET status = 'lost' WHERE tenant_id = %s", (tenant,)
        )


# ---- the cross-tenant purge ----------------------------------------------------------------


def test_the_purge_spans_tenants_only_through_its_function(
    pg_store: PostgresStore, owner: psycopg.Connection[Any]
) -> None:
    far = T0 - timedelta(days=3650)  # older than anything other tests leave in the database
    tenants = [new_tenant() for _ in range(3)]
    for tenant in tenants:
        with pg_store.unit_of_work(tenant) as uow:
            uow.idempotency.claim(claim(tenant, expires_at=far), far)
            uow.commit()
    with pg_store.unit_of_work(tenants[0]) as uow:
        # The application role alone still sees one tenant, and cannot delete the others'.
        assert (
            len(
                uow.execute_unfiltered(
                    "SELECT 1 FROM idempotency_records WHERE expires_at <= now()"
                )
            )
            == 1
        )
        uow.execute_unfiltered("SELECT set_config('liquifact.purge_before', 'infinity', true) AS x")
        assert (
            len(
                uow.execute_unfiltered(
                    "SELECT 1 FROM idempotency_records WHERE expires_at <= now()"
                )
            )
            == 1
        )
    assert pg_store.purge_expired_idempotency(far, 2) == 2
    assert pg_store.purge_expired_idempotency(far, 10) == 1
    left = owner.execute(
        "SELECT count(*) FROM idempotency_records WHERE tenant_id = ANY(%s)", (tenants,)
    ).fetchone()
    assert left == (0,)
    # Nobody else may call the function.
    privileges = owner.execute(
        "SELECT has_function_privilege('public', "
        "'purge_expired_idempotency_records(timestamptz, integer)', 'EXECUTE')"
    ).fetchone()
    assert privileges == (False,)


# ---- migration 0002 -------------------------------------------------------------------------


def test_migration_0002_backfills_sort_keys_like_the_code() -> None:
    tenant = new_tenant()
    rows = [
        listed(tenant, target=8, funded=1, amount=money("1250.5")),
        listed(tenant, target=20000, funded=1, amount=money("0.01")),
        listed(tenant, target=20000, funded=3, amount=money("0.01")),
        listed(tenant, target=3, funded=2, amount=money("999999999999999999.99")),
        listed(tenant, target=10**18, funded=10**18 - 1, amount=money("7", "JPY")),
        listed(tenant, target=1000, funded=1500, amount=money("0.125", "KWD")),
    ]
    with fresh_database() as url:
        migrate(url)
        for newer in reversed([m for m in known_migrations() if m.version > 1]):
            assert rollback(url) == newer  # back to 0001 only
        with psycopg.connect(url, autocommit=True) as connection:
            for row in rows:
                params = pg_mapping.invoice_params(row)
                del (
                    params["funded_ratio_hundredths"],
                    params["amount_key"],
                    params["invoice_number_key"],
                    params["buyer_name_key"],
                    params["attestation_digest"],  # a column of migration 0013
                )
                columns = ", ".join(params)
                values = ", ".join(f"%({column})s" for column in params)
                connection.execute(f"INSERT INTO invoices ({columns}) VALUES ({values})", params)
            migrate(url)
            stored = {
                record[0]: (record[1], record[2])
                for record in connection.execute(
                    "SELECT id, funded_ratio_hundredths, amount_key FROM invoices"
                ).fetchall()
            }
    for row in rows:
        assert stored[row.id] == (funded_ratio_hundredths(row), row.draft.amount.amount)


# ---- query plans ----------------------------------------------------------------------------


def _keyset(sort: SortField) -> Keyset:
    values: dict[SortField, SortValue] = {
        SortField.YIELD_BPS: 100,
        SortField.FUNDED_RATIO: 100,
        SortField.MATURITY_DATE: T0.date(),
        SortField.AMOUNT: money("10.00").amount,
        SortField.CREATED_AT: T0,
    }
    return Keyset(values[sort], "inv_x")


@pytest.mark.parametrize("keyset", [False, True])
@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize("sort", list(SortField))
def test_every_marketplace_page_reads_its_sort_index_without_sorting(
    pg_store: PostgresStore, sort: SortField, order: SortOrder, keyset: bool
) -> None:
    tenant = new_tenant()
    query = MarketplaceQuery(
        tenant, sort=sort, order=order, after=_keyset(sort) if keyset else None
    )
    with pg_store.read_unit(tenant) as reader:
        # Plans as on a big table: sequential scans and sorts priced out, so the plan shows
        # that the sort index alone delivers the page in order.
        reader.execute_unfiltered(
            "SELECT set_config('enable_seqscan', 'off', true),"
            " set_config('enable_sort', 'off', true)"
        )
        connection = reader._ready()  # the unit's own connection: EXPLAIN needs the params
        plan = connection.execute(
            ("EXPLAIN " + market.PAGE_SQL[(sort, order, keyset)]).encode(), market.params(query)
        ).fetchall()
    text = "\n".join(row["QUERY PLAN"] for row in plan)
    indexes = {
        SortField.YIELD_BPS: "invoices_market_yield_bps",
        SortField.MATURITY_DATE: "invoices_market_maturity_date",
        SortField.FUNDED_RATIO: "invoices_market_funded_ratio",
        SortField.AMOUNT: "invoices_market_amount",
        SortField.CREATED_AT: "invoices_market_created_at",
    }
    assert indexes[sort] in text
    assert "Sort" not in text.replace("Sort Key", "")


# ---- funding races ---------------------------------------------------------------------------


def test_concurrent_fundings_never_exceed_the_capacity(pg_store: PostgresStore) -> None:
    services = Services.from_ports(pg_store, SystemClock(), RandomIdGenerator())
    tenant = new_tenant()
    target = listed(tenant, target=1000, funded=100)
    save(pg_store, target)
    investor = Actor("investor-1", Role.INVESTOR, wallet=INVESTOR)
    request = FundingRequest(target.id, AccountAddress(INVESTOR), Stroops(200))
    threads = 12
    barrier = threading.Barrier(threads)

    def fund(n: int) -> object:
        barrier.wait()
        try:
            return services.funding.fund_invoice(tenant, investor, request, f"key-{n:08d}")
        except Conflict as error:
            return error

    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(pool.map(fund, range(threads)))

    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(outcomes) - len(refused) == 4  # (1000 - 100) // 200
    assert {error.code for error in refused} == {"FUNDING_EXCEEDS_CAPACITY"}
    with pg_store.unit_of_work(tenant) as uow:
        assert uow.commitments.pending_total_for_update(tenant, target.id) == 800


def test_ten_identical_fund_requests_with_one_key_create_one_commitment(
    pg_store: PostgresStore,
) -> None:
    app = create_app(store=pg_store, resolve_caller=role_header_caller)
    tenant = new_tenant()
    wallet = account_address()
    headers = {
        **as_caller(tenant, "investor", "inv-1", wallet),
        "Idempotency-Key": "key-concurrent-01",
    }
    with TestClient(app) as client:
        invoice_id = list_invoice(client, app, tenant, target=1000)
        body = {"invoiceId": invoice_id, "investorAddress": wallet, "amountStroops": "100"}
        barrier = threading.Barrier(10)

        def fund(_: int) -> tuple[int, bytes]:
            barrier.wait()
            response = client.post("/v1/invest/fund-invoice", json=body, headers=headers)
            return response.status_code, response.content

        with ThreadPoolExecutor(max_workers=10) as pool:
            outcomes = list(pool.map(fund, range(10)))
        # Afterwards a retry replays the one stored answer.
        final = client.post("/v1/invest/fund-invoice", json=body, headers=headers)
        # (the app's lifespan closes the store when the client stops: check before that)
        statuses = sorted(status for status, _ in outcomes)
        assert set(statuses) <= {201, 409}, outcomes
        created = [content for status, content in outcomes if status == 201]
        assert created and len(set(created)) == 1  # the first answer, or its replays
        assert final.status_code == 201 and final.content == created[0]
        with pg_store.unit_of_work(tenant) as uow:
            rows = uow.execute_unfiltered("SELECT id FROM investor_commitments")
            assert len(rows) == 1
            assert uow.commitments.pending_total_for_update(tenant, invoice_id) == 100


def test_the_marketplace_filters_use_exact_amount_bounds(pg_store: PostgresStore) -> None:
    tenant = new_tenant()
    row = listed(tenant, amount=money("10.00"))
    save(pg_store, row)
    with pg_store.read_unit(tenant) as reader:
        exact = MarketplaceFilters(amount_min=money("10").amount, amount_max=money("10").amount)
        above = MarketplaceFilters(amount_min=Decimal("10.00001"))
        assert reader.invoices.marketplace(MarketplaceQuery(tenant, filters=exact)).total == 1
        assert reader.invoices.marketplace(MarketplaceQuery(tenant, filters=above)).total == 0
