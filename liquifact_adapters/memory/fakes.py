"""Deterministic clock and ids, and an in-memory chain, for tests."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from liquifact_core.chain import ContractEvent, EventBatch
from liquifact_core.errors import Unprocessable
from liquifact_core.escrow import EscrowReading
from liquifact_core.ids import sortable_id


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


class SequentialIdGenerator:
    """Ids that sort in creation order and are predictable in tests."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new_id(self, prefix: str) -> str:
        with self._lock:
            n = next(self._counter)
        return sortable_id(prefix, n, n.to_bytes(10, "big"))


class FakeEscrowLedger:
    """``EscrowLedger`` over escrows and events a test sets: ``put(contract, reading)``,
    ``emit(contract, *topics, value=...)`` (one event in a new ledger), ``fail_with(error)``
    (every call raises it until ``fail_with(None)``). Cursors are event ids."""

    def __init__(self, first_ledger: int = 100) -> None:
        self._lock = threading.Lock()
        self._escrows: dict[str, EscrowReading] = {}
        self._events: list[ContractEvent] = []
        self._ledger = first_ledger
        self._failure: Exception | None = None

    def put(self, contract: str, reading: EscrowReading) -> None:
        with self._lock:
            self._escrows[contract] = reading

    def emit(self, contract: str, *topics: object, value: object = None) -> ContractEvent:
        with self._lock:
            self._ledger += 1
            event = ContractEvent(
                event_id=f"{self._ledger:019d}-0000000001",
                contract=contract,
                ledger=self._ledger,
                topics=tuple(topics),
                value=value,
                tx_hash=f"{self._ledger:064x}",
            )
            self._events.append(event)
            return event

    def fail_with(self, error: Exception | None) -> None:
        with self._lock:
            self._failure = error

    def read_escrow(self, contract: str) -> EscrowReading:
        with self._lock:
            self._raise()
            found = self._escrows.get(contract)
        if found is None:
            raise Unprocessable(
                "The address holds no LiquiFact escrow.", code="ESCROW_NOT_RECOGNISED"
            )
        return found

    def contract_events(
        self,
        contracts: Collection[str],
        *,
        start_ledger: int | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> EventBatch:
        with self._lock:
            self._raise()
            wanted = set(contracts)
            events = [
                e
                for e in self._events
                if e.contract in wanted
                and (e.event_id > cursor if cursor else e.ledger >= (start_ledger or 0))
            ][:limit]
            return EventBatch(events, events[-1].event_id if events else cursor, self._ledger)

    def latest_ledger(self) -> int:
        with self._lock:
            self._raise()
            return self._ledger

    def check_health(self) -> None:
        with self._lock:
            self._raise()

    def _raise(self) -> None:
        if self._failure is not None:
            raise self._failure
