"""CommitmentRepository, IdempotencyRepository and the idempotency purge, against every store."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from liquifact_core.commitments import CommitmentQuery, CommitmentStatus, SubmissionStatus
from liquifact_core.errors import Conflict, FieldError, NotFound
from liquifact_core.idempotency import (
    ErrorKind,
    IdempotencyState,
    RecordedError,
    RecordedOutcome,
    RequestInProgress,
)
from liquifact_core.marketplace import MarketplaceQuery
from liquifact_core.ports import Store

from .contract_support import T0, save
from .market_support import INVESTOR, claim, commitment, listed

OTHER_INVESTOR = "GBOO3KDNF3WY4WSZCVI4MWYCZKJH75HCXCKU4YNW3PDNZDROX46DUJV5"
RESULT = RecordedOutcome(
    result=commitment(listed("t-outcome"), 10**18, tx_hash="ab" * 32),
    context={
        "correlation_id": "c-1",
        "instance": "/v1/invest/fund-invoice",
        "note": "\u00e9\u20ac",
    },
)
FAILURE = RecordedOutcome(
    error=RecordedError(
        ErrorKind.VALIDATION,
        "INVALID_AMOUNT_RANGE",
        "amountStroops must be > 0",
        (FieldError("amountStroops", "must be > 0", "INVALID_AMOUNT_RANGE"),),
    ),
    context={"correlation_id": "c-2"},
)


def test_commitments_round_trip(store: Store, tenant: str) -> None:
    target = listed(tenant)
    save(store, target)
    largest = commitment(target, 10**18)
    with store.unit_of_work(tenant) as uow:
        uow.commitments.add(largest)
        uow.commit()
    with store.unit_of_work(tenant) as uow:
        assert uow.commitments.get(tenant, largest.id) == largest
        assert uow.commitments.get(tenant, "cmt_missing") is None


def test_an_id_is_used_once_per_tenant(store: Store, tenant: str) -> None:
    target = listed(tenant)
    save(store, target)
    first = commitment(target)
    with store.unit_of_work(tenant) as uow:
        uow.commitments.add(first)
        uow.commit()
    with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as raised:
        uow.commitments.add(attrs.evolve(first))
    assert raised.value.code == "DUPLICATE_COMMITMENT"
    assert raised.value.message == "This commitment was already recorded."


def test_a_commitment_needs_an_existing_invoice(store: Store, tenant: str) -> None:
    orphan = commitment(listed(tenant))
    with store.unit_of_work(tenant) as uow, pytest.raises(NotFound) as raised:
        uow.commitments.add(orphan)
    assert raised.value.message == f"Invoice '{orphan.invoice_id}' was not found."


def test_update_changes_status_but_never_the_terms(store: Store, tenant: str) -> None:
    target = listed(tenant)
    save(store, target)
    original = commitment(target, 300)
    with store.unit_of_work(tenant) as uow:
        uow.commitments.add(original)
        uow.commit()
    changed = attrs.evolve(
        original,
        amount_stroops=999,
        investor_address=OTHER_INVESTOR,
        status=CommitmentStatus.CONFIRMED,
        submission_status=SubmissionStatus.SUBMITTED,
        tx_hash="ab" * 32,
        updated_at=T0 + timedelta(hours=1),
    )
    with store.unit_of_work(tenant) as uow:
        uow.commitments.update(changed)
        uow.commit()
    with store.unit_of_work(tenant) as uow:
        stored = uow.commitments.get(tenant, original.id)
        with pytest.raises(NotFound):
            uow.commitments.update(commitment(target))
    assert stored == attrs.evolve(changed, amount_stroops=300, investor_address=INVESTOR)


def test_pending_total_counts_only_pending_commitments_of_the_invoice(
    store: Store, tenant: str
) -> None:
    target, other = listed(tenant), listed(tenant)
    save(store, target, other)
    with store.unit_of_work(tenant) as uow:
        for each in (
            commitment(target, 100),
            commitment(target, 10**18),
            commitment(target, 7, status=CommitmentStatus.CONFIRMED),
            commitment(target, 9, status=CommitmentStatus.RELEASED),
            commitment(other, 50),
        ):
            uow.commitments.add(each)
        uow.commit()
    with store.unit_of_work(tenant) as uow:
        assert uow.commitments.pending_total_for_update(tenant, target.id) == 10**18 + 100
        assert uow.commitments.pending_total_for_update(tenant, "inv_none") == 0


def test_locks_group_per_invoice_and_investor(store: Store, tenant: str) -> None:
    first, second = listed(tenant, yield_bps=700), listed(tenant)
    save(store, first, second)
    later = T0 + timedelta(days=1)
    with store.unit_of_work(tenant) as uow:
        for each in (
            commitment(first, 100),
            commitment(first, 50, status=CommitmentStatus.CONFIRMED, updated_at=later),
            commitment(first, 1, status=CommitmentStatus.RELEASED),
            commitment(first, 70, investor=OTHER_INVESTOR),
            commitment(second, 5),
        ):
            uow.commitments.add(each)
        uow.commit()
    with store.unit_of_work(tenant) as uow:
        everything = uow.commitments.locks(CommitmentQuery(tenant))
        mine = uow.commitments.locks(CommitmentQuery(tenant, investor_address=INVESTOR))
        one = uow.commitments.locks(CommitmentQuery(tenant, INVESTOR, first.id))
        paged = uow.commitments.locks(CommitmentQuery(tenant, limit=1, offset=2))
    assert everything.total == 3
    assert [(lock.invoice_id, lock.investor_address) for lock in everything.items] == sorted(
        [(first.id, INVESTOR), (first.id, OTHER_INVESTOR), (second.id, INVESTOR)]
    )
    assert mine.total == 2
    (lock,) = one.items
    assert (lock.amount_stroops, lock.commitment_count) == (150, 2)
    assert lock.investor_effective_yield_bps == 700
    assert lock.claim_not_before == first.draft.due_date
    assert lock.updated_at == later
    assert paged.items == [everything.items[2]] and paged.total == 3


# ---- idempotency records --------------------------------------------------------------------
def _claim(store: Store, record, now=T0):  # type: ignore[no-untyped-def]
    with store.unit_of_work(record.tenant_id) as uow:
        found = uow.idempotency.claim(record, now)
        uow.commit()
    return found


def _get(store: Store, tenant: str, key: str = "key-0001"):  # type: ignore[no-untyped-def]
    with store.unit_of_work(tenant) as uow:
        return uow.idempotency.get(tenant, key)


@pytest.mark.parametrize("outcome", [RESULT, FAILURE], ids=["result", "error"])
def test_claim_then_complete_stores_the_outcome(
    store: Store, tenant: str, outcome: RecordedOutcome
) -> None:
    record = claim(tenant)
    assert _claim(store, record) is None
    assert _claim(store, claim(tenant)) == record  # a second claimant sees the first
    with store.unit_of_work(tenant) as uow:
        uow.idempotency.complete(tenant, record.key, record.claim_id, outcome)
        uow.commit()
    stored = _get(store, tenant)
    assert stored == attrs.evolve(record, state=IdempotencyState.COMPLETED, outcome=outcome)
    assert _claim(store, claim(tenant), now=T0 + timedelta(hours=23)) == stored


def test_a_new_claim_forgets_the_outcome_it_replaces(store: Store, tenant: str) -> None:
    done = claim(tenant, expires_at=T0 + timedelta(hours=1))
    _claim(store, done)
    with store.unit_of_work(tenant) as uow:
        uow.idempotency.complete(tenant, done.key, done.claim_id, RESULT)
        uow.commit()
    fresh = claim(tenant, fingerprint="d" * 64)
    assert _claim(store, fresh, now=done.expires_at) is None
    assert _get(store, tenant) == fresh and _get(store, tenant).outcome is None


def test_keys_are_per_tenant(store: Store, tenant: str) -> None:
    assert _claim(store, claim(tenant)) is None
    assert _claim(store, claim(tenant + "-b")) is None


def test_completing_or_releasing_needs_the_claim(store: Store, tenant: str) -> None:
    record = claim(tenant)
    _claim(store, record)
    with store.unit_of_work(tenant) as uow, pytest.raises(RequestInProgress) as raised:
        uow.idempotency.complete(tenant, record.key, "idk_someone_else", RESULT)
    assert raised.value.code == "IDEMPOTENCY_REQUEST_IN_PROGRESS"
    assert raised.value.message == "The claim on this Idempotency-Key was lost; retry."
    with store.unit_of_work(tenant) as uow:
        uow.idempotency.release(tenant, record.key, "idk_someone_else")
        uow.commit()
    assert _get(store, tenant) == record
    with store.unit_of_work(tenant) as uow:
        uow.idempotency.release(tenant, record.key, record.claim_id)
        uow.commit()
    assert _get(store, tenant) is None


def test_expired_records_and_abandoned_claims_can_be_claimed_again(
    store: Store, tenant: str
) -> None:
    abandoned = claim(tenant)
    _claim(store, abandoned)
    takeover = claim(tenant, fingerprint="b" * 64)
    assert _claim(store, takeover, now=abandoned.locked_until) is None
    with store.unit_of_work(tenant) as uow, pytest.raises(RequestInProgress):
        uow.idempotency.complete(tenant, abandoned.key, abandoned.claim_id, RESULT)
    with store.unit_of_work(tenant) as uow:
        uow.idempotency.complete(tenant, takeover.key, takeover.claim_id, RESULT)
        uow.commit()
    fresh = claim(tenant, fingerprint="c" * 64)
    assert _claim(store, fresh, now=takeover.expires_at - timedelta(seconds=1)) is not None
    assert _claim(store, fresh, now=takeover.expires_at) is None
    assert _get(store, tenant) == fresh


def test_purge_removes_expired_records_of_every_tenant(store: Store, tenant: str) -> None:
    expiries = [T0 + timedelta(hours=h) for h in (1, 2, 3)]
    for n, expires in enumerate(expiries):
        _claim(store, claim(f"{tenant}-{n}", expires_at=expires))
    assert store.purge_expired_idempotency(T0 + timedelta(hours=2), 1) == 1
    assert store.purge_expired_idempotency(T0 + timedelta(hours=2), 10) == 1
    assert store.purge_expired_idempotency(T0 + timedelta(hours=2), 10) == 0
    assert _get(store, f"{tenant}-2") is not None


# ---- read units -------------------------------------------------------------------------------
def test_a_read_unit_sees_a_snapshot_and_does_not_block_writers(store: Store, tenant: str) -> None:
    first = listed(tenant)
    save(store, first)
    with store.read_unit(tenant) as reader:
        assert reader.invoices.get(tenant, first.id) == first
        second = listed(tenant)
        save(store, second)  # a writer commits while the read unit is open
        assert reader.invoices.get(tenant, second.id) is None  # still the old snapshot
    with store.read_unit(tenant) as reader:
        assert reader.invoices.get(tenant, second.id) == second


def test_a_read_unit_refuses_writes(store: Store, tenant: str) -> None:
    def write_through_a_read_unit() -> None:
        with store.read_unit(tenant) as reader:
            reader.invoices.add(listed(tenant))
            reader.commit()

    with pytest.raises(Exception):  # noqa: PT011 - SQLite refuses the insert, the fake the commit
        write_through_a_read_unit()
    with store.read_unit(tenant) as reader:
        assert reader.invoices.marketplace(MarketplaceQuery(tenant)).total == 0
    save(store, listed(tenant))  # the connection went back to the pool writable
