"""Contract tests of the Soroban peer (tests/soroban_peer) against the real stellar-sdk client.

Every call goes through `SorobanServer` over HTTP on 127.0.0.1: accounts are loaded, `fund`
is built with `TransactionBuilder`, prepared (simulate + assemble), signed, sent and polled;
views are simulated; events are read with `get_events`. Amounts are in the token's smallest
unit (10^7 per USDC).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from stellar_sdk import (
    Address,
    Keypair,
    Network,
    SorobanServer,
    TransactionBuilder,
    TransactionEnvelope,
    scval,
)
from stellar_sdk import xdr as x
from stellar_sdk.auth import authorize_entry
from stellar_sdk.client.requests_client import RequestsClient
from stellar_sdk.exceptions import (
    AccountNotFoundException,
    BadResponseError,
    ConnectionError,
    PrepareTransactionException,
    SorobanRpcErrorResponse,
)
from stellar_sdk.soroban_rpc import (
    EventFilter,
    GetTransactionResponse,
    GetTransactionStatus,
    SendTransactionStatus,
)

from tests.soroban_peer import PeerServer, peer_process

PASSPHRASE = Network.STANDALONE_NETWORK_PASSPHRASE
UNIT = 10**7
REPO = Path(__file__).resolve().parents[2]


def plain(value: Any) -> Any:
    """`scval.to_native` output with addresses as strkeys."""
    if isinstance(value, Address):
        return value.address
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode()
    return value


@dataclass
class World:
    chain: PeerServer
    rpc: SorobanServer
    escrow: str
    token: str
    sme: Keypair
    investor: Keypair
    maturity: int

    def build(
        self, source: str, function: str, *args: x.SCVal, contract: str = ""
    ) -> TransactionEnvelope:
        account = self.rpc.load_account(source)
        return (
            TransactionBuilder(account, PASSPHRASE, base_fee=100)
            .append_invoke_contract_function_op(contract or self.escrow, function, list(args))
            .set_timeout(180)
            .build()
        )

    def prepared(self, signer: Keypair, function: str, *args: x.SCVal) -> TransactionEnvelope:
        envelope = self.rpc.prepare_transaction(self.build(signer.public_key, function, *args))
        envelope.sign(signer)
        return envelope

    def submit(self, signer: Keypair, function: str, *args: x.SCVal) -> GetTransactionResponse:
        sent = self.rpc.send_transaction(self.prepared(signer, function, *args))
        assert sent.status == SendTransactionStatus.PENDING, sent
        return self.poll(sent.hash)

    def poll(self, tx_hash: str) -> GetTransactionResponse:
        return self.rpc.poll_transaction(tx_hash, max_attempts=3, sleep_strategy=lambda _: 0)

    def fund(self, investor: Keypair, amount: int) -> GetTransactionResponse:
        return self.submit(
            investor, "fund", scval.to_address(investor.public_key), scval.to_int128(amount)
        )

    def view(self, function: str, *args: x.SCVal, contract: str = "") -> Any:
        simulation = self.rpc.simulate_transaction(
            self.build(self.investor.public_key, function, *args, contract=contract)
        )
        assert simulation.error is None, simulation.error
        assert simulation.results is not None
        return plain(scval.to_native(simulation.results[0].xdr))

    def new_investor(self, balance: int = 5_000 * UNIT) -> Keypair:
        investor = Keypair.random()
        self.chain.control.create_account(investor.public_key)
        self.chain.control.mint(self.token, investor.public_key, balance)
        return investor


def returned(response: GetTransactionResponse) -> Any:
    assert response.result_meta_xdr is not None
    meta = x.TransactionMeta.from_xdr(response.result_meta_xdr)
    assert meta.v4 is not None and meta.v4.soroban_meta is not None
    assert meta.v4.soroban_meta.return_value is not None
    return plain(scval.to_native(meta.v4.soroban_meta.return_value))


def result_code(result_xdr: str | None) -> x.TransactionResultCode:
    assert result_xdr is not None
    return x.TransactionResult.from_xdr(result_xdr).result.code


def failed_error(response: GetTransactionResponse) -> str:
    """The host error of a FAILED transaction, from its `error` diagnostic event."""
    assert response.status == GetTransactionStatus.FAILED
    assert response.diagnostic_events_xdr
    event = x.DiagnosticEvent.from_xdr(response.diagnostic_events_xdr[0]).event
    assert event.body.v0 is not None
    topic, error = event.body.v0.topics
    assert scval.from_symbol(topic) == "error"
    assert error.error is not None
    if error.error.type == x.SCErrorType.SCE_CONTRACT:
        assert error.error.contract_code is not None
        return f"Error(Contract, #{error.error.contract_code.uint32})"
    assert error.error.code is not None
    return f"{error.error.type.name}/{error.error.code.name}"


def simulation_error(world: World, signer: Keypair, function: str, *args: x.SCVal) -> int:
    with pytest.raises(PrepareTransactionException) as caught:
        world.prepared(signer, function, *args)
    error = caught.value.simulate_transaction_response.error
    assert error is not None
    match = re.search(r"Error\(Contract, #(\d+)\)", error)
    assert match, error
    return int(match.group(1))


@pytest.fixture
def world(soroban_peer: PeerServer) -> Iterator[World]:
    control = soroban_peer.control
    sme, investor = Keypair.random(), Keypair.random()
    for key in (sme, investor):
        control.create_account(key.public_key)
    maturity = control.ledger()["close_time"] + 3_600
    escrow = control.create_escrow(
        "INV_1001",
        sme.public_key,
        1_000 * UNIT,
        yield_bps=800,
        maturity=maturity,
        min_contribution=10 * UNIT,
        max_per_investor=800 * UNIT,
        max_unique_investors=3,
    )
    control.mint(escrow["funding_token"], investor.public_key, 5_000 * UNIT)
    rpc = SorobanServer(soroban_peer.url, client=RequestsClient(num_retries=0, post_timeout=10))
    yield World(
        soroban_peer, rpc, escrow["address"], escrow["funding_token"], sme, investor, maturity
    )
    rpc.close()


def test_health_network_and_latest_ledger_answer_real_shapes(world: World) -> None:
    health = world.rpc.get_health()
    network = world.rpc.get_network()
    latest = world.rpc.get_latest_ledger()

    assert health.status == "healthy"
    assert network.passphrase == "Standalone Network ; February 2017"
    assert network.protocol_version == 23
    assert network.friendbot_url == f"{world.chain.url}/friendbot"
    assert latest.sequence == health.latest_ledger == world.chain.control.ledger()["sequence"]
    header = x.LedgerHeader.from_xdr(latest.header_xdr)
    assert header.ledger_seq.uint32 == latest.sequence
    assert header.scp_value.close_time.time_point.uint64 == latest.close_time
    meta = x.LedgerCloseMeta.from_xdr(latest.metadata_xdr)
    assert meta.v2 is not None and meta.v2.ledger_header.header.ledger_seq.uint32 == latest.sequence


def test_load_account_reads_the_sequence_and_unknown_accounts_are_missing(world: World) -> None:
    account = world.rpc.load_account(world.investor.public_key)
    assert account.sequence == 1_000 << 32  # created in the peer's first ledger
    with pytest.raises(AccountNotFoundException):
        world.rpc.load_account(Keypair.random().public_key)


def test_fund_is_simulated_signed_sent_and_lands_with_the_new_escrow(world: World) -> None:
    before = world.rpc.load_account(world.investor.public_key).sequence
    envelope = world.prepared(
        world.investor,
        "fund",
        scval.to_address(world.investor.public_key),
        scval.to_int128(400 * UNIT),
    )

    # prepare_transaction assembled the simulation: footprint, resource fee, auth entry
    data = envelope.transaction.soroban_data
    assert data is not None and data.resource_fee.int64 > 0
    assert envelope.transaction.fee == 100 + data.resource_fee.int64
    op = envelope.transaction.operations[0]
    assert len(op.auth) == 1  # type: ignore[attr-defined]
    entry = op.auth[0]  # type: ignore[attr-defined]
    assert entry.credentials.type == x.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT
    (transfer,) = entry.root_invocation.sub_invocations
    assert transfer.function.contract_fn.function_name.sc_symbol == b"transfer"

    sent = world.rpc.send_transaction(envelope)
    assert sent.status == SendTransactionStatus.PENDING
    assert sent.hash == envelope.hash_hex()
    result = world.poll(sent.hash)

    assert result.status == GetTransactionStatus.SUCCESS
    assert result.ledger == sent.latest_ledger + 1
    escrow = returned(result)
    assert escrow == {
        "invoice_id": "INV_1001",
        "admin": escrow["admin"],
        "sme_address": world.sme.public_key,
        "amount": 1_000 * UNIT,
        "funding_target": 1_000 * UNIT,
        "funded_amount": 400 * UNIT,
        "yield_bps": 800,
        "maturity": world.maturity,
        "status": 0,
    }
    assert world.view("get_escrow") == escrow
    assert world.view("get_contribution", scval.to_address(world.investor.public_key)) == 400 * UNIT
    assert world.view("get_remaining_funding_capacity") == 600 * UNIT
    assert world.view("get_unique_funder_count") == 1
    assert (
        world.view("balance", scval.to_address(world.investor.public_key), contract=world.token)
        == 4_600 * UNIT
    )
    assert world.view("balance", scval.to_address(world.escrow), contract=world.token) == 400 * UNIT
    assert world.rpc.load_account(world.investor.public_key).sequence == before + 1
    assert result_code(result.result_xdr) == x.TransactionResultCode.txSUCCESS

    # the contract's persistent contribution entry is readable with getLedgerEntries
    key = scval.to_vec(
        [scval.to_symbol("InvestorContribution"), scval.to_address(world.investor.public_key)]
    )
    stored = world.rpc.get_contract_data(world.escrow, key)
    assert stored is not None
    assert scval.from_int128(x.LedgerEntryData.from_xdr(stored.xdr).contract_data.val) == 400 * UNIT  # type: ignore[union-attr]


def test_reaching_the_target_closes_funding_and_the_summary_shows_the_snapshot(
    world: World,
) -> None:
    world.fund(world.investor, 600 * UNIT)
    second = world.new_investor()
    closing = world.fund(second, 450 * UNIT)  # the crossing deposit may overfund

    assert returned(closing)["status"] == 1
    assert returned(closing)["funded_amount"] == 1_050 * UNIT
    summary = world.view("get_escrow_summary")
    assert summary["escrow"]["status"] == 1
    assert summary["unique_funder_count"] == 2
    assert summary["legal_hold"] is False
    assert summary["schema_version"] == 6
    assert summary["funding_close_snapshot"][0] == "Some"
    assert summary["funding_close_snapshot"][1]["total_principal"] == 1_050 * UNIT
    assert summary["funding_close_snapshot"][1]["funding_target"] == 1_000 * UNIT
    assert summary["sme_collateral_commitment"] == ["None"]
    assert world.view("get_remaining_funding_capacity") == 0
    assert (
        simulation_error(
            world,
            world.investor,
            "fund",
            scval.to_address(world.investor.public_key),
            scval.to_int128(10 * UNIT),
        )
        == 103
    )


def test_events_come_back_filtered_and_paged_with_cursors(world: World) -> None:
    start = world.rpc.get_health().oldest_ledger
    first = world.fund(world.investor, 100 * UNIT)
    world.fund(world.investor, 200 * UNIT)

    everything = world.rpc.get_events(start_ledger=start)
    assert [plain(scval.to_native(e.topic[1])) for e in everything.events] == [
        "escrow_ii",
        world.investor.public_key,
        "funded",
        world.investor.public_key,
        "funded",
    ]  # the token's transfer events carry the sender as their second topic

    funded_only = EventFilter(
        type="contract",  # type: ignore[arg-type]
        contractIds=[world.escrow],
        topics=[["*", scval.to_symbol("funded").to_xdr(), "**"]],
    )
    page = world.rpc.get_events(start_ledger=start, filters=[funded_only], limit=1)
    assert len(page.events) == 1
    event = page.events[0]
    assert event.contract_id == world.escrow
    assert event.ledger == first.ledger
    assert event.transaction_hash == first.transaction_hash
    assert event.id == page.cursor
    assert [plain(scval.to_native(t)) for t in event.topic] == [
        "escrow_funded",
        "funded",
        "INV_1001",
        world.investor.public_key,
    ]
    assert plain(scval.to_native(event.value)) == {
        "amount": 100 * UNIT,
        "funded_amount": 100 * UNIT,
        "status": 0,
        "investor_effective_yield_bps": 800,
        "tier_lock_secs": 0,
    }

    rest = world.rpc.get_events(filters=[funded_only], cursor=page.cursor, limit=10)
    assert [plain(scval.to_native(e.value))["funded_amount"] for e in rest.events] == [300 * UNIT]
    idle = world.rpc.get_events(filters=[funded_only], cursor=rest.cursor)
    assert idle.events == []
    world.fund(world.investor, 50 * UNIT)
    after = world.rpc.get_events(filters=[funded_only], cursor=idle.cursor)
    assert [plain(scval.to_native(e.value))["funded_amount"] for e in after.events] == [350 * UNIT]

    by_token = world.rpc.get_events(
        start_ledger=start, filters=[EventFilter(contractIds=[world.token])]
    )
    assert [plain(scval.to_native(e.value)) for e in by_token.events] == [
        100 * UNIT,
        200 * UNIT,
        50 * UNIT,
    ]


def test_contract_errors_surface_as_error_contract_n_in_simulation(world: World) -> None:
    me = scval.to_address(world.investor.public_key)
    assert simulation_error(world, world.investor, "fund", me, scval.to_int128(0)) == 100
    assert simulation_error(world, world.investor, "fund", me, scval.to_int128(5 * UNIT)) == 101
    assert simulation_error(world, world.investor, "fund", me, scval.to_int128(801 * UNIT)) == 106
    for _ in range(2):
        world.fund(world.new_investor(), 10 * UNIT)
    world.fund(world.investor, 10 * UNIT)  # the third unique investor
    fourth = world.new_investor()
    assert (
        simulation_error(
            world, fourth, "fund", scval.to_address(fourth.public_key), scval.to_int128(10 * UNIT)
        )
        == 107
    )
    world.chain.control.set_legal_hold(world.escrow, True)
    assert simulation_error(world, world.investor, "fund", me, scval.to_int128(10 * UNIT)) == 102
    assert world.view("get_legal_hold") is True
    assert world.view("get_escrow")["funded_amount"] == 30 * UNIT


def test_a_transaction_signed_by_the_wrong_key_is_refused_and_changes_nothing(world: World) -> None:
    envelope = world.rpc.prepare_transaction(
        world.build(
            world.investor.public_key,
            "fund",
            scval.to_address(world.investor.public_key),
            scval.to_int128(100 * UNIT),
        )
    )
    envelope.sign(Keypair.random())

    sent = world.rpc.send_transaction(envelope)

    assert sent.status == SendTransactionStatus.ERROR
    assert sent.error_result_xdr is not None
    assert result_code(sent.error_result_xdr) == x.TransactionResultCode.txBAD_AUTH
    assert world.rpc.get_transaction(sent.hash).status == GetTransactionStatus.NOT_FOUND
    assert world.view("get_escrow")["funded_amount"] == 0

    envelope.sign(world.investor)  # now signed by the source, plus a stranger's signature
    extra = world.rpc.send_transaction(envelope)
    assert result_code(extra.error_result_xdr) == x.TransactionResultCode.txBAD_AUTH_EXTRA


def test_a_replayed_transaction_is_refused_for_its_used_sequence_number(world: World) -> None:
    envelope = world.prepared(
        world.investor,
        "fund",
        scval.to_address(world.investor.public_key),
        scval.to_int128(100 * UNIT),
    )
    assert (
        world.poll(world.rpc.send_transaction(envelope).hash).status == GetTransactionStatus.SUCCESS
    )

    again = world.rpc.send_transaction(envelope)

    assert again.status == SendTransactionStatus.ERROR
    assert result_code(again.error_result_xdr) == x.TransactionResultCode.txBAD_SEQ
    assert world.view("get_contribution", scval.to_address(world.investor.public_key)) == 100 * UNIT


def test_an_expired_transaction_is_refused_too_late(world: World) -> None:
    account = world.rpc.load_account(world.investor.public_key)
    me = scval.to_address(world.investor.public_key)
    past = int(time.time()) - 60
    envelope = (
        TransactionBuilder(account, PASSPHRASE, base_fee=100)
        .append_invoke_contract_function_op(world.escrow, "fund", [me, scval.to_int128(UNIT * 20)])
        .add_time_bounds(0, past)
        .build()
    )
    envelope = world.rpc.prepare_transaction(envelope)
    envelope.sign(world.investor)

    sent = world.rpc.send_transaction(envelope)

    assert result_code(sent.error_result_xdr) == x.TransactionResultCode.txTOO_LATE
    assert world.view("get_escrow")["funded_amount"] == 0


def test_a_relayer_pays_while_the_investor_signs_only_the_authorization(world: World) -> None:
    relayer = Keypair.random()
    world.chain.control.create_account(relayer.public_key)
    me = scval.to_address(world.investor.public_key)
    envelope = world.rpc.prepare_transaction(
        world.build(relayer.public_key, "fund", me, scval.to_int128(250 * UNIT))
    )
    op = envelope.transaction.operations[0]
    (entry,) = op.auth  # type: ignore[attr-defined]
    assert entry.credentials.type == x.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS_V2
    unsigned = envelope.to_xdr()

    # without the investor's authorization signature the call fails on chain
    envelope.sign(relayer)
    refused = world.poll(world.rpc.send_transaction(envelope).hash)
    assert failed_error(refused) == "SCE_AUTH/SCEC_INVALID_ACTION"

    retry = world.rpc.prepare_transaction(
        world.build(relayer.public_key, "fund", me, scval.to_int128(250 * UNIT))
    )
    valid_until = world.rpc.get_latest_ledger().sequence + 100
    op = retry.transaction.operations[0]
    op.auth = [authorize_entry(op.auth[0], world.investor, valid_until, PASSPHRASE)]  # type: ignore[attr-defined]
    retry.sign(relayer)
    landed = world.poll(world.rpc.send_transaction(retry).hash)

    assert landed.status == GetTransactionStatus.SUCCESS
    assert returned(landed)["funded_amount"] == 250 * UNIT
    assert world.view("balance", me, contract=world.token) == 4_750 * UNIT
    assert unsigned != retry.to_xdr()


def test_lifecycle_settle_after_maturity_and_withdraw_and_cancel_with_refund(world: World) -> None:
    control = world.chain.control
    world.fund(world.investor, 700 * UNIT)
    world.fund(world.new_investor(), 300 * UNIT)
    assert world.view("get_escrow")["status"] == 1
    assert simulation_error(world, world.sme, "settle") == 122  # maturity not reached
    control.advance_ledgers(count=800)  # 800 ledgers of 5 s pass the 3,600 s maturity
    settled = world.submit(world.sme, "settle")
    assert returned(settled)["status"] == 2
    settle_events = world.rpc.get_events(
        start_ledger=settled.ledger, filters=[EventFilter(contractIds=[world.escrow])]
    )
    assert [plain(scval.to_native(e.topic[1])) for e in settle_events.events] == ["escrow_sd"]
    assert plain(scval.to_native(settle_events.events[0].value))["settle_pool"] == 1_080 * UNIT

    sme = Keypair.random()
    control.create_account(sme.public_key)
    other = control.create_escrow(
        "INV_1002", sme.public_key, 100 * UNIT, token=world.token, protocol_fee_bps=250
    )
    world.escrow = other["address"]
    world.fund(world.investor, 100 * UNIT)
    withdrawn = world.submit(sme, "withdraw")
    assert returned(withdrawn)["status"] == 3
    assert (
        world.view("balance", scval.to_address(sme.public_key), contract=world.token)
        == 975 * UNIT // 10  # 100 minus the 2.5% fee
    )
    assert (
        world.view("balance", scval.to_address(other["admin"]), contract=world.token)
        == 25 * UNIT // 10  # the fee, to the treasury (the admin)
    )

    third = control.create_escrow("INV_1003", sme.public_key, 100 * UNIT, token=world.token)
    world.escrow = third["address"]
    world.fund(world.investor, 40 * UNIT)
    admin = Keypair.from_secret(third["admin_secret"])
    control.create_account(admin.public_key)
    assert returned(world.submit(admin, "cancel_funding"))["status"] == 4
    before = world.view(
        "balance", scval.to_address(world.investor.public_key), contract=world.token
    )
    assert (
        world.submit(world.investor, "refund", scval.to_address(world.investor.public_key)).status
        == GetTransactionStatus.SUCCESS
    )
    assert (
        world.view("balance", scval.to_address(world.investor.public_key), contract=world.token)
        == before + 40 * UNIT
    )


def test_a_deployed_escrow_is_initialised_by_its_admin_in_a_transaction(world: World) -> None:
    admin = Keypair.random()
    world.chain.control.create_account(admin.public_key)
    world.escrow = world.chain.control.deploy()
    assert simulation_error(world, world.investor, "get_escrow") == 20  # NotInitialized

    def init(invoice_id: str) -> list[x.SCVal]:
        none = scval.to_void()
        return [
            scval.to_address(admin.public_key),
            scval.to_string(invoice_id),
            scval.to_address(world.sme.public_key),
            scval.to_int128(300 * UNIT),
            scval.to_int64(500),
            scval.to_uint64(0),
            scval.to_address(world.token),
            none,
            scval.to_address(admin.public_key),
            none,
            none,
            none,
            none,
            none,
            none,
            none,
            none,
            none,
        ]

    assert simulation_error(world, admin, "init", *init("INV-3001")) == 5  # hyphen
    landed = world.submit(admin, "init", *init("INV_3001"))

    assert returned(landed)["invoice_id"] == "INV_3001"
    assert world.view("get_escrow")["funding_target"] == 300 * UNIT
    assert world.view("get_version") == 6
    assert simulation_error(world, admin, "init", *init("INV_3001")) == 3  # already initialised
    initialised = world.rpc.get_events(
        start_ledger=landed.ledger, filters=[EventFilter(contractIds=[world.escrow])]
    )
    assert [plain(scval.to_native(t)) for t in initialised.events[0].topic] == [
        "escrow_initialized",
        "escrow_ii",
    ]


def test_rpc_errors_are_json_rpc_errors(world: World) -> None:
    with pytest.raises(SorobanRpcErrorResponse) as too_early:
        world.rpc.get_events(start_ledger=1)
    assert too_early.value.code == -32600
    assert "startLedger must be between" in str(too_early.value.message)
    with pytest.raises(SorobanRpcErrorResponse) as unknown:
        world.rpc.get_fee_stats()
    assert unknown.value.code == -32601


def test_fields_set_directly_diverge_without_an_event(world: World) -> None:
    world.fund(world.investor, 100 * UNIT)
    events_before = len(
        world.rpc.get_events(start_ledger=world.rpc.get_health().oldest_ledger).events
    )

    world.chain.control.set_fields(world.escrow, funded_amount=123 * UNIT)

    assert world.view("get_escrow")["funded_amount"] == 123 * UNIT
    assert world.view("get_contribution", scval.to_address(world.investor.public_key)) == 100 * UNIT
    assert (
        len(world.rpc.get_events(start_ledger=world.rpc.get_health().oldest_ledger).events)
        == events_before
    )


def test_injected_timeout_holds_the_answer_but_the_submission_lands_once(world: World) -> None:
    envelope = world.prepared(
        world.investor,
        "fund",
        scval.to_address(world.investor.public_key),
        scval.to_int128(100 * UNIT),
    )
    world.chain.control.fail("timeout", methods=["sendTransaction"], hold_seconds=30)
    impatient = SorobanServer(
        world.chain.url, client=RequestsClient(num_retries=0, post_timeout=0.5)
    )

    with pytest.raises(ConnectionError):
        impatient.send_transaction(envelope)

    landed = world.poll(envelope.hash_hex())
    assert landed.status == GetTransactionStatus.SUCCESS
    again = world.rpc.send_transaction(envelope)  # re-sending the same signed transaction
    assert again.status == SendTransactionStatus.ERROR
    assert world.view("get_contribution", scval.to_address(world.investor.public_key)) == 100 * UNIT
    impatient.close()


def test_injected_timeout_without_processing_applies_nothing(world: World) -> None:
    world.chain.control.fail("timeout", methods=["getHealth"], hold_seconds=30, process=False)
    impatient = SorobanServer(
        world.chain.url, client=RequestsClient(num_retries=0, post_timeout=0.5)
    )
    with pytest.raises(ConnectionError):
        impatient.get_health()
    assert impatient.get_health().status == "healthy"
    impatient.close()


def test_injected_503s_answer_http_503_and_the_default_client_retries_them(world: World) -> None:
    world.chain.control.fail("http_503", count=2)
    with pytest.raises(BadResponseError) as caught:
        world.rpc.get_health()
    assert caught.value.status == 503
    # stellar-sdk's default client retries a 503 (urllib3 Retry, POST included): the second
    # injected 503 is absorbed and the retry answers
    default_client = SorobanServer(world.chain.url)
    assert default_client.get_health().status == "healthy"
    default_client.close()


def test_injected_contract_error_fails_simulation_and_lands_failed_on_send(world: World) -> None:
    me = scval.to_address(world.investor.public_key)
    world.chain.control.fail("contract_error", code=106, methods=["simulateTransaction"])
    assert simulation_error(world, world.investor, "fund", me, scval.to_int128(100 * UNIT)) == 106

    envelope = world.prepared(world.investor, "fund", me, scval.to_int128(100 * UNIT))
    world.chain.control.fail("contract_error", code=103, methods=["sendTransaction"])
    sent = world.rpc.send_transaction(envelope)
    assert sent.status == SendTransactionStatus.PENDING
    failed = world.poll(sent.hash)

    assert failed_error(failed) == "Error(Contract, #103)"
    assert result_code(failed.result_xdr) == x.TransactionResultCode.txFAILED
    assert world.view("get_escrow")["funded_amount"] == 0
    assert (
        world.rpc.load_account(world.investor.public_key).sequence == envelope.transaction.sequence
    )


def test_a_dropped_submission_never_lands_and_can_be_sent_again(world: World) -> None:
    envelope = world.prepared(
        world.investor,
        "fund",
        scval.to_address(world.investor.public_key),
        scval.to_int128(100 * UNIT),
    )
    world.chain.control.fail("drop")

    sent = world.rpc.send_transaction(envelope)
    assert sent.status == SendTransactionStatus.PENDING
    world.chain.control.advance_ledgers(count=10)

    assert world.poll(sent.hash).status == GetTransactionStatus.NOT_FOUND
    assert world.view("get_escrow")["funded_amount"] == 0
    assert world.rpc.send_transaction(envelope).status == SendTransactionStatus.PENDING
    assert world.poll(sent.hash).status == GetTransactionStatus.SUCCESS


def test_a_peer_process_is_driven_over_its_control_endpoint() -> None:
    with peer_process() as chain:
        investor, sme = Keypair.random(), Keypair.random()
        chain.control.create_account(investor.public_key)
        escrow = chain.control.create_escrow("INV_2001", sme.public_key, 500 * UNIT)
        chain.control.mint(escrow["funding_token"], investor.public_key, 500 * UNIT)
        rpc = SorobanServer(chain.url, client=RequestsClient(num_retries=0, post_timeout=10))
        world = World(chain, rpc, escrow["address"], escrow["funding_token"], sme, investor, 0)  # type: ignore[arg-type]

        assert returned(world.fund(investor, 500 * UNIT))["status"] == 1
        assert chain.control.escrow(escrow["address"])["funded_amount"] == 500 * UNIT
        chain.control.set_fields(escrow["address"], funded_amount=1)
        assert world.view("get_escrow")["funded_amount"] == 1
        rpc.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_make_chain_serves_in_the_foreground_and_prints_url_and_passphrase() -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    process = subprocess.Popen(
        ["make", "-s", "chain", f"CHAIN_PORT={port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        assert (
            process.stdout.readline().strip()
            == f"soroban peer listening on http://127.0.0.1:{port}"
        )
        assert (
            process.stdout.readline().strip()
            == "network passphrase: Standalone Network ; February 2017"
        )
        rpc = SorobanServer(f"http://127.0.0.1:{port}")
        assert rpc.get_network().passphrase == PASSPHRASE
        rpc.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        process.stdout.close()  # type: ignore[union-attr]
