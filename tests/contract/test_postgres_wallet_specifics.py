"""PostgreSQL specifics of the wallet directory (migration 0006): row-level security confines
the application role to its tenant's bindings; the sign-in lookup crosses tenants for the one
address asked, through wallet_binding_of, and nothing else; setting the function's lookup key
by hand widens nothing."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from stellar_sdk import Keypair

from liquifact_adapters.postgres import PostgresStore

from .contract_support import new_tenant
from .test_wallet_directory_contract import bind, binding

pytestmark = pytest.mark.postgres


def test_the_application_role_sees_only_its_tenants_bindings(
    pg_store: PostgresStore, owner: psycopg.Connection[Any]
) -> None:
    mine, theirs = new_tenant(), new_tenant()
    bind(pg_store, binding(mine))
    other = binding(theirs)
    bind(pg_store, other)

    with pg_store.unit_of_work(mine) as uow:
        rows = uow.execute_unfiltered("SELECT tenant_id FROM wallet_bindings")  # unfiltered
        spoofed = uow.execute_unfiltered(
            "SELECT set_config('liquifact.wallet_lookup', "
            f"'{other.address}', true) AS x, count(*) AS n FROM wallet_bindings "
            f"WHERE address = '{other.address}'"
        )
        with pytest.raises(pg_errors.InsufficientPrivilege):
            uow.execute_unfiltered("UPDATE wallet_bindings SET verified = true RETURNING address")

    assert {row["tenant_id"] for row in rows} == {mine}
    assert spoofed[0]["n"] == 0
    assert pg_store.wallet_binding(other.address) == other
    found = owner.execute(
        "SELECT tenant_id FROM wallet_bindings WHERE address = %s", (other.address,)
    ).fetchall()
    assert found == [(theirs,)]


def test_the_lookup_function_is_not_executable_by_public(owner: psycopg.Connection[Any]) -> None:
    [(allowed,)] = owner.execute(
        "SELECT has_function_privilege('public', 'wallet_binding_of(text)', 'EXECUTE')"
    ).fetchall()
    assert allowed is False
    [(count,)] = owner.execute(
        "SELECT count(*) FROM wallet_binding_of(%s)", (Keypair.random().public_key,)
    ).fetchall()
    assert count == 0
