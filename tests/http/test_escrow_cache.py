"""The escrow view's Redis cache (REDIS_ESCROW_CACHE_ENABLED with REDIS_URL) on the real Redis
server: a second read is served from Redis; the indexer moving the projection (in another
process too) drops the entry; the ledger-gap rule reads it again; an unreachable Redis still
answers 200 from the store; tenants and callers never share entries; off, nothing is cached.
The store is a SQLite file of the test's own, so the newest ledger is this test's alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import redis
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.memory.fakes import FakeEscrowLedger
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.escrow import EscrowStatus
from liquifact_core.services import Services
from liquifact_http.bootstrap import build_services, create_app
from liquifact_http.settings import Settings, parse_escrow_cache_ttl
from tests.auth_helpers import ALL_KEY, READ_KEY, api_key, bearer, test_settings
from tests.factories import contract_address
from tests.http.openapi_validation import assert_matches_openapi
from tests.http.test_escrow_api import ADMIN_KEY, TARGET, linked_invoice, reading
from tests.integration.server import free_port
from tests.redis_support import unique_namespace

pytestmark = pytest.mark.redis


@pytest.fixture
def ledger() -> FakeEscrowLedger:
    return FakeEscrowLedger()


def escrow_settings(redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "rate_limit_enabled": False,
        "redis_url": redis_url,
        "redis_key_prefix": unique_namespace("escrow"),
        "redis_escrow_cache_enabled": True,
        # Large: only the gap test lets the ledger gap drop entries.
        "redis_escrow_ledger_gap_threshold": 1000,
    }
    values.update(overrides)
    return test_settings(**values)


def escrow_app(settings: Settings, db: Path, ledger: FakeEscrowLedger) -> Starlette:
    return create_app(settings, store=SqliteStore(str(db)), ledger=ledger)


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return escrow_settings(redis_url)


@pytest.fixture
def app(settings: Settings, tmp_path: Path, ledger: FakeEscrowLedger) -> Starlette:
    return escrow_app(settings, tmp_path / "escrow.db", ledger)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def services_of(app: Starlette) -> Services:
    wired: Services = app.state.services
    return wired


def index(services: Services, tenant: str) -> None:
    assert services.indexer is not None
    escrows = [e for e in services.store.linked_escrows() if e.tenant_id == tenant]
    assert services.indexer.index_tenant(tenant, escrows).error is None


def move_the_chain(ledger: FakeEscrowLedger, ledgers: int) -> None:
    """``ledgers`` new ledgers with no event of the test's contracts."""
    for _ in range(ledgers):
        ledger.emit(contract_address(), "x", "elsewhere", value={})


def counted(app: Starlette, name: str, **labels: str) -> float:
    value = app.state.metrics.registry.get_sample_value(name, {"cache": "escrow", **labels})
    return float(value or 0.0)


def escrow_keys(client: redis.Redis, settings: Settings) -> list[str]:
    pattern = f"{settings.redis_key_prefix}cache:escrow:*"
    return sorted(key.decode() for key in client.scan_iter(match=pattern))


def indexed_invoice(
    client: TestClient, app: Starlette, tenant: str, ledger: FakeEscrowLedger
) -> tuple[str, str]:
    invoice_id, contract = linked_invoice(client, tenant, ledger, bearer("sme", tenant, "sme-1"))
    index(services_of(app), tenant)
    return invoice_id, contract


def test_a_second_read_is_served_from_redis(
    client: TestClient,
    app: Starlette,
    settings: Settings,
    tenant: str,
    ledger: FakeEscrowLedger,
    redis_client: redis.Redis,
) -> None:
    invoice_id, contract = indexed_invoice(client, app, tenant, ledger)
    admin = bearer("admin", tenant, "test-admin")

    first = client.get(f"/v1/escrow/{invoice_id}", headers=admin)
    assert first.status_code == 200, first.text
    assert first.headers["x-cache"] == "MISS"
    second = client.get(f"/v1/escrow/{invoice_id}", headers=admin)
    assert second.status_code == 200 and second.headers["x-cache"] == "HIT"
    assert_matches_openapi(second)
    assert second.json() == first.json()
    assert second.headers["x-escrow-address"] == contract
    # Kept server-side only: no shared or browser cache may keep the answer.
    assert second.headers["cache-control"] == first.headers["cache-control"] == "private, no-store"
    assert (
        counted(app, "response_cache_hits_total"),
        counted(app, "response_cache_misses_total"),
    ) == (
        1,
        1,
    )

    # The key names the tenant, the invoice and the caller; the TTL is the setting's (30 s).
    key = f"{settings.redis_key_prefix}cache:escrow:{tenant}:{invoice_id}:admin.test-admin"
    assert escrow_keys(redis_client, settings) == [key]
    assert 0 < redis_client.pttl(key) <= 30_000

    # Served from Redis, not the store: a projection written behind the cache's back (no
    # change published) is not seen until the entry goes.
    with services_of(app).store.unit_of_work(tenant) as uow:
        projection = uow.escrows.get(tenant, invoice_id)
        assert projection is not None
        uow.escrows.put(attrs.evolve(projection, reading=reading(invoice_id, 0, hold=True)))
        uow.commit()
    assert client.get(f"/v1/escrow/{invoice_id}", headers=admin).json()["legalHold"] is False
    bypass = client.get(f"/v1/escrow/{invoice_id}", headers={**admin, "Cache-Control": "no-cache"})
    assert bypass.headers["x-cache"] == "MISS" and bypass.json()["legalHold"] is True


