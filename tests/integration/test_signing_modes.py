"""The spec's delegated and custodial signing modes (issue 12, item 3) through the library entry
point: ``open_services`` with a Soroban RPC URL wires the real adapter, which prepares, checks,
sends and follows real ``fund`` transactions on the Soroban peer (tests/soroban_peer) over
HTTP. Wallets sign with stellar-sdk. The ``escrow_submission`` job runs through the worker's
own handler map (``job_handlers``), the indexer confirms what landed, and the peer's books
show every deposit exactly once, also when the first send timed out or was dropped.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import attrs
import pytest
from stellar_sdk import Keypair, SorobanServer, TransactionEnvelope, transaction_builder
from stellar_sdk.soroban_rpc import SendTransactionStatus

from liquifact_adapters import open_services
from liquifact_adapters.composition import ServicesConfig, job_handlers
from liquifact_adapters.memory import FixedClock
from liquifact_adapters.system.backoff import ExponentialBackoff
from liquifact_core.commitments import (
    Commitment,
    CommitmentStatus,
    SigningMode,
    SubmissionStatus,
)
from liquifact_core.errors import (
    Conflict,
    Forbidden,
    LiquifactError,
    Locked,
    Unavailable,
    Unprocessable,
)
from liquifact_core.invoices import Actor, TransitionReason
from liquifact_core.jobs import JobFailed, JobQuery, JobStatus
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.services import Services
from liquifact_core.submissions import ESCROW_SUBMISSION, SignedSubmission
from liquifact_core.worker import WorkerPlan, work_round
from tests.factories import funding_of, invoice_draft, link_of, new_tenant
from tests.soroban_peer import PASSPHRASE, PeerServer

ADMIN = Actor("admin-1", Role.ADMIN)
SME = Actor("sme-1", Role.SME)
UNIT = 10**7
TARGET = 1_000 * UNIT


class Clock(FixedClock):
    """The wall clock, which a test may move forward (to expire a transaction)."""

    def __init__(self) -> None:
        super().__init__(datetime.now(UTC))
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@attrs.define
class World:
    services: Services
    peer: PeerServer
    clock: Clock
    tenant: str = attrs.field(factory=new_tenant)
    token: str = ""

    def escrow(self, **options: Any) -> tuple[str, str]:
        """An approved invoice linked to a new escrow on the peer: (invoice id, contract)."""
        invoice = self.services.invoices.submit(self.tenant, SME, invoice_draft())
        self.services.invoices.approve(self.tenant, ADMIN, invoice.id)
        created = self.peer.control.create_escrow(
            invoice.id, Keypair.random().public_key, TARGET, **options
        )
        self.token = created["funding_token"]
        self.services.invoices.link_escrow(
            self.tenant, ADMIN, invoice.id, link_of(created["address"], str(TARGET))
        )
        return invoice.id, created["address"]

    def investor(self, keypair: Keypair | None = None, balance: int = TARGET) -> Keypair:
        """An account on the peer holding ``balance`` of the escrow's token."""
        keypair = keypair or Keypair.random()
        self.peer.control.create_account(keypair.public_key)
        self.peer.control.mint(self.token, keypair.public_key, balance)
        return keypair

    def fund(self, invoice_id: str, keypair: Keypair, amount: int, key: str = "") -> Commitment:
        actor = actor_of(keypair)
        request = funding_of(
            {"invoiceId": invoice_id, "investorAddress": actor.wallet, "amountStroops": str(amount)}
        )
        return self.services.funding.fund_invoice(
            self.tenant, actor, request, key or f"key-{uuid4().hex}"
        ).commitment

    def submit(self, commitment: Commitment, envelope: str, keypair: Keypair) -> Commitment:
        return self.services.funding.submit_signed(
            self.tenant, actor_of(keypair), commitment.id, SignedSubmission(envelope)
        )

    def signed_and_submitted(self, amount: int) -> tuple[str, Keypair, Commitment]:
        """A new escrow and investor, a commitment of ``amount`` whose transaction the
        wallet signed and submitted: (contract, wallet, commitment)."""
        invoice_id, contract = self.escrow()
        wallet = self.investor()
        commitment = self.fund(invoice_id, wallet, amount)
        assert commitment.transaction_xdr is not None
        self.submit(commitment, signed(commitment.transaction_xdr, wallet), wallet)
        return contract, wallet, commitment

    def run_submission(self, commitment: Commitment) -> Commitment:
        """Run the commitment's pending escrow_submission jobs through the worker's handler."""
        handler = job_handlers(self.services)[ESCROW_SUBMISSION]
        for job in self.submission_jobs():
            if job.payload["commitmentId"] == commitment.id:
                handler(job)
        return self.commitment(commitment.id)

    def submission_jobs(self) -> list[Any]:
        with self.services.store.read_unit(self.tenant) as uow:
            page = uow.jobs.list(JobQuery(self.tenant, job_type=ESCROW_SUBMISSION, limit=100))
        return [job for job in page.items if job.status is JobStatus.PENDING]

    def commitment(self, commitment_id: str) -> Commitment:
        with self.services.store.read_unit(self.tenant) as uow:
            found = uow.commitments.get(self.tenant, commitment_id)
        assert found is not None
        return found

    def funded_on_chain(self, contract: str) -> int:
        return int(self.peer.control.escrow(contract)["funded_amount"])


