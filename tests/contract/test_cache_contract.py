"""One contract for the ``Cache`` port and the rate-limit counters, run on every adapter.

In-process and Redis must agree: a fake that disagrees with the real adapter is a bug.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis

from liquifact_adapters.cache import InProcessCache, InProcessWindowCounter
from liquifact_adapters.redis import RedisCache, RedisWindowCounter, connect
from liquifact_core.errors import Unavailable
from liquifact_core.ports import Cache
from tests.redis_support import require_redis, unique_namespace


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
def cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    if request.param == "in-process":
        yield InProcessCache()
        return
    client = connect(require_redis())
    yield RedisCache(client, namespace=unique_namespace("cache"))
    client.close()


def test_a_stored_value_is_read_back(cache: Cache) -> None:
    cache.set("marketplace:t1:/v1/marketplace?page=1", b'{"data":[]}', 30)
    assert cache.get("marketplace:t1:/v1/marketplace?page=1") == b'{"data":[]}'
    assert cache.get("marketplace:t1:/v1/marketplace?page=2") is None


def test_setting_again_replaces_the_value(cache: Cache) -> None:
    cache.set("k", b"one", 30)
    cache.set("k", b"two", 30)
    assert cache.get("k") == b"two"


def test_prefix_invalidation_drops_only_that_prefix(cache: Cache) -> None:
    for key in (
        "marketplace:t1:/a",
        "marketplace:t1:/b?x=1",
        "marketplace:t2:/a",
        "investor:t1:/a",
    ):
        cache.set(key, key.encode(), 30)
    cache.invalidate_prefix("marketplace:t1:")
    assert cache.get("marketplace:t1:/a") is None
    assert cache.get("marketplace:t1:/b?x=1") is None
    assert cache.get("marketplace:t2:/a") == b"marketplace:t2:/a"
    assert cache.get("investor:t1:/a") == b"investor:t1:/a"


def test_glob_characters_in_a_prefix_are_literal(cache: Cache) -> None:
    cache.set("marketplace:t1:/a", b"1", 30)
    cache.set("marketplace:t*:/a", b"2", 30)
    cache.invalidate_prefix("marketplace:t*:")
    assert cache.get("marketplace:t1:/a") == b"1"
    assert cache.get("marketplace:t*:/a") is None


def test_invalidating_many_keys_drops_them_all(cache: Cache) -> None:
    for n in range(1200):
        cache.set(f"marketplace:big:/p{n}", b"x", 30)
    cache.invalidate_prefix("marketplace:big:")
    assert all(cache.get(f"marketplace:big:/p{n}") is None for n in range(0, 1200, 97))


def test_a_non_positive_ttl_stores_nothing(cache: Cache) -> None:
    cache.set("k", b"v", 0)
    assert cache.get("k") is None


@pytest.mark.redis
def test_redis_entries_carry_their_ttl(redis_client: redis.Redis) -> None:
    namespace = unique_namespace("cache")
    RedisCache(redis_client, namespace=namespace).set("k", b"v", 15)
    ttl = redis_client.pttl(namespace + "k")
    assert 14_000 < ttl <= 15_000


def test_in_process_entries_expire_after_their_ttl() -> None:
    clock = ManualClock()
    cache = InProcessCache(now=clock)
    cache.set("k", b"v", 15)
    clock.now += 14.9
    assert cache.get("k") == b"v"
    clock.now += 0.2
    assert cache.get("k") is None
    assert cache.entry_count() == 0  # lazily evicted on read


def test_in_process_lru_bound_evicts_the_least_recently_used() -> None:
    evicted: list[str] = []
    cache = InProcessCache(3, on_evict=evicted.extend)
    for key in ("a", "b", "c"):
        cache.set(key, key.encode(), 30)
    assert cache.get("a") == b"a"  # now b is the least recently used
    cache.set("d", b"d", 30)
    assert evicted == ["b"]
    assert [cache.get(k) for k in ("a", "b", "c", "d")] == [b"a", None, b"c", b"d"]


def test_in_process_default_bound_is_the_specs_5000() -> None:
    cache = InProcessCache()
    for n in range(5001):
        cache.set(f"k{n}", b"x", 30)
    assert cache.entry_count() == 5000
    assert cache.get("k0") is None


def test_expired_entries_make_room_before_live_ones_are_evicted() -> None:
    clock = ManualClock()
    evicted: list[str] = []
    cache = InProcessCache(2, now=clock, on_evict=evicted.extend)
    cache.set("old", b"1", 1)
    cache.set("live", b"2", 60)
    clock.now += 5
    cache.set("new", b"3", 60)
    assert evicted == []
    assert cache.get("live") == b"2" and cache.get("new") == b"3"


def test_redis_cache_errors_are_swallowed_and_reported() -> None:
    seen: list[tuple[str, str]] = []
    dead = connect("redis://127.0.0.1:1/0", timeout_seconds=0.2)  # nothing listens on port 1
    cache = RedisCache(dead, on_error=lambda op, key, _error: seen.append((op, key)))
    assert cache.get("marketplace:t:/x") is None
    cache.set("marketplace:t:/x", b"v", 10)
    cache.invalidate_prefix("marketplace:t:")
    assert seen == [
        ("get", "marketplace:t:/x"),
        ("set", "marketplace:t:/x"),
        ("invalidate", "marketplace:t:"),
    ]


# ---- fixed-window counters --------------------------------------------------------------------
Counter = Callable[[str, int], tuple[int, int]]


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
def hit(request: pytest.FixtureRequest) -> Iterator[Counter]:
    if request.param == "in-process":
        yield InProcessWindowCounter().hit
        return
    client = connect(require_redis())
    yield RedisWindowCounter(client, namespace=unique_namespace("ratelimit")).hit
    client.close()


def test_hits_count_up_within_a_window(hit: Counter) -> None:
    results = [hit("global:address:10.0.0.1", 60_000) for _ in range(3)]
    assert [count for count, _ in results] == [1, 2, 3]
    assert all(0 < reset <= 60_000 for _, reset in results)
    assert hit("global:address:10.0.0.2", 60_000)[0] == 1  # another principal


def test_in_process_window_resets_after_it_ends() -> None:
    # No sleep: run the counter's clock instead (Redis windows are key TTLs, tested above).
    counter = InProcessWindowCounter(now=(clock := ManualClock()))
    counter.hit("w", 1000)
    clock.now += 1.001
    assert counter.hit("w", 1000) == (1, 1000)


@pytest.mark.redis
def test_redis_counter_is_shared_by_every_client(redis_url: str) -> None:
    namespace = unique_namespace("ratelimit")
    first = RedisWindowCounter(connect(redis_url), namespace=namespace)
    second = RedisWindowCounter(connect(redis_url), namespace=namespace)
    assert [first.hit("k", 60_000)[0], second.hit("k", 60_000)[0], first.hit("k", 60_000)[0]] == [
        1,
        2,
        3,
    ]


@pytest.mark.redis
def test_redis_counter_heals_a_key_without_expiry(redis_client: redis.Redis) -> None:
    namespace = unique_namespace("ratelimit")
    redis_client.set(namespace + "k", 7)  # e.g. written by something else, no TTL
    count, reset = RedisWindowCounter(redis_client, namespace=namespace).hit("k", 5000)
    assert count == 8 and reset == 5000
    assert 0 < redis_client.pttl(namespace + "k") <= 5000


def test_redis_counter_outage_is_unavailable() -> None:
    counter = RedisWindowCounter(connect("redis://127.0.0.1:1/0", timeout_seconds=0.2))
    with pytest.raises(Unavailable):
        counter.hit("k", 1000)


def test_in_process_counter_keeps_a_bounded_number_of_windows() -> None:
    counter = InProcessWindowCounter(max_keys=100)
    for n in range(250):
        counter.hit(f"client-{n}", 60_000)
    assert counter.hit("client-249", 60_000)[0] == 2  # recent windows survive
    assert counter.hit("client-0", 60_000)[0] == 1  # the oldest were dropped


def test_in_process_counter_drops_the_least_recently_hit_window_first() -> None:
    counter = InProcessWindowCounter(max_keys=2)
    counter.hit("busy", 60_000)
    counter.hit("idle", 60_000)
    counter.hit("busy", 60_000)  # now "idle" is the least recently hit
    counter.hit("new", 60_000)
    assert counter.hit("busy", 60_000)[0] == 3
    assert counter.hit("idle", 60_000)[0] == 1  # its window was dropped for room
