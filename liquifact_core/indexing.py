"""The escrow indexer's rules, pure: the per-invoice projection of an escrow contract, how a
fresh reading changes it, and which lifecycle steps (chain role) it implies for the invoice.

Source: spec/escrow-contract.md §8 ("use events as the timeline and polled views as the
truth"; re-poll ``get_escrow`` after lifecycle events) and §9.10 (the status mapping):

=====================================  ==========================================
Contract reading                        Invoice state it implies
=====================================  ==========================================
status 0 (open), funded 0               ``linked_escrow`` (no step back to it)
status 0, 0 < funded < target           ``partially_funded``
status 0 with funded >= target, or 1    ``funded`` (also partial_settle, a lowered target)
status 3 (withdrawn, ``sme_wd``)        ``disbursed`` (funded, then the SME took it)
status 2 (settled, ``escrow_sd``)       ``settled``
status 4 (cancelled, ``fund_can``)      ``cancelled``
=====================================  ==========================================

A legal hold or a pause changes only the projection. The invoice moves along the shortest path
of chain-role edges of ``lifecycle.TRANSITIONS`` (so ``linked_escrow`` reaches ``settled``
through ``funded``, never by an edge the table lacks); a state already past the target (an
``unfund`` back to 0 leaves ``partially_funded`` as it is) or with no chain path (an operator
marked it ``defaulted``) takes no step.

Amounts are integers in stroops (10^-7 of the asset unit); ledgers are ledger sequence numbers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from liquifact_core.amounts import STROOPS_MAX
from liquifact_core.chain import ContractEvent
from liquifact_core.escrow import EscrowReading, EscrowStatus
from liquifact_core.invoices import Actor, Invoice, Transition
from liquifact_core.lifecycle import TRANSITIONS, InvoiceStatus, Role

S = InvoiceStatus

# The one actor the indexer acts as: role chain, never an API client.
INDEXER_ACTOR = Actor(id="escrow-indexer", role=Role.CHAIN)

# The invoice states whose escrows are indexed (Store.linked_escrows): linked and not final on
# the chain. ``disbursed`` stays indexed: the chain reports nothing more after a withdrawal,
# but a projection still reflects its legal hold.
INDEXED_STATES = frozenset({S.LINKED_ESCROW, S.PARTIALLY_FUNDED, S.FUNDED, S.DISBURSED})

# Reasons for the edges that need one (``Rule.needs_reason``).
CHAIN_REASONS: Mapping[InvoiceStatus, str] = {
    S.CANCELLED: "The escrow contract's funding was cancelled on chain.",
}

# The escrow events that change the contract's lifecycle (spec §6, topic[1]): after one of
# these the contract is re-read (spec §9.8). Others (caps, attestations...) are timeline only.
LIFECYCLE_EVENTS = frozenset(
    {
        "escrow_ii",
        "funded",
        "unfunded",
        "part_set",
        "escrow_sd",
        "sme_wd",
        "fund_can",
        "legalhld",
        "legal_h",
        "paused",
        "fund_tgt",
        "maturity",
    }
)


@attrs.frozen
class EscrowProjection:
    """What the platform knows of one invoice's escrow, and as of which ledger.

    ``reading``: the contract's ``InvoiceEscrow`` and its legal-hold and pause flags as last
    read (the truth, spec §8); ``ledger``: the newest ledger sequence the reading is known to
    reflect (the RPC's latest ledger when the events were asked for, which the read follows);
    ``updated_at``: when the platform applied it (UTC).
    """

    tenant_id: str
    invoice_id: str
    contract: str
    reading: EscrowReading
    ledger: int
    updated_at: datetime

    @property
    def funded_amount(self) -> int:
        """Stroops held, as the contract reports them (may exceed the target)."""
        return self.reading.escrow.funded_amount

    @property
    def status(self) -> EscrowStatus:
        return self.reading.escrow.status

    @property
    def legal_hold(self) -> bool:
        return self.reading.legal_hold

    @property
    def paused(self) -> bool:
        return self.reading.paused


def apply_reading(
    projection: EscrowProjection | None,
    *,
    tenant_id: str,
    invoice_id: str,
    contract: str,
    reading: EscrowReading,
    ledger: int,
    at: datetime,
) -> EscrowProjection | None:
    """The projection after ``reading`` taken at ``ledger``; None when it changes nothing: a
    reading at a ledger not newer than the projection's is older news (or the same news again)
    and is dropped, so applying readings is monotonic in the ledger and idempotent. A newer
    reading with the same content still advances the ledger (the projection is fresher).
    ``projection`` must be of the same invoice and contract (ValueError otherwise)."""
    if projection is not None:
        if (projection.tenant_id, projection.invoice_id, projection.contract) != (
            tenant_id,
            invoice_id,
            contract,
        ):
            raise ValueError("A reading applies only to the projection of its own escrow.")
        if ledger <= projection.ledger:
            return None
    return EscrowProjection(tenant_id, invoice_id, contract, reading, ledger, at)


def implied_state(reading: EscrowReading) -> InvoiceStatus:
    """The invoice state the contract's reading stands for (the table in the module doc)."""
    escrow = reading.escrow
    match escrow.status:
        case EscrowStatus.OPEN:
            if escrow.funded_amount >= escrow.funding_target:
                return S.FUNDED
            if escrow.funded_amount > 0:
                return S.PARTIALLY_FUNDED
            return S.LINKED_ESCROW
        case EscrowStatus.FUNDED:
            return S.FUNDED
        case EscrowStatus.WITHDRAWN:
            return S.DISBURSED
        case EscrowStatus.SETTLED:
            return S.SETTLED
        case EscrowStatus.CANCELLED:
            return S.CANCELLED


def chain_path(current: InvoiceStatus, target: InvoiceStatus) -> tuple[InvoiceStatus, ...]:
    """The states an invoice in ``current`` passes through to reach ``target`` by chain-role
    edges only, ``target`` last; empty when it is there already, past it, or cannot reach it.
    The shortest such path, edges tried in the table's order (deterministic)."""
    if current is target:
        return ()
    previous: dict[InvoiceStatus, InvoiceStatus] = {}
    queue = deque([current])
    while queue:
        state = queue.popleft()
        for nxt, rule in TRANSITIONS[state].items():
            if Role.CHAIN not in rule.roles or nxt in previous or nxt is current:
                continue
            previous[nxt] = state
            if nxt is target:
                path = [nxt]
                while previous[path[-1]] is not current:
                    path.append(previous[path[-1]])
                return tuple(reversed(path))
            queue.append(nxt)
    return ()


def invoice_funded_stroops(reading: EscrowReading) -> int:
    """The invoice's ``funded_stroops`` for this reading: the contract's funded amount,
    capped at the invoice amounts' bound (10^18 stroops; the contract's i128 could say more)."""
    return min(reading.escrow.funded_amount, STROOPS_MAX)


@attrs.frozen
class ChainUpdate:
    """What a reading does to an invoice: the invoice after it (``invoice`` itself when
    nothing changes) and the history steps taken, in order."""

    invoice: Invoice
    steps: Sequence[Transition]
    changed: bool


def follow_chain(invoice: Invoice, reading: EscrowReading, at: datetime) -> ChainUpdate:
    """The invoice moved along ``chain_path`` to the state ``reading`` implies, each step
    checked by the lifecycle's guard (``Invoice.move_to`` as ``INDEXER_ACTOR``), with its
    ``funded_stroops`` set to the reading's funded amount. The amount is updated only while
    the contract is open or on a step (a terminal invoice keeps its last amount). Unchanged
    invoice (same object, no steps) when neither the state nor the amount moves."""
    path = chain_path(invoice.status, implied_state(reading))
    funded = invoice_funded_stroops(reading)
    moved = invoice
    steps: list[Transition] = []
    for target in path:
        moved, step = moved.move_to(target, INDEXER_ACTOR, at, reason=CHAIN_REASONS.get(target))
        steps.append(step)
    amount_follows = bool(steps) or invoice.status in (S.LINKED_ESCROW, S.PARTIALLY_FUNDED)
    if amount_follows and moved.funded_stroops != funded:
        if not steps:
            moved = attrs.evolve(moved, version=moved.version + 1, updated_at=at)
        moved = attrs.evolve(moved, funded_stroops=funded)
    return ChainUpdate(moved, tuple(steps), changed=moved is not invoice)


# ---- Events ---------------------------------------------------------------------------------


@attrs.frozen
class FundedEvent:
    """A ``funded`` event (spec §6: topics ``escrow_funded, funded, invoice_id, investor``;
    data ``amount`` and ``funded_amount`` in stroops, ``status``): one investor's deposit."""

    contract: str
    investor: str
    amount: int
    tx_hash: str
    ledger: int


def funded_event(event: ContractEvent) -> FundedEvent | None:
    """The deposit a ``funded`` event reports, or None for any other event or a ``funded``
    event whose investor or amount cannot be read."""
    if event.name != "funded" or len(event.topics) < 4:
        return None
    investor = event.topics[3]
    value: Any = event.value
    amount = value.get("amount") if isinstance(value, Mapping) else None
    if not isinstance(investor, str) or type(amount) is not int or amount <= 0:
        return None
    return FundedEvent(event.contract, investor, amount, event.tx_hash, event.ledger)


def contracts_to_read(events: Sequence[ContractEvent]) -> frozenset[str]:
    """The contracts to re-read after ``events``: every contract that emitted one. Any event
    may follow a state change the platform has not seen (a missed page, an event the table
    does not list), and a read is cheap next to missing one."""
    return frozenset(event.contract for event in events)


# ---- The cursor -----------------------------------------------------------------------------


@attrs.frozen
class IndexerCursor:
    """Where a tenant's indexing stands: ``cursor``, the RPC's opaque paging token after the
    last event applied (None before the first event); ``ledger``, the RPC's latest ledger at
    the last successful pass (0 before any); ``updated_at``, when that pass committed."""

    tenant_id: str
    cursor: str | None
    ledger: int
    updated_at: datetime


@attrs.frozen
class LinkedEscrow:
    """An escrow to index: an invoice of ``tenant_id`` in ``INDEXED_STATES`` with its contract."""

    tenant_id: str
    invoice_id: str
    contract: str


@attrs.frozen
class IndexerProgress:
    """Across tenants: the oldest and the newest ledger a tenant's pass reached and the
    oldest time a tenant's pass committed (each None before any pass)."""

    oldest_ledger: int | None
    oldest_run_at: datetime | None
    newest_ledger: int | None = None


@attrs.frozen
class IndexerStatus:
    """How far behind the indexer is, for metrics and ``/ready`` (information, never a
    readiness failure): ``lag_ledgers``, the newest ledger known (the chain's latest as this
    process last saw it, else the newest any tenant's pass reached) minus the oldest ledger a
    tenant's pass reached; ``last_run_age_seconds``, seconds since the oldest tenant's last
    committed pass. Both None before any pass."""

    lag_ledgers: int | None
    last_run_age_seconds: float | None


def indexer_status(
    progress: IndexerProgress, latest_seen: int | None, now: datetime
) -> IndexerStatus:
    """``IndexerStatus`` from the store's ``progress``, the chain's latest ledger this process
    saw (None: unknown) and ``now``."""
    lag = None
    if progress.oldest_ledger is not None:
        known = (latest_seen, progress.newest_ledger, progress.oldest_ledger)
        newest = max(x for x in known if x is not None)
        lag = max(newest - progress.oldest_ledger, 0)
    age = None
    if progress.oldest_run_at is not None:
        age = max((now - progress.oldest_run_at).total_seconds(), 0.0)
    return IndexerStatus(lag, age)