def actor_of(keypair: Keypair) -> Actor:
    return Actor(f"investor-{keypair.public_key[:8]}", Role.INVESTOR, wallet=keypair.public_key)


def signed(envelope: str, *signers: Keypair) -> str:
    transaction = TransactionEnvelope.from_xdr(envelope, PASSPHRASE)
    for signer in signers:
        transaction.sign(signer)
    return transaction.to_xdr()


def world_of(
    peer: PeerServer,
    path: Path,
    mode: SigningMode,
    custody: tuple[str, ...] = (),
    **config: Any,
) -> Iterator[World]:
    clock = Clock()
    services = open_services(
        ServicesConfig(
            database_url=f"sqlite:///{path / f'{mode.value}.db'}",
            soroban_rpc_url=peer.url,
            network_passphrase=PASSPHRASE,
            soroban_rpc_timeout_ms=1500,
            soroban_rpc_retries=0,
            escrow_signing_mode=mode,
            escrow_platform_secret=custody,
            **config,
        ),
        clock=clock,
    )
    try:
        yield World(services, peer, clock)
    finally:
        services.close()


@pytest.fixture
def delegated(soroban_peer: PeerServer, tmp_path: Path) -> Iterator[World]:
    yield from world_of(soroban_peer, tmp_path, SigningMode.DELEGATED)


CUSTODIED = Keypair.random()


@pytest.fixture
def custodial(soroban_peer: PeerServer, tmp_path: Path) -> Iterator[World]:
    yield from world_of(soroban_peer, tmp_path, SigningMode.CUSTODIAL, (CUSTODIED.secret,))


# ---- delegated --------------------------------------------------------------------------------


