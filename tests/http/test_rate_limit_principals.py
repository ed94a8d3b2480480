"""Verified callers are rate limited as themselves; anything else is counted by its address."""

from __future__ import annotations

from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import READ_KEY, api_key, bearer, test_settings

LIMITED = test_settings(rate_limit_max_requests=2, rate_limit_api_key_max=4)


def statuses(client: TestClient, headers: dict[str, str], count: int) -> list[int]:
    return [client.get("/v1/invoices", headers=headers).status_code for _ in range(count)]


def test_each_user_has_its_own_budget_behind_one_address() -> None:
    with TestClient(create_app(LIMITED, store=InMemoryStore())) as client:
        alice = bearer("admin", "t1", sub="alice")
        bob = bearer("admin", "t1", sub="bob")
        assert statuses(client, alice, 3) == [200, 200, 429]
        assert statuses(client, bob, 2) == [200, 200]  # same socket address, separate budget


def test_api_keys_get_the_api_key_budget() -> None:
    with TestClient(create_app(LIMITED, store=InMemoryStore())) as client:
        assert statuses(client, api_key(READ_KEY, "t1"), 5) == [200, 200, 200, 200, 429]


def test_bad_credentials_are_counted_by_address_and_cannot_mint_budgets() -> None:
    with TestClient(create_app(LIMITED, store=InMemoryStore())) as client:
        forged = [{"Authorization": f"Bearer forged.{n}.token"} for n in range(3)]
        answers = [client.get("/v1/invoices", headers=h).status_code for h in forged]
        assert answers == [401, 401, 429]  # three different junk tokens share one address budget
