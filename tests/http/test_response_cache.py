"""The response cache mechanism, on a test-only route (marketplace routes opt in the same way)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from liquifact_adapters.cache import InProcessCache
from liquifact_adapters.memory import InMemoryStore
from liquifact_adapters.redis import RedisCache, connect
from liquifact_core.lifecycle import Role
from liquifact_core.ports import Cache
from liquifact_http.access import Access, allow, authorize
from liquifact_http.api_keys import ApiScope
from liquifact_http.bootstrap import create_app
from liquifact_http.caching import (
    MARKETPLACE_KEY,
    Handler,
    cached,
    investor_lock_key,
    tenant_key,
)
from liquifact_http.callers import caller_of
from liquifact_http.routes.common import json_response
from liquifact_http.settings import Settings
from tests.auth_helpers import ALL_KEY, api_key, bearer, test_settings
from tests.factories import contract_address, invoice_payload
from tests.redis_support import unique_namespace


class ManualClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class Calls:
    """A handler that counts its calls and answers with a fresh counter each time."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, request: Request) -> Response:
        self.count += 1
        status = int(request.query_params.get("status", "200"))
        return json_response(
            {
                "tenant": caller_of(request).tenant_id,
                "call": self.count,
                "q": str(request.url.query),
            },
            status,
            {"ETag": f'"c{self.count}"'},
        )


# The test-only routes have no row in access.ACCESS, so they are built like ``resource`` builds
# a route, with this rule: authenticated callers of any role, and API keys that may read.
TEST_ACCESS = allow(Role.SME, Role.INVESTOR, Role.ADMIN, scope=ApiScope.INVOICES_READ)


def guarded(path: str, handler: Handler, access: Access = TEST_ACCESS) -> Route:
    async def dispatch(request: Request) -> Response:
        authorize(request, access)
        return await handler(request)

    return Route(path, dispatch, methods=["GET"])


def with_test_routes(app: Starlette, calls: Calls) -> Starlette:
    # First in the routing table: the app's own /v1/marketplace route would match first.
    app.router.routes.insert(0, guarded("/v1/marketplace", cached(MARKETPLACE_KEY)(calls)))
    app.router.routes.insert(
        1,
        guarded("/v1/mine", cached(tenant_key("mine", per_principal=True), ttl_seconds=5)(calls)),
    )
    return app


def build(cache: Cache, settings: Settings | None = None, calls: Calls | None = None) -> Starlette:
    app = create_app(
        settings or test_settings(rate_limit_enabled=False), store=InMemoryStore(), cache=cache
    )
    return with_test_routes(app, calls or Calls())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cached_app(clock: ManualClock) -> Starlette:
    return build(InProcessCache(now=clock))


@pytest.fixture
def client(cached_app: Starlette) -> Iterator[TestClient]:
    with TestClient(cached_app) as test_client:
        yield test_client


def sample(app: Starlette, name: str, **labels: str) -> float:
    return app.state.metrics.registry.get_sample_value(name, labels) or 0.0


T1 = bearer("admin", "tenant-one", "alice")
T2 = bearer("admin", "tenant-two", "bob")


def test_miss_then_hit_with_the_same_answer(client: TestClient, cached_app: Starlette) -> None:
    first = client.get("/v1/marketplace?page=1", headers=T1)
    second = client.get("/v1/marketplace?page=1", headers=T1)
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert second.json() == first.json() == {"tenant": "tenant-one", "call": 1, "q": "page=1"}
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["content-type"] == "application/json"
    assert second.headers["x-correlation-id"] != first.headers["x-correlation-id"]
    assert sample(cached_app, "response_cache_hits_total", cache="marketplace") == 1
    assert sample(cached_app, "response_cache_misses_total", cache="marketplace") == 1


def test_the_key_is_the_specs_format(cached_app: Starlette, clock: ManualClock) -> None:
    cache = cached_app.state.services.cache
    with TestClient(cached_app) as client:
        client.get("/v1/marketplace?sortBy=yield_bps&order=desc", headers=T1)
        client.get("/api/marketplace?page=2", headers=T1)
    assert cache.get("marketplace:tenant-one:/v1/marketplace?sortBy=yield_bps&order=desc")
    assert cache.get("marketplace:tenant-one:/api/marketplace?page=2")  # the original URL


def test_tenants_never_share_entries(client: TestClient) -> None:
    one = client.get("/v1/marketplace", headers=T1)
    two = client.get("/v1/marketplace", headers=T2)
    assert two.headers["x-cache"] == "MISS"
    assert (one.json()["tenant"], two.json()["tenant"]) == ("tenant-one", "tenant-two")


def test_query_strings_are_part_of_the_key(client: TestClient) -> None:
    client.get("/v1/marketplace?page=1", headers=T1)
    assert client.get("/v1/marketplace?page=2", headers=T1).headers["x-cache"] == "MISS"


def test_no_cache_request_bypasses_and_refreshes(client: TestClient) -> None:
    client.get("/v1/marketplace", headers=T1)
    fresh = client.get("/v1/marketplace", headers={**T1, "Cache-Control": "no-cache"})
    assert fresh.headers["x-cache"] == "MISS" and fresh.json()["call"] == 2
    again = client.get("/v1/marketplace", headers=T1)
    assert again.headers["x-cache"] == "HIT" and again.json()["call"] == 2


def test_entries_expire_after_the_ttl(client: TestClient, clock: ManualClock) -> None:
    client.get("/v1/marketplace", headers=T1)
    clock.now += 14.5
    assert client.get("/v1/marketplace", headers=T1).headers["x-cache"] == "HIT"
    clock.now += 1
    assert client.get("/v1/marketplace", headers=T1).headers["x-cache"] == "MISS"