def test_delegated_funding_is_signed_by_the_wallet_sent_by_the_job_and_indexed(
    delegated: World,
) -> None:
    invoice_id, contract = delegated.escrow()
    wallet = delegated.investor()

    commitment = delegated.fund(invoice_id, wallet, 400 * UNIT)
    assert commitment.submission_status is SubmissionStatus.REQUIRES_SIGNATURE
    assert commitment.transaction_xdr and commitment.tx_hash
    prepared = TransactionEnvelope.from_xdr(commitment.transaction_xdr, PASSPHRASE)
    assert prepared.transaction.source.account_id == wallet.public_key  # the wallet's own tx
    assert prepared.hash_hex() == commitment.tx_hash and not prepared.signatures
    assert commitment.transaction_expires_at is not None
    lifetime = commitment.transaction_expires_at - commitment.created_at
    assert timedelta(seconds=170) < lifetime <= timedelta(seconds=181)
    assert delegated.funded_on_chain(contract) == 0  # nothing sent by the request

    taken = delegated.submit(commitment, signed(commitment.transaction_xdr, wallet), wallet)
    assert taken.submission_status is SubmissionStatus.SUBMITTED
    # The same signed transaction again: answered as it is, nothing queued twice.
    again = delegated.submit(commitment, signed(commitment.transaction_xdr, wallet), wallet)
    assert again.submission_status is SubmissionStatus.SUBMITTED
    assert len(delegated.submission_jobs()) == 2  # the send, and the expiry check

    done = delegated.run_submission(commitment)
    assert done.submission_status is SubmissionStatus.CONFIRMED
    assert done.status is CommitmentStatus.PENDING  # the indexer confirms, from the event
    assert delegated.funded_on_chain(contract) == 400 * UNIT

    assert delegated.services.indexer is not None
    delegated.services.indexer.run_once()
    assert delegated.commitment(commitment.id).status is CommitmentStatus.CONFIRMED
    invoice = delegated.services.invoices.get(delegated.tenant, ADMIN, invoice_id)
    assert (invoice.status, invoice.funded_stroops) == (
        InvoiceStatus.PARTIALLY_FUNDED,
        400 * UNIT,
    )
    # Running the jobs again changes nothing (at-least-once handlers).
    assert delegated.run_submission(commitment).submission_status is SubmissionStatus.CONFIRMED
    assert delegated.funded_on_chain(contract) == 400 * UNIT


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda c, _w, other: signed(c, other), "SIGNATURE_INVALID"),
        (signed, "SIGNATURE_INVALID"),  # the wallet's signature, and another one
        (lambda c, _w, _other: c, "SIGNATURE_INVALID"),  # not signed at all
        (lambda _c, _w, _other: "AAAA", "SIGNED_TRANSACTION_UNREADABLE"),
    ],
    ids=["another-key", "an-extra-signature", "unsigned", "not-an-envelope"],
)
def test_a_submission_that_is_not_the_wallets_signature_is_refused(
    delegated: World, tamper: Callable[[str, Keypair, Keypair], str], code: str
) -> None:
    invoice_id, _ = delegated.escrow()
    wallet = delegated.investor()
    commitment = delegated.fund(invoice_id, wallet, 10 * UNIT)
    assert commitment.transaction_xdr is not None

    with pytest.raises(Unprocessable) as refused:
        delegated.submit(
            commitment, tamper(commitment.transaction_xdr, wallet, Keypair.random()), wallet
        )

    assert refused.value.code == code
    unchanged = delegated.commitment(commitment.id)
    assert unchanged.submission_status is SubmissionStatus.REQUIRES_SIGNATURE
    assert unchanged.transaction_xdr == commitment.transaction_xdr


def test_another_transaction_signed_by_the_wallet_is_refused(delegated: World) -> None:
    invoice_id, _ = delegated.escrow()
    wallet = delegated.investor()
    small = delegated.fund(invoice_id, wallet, 10 * UNIT)
    large = delegated.fund(invoice_id, wallet, 20 * UNIT)
    assert small.transaction_xdr is not None and large.transaction_xdr is not None

    # The wallet's genuine signature, but of the other commitment's transaction.
    with pytest.raises(Unprocessable) as refused:
        delegated.submit(small, signed(large.transaction_xdr, wallet), wallet)

    assert refused.value.code == "SIGNED_TRANSACTION_MISMATCH"


def test_only_the_commitments_own_investor_may_submit(delegated: World) -> None:
    invoice_id, _ = delegated.escrow()
    wallet, stranger = delegated.investor(), delegated.investor()
    commitment = delegated.fund(invoice_id, wallet, 10 * UNIT)
    assert commitment.transaction_xdr is not None

    with pytest.raises(LiquifactError) as hidden:
        delegated.submit(commitment, signed(commitment.transaction_xdr, stranger), stranger)
    assert hidden.value.code == "NOT_FOUND"
    with pytest.raises(Forbidden):
        delegated.services.funding.submit_signed(
            delegated.tenant, ADMIN, commitment.id, SignedSubmission("AAAA")
        )


