"""``EscrowLedger`` on stellar-sdk's ``SorobanServer`` (synchronous, over HTTP JSON-RPC).

Reads go through simulation (spec/escrow-contract.md §4.2, §9.6): ``get_escrow_summary()``
gives the ``InvoiceEscrow`` and the legal hold, ``is_paused()`` the pause flag. A simulation
needs no funded account: the source is the all-zero account ``NULL_ACCOUNT`` at sequence 0,
nothing is signed or submitted. Events come from ``getEvents`` filtered by contract id.

Failures, as the port says:

- a simulation failing with ``Error(Contract, #20)`` (NotInitialized), a host error (no such
  contract instance, no such function, wrong types) or an answer that is not the escrow's
  struct: ``Unprocessable`` ``ESCROW_NOT_RECOGNISED``;
- any other ``Error(Contract, #N)``: ``liquifact_core.escrow.contract_error(N)``;
- connection errors, timeouts, HTTP 5xx, JSON-RPC errors, unreadable answers, an unhealthy
  node or an open circuit breaker: ``Unavailable`` (retryable) with a fixed message.

No client-facing message carries XDR, RPC text or an address; the log line of a failure
names only the operation and the error's class.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from typing import TypeVar

import pybreaker
from stellar_sdk import Account, SorobanServer, TransactionBuilder
from stellar_sdk.client.requests_client import RequestsClient
from stellar_sdk.soroban_rpc import EventFilter, EventFilterType, SimulateTransactionResponse
from stellar_sdk.strkey import StrKey
from stellar_sdk.xdr import SCVal

from liquifact_adapters.soroban.decode import NotAnEscrow, contract_event, escrow_reading
from liquifact_adapters.soroban.resilience import (
    GuardedRpc,
    RefusedRequest,
    ResilienceSettings,
    RpcFailure,
    StateListener,
    TransientFailure,
)
from liquifact_core.chain import EventBatch
from liquifact_core.errors import Unavailable, Unprocessable
from liquifact_core.escrow import EscrowReading, contract_error, contract_error_number

T = TypeVar("T")

# The all-zero ed25519 key: a valid strkey no one holds, the usual simulation source.
NULL_ACCOUNT = "GAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAWHF"
NOT_INITIALISED = 20  # EscrowError::NotInitialized (spec §5)
# getEvents takes at most 5 filters of at most 5 contract ids each (Soroban RPC limits).
MAX_FILTERS = 5
MAX_CONTRACTS_PER_FILTER = 5
MAX_CONTRACTS = MAX_FILTERS * MAX_CONTRACTS_PER_FILTER
CHAIN_UNAVAILABLE = "The blockchain network is unavailable; try again later."
_HOST_ERROR = re.compile(r"HostError|Error\((Storage|WasmVm|Value|Object|Context|Auth|Crypto), ")
NOT_RECOGNISED_MESSAGE = "The address holds no LiquiFact escrow."

_log = logging.getLogger("liquifact.soroban")


def not_recognised() -> Unprocessable:
    """The port's error for an address that holds no LiquiFact escrow (422)."""
    return Unprocessable(NOT_RECOGNISED_MESSAGE, code="ESCROW_NOT_RECOGNISED")


def chain_unavailable() -> Unavailable:
    """The port's error when the RPC cannot be asked (503, retryable)."""
    return Unavailable(CHAIN_UNAVAILABLE, code="CHAIN_UNAVAILABLE", retryable=True)


