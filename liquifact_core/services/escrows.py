"""Reading an invoice's escrow as the indexer projected it (``GET /v1/escrow/{invoiceId}``,
issue 12, item 7): the projection, the figures derived from it (``escrow.derive_figures``)
and how fresh it is. No chain call: the projection is what the indexer last applied.

A cache of the view (the HTTP shell's, REDIS_ESCROW_CACHE_*) asks ``may_serve_again`` of each
entry it finds: the ledger-gap rule (``beyond_ledger_gap``) and the staleness rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from liquifact_core.errors import NotFound
from liquifact_core.escrow import EscrowFigures, derive_figures
from liquifact_core.indexing import (
    INDEXED_STATES,
    EscrowProjection,
    IndexerProgress,
    IndexerStatus,
    indexer_status,
)
from liquifact_core.invoices import Actor, Invoice
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.ports import Clock, UnitOfWorkFactory
from liquifact_core.services.invoices import visible_invoice

DEFAULT_STALE_AFTER = timedelta(minutes=3)
DEFAULT_STALE_LEDGER_GAP = 20


@attrs.frozen
class EscrowView:
    """One invoice's escrow as served: ``projection`` (the contract's state as last read),
    ``figures`` at ``as_of``, the ledger the view reflects (``ledger``: the newest ledger
    through which the indexer has seen the contract's events, at least the projection's own),
    when that was checked (``checked_at``) and whether it is ``stale``."""

    invoice: Invoice
    projection: EscrowProjection
    figures: EscrowFigures
    ledger: int
    checked_at: datetime
    stale: bool
    as_of: datetime


@attrs.frozen
class ServedEscrow:
    """What an escrow view said when it was served, as a cache keeps it: the invoice's
    ``status``, the ``ledger`` the view reflected, when the indexer had ``checked_at`` it
    and whether it was ``stale``."""

    status: InvoiceStatus
    ledger: int
    checked_at: datetime
    stale: bool


def beyond_ledger_gap(ledger: int, latest: int | None, threshold: int) -> bool:
    """True when ``latest`` (the latest ledger the indexer has seen; None: none yet) is more
    than ``threshold`` ledgers ahead of ``ledger`` (the ledger a view reflects): the rule that
    drops a cached escrow view (REDIS_ESCROW_LEDGER_GAP_THRESHOLD)."""
    return latest is not None and latest - ledger > threshold


def escrow_not_indexed(invoice_id: str) -> NotFound:
    return NotFound(f"Invoice '{invoice_id}' has no indexed escrow yet.", code="ESCROW_NOT_INDEXED")


class EscrowService:
    """``view`` of one invoice's escrow for a caller who may see the invoice (SMEs their own,
    investors investable invoices, operators any; ``services.invoices.visible_invoice``).

    Stale when the indexer last checked the contract more than ``stale_after`` ago, or when
    the ledger it reflects is more than ``stale_ledger_gap`` ledgers behind the newest ledger
    any tenant's pass reached (``progress``, ``Store.indexer_progress``): the indexer is
    failing or falling behind for this tenant.
    """

    def __init__(
        self,
        read_units: UnitOfWorkFactory,
        clock: Clock,
        progress: Callable[[], IndexerProgress],
        *,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        stale_ledger_gap: int = DEFAULT_STALE_LEDGER_GAP,
        latest_seen: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._latest_seen = latest_seen
        self._read_units = read_units
        self._clock = clock
        self._progress = progress
        self.stale_after = stale_after
        self.stale_ledger_gap = stale_ledger_gap

    def indexer_status(self) -> IndexerStatus:
        """The indexer's lag and last pass age (``indexing.indexer_status``), from the store's
        cursors and the chain's latest ledger as this process's indexer last saw it."""
        return indexer_status(self._progress(), self._latest_seen(), self._clock.now())

    def view(self, tenant_id: str, actor: Actor, invoice_id: str) -> EscrowView:
        """The escrow view; NotFound (NOT_FOUND) when the caller may not see the
        invoice, NotFound (ESCROW_NOT_INDEXED) when its escrow has no projection yet."""
        with self._read_units(tenant_id) as uow:
            invoice = visible_invoice(uow, tenant_id, actor, invoice_id)
            projection = uow.escrows.get(tenant_id, invoice_id)
            cursor = uow.escrows.cursor(tenant_id)
        if projection is None or projection.contract != invoice.escrow_address:
            raise escrow_not_indexed(invoice_id)
        ledger, checked_at = projection.ledger, projection.updated_at
        # While the invoice is indexed, every pass that committed read its contract's events:
        # the projection holds through the cursor's ledger.
        if invoice.status in INDEXED_STATES and cursor is not None and cursor.ledger > ledger:
            ledger, checked_at = cursor.ledger, max(cursor.updated_at, checked_at)
        now = self._clock.now()
        stale = self._stale(invoice.status, ledger, checked_at, now, self._progress().newest_ledger)
        return EscrowView(
            invoice=invoice,
            projection=projection,
            figures=derive_figures(projection.reading.escrow, int(now.timestamp())),
            ledger=ledger,
            checked_at=checked_at,
            stale=stale,
            as_of=now,
        )

    def latest_ledger(self) -> int | None:
        """The latest ledger the indexer has seen: the chain's, as this process's indexer last
        read it, or the newest ledger any tenant's committed pass reached, whichever is
        higher (None before any pass)."""
        return _highest(self._latest_seen(), self._progress().newest_ledger)

    def may_serve_again(self, served: ServedEscrow, gap_threshold: int) -> bool:
        """Whether a view served earlier (and cached) may be served again now, rather than
        read again from the projection. Not when:

        * its invoice is indexed and the latest ledger the indexer has seen is more than
          ``gap_threshold`` ledgers ahead of the view's (``beyond_ledger_gap``): the indexer
          has moved on, and the projection may say more;
        * it was stale (the indexer may have caught up since), or it would be stale now
          (checked longer than ``stale_after`` ago, or ``stale_ledger_gap`` ledgers behind):
          a cached answer never hides that the indexer stopped.

        A settled, cancelled or defaulted invoice's view has no gap rule: its contract is
        final and its ledger never moves. Only a change of the invoice or of its projection
        (the cache's invalidation) or the entry's TTL ends it."""
        progress = self._progress()
        indexed = served.status in INDEXED_STATES
        latest = _highest(self._latest_seen(), progress.newest_ledger)
        if indexed and beyond_ledger_gap(served.ledger, latest, gap_threshold):
            return False
        now = self._clock.now()
        newest = progress.newest_ledger
        return not (
            served.stale
            or self._stale(served.status, served.ledger, served.checked_at, now, newest)
        )

    def _stale(
        self,
        status: InvoiceStatus,
        ledger: int,
        checked_at: datetime,
        now: datetime,
        newest: int | None,
    ) -> bool:
        if status not in INDEXED_STATES:
            # Settled, cancelled or defaulted: no longer indexed, and the contract behind it is
            # in a terminal status (2, 3 or 4), so the projection cannot go out of date.
            return False
        return now - checked_at > self.stale_after or (
            newest is not None and newest - ledger > self.stale_ledger_gap
        )


def _highest(*ledgers: int | None) -> int | None:
    known = [ledger for ledger in ledgers if ledger is not None]
    return max(known) if known else None