def test_an_unsigned_transaction_expires_and_releases_its_capacity(delegated: World) -> None:
    invoice_id, contract = delegated.escrow()
    wallet = delegated.investor()
    commitment = delegated.fund(invoice_id, wallet, TARGET)  # the whole capacity
    assert commitment.transaction_xdr is not None
    late = signed(commitment.transaction_xdr, wallet)

    delegated.clock.offset = timedelta(minutes=10)
    with pytest.raises(Conflict) as expired:
        delegated.submit(commitment, late, wallet)

    assert expired.value.code == "TRANSACTION_EXPIRED"
    released = delegated.commitment(commitment.id)
    assert released.status is CommitmentStatus.RELEASED
    assert (released.submission_status, released.submission_error) == (
        SubmissionStatus.FAILED,
        "TRANSACTION_EXPIRED",
    )
    assert delegated.funded_on_chain(contract) == 0
    # Its capacity is free again: a new commitment for the whole target is prepared.
    delegated.clock.offset = timedelta()
    assert delegated.fund(invoice_id, wallet, TARGET).status is CommitmentStatus.PENDING


def test_the_expiry_check_job_releases_a_transaction_never_signed(delegated: World) -> None:
    invoice_id, _ = delegated.escrow()
    wallet = delegated.investor()
    commitment = delegated.fund(invoice_id, wallet, 10 * UNIT)
    [job] = delegated.submission_jobs()
    assert job.run_after > commitment.transaction_expires_at  # due after the time bound

    assert delegated.run_submission(commitment).submission_status is (
        SubmissionStatus.REQUIRES_SIGNATURE  # not expired yet: nothing changes
    )
    delegated.clock.offset = timedelta(minutes=10)
    failed = delegated.run_submission(commitment)
    assert (failed.status, failed.submission_status) == (
        CommitmentStatus.RELEASED,
        SubmissionStatus.FAILED,
    )


def test_the_escrows_refusal_comes_back_as_its_code_and_records_nothing(
    delegated: World,
) -> None:
    invoice_id, contract = delegated.escrow(min_contribution=5 * UNIT)
    wallet = delegated.investor()

    with pytest.raises(Unprocessable) as below:
        delegated.fund(invoice_id, wallet, UNIT)
    assert below.value.code == "ESCROW_BELOW_MINIMUM"

    delegated.peer.control.set_legal_hold(contract, True)
    key = "key-legal-hold-1"
    with pytest.raises(Locked) as held:
        delegated.fund(invoice_id, wallet, 10 * UNIT, key)
    assert held.value.code == "ESCROW_LEGAL_HOLD"
    page = delegated.services.funding.commitments(delegated.tenant, ADMIN)
    assert page.total == 0
    # A passing refusal is not the key's answer: once the hold is cleared, the same key works.
    delegated.peer.control.set_legal_hold(contract, False)
    assert delegated.fund(invoice_id, wallet, 10 * UNIT, key).status is CommitmentStatus.PENDING


def test_an_account_missing_on_the_network_is_refused_clearly(delegated: World) -> None:
    invoice_id, _ = delegated.escrow()
    with pytest.raises(Unprocessable) as refused:
        delegated.fund(invoice_id, Keypair.random(), UNIT)
    assert refused.value.code == "INVESTOR_ACCOUNT_NOT_FOUND"


def test_the_chain_down_answers_retryable_and_records_nothing(delegated: World) -> None:
    invoice_id, _ = delegated.escrow()
    wallet = delegated.investor()
    delegated.peer.control.fail("http_503", count=1000)
    with pytest.raises(Unavailable) as down:
        delegated.fund(invoice_id, wallet, UNIT)
    assert down.value.retryable
    assert delegated.services.funding.commitments(delegated.tenant, ADMIN).total == 0


def test_a_transaction_failing_on_chain_fails_the_submission_and_releases(
    delegated: World,
) -> None:
    contract, _, commitment = delegated.signed_and_submitted(10 * UNIT)
    # The escrow goes on legal hold between signing and landing (contract error 102).
    delegated.peer.control.fail("contract_error", code=102, methods=["sendTransaction"])

    failed = delegated.run_submission(commitment)

    assert (failed.submission_status, failed.submission_error, failed.status) == (
        SubmissionStatus.FAILED,
        "ESCROW_LEGAL_HOLD",
        CommitmentStatus.RELEASED,
    )
    assert delegated.funded_on_chain(contract) == 0


