"""What the core reads from the chain: the escrow contracts' state and their events
(the ``EscrowLedger`` port; ``liquifact_adapters.soroban`` implements it on stellar-sdk, the
in-memory ``FakeEscrowLedger`` for tests), and the funding transactions it sends (the
``FundingChain`` port, on the same Soroban RPC).

The escrow contract spec (its section 8) says: use events as the timeline and polled views as
the truth. So the indexer asks ``contract_events`` which contracts changed, and re-reads each
one with ``read_escrow`` before it changes anything; reconciliation compares ``read_escrow``'s
``funded_amount`` with the store.

Every method may raise ``liquifact_core.errors.Unavailable`` (retryable: the RPC is down,
slow, or its circuit breaker is open). Nothing here says how the chain is reached.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

import attrs

from liquifact_core.escrow import EscrowReading
from liquifact_core.submissions import PreparedFunding, SendResult, TransactionStatus


@attrs.frozen
class ContractEvent:
    """One contract event as ``getEvents`` reports it.

    ``event_id``: the RPC's event id (``<ledger paging token>-<index>``), unique and ordered;
    ``contract``: the emitting contract (``C...``); ``ledger``: its ledger sequence;
    ``topics`` and ``value``: the event's ScVals as Python values (symbols and strings as
    ``str``, integers as ``int``, addresses as their strkey ``str``, maps as ``dict``);
    ``tx_hash``: the transaction's hash, hex.
    """

    event_id: str
    contract: str
    ledger: int
    topics: tuple[Any, ...]
    value: Any
    tx_hash: str

    @property
    def name(self) -> str | None:
        """The event's name, by the spec's layout (``#[contractevent]``: the struct name's
        symbol is ``topics[0]``; the escrow's short name, e.g. ``funded``, ``topics[1]`` when
        present), else None."""
        for topic in self.topics[1:2] or self.topics[:1]:
            if isinstance(topic, str):
                return topic
        return None


@attrs.frozen
class EventBatch:
    """One page of events, oldest first; ``cursor`` continues after the last one (None when
    the RPC gave none); ``latest_ledger`` is the RPC's newest ledger when it answered."""

    events: Sequence[ContractEvent]
    cursor: str | None
    latest_ledger: int


class EscrowLedger(Protocol):
    """Read-only access to escrow contracts on the chain."""

    def read_escrow(self, contract: str) -> EscrowReading:
        """The escrow at ``contract`` (``C...``) as of the latest ledger (the contract's
        ``get_escrow`` and its legal-hold and pause flags, by simulation). Unprocessable
        ``ESCROW_NOT_RECOGNISED`` when the address holds no LiquiFact escrow (no contract, not
        initialised, another contract); Unavailable when the chain cannot be asked."""
        ...

    def contract_events(
        self,
        contracts: Collection[str],
        *,
        start_ledger: int | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> EventBatch:
        """Events of ``contracts`` after ``cursor`` (or from ``start_ledger`` when no cursor),
        at most ``limit`` (1-1000), oldest first. An empty ``contracts`` gives no events."""
        ...

    def latest_ledger(self) -> int:
        """The chain's newest ledger sequence."""
        ...

    def check_health(self) -> None:
        """Return when the chain answers (readiness); Unavailable otherwise."""
        ...


class FundingChain(Protocol):
    """Builds, signs, checks, sends and follows escrow funding transactions
    (``liquifact_core.submissions``). Network calls (``prepare_funding``, ``send``,
    ``transaction_status``) may raise ``Unavailable`` (retryable); ``sign_custodial`` and
    ``check_signed`` are local and never touch the network."""

    def prepare_funding(self, contract: str, investor: str, amount: int) -> PreparedFunding:
        """``fund(investor, amount)`` on the escrow ``contract`` (``C...``), ``amount`` in
        stroops, with ``investor`` (``G...``) as the transaction's source: simulated, its
        footprint, auth and fees assembled, valid for ``FUNDING_TIMEOUT_SECONDS``.

        Raises the escrow's own refusal as its domain error (``escrow.contract_error``:
        legal hold 423, not open 409, caps and minimum 422...), Unprocessable
        ``INVESTOR_ACCOUNT_NOT_FOUND`` when the investor's account does not exist on the
        network, ``ESCROW_NOT_RECOGNISED`` when the address holds no escrow."""
        ...

    def custodies(self, investor: str) -> bool:
        """True when the platform holds the signing key of ``investor`` (custodial mode)."""
        ...

    def sign_custodial(self, prepared: PreparedFunding, investor: str) -> str:
        """``prepared``'s envelope signed with the platform's key of ``investor`` (base64
        XDR). Forbidden ``WALLET_NOT_CUSTODIED`` when the platform holds no such key."""
        ...

    def check_signed(self, prepared_envelope: str, signed_envelope: str, investor: str) -> str:
        """The signed envelope (base64 XDR, normalised) when it is ``prepared_envelope``'s
        very transaction (same hash: same source, sequence, operation, contract, arguments,
        fees and time bounds) carrying a valid signature of ``investor``'s key and no other.
        Unprocessable ``SIGNED_TRANSACTION_UNREADABLE`` (not a transaction envelope),
        ``SIGNED_TRANSACTION_MISMATCH`` (another transaction) or ``SIGNATURE_INVALID``."""
        ...

    def send(self, signed_envelope: str) -> SendResult:
        """Send the signed envelope once (``sendTransaction``); never retried here (the
        submission job decides, after asking ``transaction_status``)."""
        ...

    def transaction_status(self, tx_hash: str) -> TransactionStatus:
        """The chain's status of ``tx_hash`` (``getTransaction``); a failed one carries the
        escrow contract error's code when there is one."""
        ...