class SorobanEscrowLedger:
    """Reads escrows and their events from a Soroban RPC.

    - ``rpc_url``: the JSON-RPC endpoint (it passed the network gate of
      ``liquifact_core.network``); ``network_passphrase``: the network's passphrase, which
      the simulated transactions name.
    - ``timeout_ms``: milliseconds each HTTP request may take (connect and read).
    - ``resilience``: breaker threshold and recovery (ms) and retries (see ``resilience``).
    - ``on_state_change``: told ``(breaker_name, state)`` on every breaker transition.
    - ``breaker_name``: the breaker's label (the spec's ``soroban``).

    The HTTP client is stellar-sdk's ``RequestsClient`` with its own retries off
    (``num_retries=0``): it would otherwise repeat POSTs on 503 and read timeouts itself,
    hiding failures from the breaker; tenacity retries instead. Thread-safe (the breaker
    locks, the HTTP session pools connections). ``close()`` ends the session.
    """

    def __init__(
        self,
        rpc_url: str,
        network_passphrase: str,
        *,
        timeout_ms: int = 5000,
        resilience: ResilienceSettings | None = None,
        on_state_change: StateListener | None = None,
        breaker_name: str = "soroban",
    ) -> None:
        seconds = timeout_ms / 1000
        client = RequestsClient(num_retries=0, request_timeout=seconds, post_timeout=seconds)  # type: ignore[arg-type]
        self._server = SorobanServer(rpc_url, client=client)
        self._passphrase = network_passphrase
        self._rpc = GuardedRpc(breaker_name, resilience or ResilienceSettings(), on_state_change)

    @property
    def breaker_state(self) -> str:
        """CLOSED, OPEN or HALF_OPEN."""
        return self._rpc.state

    def close(self) -> None:
        self._server.close()

    # ---- the port ------------------------------------------------------------------------

    def read_escrow(self, contract: str) -> EscrowReading:
        if not isinstance(contract, str) or not StrKey.is_valid_contract(contract):
            raise not_recognised()
        summary = self._simulate(contract, "get_escrow_summary")
        paused = self._simulate(contract, "is_paused")
        try:
            return escrow_reading(summary, paused)
        except NotAnEscrow as error:
            raise not_recognised() from error

    def contract_events(
        self,
        contracts: Collection[str],
        *,
        start_ledger: int | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> EventBatch:
        """See the port. At most ``MAX_CONTRACTS`` (25) contracts per call (the RPC's filter
        limits): more raise ``ValueError``, as does a ``limit`` outside 1-1000."""
        wanted = sorted(set(contracts))
        if not 1 <= limit <= 1000:
            raise ValueError("limit must be from 1 to 1000")
        if len(wanted) > MAX_CONTRACTS:
            raise ValueError(f"at most {MAX_CONTRACTS} contracts per call")
        if not wanted:
            return EventBatch((), cursor, self.latest_ledger())
        filters = [
            EventFilter(
                type=EventFilterType.CONTRACT,
                contractIds=wanted[i : i + MAX_CONTRACTS_PER_FILTER],
            )
            for i in range(0, len(wanted), MAX_CONTRACTS_PER_FILTER)
        ]
        if cursor is None and start_ledger is None:
            start_ledger = self._call("health", self._server.get_health).oldest_ledger
        response = self._call(
            "events",
            lambda: self._server.get_events(
                start_ledger=None if cursor else start_ledger,
                filters=filters,
                cursor=cursor,
                limit=limit,
            ),
        )
        try:
            events = [
                contract_event(
                    event_id=info.id,
                    contract=info.contract_id,
                    ledger=info.ledger,
                    topics=info.topic,
                    value=info.value,
                    tx_hash=info.transaction_hash,
                )
                for info in response.events
            ]
        except Exception as error:  # undecodable XDR from the RPC
            _log.warning("soroban_events_undecodable error_type=%s", type(error).__name__)
            raise chain_unavailable() from error
        return EventBatch(events, response.cursor or None, response.latest_ledger)

    def latest_ledger(self) -> int:
        return self._call("latest_ledger", self._server.get_latest_ledger).sequence

    def check_health(self) -> None:
        health = self._call("health", self._server.get_health)
        if health.status != "healthy":
            raise chain_unavailable()

    # ---- helpers --------------------------------------------------------------------------

    @property
    def server(self) -> SorobanServer:
        """The stellar-sdk client (for the funding adapter; calls go through ``call``)."""
        return self._server

    @property
    def network_passphrase(self) -> str:
        return self._passphrase

    def call(self, operation: str, call: Callable[[], T], *, retry: bool = True) -> T:
        """``call()`` through the breaker (with tenacity's retries of transient failures
        when ``retry``); any failure as the port's ``Unavailable`` (logged with
        ``operation`` and the error's class only)."""
        return self._call(operation, call, retry=retry)

    def simulation_value(self, response: SimulateTransactionResponse, function: str) -> SCVal:
        """The return value of a simulation, or the port's error for its failure: the
        escrow's ``Error(Contract, #N)`` as ``contract_error(N)``, NotInitialized or a host
        error as ESCROW_NOT_RECOGNISED, anything else Unavailable."""
        if response.error:
            number = contract_error_number(response.error)
            if number == NOT_INITIALISED or (number is None and _HOST_ERROR.search(response.error)):
                # NotInitialized, or a host error (no instance, no such function, wrong
                # types): nothing at this address is a LiquiFact escrow we can use.
                raise not_recognised()
            if number is None:  # the RPC could not run the simulation at all
                _log.warning("soroban_simulation_failed function=%s", function)
                raise chain_unavailable()
            raise contract_error(number)
        if not response.results:
            raise chain_unavailable()
        try:
            return SCVal.from_xdr(response.results[0].xdr)
        except Exception as error:
            raise not_recognised() from error

    def _call(self, operation: str, call: Callable[[], T], *, retry: bool = True) -> T:
        try:
            return self._rpc.call(call) if retry else self._rpc.call_once(call)
        except pybreaker.CircuitBreakerError as error:
            _log.warning("soroban_call_refused operation=%s breaker=open", operation)
            raise chain_unavailable() from error
        except (TransientFailure, RpcFailure, RefusedRequest) as error:
            _log.warning(
                "soroban_call_failed operation=%s error_type=%s",
                operation,
                type(error.__cause__ or error).__name__,
            )
            raise chain_unavailable() from error

    def _simulate(self, contract: str, function: str) -> SCVal:
        """The return value of ``contract.function()`` by simulation."""
        transaction = (
            TransactionBuilder(Account(NULL_ACCOUNT, 0), self._passphrase, base_fee=100)
            .append_invoke_contract_function_op(contract, function, [])
            .set_timeout(0)
            .build()
        )
        response = self._call("simulate", lambda: self._server.simulate_transaction(transaction))
        return self.simulation_value(response, function)
