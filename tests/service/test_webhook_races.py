"""Concurrent changes of one tenant's webhook endpoint, on SQLite and PostgreSQL: a secret
rotation is never undone by a URL change running at the same time, and of several first-time
creations exactly one hands out a secret (the others see it created, or are told to retry).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from liquifact_adapters import open_services
from liquifact_adapters.composition import ServicesConfig
from liquifact_adapters.webhooks import FernetSecretBox, generate_key
from liquifact_core.errors import Conflict
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_core.services import Services
from liquifact_core.services.webhooks import SecretShown
from tests.factories import new_tenant

ADMIN = Actor("admin-1", Role.ADMIN)
KEY = generate_key()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    url = (
        f"sqlite:///{tmp_path / 'races.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    opened = open_services(
        ServicesConfig(database_url=url, webhook_secrets_key=KEY, database_pool_max_size=12)
    )
    yield opened
    opened.close()


def _stored_secret(services: Services, tenant: str) -> str:
    with services.store.read_unit(tenant) as uow:
        endpoint = uow.webhooks.get(tenant)
    assert endpoint is not None and endpoint.sealed_secret is not None
    return FernetSecretBox(KEY).open(endpoint.sealed_secret)


def test_a_rotation_is_never_undone_by_a_concurrent_url_change(services: Services) -> None:
    for _ in range(5):
        tenant = new_tenant()
        services.webhooks.configure(tenant, ADMIN, "https://8.8.8.8/first")

        def change_url(n: int, tenant: str = tenant) -> SecretShown:
            return services.webhooks.configure(tenant, ADMIN, f"https://8.8.8.8/u{n}")

        with ThreadPoolExecutor(max_workers=4) as pool:
            changes = [pool.submit(change_url, n) for n in range(3)]
            rotation = pool.submit(services.webhooks.rotate_secret, tenant, ADMIN)
            rotated = rotation.result()
            assert all(change.result().secret is None for change in changes)
        assert rotated.secret is not None
        assert _stored_secret(services, tenant) == rotated.secret


def test_of_concurrent_first_creations_one_hands_out_the_secret(services: Services) -> None:
    for _ in range(3):
        tenant = new_tenant()

        def create(n: int, tenant: str = tenant) -> str | Conflict | None:
            try:
                return services.webhooks.configure(tenant, ADMIN, f"https://8.8.8.8/c{n}").secret
            except Conflict as conflict:
                return conflict

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(create, range(8)))
        refused = [o for o in outcomes if isinstance(o, Conflict)]
        assert {(c.code, c.retryable) for c in refused} <= {("CONCURRENT_UPDATE", True)}
        secrets = [o for o in outcomes if isinstance(o, str)]
        assert len(secrets) == 1
        assert _stored_secret(services, tenant) == secrets[0]