def test_the_ttl_is_clamped_into_5_to_300_seconds(
    redis_url: str, tmp_path: Path, tenant: str, ledger: FakeEscrowLedger, redis_client: redis.Redis
) -> None:
    # Settings built by hand skip the parser; the clamp is the parser's (unit-tested): 1 -> 5.
    settings = escrow_settings(
        redis_url, redis_escrow_cache_ttl_seconds=parse_escrow_cache_ttl("1")
    )
    app = escrow_app(settings, tmp_path / "ttl.db", ledger)
    with TestClient(app) as client:
        invoice_id, _ = indexed_invoice(client, app, tenant, ledger)
        client.get(f"/v1/escrow/{invoice_id}", headers=bearer("admin", tenant, "a"))
    (key,) = escrow_keys(redis_client, settings)
    assert 0 < redis_client.pttl(key) <= 5_000


def test_the_indexer_moving_the_projection_drops_the_entry(
    client: TestClient,
    app: Starlette,
    settings: Settings,
    tmp_path: Path,
    tenant: str,
    ledger: FakeEscrowLedger,
) -> None:
    invoice_id, contract = indexed_invoice(client, app, tenant, ledger)
    admin = bearer("admin", tenant, "test-admin")
    assert client.get(f"/v1/escrow/{invoice_id}", headers=admin).headers["x-cache"] == "MISS"
    assert client.get(f"/v1/escrow/{invoice_id}", headers=admin).headers["x-cache"] == "HIT"

    # The indexer runs in a worker process: its own services on the same store and Redis.
    worker = build_services(settings, store=SqliteStore(str(tmp_path / "escrow.db")), ledger=ledger)
    try:
        # A deposit: the projection and the invoice move.
        ledger.put(contract, reading(invoice_id, TARGET // 4))
        ledger.emit(contract, "escrow_funded", "funded", invoice_id[:32], ADMIN_KEY, value={})
        index(worker, tenant)
        moved = client.get(f"/v1/escrow/{invoice_id}", headers=admin)
        assert moved.headers["x-cache"] == "MISS"
        assert moved.json()["fundedAmountStroops"] == str(TARGET // 4)
        assert moved.json()["invoiceStatus"] == "partially_funded"
        assert client.get(f"/v1/escrow/{invoice_id}", headers=admin).headers["x-cache"] == "HIT"

        # A legal hold: only the projection moves; the entry goes all the same.
        ledger.put(contract, reading(invoice_id, TARGET // 4, hold=True))
        ledger.emit(contract, "legal_hold_changed", "legalhld", value={})
        index(worker, tenant)
        held = client.get(f"/v1/escrow/{invoice_id}", headers=admin)
        assert held.headers["x-cache"] == "MISS" and held.json()["legalHold"] is True
    finally:
        worker.close()


def test_an_invoice_change_drops_the_entry_and_who_may_see_it(
    client: TestClient, app: Starlette, tenant: str, ledger: FakeEscrowLedger
) -> None:
    invoice_id, contract = indexed_invoice(client, app, tenant, ledger)
    investor = bearer("investor", tenant, "inv-1")
    assert client.get(f"/v1/escrow/{invoice_id}", headers=investor).headers["x-cache"] == "MISS"
    assert client.get(f"/v1/escrow/{invoice_id}", headers=investor).headers["x-cache"] == "HIT"

    # Funded on chain: no longer investable, so the investor's cached answer must not be
    # served again; the invoice's change dropped it.
    ledger.put(contract, reading(invoice_id, TARGET, status=int(EscrowStatus.FUNDED)))
    ledger.emit(contract, "escrow_funded", "funded", invoice_id[:32], ADMIN_KEY, value={})
    index(services_of(app), tenant)
    hidden = client.get(f"/v1/escrow/{invoice_id}", headers=investor)
    assert hidden.status_code == 404 and hidden.json()["code"] == "NOT_FOUND"


def test_an_entry_far_enough_behind_the_indexer_is_read_again(
    redis_url: str, tmp_path: Path, tenant: str, ledger: FakeEscrowLedger
) -> None:
    settings = escrow_settings(redis_url, redis_escrow_ledger_gap_threshold=3)
    app = escrow_app(settings, tmp_path / "gap.db", ledger)
    with TestClient(app) as client:
        invoice_id, _ = indexed_invoice(client, app, tenant, ledger)
        admin = bearer("admin", tenant, "test-admin")
        first = client.get(f"/v1/escrow/{invoice_id}", headers=admin)
        assert first.headers["x-cache"] == "MISS"
        ledger_of_entry = first.json()["ledger"]

        # Passes that read no event of the contract move only the cursor (and with it the
        # ledger a fresh read reflects); no change is published.
        move_the_chain(ledger, 3)
        index(services_of(app), tenant)
        kept = client.get(f"/v1/escrow/{invoice_id}", headers=admin)
        assert kept.headers["x-cache"] == "HIT" and kept.json()["ledger"] == ledger_of_entry

        move_the_chain(ledger, 1)  # now 4 ledgers ahead: more than the threshold of 3
        index(services_of(app), tenant)
        again = client.get(f"/v1/escrow/{invoice_id}", headers=admin)
        assert again.headers["x-cache"] == "MISS"
        assert again.json()["ledger"] == ledger_of_entry + 4
        assert client.get(f"/v1/escrow/{invoice_id}", headers=admin).headers["x-cache"] == "HIT"


def test_an_unreachable_redis_still_answers_from_the_store(
    tmp_path: Path, tenant: str, ledger: FakeEscrowLedger
) -> None:
    # Nothing listens there: every cache call fails, fast (connection refused).
    settings = escrow_settings(f"redis://127.0.0.1:{free_port()}/0")
    app = escrow_app(settings, tmp_path / "down.db", ledger)
    with TestClient(app) as client:
        # Writes publish invalidations to the dead Redis: they succeed all the same.
        invoice_id, contract = indexed_invoice(client, app, tenant, ledger)
        admin = bearer("admin", tenant, "test-admin")
        for _ in range(2):
            answer = client.get(f"/v1/escrow/{invoice_id}", headers=admin)
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-cache"] == "MISS"
            assert answer.headers["x-escrow-address"] == contract
        ledger.put(contract, reading(invoice_id, TARGET // 2))
        ledger.emit(contract, "escrow_funded", "funded", invoice_id[:32], ADMIN_KEY, value={})
        index(services_of(app), tenant)
        moved = client.get(f"/v1/escrow/{invoice_id}", headers=admin)
        assert moved.status_code == 200 and moved.json()["fundedPercent"] == "50.00"
    assert counted(app, "response_cache_errors_total", operation="get") == 3
    assert counted(app, "response_cache_errors_total", operation="set") == 3
    assert counted(app, "response_cache_errors_total", operation="invalidate") >= 1
    assert counted(app, "response_cache_hits_total") == 0


def test_tenants_and_callers_never_share_entries(
    client: TestClient,
    app: Starlette,
    settings: Settings,
    tenant: str,
    ledger: FakeEscrowLedger,
    redis_client: redis.Redis,
) -> None:
    invoice_id, _ = indexed_invoice(client, app, tenant, ledger)
    path = f"/v1/escrow/{invoice_id}"
    admin = bearer("admin", tenant, "test-admin")
    assert client.get(path, headers=admin).status_code == 200
    assert client.get(path, headers=admin).headers["x-cache"] == "HIT"

    # The same subject in another tenant: that tenant has no such invoice.
    elsewhere = client.get(path, headers=bearer("admin", "other-" + tenant, "test-admin"))
    assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "NOT_FOUND"
    # Another SME of the tenant may not see the invoice; the owner may, from its own entry.
    stranger = client.get(path, headers=bearer("sme", tenant, "sme-2"))
    assert stranger.status_code == 404 and stranger.json()["code"] == "NOT_FOUND"
    owner = client.get(path, headers=bearer("sme", tenant, "sme-1"))
    assert owner.status_code == 200 and owner.headers["x-cache"] == "MISS"
    # The route's access rule runs before the cache: no token, or an API key without the
    # escrow scope, never reaches it.
    assert client.get(path).status_code == 401
    assert client.get(path, headers=api_key(READ_KEY, tenant)).status_code == 403
    service = client.get(path, headers=api_key(ALL_KEY, tenant))
    assert service.status_code == 200 and service.headers["x-cache"] == "MISS"

    prefix = f"{settings.redis_key_prefix}cache:escrow:{tenant}:{invoice_id}:"
    assert escrow_keys(redis_client, settings) == sorted(
        [prefix + "admin.test-admin", prefix + "sme.sme-1", prefix + "service.ops-svc"]
    )
    assert counted(app, "response_cache_hits_total") == 1


def test_off_nothing_is_cached(
    redis_url: str, tmp_path: Path, tenant: str, ledger: FakeEscrowLedger, redis_client: redis.Redis
) -> None:
    settings = escrow_settings(redis_url, redis_escrow_cache_enabled=False)
    app = escrow_app(settings, tmp_path / "off.db", ledger)
    with TestClient(app) as client:
        invoice_id, _ = indexed_invoice(client, app, tenant, ledger)
        for _ in range(2):
            answer = client.get(f"/v1/escrow/{invoice_id}", headers=bearer("admin", tenant, "a"))
            assert answer.status_code == 200 and "x-cache" not in answer.headers
    assert escrow_keys(redis_client, settings) == []
    assert counted(app, "response_cache_misses_total") == 0