def test_a_route_can_set_its_own_ttl(client: TestClient, clock: ManualClock) -> None:
    client.get("/v1/mine", headers=T1)
    clock.now += 5.5
    assert client.get("/v1/mine", headers=T1).headers["x-cache"] == "MISS"


def test_only_successful_answers_are_stored(client: TestClient) -> None:
    assert client.get("/v1/marketplace?status=404", headers=T1).headers["x-cache"] == "MISS"
    assert client.get("/v1/marketplace?status=404", headers=T1).headers["x-cache"] == "MISS"


def test_head_is_served_from_the_same_entry(client: TestClient) -> None:
    client.get("/v1/marketplace", headers=T1)
    head = client.head("/v1/marketplace", headers=T1)
    assert head.status_code == 200 and head.headers["x-cache"] == "HIT"


def test_a_tenant_is_required_for_a_key(client: TestClient) -> None:
    assert client.get("/v1/marketplace").status_code == 401  # no caller, no key
    no_tenant = client.get("/v1/marketplace", headers=api_key(ALL_KEY, None))
    assert (no_tenant.status_code, no_tenant.json()["code"]) == (400, "TENANT_REQUIRED")


def test_a_committed_transition_invalidates_the_tenants_marketplace(
    client: TestClient, cached_app: Starlette
) -> None:
    client.get("/v1/marketplace", headers=T1)
    client.get("/v1/marketplace", headers=T2)
    invoice = client.post("/v1/invoices", json=invoice_payload(), headers=T1).json()
    assert (
        client.get("/v1/marketplace", headers=T1).headers["x-cache"] == "HIT"
    )  # pending: no change
    approved = client.post(f"/v1/invoices/{invoice['id']}/approve", headers=T1)
    assert approved.status_code == 200
    assert client.get("/v1/marketplace", headers=T1).headers["x-cache"] == "MISS"
    assert client.get("/v1/marketplace", headers=T2).headers["x-cache"] == "HIT"
    link = {"escrowAddress": contract_address(), "fundingTargetStroops": "1000"}
    client.post(f"/v1/invoices/{invoice['id']}/link-escrow", json=link, headers=T1)
    assert client.get("/v1/marketplace", headers=T1).headers["x-cache"] == "MISS"


class BrokenCache:
    def get(self, key: str) -> bytes | None:
        raise OSError("cache down")

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        raise OSError("cache down")

    def invalidate_prefix(self, prefix: str) -> None:
        return None

    def close(self) -> None:
        return None


class CorruptCache(InProcessCache):
    def get(self, key: str) -> bytes | None:
        return b"not json"


@pytest.mark.parametrize("cache", [BrokenCache(), CorruptCache()], ids=["raising", "corrupt"])
def test_a_failing_store_never_fails_the_request(cache: Cache) -> None:
    app = build(cache)
    with TestClient(app) as client:
        answers = [client.get("/v1/marketplace", headers=T1) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.headers["x-cache"] for a in answers] == ["MISS", "MISS"]
    assert sample(app, "response_cache_errors_total", cache="marketplace", operation="get") == 2


def test_evictions_are_counted_by_family() -> None:
    settings = test_settings(rate_limit_enabled=False, cache_max_entries=2)
    app = with_test_routes(create_app(settings, store=InMemoryStore()), Calls())
    with TestClient(app) as client:
        for page in range(4):
            client.get(f"/v1/marketplace?page={page}", headers=T1)
        assert client.get("/v1/marketplace?page=0", headers=T1).headers["x-cache"] == "MISS"
    assert sample(app, "response_cache_evictions_total", cache="marketplace") == 3


def test_per_principal_keys_and_spec_key_builders() -> None:
    calls = Calls()
    app = build(InProcessCache(), calls=calls)
    cache = app.state.services.cache
    with TestClient(app) as client:
        client.get("/v1/mine?x=1", headers=T1)
    assert cache.get("mine:tenant-one:alice:/v1/mine?x=1")
    lock_key = investor_lock_key()

    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/v1/investor/locks/inv_1",
            "query_string": b"funderAddress=GABC",
            "headers": [(b"authorization", T1["Authorization"].encode())],
            "path_params": {"invoiceId": "inv_1"},
            "app": app,
        }
    )
    # The viewer follows the tenant: a lock read cached for one caller is never served to another.
    assert lock_key(request) == "investor:lock:tenant-one:admin.alice.-:inv_1:funderAddress=GABC"


@pytest.mark.redis
def test_processes_sharing_redis_share_entries_and_invalidation(redis_url: str) -> None:
    namespace = unique_namespace("cache")
    first = build(RedisCache(connect(redis_url), namespace=namespace))
    second = build(RedisCache(connect(redis_url), namespace=namespace))
    with TestClient(first) as a, TestClient(second) as b:
        assert a.get("/v1/marketplace", headers=T1).headers["x-cache"] == "MISS"
        shared = b.get("/v1/marketplace", headers=T1)
        assert shared.headers["x-cache"] == "HIT" and shared.json()["call"] == 1
        # A write through the second app (its own store, the same cache) drops the entry.
        invoice = b.post("/v1/invoices", json=invoice_payload(), headers=T1).json()
        b.post(f"/v1/invoices/{invoice['id']}/approve", headers=T1)
        assert a.get("/v1/marketplace", headers=T1).headers["x-cache"] == "MISS"
