"""The escrow indexer (issue 12, item 6): one pass reads the chain for every linked escrow and
moves the invoices the chain moved.

Per tenant, in this order:

1. Read the tenant's cursor and which of its escrows have a projection (a read unit).
2. Ask the chain for the events of its contracts after the cursor (``contract_events``,
   paged), then re-read every contract that emitted one, and every contract without a
   projection yet (seeding), with ``read_escrow``. No transaction is open during these calls.
3. In ONE unit of work: apply each reading to its projection (``indexing.apply_reading``:
   a reading not newer than the projection changes nothing), move the invoice along the
   chain's path through ``InvoiceService.follow_chain_in`` (history, audit, webhook job,
   commitment release), confirm the pending commitments the ``funded`` events report, and
   store the new cursor in place of the one read in step 1. Commit, then publish the changes
   (cache invalidation): every projection written is an ``EscrowProjected``, besides the
   invoice's own changes.

A chain failure (Unavailable) or a store conflict in step 3 leaves that tenant's cursor where it
was; the next pass reads the same events again, and they apply once because the cursor, the
projections and the invoice states commit together. Other tenants carry on. Passes may run at
once (``index-once`` beside the worker's schedule, a slot's job outliving its minute): the
cursor write is a compare-and-set, so when another pass committed the tenant's cursor after
step 1, this pass's unit fails with CONCURRENT_UPDATE and commits nothing, neither an older
cursor nor a second confirmation of the same deposit.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import attrs

from liquifact_core.chain import ContractEvent, EscrowLedger
from liquifact_core.changes import Change, CommitmentChanged, EscrowProjected, InvoiceChanged
from liquifact_core.commitments import (
    Commitment,
    CommitmentListing,
    CommitmentStatus,
    commitment_audit_event,
)
from liquifact_core.errors import LiquifactError
from liquifact_core.escrow import EscrowReading
from liquifact_core.indexing import (
    INDEXER_ACTOR,
    FundedEvent,
    IndexerCursor,
    IndexerProgress,
    LinkedEscrow,
    apply_reading,
    contracts_to_read,
    funded_event,
)
from liquifact_core.ports import Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory
from liquifact_core.services.invoices import InvoiceService

log = logging.getLogger("liquifact.indexer")

DEFAULT_PAGE_SIZE = 100
DEFAULT_MAX_PAGES = 10


@attrs.frozen
class TenantPass:
    """One tenant's part of a pass: how many events were read, contracts re-read,
    projections written, invoice steps taken and commitments confirmed; ``error`` is the
    failure's code when the tenant's unit did not commit (its cursor did not move)."""

    tenant_id: str
    events: int = 0
    readings: int = 0
    projections: int = 0
    transitions: int = 0
    confirmations: int = 0
    latest_ledger: int | None = None
    error: str | None = None


@attrs.frozen
class IndexerRun:
    """What one pass did, tenant by tenant, and when it started and ended (UTC)."""

    started_at: datetime
    finished_at: datetime
    tenants: Sequence[TenantPass]

    @property
    def failed(self) -> Sequence[TenantPass]:
        return [t for t in self.tenants if t.error is not None]

    @property
    def latest_ledger(self) -> int | None:
        ledgers = [t.latest_ledger for t in self.tenants if t.latest_ledger is not None]
        return max(ledgers) if ledgers else None

    def total(self, field: str) -> int:
        """The sum of one ``TenantPass`` count (``events``, ``transitions``...) over tenants."""
        return sum(int(getattr(t, field)) for t in self.tenants)


@attrs.frozen
class _Fetched:
    """What the chain said for one tenant, before any unit of work opens."""

    events: Sequence[ContractEvent]
    cursor: str | None
    latest_ledger: int
    readings: Mapping[str, EscrowReading]
    unreadable: int


class EscrowIndexer:
    """The indexer use case; ``run_once`` is one pass over every linked escrow.

    ``linked_escrows`` is the store's maintenance read (``Store.linked_escrows``);
    ``read_units`` and ``units`` the store's read and write units; ``invoices`` moves the
    invoices (it owns history, audit, webhooks and cache invalidation). ``page_size`` (1-1000)
    events per chain call, at most ``max_pages`` calls per tenant and pass (the rest waits for
    the next pass). ``start_ledger``: where a tenant with no cursor starts reading events
    (None: the ledger adapter's default, e.g. the oldest ledger the RPC keeps).
    """

    def __init__(
        self,
        *,
        linked_escrows: Callable[[], Sequence[LinkedEscrow]],
        progress: Callable[[], IndexerProgress],
        read_units: UnitOfWorkFactory,
        units: UnitOfWorkFactory,
        ledger: EscrowLedger,
        invoices: InvoiceService,
        clock: Clock,
        ids: IdGenerator,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
        start_ledger: int | None = None,
    ) -> None:
        if not 1 <= page_size <= 1000 or max_pages < 1:
            raise ValueError("page_size is 1-1000 and max_pages at least 1.")
        self._linked = linked_escrows
        self._progress = progress
        self._read_units = read_units
        self._units = units
        self.ledger = ledger
        self._invoices = invoices
        self._clock = clock
        self._ids = ids
        self._page_size = page_size
        self._max_pages = max_pages
        self._start_ledger = start_ledger
        # The chain's latest ledger as the last call of this process reported it (metrics).
        self.latest_seen: int | None = None

    def progress(self) -> IndexerProgress:
        """The store's view of every tenant's cursor (``Store.indexer_progress``)."""
        return self._progress()

    def run_once(self) -> IndexerRun:
        """One pass over every tenant with linked escrows. Never raises for one tenant's
        failure (it is in the tenant's ``error``); a failure to list the escrows raises."""
        started = self._clock.now()
        by_tenant: dict[str, list[LinkedEscrow]] = defaultdict(list)
        for escrow in self._linked():
            by_tenant[escrow.tenant_id].append(escrow)
        passes = []
        for tenant_id, escrows in sorted(by_tenant.items()):
            try:
                passes.append(self.index_tenant(tenant_id, escrows))
            except LiquifactError as error:
                log.warning(
                    "escrow indexing failed for a tenant; its cursor stays",
                    extra={"tenant_id": tenant_id, "code": error.code},
                )
                passes.append(TenantPass(tenant_id, error=error.code))
        return IndexerRun(started, self._clock.now(), tuple(passes))

    def index_tenant(self, tenant_id: str, escrows: Sequence[LinkedEscrow]) -> TenantPass:
        """Index one tenant's ``escrows`` (see the module docstring); the pass's counts.
        Raises the chain's or the store's error when nothing was committed."""
        with self._read_units(tenant_id) as uow:
            cursor = uow.escrows.cursor(tenant_id)
            unseeded = {
                e.contract for e in escrows if uow.escrows.get(tenant_id, e.invoice_id) is None
            }
        fetched = self._fetch({e.contract for e in escrows}, cursor, unseeded)
        now = self._clock.now()
        projections = transitions = confirmations = 0
        changes: list[Change] = []
        funded_by_contract: dict[str, list[FundedEvent]] = defaultdict(list)
        for event in fetched.events:
            deposit = funded_event(event)
            if deposit is not None:
                funded_by_contract[deposit.contract].append(deposit)
        with self._units(tenant_id) as uow:
            for escrow in escrows:
                for deposit in funded_by_contract.get(escrow.contract, ()):
                    confirmed = self._confirm(uow, escrow, deposit, now)
                    if confirmed is not None:
                        confirmations += 1
                        changes.append(confirmed)
                reading = fetched.readings.get(escrow.contract)
                if reading is None:
                    continue
                applied = apply_reading(
                    uow.escrows.get(tenant_id, escrow.invoice_id),
                    tenant_id=tenant_id,
                    invoice_id=escrow.invoice_id,
                    contract=escrow.contract,
                    reading=reading,
                    ledger=fetched.latest_ledger,
                    at=now,
                )
                if applied is None:
                    continue
                uow.escrows.put(applied)
                projections += 1
                # The escrow view (cached per invoice) changes even when the invoice does not.
                changes.append(EscrowProjected(tenant_id, escrow.invoice_id))
                invoice = uow.invoices.get(tenant_id, escrow.invoice_id)
                if invoice is None or invoice.escrow_address != escrow.contract:
                    continue  # deleted or relinked since the listing: the projection only
                moved = self._invoices.follow_chain_in(uow, invoice, reading)
                changes.extend(moved)
                transitions += sum(
                    1
                    for c in moved
                    if isinstance(c, InvoiceChanged) and c.from_status is not c.to_status
                )
            # Only from where this pass started: a pass that committed meanwhile makes this
            # raise, and the unit (confirmations and steps included) is not committed.
            uow.escrows.put_cursor(
                IndexerCursor(
                    tenant_id,
                    fetched.cursor if fetched.cursor is not None else _cursor_of(cursor),
                    max(fetched.latest_ledger, cursor.ledger if cursor else 0),
                    now,
                ),
                replacing=cursor,
            )
            uow.commit()
        self._invoices.publish(changes)
        return TenantPass(
            tenant_id,
            events=len(fetched.events),
            readings=len(fetched.readings),
            projections=projections,
            transitions=transitions,
            confirmations=confirmations,
            latest_ledger=fetched.latest_ledger,
        )

    def _fetch(
        self, contracts: set[str], cursor: IndexerCursor | None, unseeded: set[str]
    ) -> _Fetched:
        """The events after ``cursor`` (paged) and the readings of every contract that emitted
        one or has no projection. Outside any unit of work: chain calls hold no transaction."""
        events: list[ContractEvent] = []
        token = _cursor_of(cursor)
        start = self._start_ledger
        if token is None and cursor is not None and cursor.ledger > 0:
            start = cursor.ledger  # no event yet: scan again from the last ledger seen
        latest = 0
        for _ in range(self._max_pages):
            batch = self.ledger.contract_events(
                contracts,
                start_ledger=None if token is not None else start,
                cursor=token,
                limit=self._page_size,
            )
            events.extend(batch.events)
            latest = max(latest, batch.latest_ledger)
            self.latest_seen = max(self.latest_seen or 0, batch.latest_ledger)
            if batch.cursor is not None:
                token = batch.cursor
            if len(batch.events) < self._page_size:
                break
        readings: dict[str, EscrowReading] = {}
        unreadable = 0
        for contract in sorted(contracts_to_read(events) | unseeded):
            if contract not in contracts:
                continue
            try:
                readings[contract] = self.ledger.read_escrow(contract)
            except LiquifactError as error:
                if error.code != "ESCROW_NOT_RECOGNISED":
                    raise  # the chain is down: nothing of this tenant is applied
                unreadable += 1
                log.warning("a linked contract holds no escrow", extra={"code": error.code})
        return _Fetched(events, token, latest, readings, unreadable)

    def _confirm(
        self, uow: UnitOfWork, escrow: LinkedEscrow, deposit: FundedEvent, now: datetime
    ) -> Change | None:
        """Confirm the pending commitment a ``funded`` event reports: of this invoice and
        investor, with the deposit's transaction hash if one has it, else the oldest with no
        transaction of its own and the deposit's amount. None when no pending commitment
        matches (funded outside the API). The invoice's commitments are locked first, like
        every commitment writer does, so a concurrent submission job never overwrites the
        confirmation."""
        uow.commitments.pending_total_for_update(escrow.tenant_id, escrow.invoice_id)
        pending: list[Commitment] = []
        while True:  # every pending one, a page at a time (an investor may hold many)
            page = uow.commitments.list(
                CommitmentListing(
                    tenant_id=escrow.tenant_id,
                    investor_address=deposit.investor,
                    invoice_id=escrow.invoice_id,
                    statuses=frozenset({CommitmentStatus.PENDING}),
                    limit=100,
                    offset=len(pending),
                )
            )
            pending.extend(page.items)
            if not page.items or len(pending) >= page.total:
                break
        matching = [c for c in pending if c.tx_hash == deposit.tx_hash] or sorted(
            # A commitment with a transaction of its own is confirmed only by that one.
            (c for c in pending if c.tx_hash is None and c.amount_stroops == deposit.amount),
            key=lambda c: (c.created_at, c.id),
        )
        if not matching:
            return None
        commitment = attrs.evolve(
            matching[0],
            status=CommitmentStatus.CONFIRMED,
            tx_hash=matching[0].tx_hash or deposit.tx_hash,
            updated_at=now,
        )
        uow.commitments.update(commitment)
        uow.audit.append(
            commitment_audit_event(
                self._ids.new_id("aud_"),
                commitment,
                INDEXER_ACTOR,
                "commitment.confirmed",
                ledger=str(deposit.ledger),
            )
        )
        return CommitmentChanged(
            commitment.tenant_id, commitment.invoice_id, commitment.id, commitment.investor_address
        )


def _cursor_of(cursor: IndexerCursor | None) -> str | None:
    return None if cursor is None else cursor.cursor
