"""Funding intents, commitments, locks, idempotent execution and SME metrics, on the fakes
(and on SQLite where concurrency is the point)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
from liquifact_adapters.memory.store import InMemoryUnitOfWork
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.addresses import AccountAddress
from liquifact_core.changes import Change, CommitmentChanged
from liquifact_core.commitments import (
    Commitment,
    CommitmentsQuery,
    CommitmentStatus,
    CommitmentValidationError,
    LockQuery,
    LocksQuery,
    SigningMode,
    SubmissionStatus,
)
from liquifact_core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unavailable,
    ValidationError,
)
from liquifact_core.idempotency import (
    IdempotencyRecord,
    IdempotencyState,
    RecordedOutcome,
    RequestInProgress,
)
from liquifact_core.invoices import Actor, Invoice
from liquifact_core.lifecycle import Role
from liquifact_core.ports import IdempotencyRepository, Store, UnitOfWork
from liquifact_core.services import Services
from liquifact_core.services.funding import FundingOutcome
from tests.contract.market_support import commitment as sample_commitment
from tests.contract.market_support import listed
from tests.factories import (
    account_address,
    contract_address,
    funding_of,
    invoice_draft,
    link_of,
)

ADMIN = Actor("ops", Role.ADMIN)
CHAIN = Actor("indexer", Role.CHAIN)
WALLET = account_address()
INVESTOR = Actor("investor-1", Role.INVESTOR, WALLET)
OK = sample_commitment(listed("t1"))


class RecordingListener:
    def __init__(self) -> None:
        self.changes: list[Change] = []

    def changed(self, change: Change) -> None:
        self.changes.append(change)

    @property
    def commitments(self) -> list[CommitmentChanged]:
        return [c for c in self.changes if isinstance(c, CommitmentChanged)]


def _services(
    store: Store | None = None,
    clock: FixedClock | None = None,
    changes: RecordingListener | None = None,
) -> Services:
    return Services.from_ports(
        store or InMemoryStore(),
        clock or FixedClock(),
        SequentialIdGenerator(),
        changes=changes,
        idempotency_ttl=timedelta(hours=24),
    )


def _listed(
    services: Services, target: str = "1000", sme: str = "sme-1", **payload: Any
) -> Invoice:
    created = services.invoices.submit("t1", Actor(sme, Role.SME), invoice_draft(**payload))
    services.invoices.approve("t1", ADMIN, created.id)
    return services.invoices.link_escrow(
        "t1", ADMIN, created.id, link_of(contract_address(), target)
    )


def _fund_outcome(
    services: Services,
    invoice_id: str,
    amount: str,
    actor: Actor = INVESTOR,
    key: str | None = None,
    **extra: Any,
) -> FundingOutcome:
    """Fund under ``key`` (a fresh key per call when none is given)."""
    body = {"invoiceId": invoice_id, "investorAddress": actor.wallet, "amountStroops": amount}
    request = funding_of({**body, **extra.pop("body", {})})
    return services.funding.fund_invoice("t1", actor, request, key or f"key-{uuid4().hex}", **extra)


def _fund(
    services: Services, invoice_id: str, amount: str, actor: Actor = INVESTOR, **extra: Any
) -> Commitment:
    return _fund_outcome(services, invoice_id, amount, actor, **extra).commitment


def _record(services: Services, key: str) -> Any:
    with services.store.unit_of_work("t1") as uow:
        return uow.idempotency.get("t1", key)


# ---- funding rules ----------------------------------------------------------------------------
def test_a_commitment_is_pending_stubbed_and_leaves_funded_stroops_alone() -> None:
    services = _services()
    invoice = _listed(services)
    commitment = _fund(services, invoice.id, "400")
    assert commitment.status is CommitmentStatus.PENDING
    assert commitment.submission_status is SubmissionStatus.STUBBED
    assert commitment.tx_hash is None
    assert commitment.investor_effective_yield_bps == invoice.draft.yield_bps
    assert commitment.claim_not_before == invoice.draft.due_date
    assert services.invoices.get("t1", ADMIN, invoice.id).funded_stroops == 0


def test_pending_commitments_count_against_capacity() -> None:
    services = _services()
    invoice = _listed(services, "1000")
    services.invoices.record_chain_funding("t1", CHAIN, invoice.id, 300)
    _fund(services, invoice.id, "500")
    with pytest.raises(Conflict) as raised:
        _fund(services, invoice.id, "201")
    assert raised.value.code == "FUNDING_EXCEEDS_CAPACITY"
    assert _fund(services, invoice.id, "200").amount_stroops == 200


def test_only_investable_invoices_can_be_funded() -> None:
    services = _services()
    pending = services.invoices.submit("t1", Actor("s", Role.SME), invoice_draft())
    with pytest.raises(Conflict) as raised:
        _fund(services, pending.id, "1")
    assert raised.value.code == "INVOICE_NOT_INVESTABLE"
    funded = _listed(services, "10")
    services.invoices.record_chain_funding("t1", CHAIN, funded.id, 10)
    with pytest.raises(Conflict):
        _fund(services, funded.id, "1")
    with pytest.raises(NotFound):
        _fund(services, "inv_unknown", "1")


@pytest.mark.parametrize(
    ("actor", "code"),
    [
        (Actor("a", Role.ADMIN, WALLET), "FORBIDDEN"),
        (Actor("s", Role.SME, WALLET), "FORBIDDEN"),
        (Actor("i", Role.INVESTOR, None), "WALLET_NOT_BOUND"),
    ],
)
def test_only_investors_with_a_bound_wallet_fund(actor: Actor, code: str) -> None:
    services = _services()
    invoice = _listed(services)
    body = {"invoiceId": invoice.id, "investorAddress": WALLET, "amountStroops": "1"}
    with pytest.raises(Forbidden) as raised:
        services.funding.fund_invoice("t1", actor, funding_of(body), "key-00000000")
    assert raised.value.code == code
    assert _record(services, "key-00000000") is None  # refused before the key was claimed


def test_the_investor_address_must_be_the_bound_wallet() -> None:
    services = _services()
    invoice = _listed(services)
    with pytest.raises(Forbidden) as raised:
        _fund(services, invoice.id, "1", body={"investorAddress": account_address()})
    assert raised.value.code == "WALLET_MISMATCH"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("amountStroops", 100, "INVALID_AMOUNT_TYPE"),
        ("amountStroops", "1.5", "INVALID_AMOUNT_FORMAT"),
        ("amountStroops", "007", "INVALID_AMOUNT_FORMAT"),
        ("amountStroops", "-5", "INVALID_AMOUNT_FORMAT"),
        ("amountStroops", "1e3", "INVALID_AMOUNT_FORMAT"),
        ("amountStroops", "0", "INVALID_AMOUNT_RANGE"),
        ("amountStroops", "1" + "0" * 18 + "1", "INVALID_AMOUNT_OVERFLOW"),
        ("investorAddress", "G" + "A" * 55, "INVALID_INVESTOR_ADDRESS"),
        (
            "investorAddress",
            "CAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPSBFLM",
            "INVALID_INVESTOR_ADDRESS",
        ),
    ],
)
def test_commitment_validation_codes(field: str, value: Any, code: str) -> None:
    services = _services()
    invoice = _listed(services)
    with pytest.raises(CommitmentValidationError) as raised:
        _fund(services, invoice.id, "1", body={field: value})
    assert raised.value.code == code
    assert raised.value.field_errors[0].code == code


def test_unknown_fields_are_refused() -> None:
    services = _services()
    invoice = _listed(services)
    with pytest.raises(ValidationError) as raised:
        _fund(services, invoice.id, "1", body={"memo": "x"})
    assert raised.value.code == "VALIDATION_ERROR"


def test_a_repeat_under_the_key_returns_the_first_commitment() -> None:
    changes = RecordingListener()
    services = _services(changes=changes)
    invoice = _listed(services)
    first = _fund_outcome(services, invoice.id, "100", key="key-00000001", context={"a": "1"})
    again = _fund_outcome(services, invoice.id, "100", key="key-00000001", context={"a": "2"})
    assert (first.replayed, again.replayed) == (False, True)
    assert again.commitment == first.commitment
    assert again.context == {"a": "1"}  # what the first caller kept
    with pytest.raises(Conflict) as raised:
        _fund(services, invoice.id, "101", key="key-00000001")
    assert raised.value.code == "IDEMPOTENCY_KEY_REUSED"
    other = Actor("investor-2", Role.INVESTOR, WALLET)  # same wallet, another principal
    with pytest.raises(Conflict) as raised:
        _fund(services, invoice.id, "100", actor=other, key="key-00000001")
    assert raised.value.code == "IDEMPOTENCY_KEY_REUSED"
    (lock,) = services.funding.locks("t1", INVESTOR).items
    assert (lock.amount_stroops, lock.commitment_count) == (100, 1)
    assert changes.commitments == [
        CommitmentChanged("t1", invoice.id, first.commitment.id, WALLET)
    ]  # once: a replay changes nothing


def test_a_domain_error_is_the_recorded_answer_for_its_key() -> None:
    changes = RecordingListener()
    services = _services(changes=changes)
    invoice = _listed(services, "100")
    taken = _fund(services, invoice.id, "100")
    with pytest.raises(Conflict) as first:
        _fund(services, invoice.id, "50", key="key-00000002", context={"id": "c-1"})
    assert first.value.code == "FUNDING_EXCEEDS_CAPACITY"
    assert first.value.replayed_context is None  # a live error
    services.funding.update_commitment("t1", ADMIN, taken.id, {"status": "released"})
    # Capacity is free again, but the key keeps its first answer: nothing runs twice.
    with pytest.raises(Conflict) as again:
        _fund(services, invoice.id, "50", key="key-00000002", context={"id": "c-2"})
    assert (again.value.code, again.value.message) == (first.value.code, first.value.message)
    assert again.value.replayed_context == {"id": "c-1"}
    assert services.funding.locks("t1", ADMIN).total == 0
    assert len(changes.commitments) == 2  # the first commitment, then its release


def test_a_wallet_mismatch_is_checked_before_the_key_every_time() -> None:
    services = _services()
    invoice = _listed(services)
    stranger = {"investorAddress": account_address()}
    for _ in range(2):
        with pytest.raises(Forbidden) as refused:
            _fund(services, invoice.id, "1", key="key-00000003", body=stranger)
        assert refused.value.code == "WALLET_MISMATCH"
        assert refused.value.replayed_context is None  # live, never a stored answer
    # The key was never claimed: the caller's own request under it runs.
    assert not _fund_outcome(services, invoice.id, "1", key="key-00000003").replayed


def test_a_replay_is_not_served_to_a_caller_whose_wallet_changed() -> None:
    # Found by an outside attack: the same subject, now bound to another wallet, replayed the
    # first answer (201) to a request a fresh call refuses (403 WALLET_MISMATCH).
    services = _services()
    invoice = _listed(services)
    first = _fund_outcome(services, invoice.id, "100", key="key-00000004")
    rebound = Actor(INVESTOR.id, Role.INVESTOR, account_address())
    with pytest.raises(Forbidden) as refused:
        _fund(
            services,
            invoice.id,
            "100",
            actor=rebound,
            key="key-00000004",
            body={"investorAddress": WALLET},  # the first request's body, byte for byte
        )
    assert refused.value.code == "WALLET_MISMATCH"
    again = _fund_outcome(services, invoice.id, "100", key="key-00000004")
    assert again.replayed and again.commitment == first.commitment


@pytest.mark.parametrize(
    ("key", "code"),
    [(None, "IDEMPOTENCY_KEY_REQUIRED"), ("short", "INVALID_IDEMPOTENCY_KEY")],
)
def test_funding_needs_a_valid_key(key: str | None, code: str) -> None:
    services = _services()
    invoice = _listed(services)
    body = {"invoiceId": invoice.id, "investorAddress": WALLET, "amountStroops": "1"}
    with pytest.raises(ValidationError) as raised:
        services.funding.fund_invoice("t1", INVESTOR, funding_of(body), key)
    assert raised.value.code == code


def test_an_unavailable_chain_releases_the_key_for_a_retry() -> None:
    store, clock, ids = InMemoryStore(), FixedClock(), SequentialIdGenerator()
    # Delegated signing with no funding chain wired: the chain is "down".
    down = Services.from_ports(store, clock, ids, signing_mode=SigningMode.DELEGATED)
    invoice = _listed(down)
    with pytest.raises(Unavailable):
        _fund(down, invoice.id, "1", key="key-00000004")
    assert _record(down, "key-00000004") is None
    up = Services.from_ports(store, clock, ids)
    assert _fund_outcome(up, invoice.id, "1", key="key-00000004").replayed is False


def test_updating_a_commitment_reports_the_change() -> None:
    changes = RecordingListener()
    services = _services(changes=changes)
    invoice = _listed(services)
    commitment = _fund(services, invoice.id, "100")
    services.funding.update_commitment("t1", CHAIN, commitment.id, {"status": "confirmed"})
    assert changes.commitments == [CommitmentChanged("t1", invoice.id, commitment.id, WALLET)] * 2
    with pytest.raises(Conflict):
        services.funding.update_commitment("t1", CHAIN, commitment.id, {"status": "pending"})
    assert len(changes.commitments) == 2  # a refused change reports nothing


def test_update_commitment_never_changes_the_amount() -> None:
    services = _services()
    invoice = _listed(services)
    commitment = _fund(services, invoice.id, "100")
    for change in ({"amount_stroops": 5}, {"amountStroops": "5", "status": "confirmed"}):
        with pytest.raises(CommitmentValidationError) as raised:
            services.funding.update_commitment("t1", CHAIN, commitment.id, change)
        assert raised.value.code == "AMOUNT_IMMUTABLE"
    confirmed = services.funding.update_commitment(
        "t1", CHAIN, commitment.id, {"status": "confirmed", "tx_hash": "ab" * 32}
    )
    assert (confirmed.status, confirmed.amount_stroops) == (CommitmentStatus.CONFIRMED, 100)
    assert confirmed.submission_status is SubmissionStatus.SUBMITTED
    with pytest.raises(Conflict):
        services.funding.update_commitment("t1", CHAIN, commitment.id, {"status": "pending"})
    with pytest.raises(Forbidden):
        services.funding.update_commitment("t1", INVESTOR, commitment.id, {"status": "released"})


def test_released_commitments_free_capacity() -> None:
    services = _services()
    invoice = _listed(services, "100")
    commitment = _fund(services, invoice.id, "100")
    services.funding.update_commitment("t1", ADMIN, commitment.id, {"status": "released"})
    assert _fund(services, invoice.id, "100").amount_stroops == 100


@pytest.mark.parametrize("mode", [SigningMode.DELEGATED, SigningMode.CUSTODIAL])
def test_a_signing_mode_without_a_chain_is_unavailable(mode: SigningMode) -> None:
    services = Services.from_ports(
        InMemoryStore(), FixedClock(), SequentialIdGenerator(), signing_mode=mode
    )
    invoice = _listed(services)
    with pytest.raises(Unavailable) as raised:
        _fund(services, invoice.id, "1")
    assert (raised.value.code, raised.value.retryable) == ("ESCROW_CHAIN_UNAVAILABLE", True)
    assert services.funding.commitments("t1", ADMIN).total == 0


def test_the_stubbed_mode_needs_no_chain() -> None:
    services = Services.from_ports(InMemoryStore(), FixedClock(), SequentialIdGenerator())
    invoice = _listed(services)
    commitment = _fund(services, invoice.id, "1")
    assert commitment.submission_status is SubmissionStatus.STUBBED
    assert commitment.tx_hash is None and commitment.transaction_xdr is None


# ---- locks --------------------------------------------------------------------------------------
def test_investors_see_their_own_locks_and_operators_any() -> None:
    services = _services()
    invoice = _listed(services)
    _fund(services, invoice.id, "100")
    _fund(services, invoice.id, "50")
    other = Actor("investor-2", Role.INVESTOR, account_address())
    _fund(services, invoice.id, "10", actor=other)
    (lock,) = services.funding.locks("t1", INVESTOR).items
    assert (lock.amount_stroops, lock.commitment_count) == (150, 2)
    assert services.funding.locks("t1", ADMIN).total == 2
    assert (
        services.funding.lock(
            "t1", ADMIN, invoice.id, LockQuery(funder_address=AccountAddress(str(other.wallet)))
        ).amount_stroops
        == 10
    )
    with pytest.raises(Forbidden):
        services.funding.locks(
            "t1", INVESTOR, LocksQuery(funder_address=AccountAddress(str(other.wallet)))
        )
    with pytest.raises(Forbidden):
        services.funding.locks("t1", Actor("x", Role.INVESTOR))
    with pytest.raises(ValidationError) as raised:
        services.funding.locks(
            "t1", ADMIN, LocksQuery(funder_address=AccountAddress("not-an-address"))
        )
    assert raised.value.code == "VALIDATION_ERROR"
    with pytest.raises(ValidationError):
        services.funding.lock("t1", ADMIN, invoice.id)
    with pytest.raises(NotFound):
        services.funding.lock("t1", other, _listed(services).id)


# ---- commitments, one by one ------------------------------------------------------------------
def test_investors_list_their_own_commitments_with_statuses_and_operators_any() -> None:
    clock = FixedClock()
    services = _services(clock=clock)
    invoice = _listed(services)
    first = _fund(services, invoice.id, "100")
    clock.advance(timedelta(seconds=1))
    second = _fund(services, invoice.id, "50")
    services.funding.update_commitment("t1", CHAIN, first.id, {"status": "confirmed"})
    other = Actor("investor-2", Role.INVESTOR, account_address())
    clock.advance(timedelta(seconds=1))
    theirs = _fund(services, invoice.id, "10", actor=other)

    mine = services.funding.commitments("t1", INVESTOR)
    assert [(c.id, c.status) for c in mine.items] == [
        (second.id, CommitmentStatus.PENDING),
        (first.id, CommitmentStatus.CONFIRMED),
    ]
    assert mine.total == 2
    confirmed = CommitmentsQuery(status=frozenset({CommitmentStatus.CONFIRMED}))
    assert [c.id for c in services.funding.commitments("t1", INVESTOR, confirmed).items] == [
        first.id
    ]
    everyone = services.funding.commitments("t1", ADMIN, CommitmentsQuery(limit=1, page=1))
    assert [c.id for c in everyone.items] == [theirs.id] and everyone.total == 3
    named = CommitmentsQuery(investor_address=AccountAddress(str(other.wallet)))
    assert [c.id for c in services.funding.commitments("t1", ADMIN, named).items] == [theirs.id]

    with pytest.raises(Forbidden) as raised:
        services.funding.commitments("t1", INVESTOR, named)
    assert raised.value.code == "WALLET_MISMATCH"
    with pytest.raises(Forbidden) as raised:
        services.funding.commitments("t1", Actor("x", Role.INVESTOR))
    assert raised.value.code == "WALLET_NOT_BOUND"
    with pytest.raises(Forbidden):
        services.funding.commitments("t1", Actor("sme-1", Role.SME))


# ---- idempotent execution ---------------------------------------------------------------------
def test_a_completed_key_replays_and_a_different_body_conflicts() -> None:
    services = _services()
    runs: list[int] = []

    def work(_uow: UnitOfWork) -> Commitment:
        runs.append(1)
        return OK

    first = services.idempotency.execute("t1", "key-00000001", "f1", work, {"n": "1"})
    again = services.idempotency.execute("t1", "key-00000001", "f1", work, {"n": "2"})
    assert (first.replayed, again.replayed, again.result, len(runs)) == (False, True, OK, 1)
    assert again.context == {"n": "1"}
    with pytest.raises(Conflict) as raised:
        services.idempotency.execute("t1", "key-00000001", "f2", work)
    assert raised.value.code == "IDEMPOTENCY_KEY_REUSED"


def test_client_errors_are_stored_and_other_failures_release_the_key() -> None:
    services = _services()

    def conflict(_uow: UnitOfWork) -> Commitment:
        raise Conflict("no", code="FUNDING_EXCEEDS_CAPACITY")

    with pytest.raises(Conflict) as stored:
        services.idempotency.execute("t1", "key-00000002", "f", conflict)
    with pytest.raises(Conflict) as replay:
        services.idempotency.execute("t1", "key-00000002", "f", lambda _u: OK)
    assert (replay.value.code, replay.value.message) == ("FUNDING_EXCEEDS_CAPACITY", "no")
    assert stored.value.replayed_context is None and replay.value.replayed_context == {}

    def crash(_uow: UnitOfWork) -> Commitment:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        services.idempotency.execute("t1", "key-00000003", "f", crash)
    with pytest.raises(Unavailable):
        services.idempotency.execute("t1", "key-00000003", "f", _raises(Unavailable("down")))
    assert services.idempotency.execute("t1", "key-00000003", "f", lambda _u: OK).result == OK


def _raises(error: Exception) -> Callable[[UnitOfWork], Commitment]:
    def work(_uow: UnitOfWork) -> Commitment:
        raise error

    return work


class _TakenOverClaims:
    """Idempotency records whose claims are taken over by a retry while the first attempt
    still runs (its lease lapsed): completing presents a claim id that is no longer there."""

    def __init__(self, inner: IdempotencyRepository) -> None:
        self._inner = inner

    def claim(self, record: IdempotencyRecord, now: datetime) -> IdempotencyRecord | None:
        return self._inner.claim(record, now)

    def complete(self, tenant_id: str, key: str, claim_id: str, outcome: RecordedOutcome) -> None:
        self._inner.complete(tenant_id, key, "idk_of_the_retry", outcome)

    def release(self, tenant_id: str, key: str, claim_id: str) -> None:
        self._inner.release(tenant_id, key, claim_id)

    def get(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        return self._inner.get(tenant_id, key)


class _TakeoverStore(InMemoryStore):
    def unit_of_work(self, tenant_id: str) -> InMemoryUnitOfWork:
        uow = super().unit_of_work(tenant_id)
        uow.idempotency = _TakenOverClaims(uow.idempotency)
        return uow


def test_the_effect_rolls_back_when_the_record_cannot_complete() -> None:
    services = _services(_TakeoverStore())
    invoice = _listed(services, "100")
    with pytest.raises(RequestInProgress):
        _fund(services, invoice.id, "100", key="key-00000004")
    assert services.funding.locks("t1", ADMIN).total == 0  # the commitment rolled back


def test_an_abandoned_claim_can_be_taken_over_after_its_lease() -> None:
    clock = FixedClock()
    services = _services(clock=clock)
    with services.store.unit_of_work("t1") as uow:
        from tests.contract.market_support import claim

        uow.idempotency.claim(
            claim(
                "t1",
                "key-00000005",
                fingerprint="f",
                created_at=clock.now(),
                locked_until=clock.now() + timedelta(minutes=2),
            ),
            clock.now(),
        )
        uow.commit()
    with pytest.raises(RequestInProgress) as raised:
        services.idempotency.execute("t1", "key-00000005", "f", lambda _u: OK)
    assert raised.value.retryable is True
    clock.advance(timedelta(minutes=2))
    assert services.idempotency.execute("t1", "key-00000005", "f", lambda _u: OK).replayed is False


def test_purge_removes_only_expired_records() -> None:
    clock = FixedClock()
    services = _services(clock=clock)
    services.idempotency.execute("t1", "key-old-0001", "f", lambda _u: OK)
    clock.advance(timedelta(hours=23))
    services.idempotency.execute("t1", "key-new-0001", "f", lambda _u: OK)
    clock.advance(timedelta(hours=1))
    assert services.idempotency.purge_expired(batch_size=1) == 1
    with services.store.unit_of_work("t1") as uow:
        assert uow.idempotency.get("t1", "key-old-0001") is None
        record = uow.idempotency.get("t1", "key-new-0001")
    assert record is not None and record.state is IdempotencyState.COMPLETED


# ---- concurrency, on the real embedded store ----------------------------------------------------
def test_concurrent_intents_never_over_commit(tmp_path: Path) -> None:
    services = _services(SqliteStore(str(tmp_path / "db.sqlite3")))
    invoice = _listed(services, "1000")
    investors = [Actor(f"i{n}", Role.INVESTOR, account_address()) for n in range(12)]

    def attempt(actor: Actor) -> int:
        try:
            return _fund(services, invoice.id, "100", actor=actor).amount_stroops
        except Conflict:
            return 0

    with ThreadPoolExecutor(6) as pool:
        committed = list(pool.map(attempt, investors))
    services.close()
    assert sum(committed) == 1000 and committed.count(100) == 10


def test_concurrent_duplicates_run_the_request_once(tmp_path: Path) -> None:
    # SQLite serialises units, so a duplicate usually waits for the first and replays it; a
    # store with row locks answers IDEMPOTENCY_REQUEST_IN_PROGRESS instead. Never twice.
    changes = RecordingListener()
    services = _services(SqliteStore(str(tmp_path / "db.sqlite3")), changes=changes)
    invoice = _listed(services, "1000")

    def attempt(_n: int) -> str:
        try:
            outcome = _fund_outcome(services, invoice.id, "100", key="key-00000006")
        except RequestInProgress:
            return "in progress"
        return "replayed" if outcome.replayed else "ran"

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(attempt, range(8)))
    locks = services.funding.locks("t1", ADMIN)
    services.close()
    assert answers.count("ran") == 1 and len(changes.commitments) == 1
    assert locks.items[0].amount_stroops == 100 and locks.items[0].commitment_count == 1


# ---- SME metrics --------------------------------------------------------------------------------
def test_sme_metrics_are_scoped_to_the_caller() -> None:
    services = _services()
    _listed(services, sme="sme-1", amount="10.00")
    services.invoices.submit("t1", Actor("sme-1", Role.SME), invoice_draft(amount="5.50"))
    services.invoices.submit("t1", Actor("sme-2", Role.SME), invoice_draft(amount="1.00"))
    mine = services.metrics.sme_metrics("t1", Actor("sme-1", Role.SME))
    assert (mine.scope, sum(t.count for t in mine.totals)) == ("sme", 2)
    tenant = services.metrics.sme_metrics("t1", ADMIN)
    assert (tenant.scope, sum(t.count for t in tenant.totals)) == ("tenant", 3)
    with pytest.raises(Forbidden):
        services.metrics.sme_metrics("t1", INVESTOR)
