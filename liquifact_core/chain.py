"""What the core reads from the chain: the escrow contracts' state and their events
(the ``EscrowLedger`` port; ``liquifact_adapters.soroban`` implements it on stellar-sdk, the
in-memory ``FakeEscrowLedger`` for tests).

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
