"""Writes made through library use drop the API's cached reads in the shared Redis cache: the
composition root wires the one change-to-prefix map (``liquifact_adapters.cache.invalidation``)
for the server and the library alike."""

from __future__ import annotations

import pytest
import redis

from liquifact_adapters import open_services
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from tests.factories import (
    account_address,
    contract_address,
    funding_of,
    invoice_draft,
    link_of,
    new_tenant,
)
from tests.redis_support import unique_namespace


@pytest.mark.redis
def test_library_writes_drop_the_apis_shared_cache_entries(
    redis_client: redis.Redis, redis_url: str
) -> None:
    prefix = unique_namespace("library-invalidation")
    library = open_services(database_url="memory://", redis_url=redis_url, redis_key_prefix=prefix)
    tenant, other = new_tenant(), new_tenant()
    admin, wallet = Actor("ops", Role.ADMIN), account_address()
    # What API processes cached, in the spec's key formats.
    keys = {
        name: f"{prefix}cache:{name}"
        for name in (
            f"marketplace:{tenant}:/v1/marketplace",
            f"investor:locks:{tenant}:investor.i.{wallet}:/v1/investor/locks",
            f"investor:lock:{tenant}:investor.i.{wallet}:inv_x:",
            f"marketplace:{other}:/v1/marketplace",
        )
    }

    def cache_everything() -> None:
        for key in keys.values():
            redis_client.set(key, b"cached")

    def still_cached() -> set[str]:
        return {name for name, key in keys.items() if redis_client.get(key) is not None}

    invoice = library.invoices.submit(tenant, Actor("sme", Role.SME), invoice_draft())
    library.invoices.approve(tenant, admin, invoice.id)
    cache_everything()
    library.invoices.link_escrow(tenant, admin, invoice.id, link_of(contract_address(), "1000"))
    assert f"marketplace:{tenant}:/v1/marketplace" not in still_cached()
    assert f"marketplace:{other}:/v1/marketplace" in still_cached()  # another tenant's stays

    cache_everything()
    body = {"invoiceId": invoice.id, "investorAddress": wallet, "amountStroops": "10"}
    investor = Actor("i", Role.INVESTOR, wallet)
    library.funding.fund_invoice(tenant, investor, funding_of(body), "key-library-1")
    assert still_cached() == {
        f"marketplace:{tenant}:/v1/marketplace",
        f"marketplace:{other}:/v1/marketplace",
    }
    library.close()


@pytest.mark.redis
def test_closing_the_services_closes_their_redis_connections(
    redis_client: redis.Redis, redis_url: str
) -> None:
    name = unique_namespace("close").replace(":", "-")
    separator = "&" if "?" in redis_url else "?"
    library = open_services(
        database_url="memory://", redis_url=f"{redis_url}{separator}client_name={name}"
    )

    def connections() -> int:
        return sum(1 for client in redis_client.client_list() if client.get("name") == name)

    library.cache.set("probe", b"1", 5)
    assert connections() == 1
    library.close()
    assert connections() == 0