# ---- resending never funds twice ---------------------------------------------------------------


def test_a_first_send_that_times_out_is_not_funded_twice(delegated: World) -> None:
    contract, wallet, commitment = delegated.signed_and_submitted(300 * UNIT)
    # The peer applies the transaction but holds its answer past our RPC timeout.
    delegated.peer.control.fail("timeout", hold_seconds=3, methods=["sendTransaction"])

    with pytest.raises(Unavailable):
        delegated.run_submission(commitment)
    assert delegated.commitment(commitment.id).submission_status is SubmissionStatus.SUBMITTED

    done = delegated.run_submission(commitment)  # the retry asks the chain first
    assert done.submission_status is SubmissionStatus.CONFIRMED
    assert delegated.funded_on_chain(contract) == 300 * UNIT
    assert delegated.peer.control.balance(delegated.token, wallet.public_key) == 700 * UNIT


def test_a_dropped_send_is_resent_as_the_same_transaction_and_lands_once(
    delegated: World,
) -> None:
    contract, _, commitment = delegated.signed_and_submitted(250 * UNIT)
    delegated.peer.control.fail("drop")  # PENDING, but it never lands

    with pytest.raises(JobFailed):
        delegated.run_submission(commitment)  # not final yet: the job will run again
    done = delegated.run_submission(commitment)

    assert done.submission_status is SubmissionStatus.CONFIRMED
    assert delegated.funded_on_chain(contract) == 250 * UNIT
    # One more run, and a replay of the envelope by anyone: the network refuses it.
    assert delegated.run_submission(commitment).submission_status is SubmissionStatus.CONFIRMED
    assert delegated.funded_on_chain(contract) == 250 * UNIT


# ---- custodial --------------------------------------------------------------------------------


def test_custodial_funding_is_signed_by_the_platform_and_lands(custodial: World) -> None:
    invoice_id, contract = custodial.escrow()
    wallet = custodial.investor(CUSTODIED)

    commitment = custodial.fund(invoice_id, wallet, TARGET)
    assert commitment.submission_status is SubmissionStatus.SUBMITTED
    assert commitment.transaction_xdr is not None
    envelope = TransactionEnvelope.from_xdr(commitment.transaction_xdr, PASSPHRASE)
    assert len(envelope.signatures) == 1  # signed by the platform's key of the wallet
    assert custodial.funded_on_chain(contract) == 0  # the request sent nothing

    done = custodial.run_submission(commitment)
    assert done.submission_status is SubmissionStatus.CONFIRMED
    assert custodial.services.indexer is not None
    custodial.services.indexer.run_once()
    invoice = custodial.services.invoices.get(custodial.tenant, ADMIN, invoice_id)
    assert (invoice.status, invoice.funded_stroops) == (InvoiceStatus.FUNDED, TARGET)
    assert custodial.commitment(commitment.id).status is CommitmentStatus.CONFIRMED


def test_custodial_mode_refuses_a_wallet_it_does_not_custody(custodial: World) -> None:
    invoice_id, _ = custodial.escrow()
    stranger = custodial.investor()
    with pytest.raises(Forbidden) as refused:
        custodial.fund(invoice_id, stranger, UNIT)
    assert refused.value.code == "WALLET_NOT_CUSTODIED"
    assert custodial.services.funding.commitments(custodial.tenant, ADMIN).total == 0


def test_custody_seeds_never_show_in_a_repr(custodial: World) -> None:
    assert CUSTODIED.secret not in repr(custodial.services.submissions)
    assert CUSTODIED.secret not in repr(custodial.services.funding.__dict__)


# ---- faults found by review: each test failed before its fix ----------------------------------


