"""The wallet directory and the challenge ledger (migration 0006) on every store: an address
is bound once across all tenants, a tenant sees only its own bindings, the sign-in lookup finds
a binding in any tenant, and a challenge can be redeemed once, also under concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta
from uuid import uuid4

import pytest
from stellar_sdk import Keypair

from liquifact_core.errors import Conflict
from liquifact_core.lifecycle import Role
from liquifact_core.ports import Store
from liquifact_core.wallets import WalletBinding

from .contract_support import T0, new_tenant


def binding(tenant: str, address: str | None = None, **changes: object) -> WalletBinding:
    values: dict[str, object] = {
        "address": address or Keypair.random().public_key,
        "tenant_id": tenant,
        "role": Role.INVESTOR,
        "subject": f"user-{uuid4().hex[:8]}",
        "verified": False,
        "created_at": T0,
        "created_by": "admin-1",
    }
    values.update(changes)
    return WalletBinding(**values)  # type: ignore[arg-type]


def bind(store: Store, item: WalletBinding) -> None:
    with store.unit_of_work(item.tenant_id) as uow:
        uow.wallets.add(item)
        uow.commit()


def test_a_binding_round_trips_and_is_found_by_sign_in(store: Store, tenant: str) -> None:
    item = binding(tenant, role=Role.SME, verified=True)
    bind(store, item)

    with store.read_unit(tenant) as uow:
        assert uow.wallets.get(tenant, item.address) == item
    assert store.wallet_binding(item.address) == item
    assert store.wallet_binding(Keypair.random().public_key) is None


def test_an_address_is_bound_once_across_tenants(store: Store, tenant: str) -> None:
    item = binding(tenant)
    bind(store, item)

    for other in (tenant, new_tenant()):
        with store.unit_of_work(other) as uow:
            with pytest.raises(Conflict) as refused:
                uow.wallets.add(binding(other, item.address))
            assert refused.value.code == "WALLET_ALREADY_BOUND"
    assert store.wallet_binding(item.address) == item


def test_a_tenant_sees_and_removes_only_its_own_bindings(store: Store, tenant: str) -> None:
    other = new_tenant()
    mine = sorted((binding(tenant) for _ in range(3)), key=lambda b: b.address)
    theirs = binding(other)
    for item in (*mine, theirs):
        bind(store, item)

    with store.unit_of_work(tenant) as uow:
        page = uow.wallets.list(tenant, 2, 0)
        assert (list(page.items), page.total) == (mine[:2], 3)
        assert list(uow.wallets.list(tenant, 2, 2).items) == mine[2:]
        assert uow.wallets.get(tenant, theirs.address) is None
        assert uow.wallets.remove(tenant, theirs.address) is False
        assert uow.wallets.remove(tenant, mine[0].address) is True
        uow.commit()

    assert store.wallet_binding(mine[0].address) is None
    assert store.wallet_binding(theirs.address) == theirs


def test_an_uncommitted_binding_is_not_kept(store: Store, tenant: str) -> None:
    item = binding(tenant)
    with store.unit_of_work(tenant) as uow:
        uow.wallets.add(item)

    assert store.wallet_binding(item.address) is None


def test_a_challenge_is_redeemed_once_then_purged_after_expiry(store: Store) -> None:
    digest = uuid4().hex * 2
    expires = T0 + timedelta(minutes=15)

    assert store.redeem_challenge(digest, expires) is True
    assert store.redeem_challenge(digest, expires) is False
    store.purge_expired_challenges(T0, 1_000_000)
    assert store.redeem_challenge(digest, expires) is False  # not expired at T0: kept

    store.purge_expired_challenges(expires, 1_000_000)
    assert store.redeem_challenge(digest, expires) is True


def test_of_concurrent_redemptions_exactly_one_wins(store: Store) -> None:
    digest = uuid4().hex * 2
    expires = T0 + timedelta(minutes=15)
    barrier = threading.Barrier(4)
    results: list[bool] = []

    def redeem() -> None:
        barrier.wait()
        results.append(store.redeem_challenge(digest, expires))

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False, False, False, True]
