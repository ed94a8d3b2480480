"""CommitmentRepository.list (commitments one by one, newest first), against every store, and
compared with the reference semantics ``commitments.list_in_memory`` for random data."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liquifact_core.commitments import (
    Commitment,
    CommitmentListing,
    CommitmentStatus,
    list_in_memory,
)
from liquifact_core.ports import Store

from .contract_support import T0, save
from .market_support import INVESTOR, commitment, listed

OTHER_INVESTOR = "GBOO3KDNF3WY4WSZCVI4MWYCZKJH75HCXCKU4YNW3PDNZDROX46DUJV5"
PENDING, CONFIRMED, RELEASED = CommitmentStatus


def _add(store: Store, tenant: str, *commitments: Commitment) -> None:
    with store.unit_of_work(tenant) as uow:
        for each in commitments:
            uow.commitments.add(each)
        uow.commit()


def _list(store: Store, listing: CommitmentListing) -> tuple[list[str], int]:
    with store.unit_of_work(listing.tenant_id) as uow:
        page = uow.commitments.list(listing)
    return [item.id for item in page.items], page.total


def test_list_filters_by_investor_invoice_and_status(store: Store, tenant: str) -> None:
    first, second = listed(tenant), listed(tenant)
    save(store, first, second)
    at = [T0 + timedelta(minutes=n) for n in range(5)]
    mine_pending = commitment(first, 100, created_at=at[0], updated_at=at[0])
    mine_confirmed = commitment(first, 50, status=CONFIRMED, created_at=at[1], updated_at=at[1])
    mine_released = commitment(second, 7, status=RELEASED, created_at=at[2], updated_at=at[2])
    theirs = commitment(first, 70, OTHER_INVESTOR, created_at=at[3], updated_at=at[3])
    _add(store, tenant, mine_pending, mine_confirmed, mine_released, theirs)
    # Another tenant's commitment of the same investor is never listed.
    elsewhere = listed(tenant + "-b")
    save(store, elsewhere)
    _add(store, elsewhere.tenant_id, commitment(elsewhere, created_at=at[4]))

    def ids(**filters: object) -> tuple[list[str], int]:
        return _list(store, CommitmentListing(tenant, **filters))  # type: ignore[arg-type]

    newest_first = [theirs.id, mine_released.id, mine_confirmed.id, mine_pending.id]
    assert ids() == (newest_first, 4)
    assert ids(investor_address=INVESTOR) == (newest_first[1:], 3)
    assert ids(investor_address=INVESTOR, invoice_id=first.id) == (
        [mine_confirmed.id, mine_pending.id],
        2,
    )
    assert ids(statuses=frozenset({RELEASED})) == ([mine_released.id], 1)
    assert ids(statuses=frozenset({PENDING, CONFIRMED}), investor_address=INVESTOR) == (
        [mine_confirmed.id, mine_pending.id],
        2,
    )
    assert ids(invoice_id="inv_none") == ([], 0)
    assert ids(investor_address=INVESTOR, limit=1, offset=1) == ([mine_confirmed.id], 3)
    assert ids(limit=2, offset=4) == ([], 4)


def test_list_returns_each_commitment_as_stored_with_its_status(store: Store, tenant: str) -> None:
    target = listed(tenant)
    save(store, target)
    original = commitment(target, 10**18)
    _add(store, tenant, original)
    confirmed = attrs.evolve(
        original, status=CONFIRMED, tx_hash="ab" * 32, updated_at=T0 + timedelta(hours=1)
    )
    with store.unit_of_work(tenant) as uow:
        uow.commitments.update(confirmed)
        uow.commit()
    with store.unit_of_work(tenant) as uow:
        page = uow.commitments.list(CommitmentListing(tenant))
    assert list(page.items) == [confirmed] and page.total == 1


def test_same_instant_commitments_are_ordered_by_id_in_code_point_order(
    store: Store, tenant: str
) -> None:
    # Upper case sorts before lower case by code point, unlike in most locales' collations.
    target = listed(tenant)
    save(store, target)
    names = ["cmt_a1", "cmt_B1", "cmt_b1", "cmt_Z1", "cmt_01"]
    _add(store, tenant, *(commitment(target, id=name) for name in names))
    assert _list(store, CommitmentListing(tenant)) == (sorted(names, reverse=True), 5)


# ---- compared with the reference ------------------------------------------------------------
@st.composite
def _commitments(draw: st.DrawFn, invoices: tuple[str, str], tenant: str) -> Commitment:
    # Few distinct instants and mixed-case ids, so ties (broken by id) and collation matter.
    created = T0 + timedelta(microseconds=draw(st.integers(0, 3)))
    return attrs.evolve(
        COMMITMENT_TEMPLATE,
        id=f"cmt_{draw(st.sampled_from('aBbZ0'))}{draw(st.integers(0, 99))}",
        tenant_id=tenant,
        invoice_id=draw(st.sampled_from(invoices)),
        investor_address=draw(st.sampled_from([INVESTOR, OTHER_INVESTOR])),
        status=draw(st.sampled_from(list(CommitmentStatus))),
        created_at=created,
        updated_at=created,
    )


COMMITMENT_TEMPLATE = commitment(listed("template"))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_list_matches_the_reference(store: Store, data: st.DataObject) -> None:
    tenant = f"tenant-{uuid4().hex}"
    first, second = listed(tenant), listed(tenant)
    save(store, first, second)
    rows = data.draw(
        st.lists(
            _commitments((first.id, second.id), tenant),
            max_size=20,
            unique_by=lambda row: row.id,
        ),
        label="commitments",
    )
    if rows:
        _add(store, tenant, *rows)
    for _ in range(3):
        listing = CommitmentListing(
            tenant,
            investor_address=data.draw(st.none() | st.sampled_from([INVESTOR, OTHER_INVESTOR])),
            invoice_id=data.draw(st.none() | st.sampled_from([first.id, second.id, "inv_none"])),
            statuses=data.draw(st.frozensets(st.sampled_from(list(CommitmentStatus)))),
            limit=data.draw(st.integers(1, 8)),
            offset=data.draw(st.integers(0, 22)),
        )
        with store.unit_of_work(tenant) as uow:
            page = uow.commitments.list(listing)
        expected = list_in_memory(rows, listing)
        assert (list(page.items), page.total) == (list(expected.items), expected.total)