def test_a_signed_transaction_that_expired_unsent_fails_as_expired(delegated: World) -> None:
    invoice_id, contract = delegated.escrow()
    wallet = delegated.investor()
    commitment = delegated.fund(invoice_id, wallet, 10 * UNIT)
    assert commitment.transaction_xdr is not None
    delegated.submit(commitment, signed(commitment.transaction_xdr, wallet), wallet)

    delegated.clock.offset = timedelta(minutes=10)  # never sent, and now past its time bound
    failed = delegated.run_submission(commitment)

    assert (failed.status, failed.submission_status, failed.submission_error) == (
        CommitmentStatus.RELEASED,
        SubmissionStatus.FAILED,
        "TRANSACTION_EXPIRED",  # as documented; it used to say TRANSACTION_FAILED
    )
    assert delegated.funded_on_chain(contract) == 0


def send_it_yourself(world: World, envelope: str) -> None:
    """What a wallet may do with the transaction it signed: send it to the network itself."""
    server = SorobanServer(world.peer.url)
    try:
        sent = server.send_transaction(TransactionEnvelope.from_xdr(envelope, PASSPHRASE))
    finally:
        server.close()
    assert sent.status is SendTransactionStatus.PENDING


def test_the_expiry_check_asks_the_chain_before_releasing_an_unsigned_commitment(
    delegated: World,
) -> None:
    invoice_id, contract = delegated.escrow()
    wallet = delegated.investor()
    commitment = delegated.fund(invoice_id, wallet, 10 * UNIT)
    assert commitment.transaction_xdr is not None
    # The wallet signs and sends the transaction itself and never calls /submit.
    send_it_yourself(delegated, signed(commitment.transaction_xdr, wallet))
    assert delegated.funded_on_chain(contract) == 10 * UNIT

    delegated.clock.offset = timedelta(minutes=10)
    checked = delegated.run_submission(commitment)

    # It landed: not released (that would orphan the deposit), but confirmed like any other.
    assert (checked.status, checked.submission_status) == (
        CommitmentStatus.PENDING,
        SubmissionStatus.CONFIRMED,
    )
    assert delegated.services.indexer is not None
    delegated.services.indexer.run_once()
    assert delegated.commitment(commitment.id).status is CommitmentStatus.CONFIRMED


def test_a_late_submission_of_a_transaction_that_landed_is_not_released(
    delegated: World,
) -> None:
    invoice_id, contract = delegated.escrow()
    wallet = delegated.investor()
    commitment = delegated.fund(invoice_id, wallet, 10 * UNIT)
    assert commitment.transaction_xdr is not None
    envelope = signed(commitment.transaction_xdr, wallet)
    send_it_yourself(delegated, envelope)

    delegated.clock.offset = timedelta(minutes=10)
    taken = delegated.submit(commitment, envelope, wallet)  # late, but it is on the chain

    assert (taken.status, taken.submission_status) == (
        CommitmentStatus.PENDING,
        SubmissionStatus.CONFIRMED,
    )
    assert delegated.funded_on_chain(contract) == 10 * UNIT


@pytest.fixture
def custodial_recovering(soroban_peer: PeerServer, tmp_path: Path) -> Iterator[World]:
    """Custodial, with a circuit breaker that tries again at once (the test moves its own
    clock, not the breaker's)."""
    yield from world_of(
        soroban_peer,
        tmp_path,
        SigningMode.CUSTODIAL,
        (CUSTODIED.secret,),
        soroban_cb_recovery_timeout_ms=0,
    )


