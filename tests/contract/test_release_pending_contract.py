"""CommitmentRepository.release_pending (issue 9, item 7), against every store."""

from __future__ import annotations

from datetime import timedelta

import attrs

from liquifact_core.commitments import CommitmentQuery, CommitmentStatus
from liquifact_core.ports import Store

from .contract_support import T0, save
from .market_support import INVESTOR, commitment, listed

OTHER_INVESTOR = "GBOO3KDNF3WY4WSZCVI4MWYCZKJH75HCXCKU4YNW3PDNZDROX46DUJV5"
LATER = T0 + timedelta(hours=2, microseconds=7)


def test_release_pending_releases_only_the_invoices_pending_commitments(
    store: Store, tenant: str
) -> None:
    target, other = listed(tenant), listed(tenant)
    save(store, target, other)
    pending = [commitment(target, 100), commitment(target, 250, investor=OTHER_INVESTOR)]
    confirmed = commitment(target, 50, status=CommitmentStatus.CONFIRMED)
    released_before = commitment(target, 70, status=CommitmentStatus.RELEASED)
    elsewhere = commitment(other, 30)
    with store.unit_of_work(tenant) as uow:
        for each in (*pending, confirmed, released_before, elsewhere):
            uow.commitments.add(each)
        uow.commit()

    with store.unit_of_work(tenant) as uow:
        released = uow.commitments.release_pending(tenant, target.id, LATER)
        uow.commit()

    expected = sorted(
        (attrs.evolve(c, status=CommitmentStatus.RELEASED, updated_at=LATER) for c in pending),
        key=lambda c: c.id,
    )
    assert list(released) == expected
    with store.unit_of_work(tenant) as uow:
        assert [uow.commitments.get(tenant, c.id) for c in pending] == [
            attrs.evolve(c, status=CommitmentStatus.RELEASED, updated_at=LATER) for c in pending
        ]
        assert uow.commitments.get(tenant, confirmed.id) == confirmed
        assert uow.commitments.get(tenant, released_before.id) == released_before
        assert uow.commitments.get(tenant, elsewhere.id) == elsewhere
        assert uow.commitments.pending_total_for_update(tenant, target.id) == 0
        locks = uow.commitments.locks(CommitmentQuery(tenant, invoice_id=target.id))
    # Only the confirmed commitment still locks funds in the escrow.
    assert [(lock.investor_address, lock.amount_stroops) for lock in locks.items] == [
        (INVESTOR, 50)
    ]


def test_release_pending_with_nothing_pending_changes_nothing(store: Store, tenant: str) -> None:
    target = listed(tenant)
    save(store, target)
    with store.unit_of_work(tenant) as uow:
        assert list(uow.commitments.release_pending(tenant, target.id, LATER)) == []


def test_release_pending_is_undone_with_its_unit(store: Store, tenant: str) -> None:
    target = listed(tenant)
    save(store, target)
    pending = commitment(target, 100)
    with store.unit_of_work(tenant) as uow:
        uow.commitments.add(pending)
        uow.commit()

    with store.unit_of_work(tenant) as uow:
        uow.commitments.release_pending(tenant, target.id, LATER)  # never committed

    with store.unit_of_work(tenant) as uow:
        assert uow.commitments.get(tenant, pending.id) == pending
