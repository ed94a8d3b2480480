"""Reading an invoice's escrow as the indexer projected it (``GET /v1/escrow/{invoiceId}``,
issue 12, item 7): the projection, the figures derived from it (``escrow.derive_figures``)
and how fresh it is. No chain call: the projection is what the indexer last applied.
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
        newest = self._progress().newest_ledger
        stale = now - checked_at > self.stale_after or (
            newest is not None and newest - ledger > self.stale_ledger_gap
        )
        if invoice.status not in INDEXED_STATES:
            # Settled, cancelled or defaulted: no longer indexed, and the contract behind it is
            # in a terminal status (2, 3 or 4), so the projection cannot go out of date.
            stale = False
        return EscrowView(
            invoice=invoice,
            projection=projection,
            figures=derive_figures(projection.reading.escrow, int(now.timestamp())),
            ledger=ledger,
            checked_at=checked_at,
            stale=stale,
            as_of=now,
        )