def test_the_submission_job_outlives_an_rpc_outage_shorter_than_its_transaction(
    custodial_recovering: World,
) -> None:
    """With the worker's own retry schedule (500 ms to 10 s), ten attempts last about a
    minute: an RPC outage of two minutes used to kill the job, and the commitment stayed
    ``submitted`` and pending for good (holding the escrow's capacity), its transaction never
    sent though it was valid for another minute."""
    world = custodial_recovering
    invoice_id, contract = world.escrow()
    wallet = world.investor(CUSTODIED)
    commitment = world.fund(invoice_id, wallet, 10 * UNIT)
    queue = world.services.store.job_queue
    plan = WorkerPlan("worker-1", frozenset({ESCROW_SUBMISSION}), timedelta(seconds=60))
    handlers = job_handlers(world.services)
    backoff = ExponentialBackoff(500, 10_000, rng=random.Random(12))  # the worker's defaults

    def work_until(limit: timedelta) -> None:
        """Run the due jobs, moving the clock to the next due one, up to ``limit``."""
        while True:
            work_round(queue, handlers, plan, world.clock, backoff, 10)
            pending = world.submission_jobs()
            if not pending:
                return
            wait = max(min(job.run_after for job in pending) - world.clock.now(), timedelta())
            if world.clock.offset + wait > limit:
                return
            world.clock.offset += wait

    world.peer.control.fail("http_503", count=10_000)
    work_until(timedelta(seconds=120))  # two minutes of outage, in the test's time
    world.peer.control.clear_faults()
    work_until(timedelta(minutes=30))

    done = world.commitment(commitment.id)
    assert done.submission_status is SubmissionStatus.CONFIRMED
    assert world.funded_on_chain(contract) == 10 * UNIT


def test_a_refused_resend_of_a_transaction_that_landed_unseen_is_not_failed(
    delegated: World,
) -> None:
    """The RPC answers getTransaction from the ledgers it has ingested, which may lag the
    network: a resend refused for its used sequence number (txBAD_SEQ) is no proof that the
    transaction did not land. Failing it then released a commitment whose deposit landed."""
    invoice_id, contract = delegated.escrow()
    wallet = delegated.investor()
    commitment = delegated.fund(invoice_id, wallet, 10 * UNIT)
    assert commitment.transaction_xdr is not None
    delegated.submit(commitment, signed(commitment.transaction_xdr, wallet), wallet)
    delegated.peer.control.fail("lag", count=8)  # the first send lands, unseen for a while

    with pytest.raises(JobFailed):
        delegated.run_submission(commitment)  # sent; not seen in five polls
    with pytest.raises(JobFailed):
        delegated.run_submission(commitment)  # resent: refused (txBAD_SEQ), still unseen
    assert delegated.commitment(commitment.id).status is CommitmentStatus.PENDING

    done = delegated.run_submission(commitment)  # the RPC caught up
    assert (done.status, done.submission_status) == (
        CommitmentStatus.PENDING,
        SubmissionStatus.CONFIRMED,
    )
    assert delegated.funded_on_chain(contract) == 10 * UNIT


def test_the_signed_transaction_of_a_released_commitment_is_never_sent(
    delegated: World,
) -> None:
    invoice_id, contract = delegated.escrow()
    wallet = delegated.investor()
    commitment = delegated.fund(invoice_id, wallet, 10 * UNIT)
    assert commitment.transaction_xdr is not None
    delegated.services.invoices.cancel(
        delegated.tenant, ADMIN, invoice_id, TransitionReason("the SME withdrew it")
    )
    assert delegated.commitment(commitment.id).status is CommitmentStatus.RELEASED

    with pytest.raises(Conflict) as refused:
        delegated.submit(commitment, signed(commitment.transaction_xdr, wallet), wallet)
    assert refused.value.code == "COMMITMENT_NOT_AWAITING_SIGNATURE"

    delegated.run_submission(commitment)
    assert delegated.funded_on_chain(contract) == 0


def test_a_custodial_transaction_of_a_released_commitment_is_never_sent(
    custodial: World,
) -> None:
    invoice_id, contract = custodial.escrow()
    wallet = custodial.investor(CUSTODIED)
    commitment = custodial.fund(invoice_id, wallet, 10 * UNIT)
    custodial.services.invoices.cancel(
        custodial.tenant, ADMIN, invoice_id, TransitionReason("the SME withdrew it")
    )

    with pytest.raises(JobFailed):
        custodial.run_submission(commitment)  # not sent: it waits for its time bound
    assert custodial.funded_on_chain(contract) == 0
    custodial.clock.offset = timedelta(minutes=10)
    failed = custodial.run_submission(commitment)
    assert (failed.status, failed.submission_status, failed.submission_error) == (
        CommitmentStatus.RELEASED,
        SubmissionStatus.FAILED,
        "TRANSACTION_EXPIRED",
    )
    assert custodial.funded_on_chain(contract) == 0


