"""The ``EscrowLedger`` contract: the same assertions on the in-memory ``FakeEscrowLedger`` and
on ``SorobanEscrowLedger`` talking to the Soroban peer (tests/soroban_peer) over HTTP.

Each backend comes with a small "world" that sets the chain up the way that backend can: the
fake is told what to hold; on the peer, escrows are initialised through its control API and
funded by real ``fund`` transactions signed by an investor with stellar-sdk. Failure tests
specific to the RPC (timeouts, 503s, the circuit breaker, simulation errors) follow the shared
suite, against the peer only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import attrs
import pytest
from stellar_sdk import Keypair, SorobanServer, TransactionBuilder, scval
from stellar_sdk.soroban_rpc import GetTransactionStatus, SendTransactionStatus
from stellar_sdk.strkey import StrKey

from liquifact_adapters.memory.fakes import FakeEscrowLedger
from liquifact_adapters.soroban import CHAIN_UNAVAILABLE, ResilienceSettings, SorobanEscrowLedger
from liquifact_core.chain import ContractEvent, EscrowLedger
from liquifact_core.errors import Conflict, Locked, Unavailable, Unprocessable
from liquifact_core.escrow import EscrowReading, EscrowStatus, InvoiceEscrow
from tests.soroban_peer import PASSPHRASE, PeerProcess, PeerServer

UNIT = 10**7


def random_contract() -> str:
    return StrKey.encode_contract(Keypair.random().raw_public_key())


class World(Protocol):
    @property
    def ledger(self) -> EscrowLedger: ...

    def create_escrow(self, invoice_id: str, amount: int) -> str: ...
    def fund(self, contract: str, amount: int) -> None: ...
    def set_legal_hold(self, contract: str, active: bool) -> None: ...
    def go_down(self) -> None: ...


class FakeWorld:
    def __init__(self) -> None:
        self.ledger = FakeEscrowLedger()
        self.fake = self.ledger

    def create_escrow(self, invoice_id: str, amount: int) -> str:
        contract = random_contract()
        escrow = InvoiceEscrow(
            invoice_id=invoice_id,
            admin=Keypair.random().public_key,
            sme_address=Keypair.random().public_key,
            amount=amount,
            funding_target=amount,
            funded_amount=0,
            yield_bps=0,
            maturity=0,
            status=EscrowStatus.OPEN,
        )
        self.fake.put(contract, EscrowReading(escrow))
        self.fake.emit(contract, "escrow_initialized", "escrow_ii", value={"escrow": {}})
        return contract

    def fund(self, contract: str, amount: int) -> None:
        reading = self.fake.read_escrow(contract)
        escrow = reading.escrow
        funded = escrow.funded_amount + amount
        status = EscrowStatus.FUNDED if funded >= escrow.funding_target else EscrowStatus.OPEN
        self.fake.put(
            contract,
            attrs.evolve(reading, escrow=attrs.evolve(escrow, funded_amount=funded, status=status)),
        )
        investor = Keypair.random().public_key
        self.fake.emit(
            contract,
            "escrow_funded",
            "funded",
            escrow.invoice_id,
            investor,
            value={"amount": amount, "funded_amount": funded, "status": int(status)},
        )

    def set_legal_hold(self, contract: str, active: bool) -> None:
        reading = self.fake.read_escrow(contract)
        self.fake.put(contract, EscrowReading(reading.escrow, legal_hold=active))
        self.fake.emit(contract, "legal_hold_changed", "legalhld", value={"active": int(active)})

    def go_down(self) -> None:
        self.fake.fail_with(Unavailable(CHAIN_UNAVAILABLE, retryable=True))


class PeerWorld:
    """Escrows on a peer (in this process or another) and real signed ``fund`` transactions."""

    def __init__(self, peer: PeerServer | PeerProcess) -> None:
        self.peer = peer
        self.rpc = SorobanServer(peer.url)
        self.ledger = SorobanEscrowLedger(
            peer.url, PASSPHRASE, timeout_ms=2000, resilience=ResilienceSettings(retry_delay_ms=0)
        )
        self.tokens: dict[str, str] = {}

    def create_escrow(self, invoice_id: str, amount: int) -> str:
        created = self.peer.control.create_escrow(invoice_id, Keypair.random().public_key, amount)
        self.tokens[created["address"]] = created["funding_token"]
        return str(created["address"])

    def fund(self, contract: str, amount: int, investor: Keypair | None = None) -> None:
        """A real ``fund(investor, amount)`` transaction, signed by ``investor`` (default: a
        new one), who is given the account and the tokens first."""
        investor = investor or Keypair.random()
        self.peer.control.create_account(investor.public_key)
        self.peer.control.mint(self.tokens[contract], investor.public_key, amount)
        transaction = (
            TransactionBuilder(self.rpc.load_account(investor.public_key), PASSPHRASE, 100)
            .append_invoke_contract_function_op(
                contract,
                "fund",
                [scval.to_address(investor.public_key), scval.to_int128(amount)],
            )
            .set_timeout(180)
            .build()
        )
        envelope = self.rpc.prepare_transaction(transaction)
        envelope.sign(investor)
        sent = self.rpc.send_transaction(envelope)
        assert sent.status == SendTransactionStatus.PENDING
        landed = self.rpc.poll_transaction(sent.hash, max_attempts=3, sleep_strategy=lambda _: 0)
        assert landed.status == GetTransactionStatus.SUCCESS

    def set_legal_hold(self, contract: str, active: bool) -> None:
        self.peer.control.set_legal_hold(contract, active)

    def go_down(self) -> None:
        self.peer.control.fail("http_503", count=1000)


@pytest.fixture(params=["fake", "soroban"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "fake":
        yield FakeWorld()
        return
    peer: PeerServer = request.getfixturevalue("soroban_peer")
    built = PeerWorld(peer)
    try:
        yield built
    finally:
        built.ledger.close()
        built.rpc.close()


def names(events: list[ContractEvent]) -> list[str | None]:
    return [event.name for event in events]


# ---- the shared contract ---------------------------------------------------------------------


def test_reads_an_initialised_escrow(world: World) -> None:
    contract = world.create_escrow("inv_ledger_read", 1_000 * UNIT)

    reading = world.ledger.read_escrow(contract)

    assert reading.escrow.invoice_id == "inv_ledger_read"
    assert reading.escrow.amount == reading.escrow.funding_target == 1_000 * UNIT
    assert reading.escrow.funded_amount == 0
    assert reading.escrow.status is EscrowStatus.OPEN
    assert (reading.legal_hold, reading.paused) == (False, False)
    assert reading.accepts_funding


def test_a_read_reflects_funding_and_the_legal_hold(world: World) -> None:
    contract = world.create_escrow("inv_ledger_fund", 1_000 * UNIT)
    world.fund(contract, 400 * UNIT)
    world.set_legal_hold(contract, True)

    reading = world.ledger.read_escrow(contract)

    assert reading.escrow.funded_amount == 400 * UNIT
    assert reading.escrow.status is EscrowStatus.OPEN
    assert reading.legal_hold is True
    assert not reading.accepts_funding


@pytest.mark.parametrize("address", ["unknown-contract", "account", "not-an-address"])
def test_an_address_without_an_escrow_is_not_recognised(world: World, address: str) -> None:
    target = {
        "unknown-contract": random_contract(),
        "account": Keypair.random().public_key,
        "not-an-address": "CABC",
    }[address]

    with pytest.raises(Unprocessable) as raised:
        world.ledger.read_escrow(target)

    assert raised.value.code == "ESCROW_NOT_RECOGNISED"
    assert target not in raised.value.message


def test_events_page_by_cursor_without_repeats(world: World) -> None:
    start = world.ledger.latest_ledger()
    ours = world.create_escrow("inv_ledger_events", 1_000 * UNIT)
    other = world.create_escrow("inv_ledger_other", 1_000 * UNIT)
    world.fund(ours, 100 * UNIT)
    world.fund(other, 100 * UNIT)
    world.fund(ours, 250 * UNIT)

    seen: list[ContractEvent] = []
    batch = world.ledger.contract_events([ours], start_ledger=start, limit=1)
    pages = 0
    while batch.events:
        pages += 1
        assert len(batch.events) == 1
        seen.extend(batch.events)
        batch = world.ledger.contract_events([ours], cursor=batch.cursor, limit=1)

    assert pages == 3
    assert names(seen) == ["escrow_ii", "funded", "funded"]
    assert {event.contract for event in seen} == {ours}
    assert len({event.event_id for event in seen}) == 3
    assert [event.ledger for event in seen] == sorted(event.ledger for event in seen)
    assert seen[-1].value["funded_amount"] == 350 * UNIT
    assert seen[-1].value["amount"] == 250 * UNIT
    assert seen[-1].topics[2] == "inv_ledger_events"
    assert StrKey.is_valid_ed25519_public_key(seen[-1].topics[3])

    # Polling again from the last cursor gives only what happened since.
    world.fund(ours, 50 * UNIT)
    later = world.ledger.contract_events([ours], cursor=batch.cursor)
    assert names(list(later.events)) == ["funded"]
    assert later.events[0].value["funded_amount"] == 400 * UNIT
    assert later.events[0].event_id not in {event.event_id for event in seen}
    assert later.latest_ledger >= later.events[0].ledger
    again = world.ledger.contract_events([ours], cursor=later.cursor)
    assert list(again.events) == []


def test_several_contracts_in_one_query(world: World) -> None:
    start = world.ledger.latest_ledger()
    first = world.create_escrow("inv_ledger_multi_a", 1_000 * UNIT)
    second = world.create_escrow("inv_ledger_multi_b", 1_000 * UNIT)
    world.create_escrow("inv_ledger_multi_c", 1_000 * UNIT)

    batch = world.ledger.contract_events([first, second], start_ledger=start)

    assert [event.contract for event in batch.events] == [first, second]


def test_no_contracts_give_no_events(world: World) -> None:
    world.create_escrow("inv_ledger_none", 1_000 * UNIT)

    batch = world.ledger.contract_events([], start_ledger=world.ledger.latest_ledger())

    assert list(batch.events) == []


def test_the_latest_ledger_grows(world: World) -> None:
    before = world.ledger.latest_ledger()
    contract = world.create_escrow("inv_ledger_grows", 1_000 * UNIT)
    world.fund(contract, UNIT)

    assert world.ledger.latest_ledger() >= before + 2


def test_health(world: World) -> None:
    world.ledger.check_health()  # returns: the chain answers


def test_every_call_is_unavailable_while_the_chain_is_down(world: World) -> None:
    contract = world.create_escrow("inv_ledger_down", 1_000 * UNIT)
    world.go_down()

    calls = [
        lambda: world.ledger.read_escrow(contract),
        lambda: world.ledger.contract_events([contract], start_ledger=1000),
        world.ledger.latest_ledger,
        world.ledger.check_health,
    ]
    for call in calls:
        with pytest.raises(Unavailable) as raised:
            call()
        assert raised.value.retryable is True
        assert raised.value.message == CHAIN_UNAVAILABLE


# ---- the RPC adapter's own failures (peer only) -----------------------------------------------


@pytest.fixture
def transitions() -> list[tuple[str, str]]:
    return []


def rpc_ledger(
    peer: PeerServer,
    transitions: list[tuple[str, str]],
    *,
    threshold: int = 5,
    recovery_ms: int = 60_000,
    retries: int = 2,
    timeout_ms: int = 2000,
) -> SorobanEscrowLedger:
    return SorobanEscrowLedger(
        peer.url,
        PASSPHRASE,
        timeout_ms=timeout_ms,
        resilience=ResilienceSettings(
            failure_threshold=threshold,
            recovery_timeout_ms=recovery_ms,
            retries=retries,
            retry_delay_ms=0,
        ),
        on_state_change=lambda name, state: transitions.append((name, state)),
    )


def test_a_transient_503_is_retried(
    soroban_peer: PeerServer, transitions: list[tuple[str, str]]
) -> None:
    contract = soroban_peer.control.create_escrow("inv_retry", Keypair.random().public_key, UNIT)
    ledger = rpc_ledger(soroban_peer, transitions)
    soroban_peer.control.fail("http_503", count=2)

    assert ledger.read_escrow(contract["address"]).escrow.invoice_id == "inv_retry"
    assert transitions == []


def test_timeouts_are_unavailable(
    soroban_peer: PeerServer, transitions: list[tuple[str, str]]
) -> None:
    ledger = rpc_ledger(soroban_peer, transitions, retries=1, timeout_ms=200)
    soroban_peer.control.fail("timeout", count=2, hold_seconds=1.5)

    with pytest.raises(Unavailable) as raised:
        ledger.latest_ledger()

    assert raised.value.retryable is True
    assert raised.value.code == "CHAIN_UNAVAILABLE"


def test_a_dropped_connection_is_unavailable(
    soroban_peer: PeerServer, transitions: list[tuple[str, str]]
) -> None:
    ledger = rpc_ledger(soroban_peer, transitions, retries=0)
    soroban_peer.control.fail("timeout", count=1, hold_seconds=0, process=False)

    with pytest.raises(Unavailable):
        ledger.check_health()


def test_the_breaker_opens_after_the_threshold_and_answers_at_once(
    soroban_peer: PeerServer, transitions: list[tuple[str, str]]
) -> None:
    ledger = rpc_ledger(soroban_peer, transitions, threshold=3, retries=0)
    soroban_peer.control.fail("http_503", count=3)

    for _ in range(2):
        with pytest.raises(Unavailable):
            ledger.latest_ledger()
    assert ledger.breaker_state == "CLOSED"
    with pytest.raises(Unavailable):
        ledger.latest_ledger()

    assert ledger.breaker_state == "OPEN"
    assert transitions == [("soroban", "OPEN")]
    # The peer answers again, but the open breaker does not ask it.
    with pytest.raises(Unavailable) as raised:
        ledger.check_health()
    assert raised.value.retryable is True
    assert transitions == [("soroban", "OPEN")]


def test_the_breaker_recovers_through_half_open(
    soroban_peer: PeerServer, transitions: list[tuple[str, str]]
) -> None:
    # A zero recovery timeout: the next call after opening is the half-open trial.
    ledger = rpc_ledger(soroban_peer, transitions, threshold=1, recovery_ms=0, retries=0)
    soroban_peer.control.fail("http_503", count=1)
    with pytest.raises(Unavailable):
        ledger.latest_ledger()
    assert transitions == [("soroban", "OPEN")]

    assert ledger.latest_ledger() >= 1000

    assert transitions == [("soroban", "OPEN"), ("soroban", "HALF_OPEN"), ("soroban", "CLOSED")]
    assert ledger.breaker_state == "CLOSED"


def test_a_failed_half_open_trial_opens_again(
    soroban_peer: PeerServer, transitions: list[tuple[str, str]]
) -> None:
    ledger = rpc_ledger(soroban_peer, transitions, threshold=1, recovery_ms=0, retries=0)
    soroban_peer.control.fail("http_503", count=2)
    for _ in range(2):
        with pytest.raises(Unavailable):
            ledger.latest_ledger()

    assert transitions == [("soroban", "OPEN"), ("soroban", "HALF_OPEN"), ("soroban", "OPEN")]


@pytest.mark.parametrize(
    ("number", "kind", "code"),
    [
        (102, Locked, "ESCROW_LEGAL_HOLD"),
        (103, Conflict, "ESCROW_NOT_OPEN"),
        (210, Locked, "ESCROW_PAUSED"),
        (106, Unprocessable, "ESCROW_PER_INVESTOR_CAP"),
        (999, Unprocessable, "ESCROW_CONTRACT_REJECTED"),
        (20, Unprocessable, "ESCROW_NOT_RECOGNISED"),
    ],
)
def test_contract_error_numbers_map_to_domain_errors(
    soroban_peer: PeerServer,
    transitions: list[tuple[str, str]],
    number: int,
    kind: type[Exception],
    code: str,
) -> None:
    contract = soroban_peer.control.create_escrow("inv_errors", Keypair.random().public_key, UNIT)
    ledger = rpc_ledger(soroban_peer, transitions, threshold=1)
    soroban_peer.control.fail("contract_error", code=number, methods=["simulateTransaction"])

    with pytest.raises(kind) as raised:
        ledger.read_escrow(contract["address"])

    assert getattr(raised.value, "code", None) == code
    assert contract["address"] not in str(raised.value)
    assert "Error(" not in str(raised.value)
    # The RPC answered: a contract error is no failure of the dependency.
    assert ledger.breaker_state == "CLOSED"
    assert transitions == []


@pytest.mark.parametrize("target", ["deployed-not-initialised", "token-contract"])
def test_contracts_that_are_no_initialised_escrow_are_not_recognised(
    soroban_peer: PeerServer, transitions: list[tuple[str, str]], target: str
) -> None:
    address = (
        soroban_peer.control.deploy()
        if target == "deployed-not-initialised"
        else soroban_peer.control.create_token()
    )
    ledger = rpc_ledger(soroban_peer, transitions, threshold=1)

    with pytest.raises(Unprocessable) as raised:
        ledger.read_escrow(address)

    assert raised.value.code == "ESCROW_NOT_RECOGNISED"
    assert ledger.breaker_state == "CLOSED"


def test_more_contracts_than_the_rpc_filters_take_are_refused(soroban_peer: PeerServer) -> None:
    ledger = rpc_ledger(soroban_peer, [])

    with pytest.raises(ValueError, match="at most 25"):
        ledger.contract_events([random_contract() for _ in range(26)], start_ledger=1000)
