"""Two real ``liquifact serve`` processes sharing one Redis (and one store).

Rate limits count across both processes, and a write through one drops the cached entries the
other reads (the shared cache is the Redis the servers use, under their key prefix).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx2 as httpx
import pytest
import redis

from liquifact_adapters.redis import RedisCache
from tests.auth_helpers import TEST_SECRET, bearer
from tests.factories import invoice_payload
from tests.integration.server import running_server

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def test_two_processes_share_rate_limits_and_cache_invalidation(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    prefix = f"liquifact-it-{uuid.uuid4().hex[:12]}:"
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "JWT_SECRET": TEST_SECRET,
        "RATE_LIMIT_MAX_REQUESTS": "6",
        "RATE_LIMIT_SENSITIVE_MAX": "50",
    }
    tenant, other = "it-tenant-" + uuid.uuid4().hex[:8], "it-other-" + uuid.uuid4().hex[:8]
    # One identity throughout: verified callers are counted as themselves, not by address.
    headers = bearer("admin", tenant, "it-admin")
    with running_server(env) as first, running_server(env) as second:
        # The cache entries the marketplace route would hold, as any process stored them.
        shared = RedisCache(redis_client, namespace=prefix + "cache:")
        mine = f"marketplace:{tenant}:/v1/marketplace?page=1"
        theirs = f"marketplace:{other}:/v1/marketplace?page=1"
        shared.set(mine, b'{"data":[]}', 60)
        shared.set(theirs, b'{"data":[]}', 60)

        created = httpx.post(first + "/v1/invoices", json=invoice_payload(), headers=headers)
        assert created.status_code == 201
        invoice_id = created.json()["id"]
        assert shared.get(mine) is not None  # submitting does not touch the marketplace
        approved = httpx.post(f"{second}/v1/invoices/{invoice_id}/approve", headers=headers)
        assert approved.status_code == 200
        assert shared.get(mine) is None  # dropped for every process
        assert shared.get(theirs) is not None  # other tenants keep theirs

        # Two requests so far from this admin; the budget of 6 is shared by both processes.
        answers = [httpx.get((first, second)[n % 2] + "/v1", headers=headers) for n in range(5)]
        assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
        assert [a.headers["ratelimit-remaining"] for a in answers[:4]] == ["3", "2", "1", "0"]
        assert int(answers[-1].headers["retry-after"]) > 0
        assert answers[-1].json()["code"] == "RATE_LIMITED"
        assert httpx.get(second + "/health").status_code == 200  # probes are never limited

        metrics = httpx.get(first + "/metrics")  # the 5th request (refused) went to the first
        assert metrics.status_code == 200
        assert 'rate_limit_rejections_total{policy="global"}' in metrics.text
    assert redis_client.exists(prefix + f"ratelimit:global:user:{tenant}:it-admin") == 1


def test_metrics_token_header_casing_on_a_real_server(tmp_path: Path) -> None:
    token = uuid.uuid4().hex * 2
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}", "METRICS_BEARER_TOKEN": token}
    with running_server(env) as base:
        for name in ("authorization", "Authorization", "AUTHORIZATION"):
            assert (
                httpx.get(base + "/metrics", headers={name: f"Bearer {token}"}).status_code == 200
            )
        refused = [
            httpx.get(base + "/metrics"),
            httpx.get(base + "/metrics", headers={"Authorization": "Bearer wrong"}),
            httpx.get(base + "/metrics", headers={"X-Forwarded-For": "127.0.0.1"}),
        ]
        assert [r.status_code for r in refused] == [401, 401, 401]
        bodies = [{k: v for k, v in r.json().items() if k != "correlation_id"} for r in refused]
        assert bodies[0] == bodies[1] == bodies[2]