def test_two_fundings_in_one_second_never_share_one_transaction(
    delegated: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests (two idempotency keys: a double click) for the same amount prepared in
    the same second used to get the very same transaction (same source, sequence, call and
    time bound): both submissions were confirmed by its one landing, the indexer confirmed
    one commitment and the other stayed pending for good, counted in the lock and holding
    capacity, for a deposit that happened once."""
    invoice_id, _ = delegated.escrow()
    wallet = delegated.investor()
    # The time bound is whole seconds of the builder's clock: hold it on one second.
    second = int(time.time())
    monkeypatch.setattr(transaction_builder, "time", SimpleNamespace(time=lambda: second))
    first = delegated.fund(invoice_id, wallet, 10 * UNIT)
    key = f"key-{uuid4().hex}"

    with pytest.raises(Conflict) as refused:
        delegated.fund(invoice_id, wallet, 10 * UNIT, key)

    assert (refused.value.code, refused.value.retryable) == (
        "FUNDING_TRANSACTION_DUPLICATE",
        True,
    )
    page = delegated.services.funding.commitments(delegated.tenant, ADMIN)
    assert [c.id for c in page.items] == [first.id]
    # Retryable: the key was not spent on it, and a second later the transaction differs.
    monkeypatch.setattr(transaction_builder, "time", SimpleNamespace(time=lambda: second + 1))
    retried = delegated.fund(invoice_id, wallet, 10 * UNIT, key)
    assert retried.tx_hash != first.tx_hash


def test_a_mistyped_custody_seed_is_refused_without_echoing_it(
    soroban_peer: PeerServer, tmp_path: Path
) -> None:
    """stellar-sdk's own error quotes the value whole: a seed with one character mistyped is
    most of a signing key, and used to end up in the traceback of a failed start."""
    seed = Keypair.random().secret
    typo = seed[:-1] + ("A" if seed[-1] != "A" else "B")

    with pytest.raises(ValueError, match="not a Stellar secret seed") as refused:
        next(world_of(soroban_peer, tmp_path, SigningMode.CUSTODIAL, (typo,)))

    told = "".join(traceback.format_exception(refused.value))
    assert seed[:20] not in told


def test_an_unsigned_transaction_is_released_on_the_last_attempt_if_the_chain_stays_down(
    delegated: World,
) -> None:
    """The expiry check asks the chain before releasing; when the RPC stays down through all
    its attempts, the last one releases it anyway rather than hold the capacity for good."""
    invoice_id, _ = delegated.escrow()
    wallet = delegated.investor()
    commitment = delegated.fund(invoice_id, wallet, TARGET)
    [check] = delegated.submission_jobs()
    handler = job_handlers(delegated.services)[ESCROW_SUBMISSION]
    delegated.clock.offset = timedelta(minutes=10)
    delegated.peer.control.fail("http_503", count=10_000)

    with pytest.raises(Unavailable):
        handler(attrs.evolve(check, attempts=1))  # early: the chain must say
    assert delegated.commitment(commitment.id).status is CommitmentStatus.PENDING
    handler(attrs.evolve(check, attempts=check.max_attempts))

    released = delegated.commitment(commitment.id)
    assert (released.status, released.submission_error) == (
        CommitmentStatus.RELEASED,
        "TRANSACTION_EXPIRED",
    )


def test_an_operator_cannot_set_the_hash_of_a_managed_transaction(delegated: World) -> None:
    invoice_id, _ = delegated.escrow()
    wallet = delegated.investor()
    commitment = delegated.fund(invoice_id, wallet, 10 * UNIT)
    with pytest.raises(Conflict) as refused:
        delegated.services.funding.update_commitment(
            delegated.tenant, ADMIN, commitment.id, {"tx_hash": "cd" * 32}
        )
    assert refused.value.code == "TRANSACTION_MANAGED"
    assert delegated.commitment(commitment.id).tx_hash == commitment.tx_hash
