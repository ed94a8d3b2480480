"""The escrow indexer's projections and cursors over a SQL session, written once for SQLite
and PostgreSQL (``liquifact_core.ports.EscrowProjectionRepository``). Tables
``escrow_projections`` and ``escrow_indexer_cursors`` (migration 0011).

Contract amounts are i128 stroops: SQLite keeps them as digit strings, PostgreSQL as
``numeric(39, 0)``; both read back as exact Python ints.
"""

from __future__ import annotations

from typing import Any, ClassVar

from liquifact_adapters.sql.repositories import Session
from liquifact_adapters.sql.rows import Row, RowConverter
from liquifact_core.errors import concurrent_update
from liquifact_core.escrow import EscrowReading, EscrowStatus, InvoiceEscrow
from liquifact_core.indexing import EscrowProjection, IndexerCursor, LinkedEscrow

UPSERT_PROJECTION = """
INSERT INTO escrow_projections (
    tenant_id, invoice_id, contract, escrow_invoice_id, admin, sme_address, amount,
    funding_target, funded_amount, yield_bps, maturity, status, legal_hold, paused, ledger,
    updated_at
)
VALUES (:tenant_id, :invoice_id, :contract, :escrow_invoice_id, :admin, :sme_address, :amount,
    :funding_target, :funded_amount, :yield_bps, :maturity, :status, :legal_hold, :paused,
    :ledger, :updated_at)
ON CONFLICT (tenant_id, invoice_id) DO UPDATE SET
    contract = excluded.contract, escrow_invoice_id = excluded.escrow_invoice_id,
    admin = excluded.admin, sme_address = excluded.sme_address, amount = excluded.amount,
    funding_target = excluded.funding_target, funded_amount = excluded.funded_amount,
    yield_bps = excluded.yield_bps, maturity = excluded.maturity, status = excluded.status,
    legal_hold = excluded.legal_hold, paused = excluded.paused, ledger = excluded.ledger,
    updated_at = excluded.updated_at
"""
SELECT_PROJECTION = """
SELECT tenant_id, invoice_id, contract, escrow_invoice_id, admin, sme_address, amount,
    funding_target, funded_amount, yield_bps, maturity, status, legal_hold, paused, ledger,
    updated_at
FROM escrow_projections
WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id
"""
# The cursor moves only from the position its pass started at (compare-and-set): a tenant's
# first cursor is inserted unless another pass inserted one first, a later one replaces the
# row only while it still holds the expected position (``:expected_cursor`` is '' for none;
# real paging tokens are never empty). Under PostgreSQL's READ COMMITTED, a concurrent pass's
# uncommitted write makes these wait, then see its committed row: no two passes both succeed.
INSERT_FIRST_CURSOR = """
INSERT INTO escrow_indexer_cursors (tenant_id, cursor, ledger, updated_at)
VALUES (:tenant_id, :cursor, :ledger, :updated_at)
ON CONFLICT (tenant_id) DO NOTHING
"""
REPLACE_CURSOR = """
UPDATE escrow_indexer_cursors SET cursor = :cursor, ledger = :ledger, updated_at = :updated_at
WHERE tenant_id = :tenant_id AND coalesce(cursor, '') = :expected_cursor
    AND ledger = :expected_ledger
"""
SELECT_CURSOR = """
SELECT tenant_id, cursor, ledger, updated_at FROM escrow_indexer_cursors
WHERE tenant_id = :tenant_id
"""
# One file holds every tenant (SQLite); PostgreSQL reads through linked_escrows_to_index().
LINKED_ESCROWS = """
SELECT tenant_id, id AS invoice_id, escrow_address AS contract FROM invoices
WHERE escrow_address IS NOT NULL AND deleted_at IS NULL
    AND status IN ('linked_escrow', 'partially_funded', 'funded', 'disbursed')
ORDER BY tenant_id, id
"""
INDEXER_PROGRESS = """
SELECT min(ledger) AS oldest_ledger, min(updated_at) AS oldest_run_at,
    max(ledger) AS newest_ledger
FROM escrow_indexer_cursors
"""


class SqlEscrowProjectionRepository:
    """``EscrowProjectionRepository`` over a SQL session; a dialect names its converter,
    statements and how it stores i128 amounts (``amount_to_sql``)."""

    rows: ClassVar[RowConverter]
    UPSERT: ClassVar[str]
    SELECT: ClassVar[str]
    INSERT_FIRST_CURSOR: ClassVar[str]
    REPLACE_CURSOR: ClassVar[str]
    SELECT_CURSOR: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self._session = session

    @staticmethod
    def amount_to_sql(value: int) -> Any:
        """An i128 amount as the dialect stores it (default: the int itself)."""
        return value

    def get(self, tenant_id: str, invoice_id: str) -> EscrowProjection | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(
            self.SELECT, {"tenant_id": tenant_id, "invoice_id": invoice_id}
        )
        return self._projection(found[0]) if found else None

    def put(self, projection: EscrowProjection) -> None:
        self._session.check_tenant(projection.tenant_id)
        escrow = projection.reading.escrow
        self._session.write(
            self.UPSERT,
            {
                "tenant_id": projection.tenant_id,
                "invoice_id": projection.invoice_id,
                "contract": projection.contract,
                "escrow_invoice_id": escrow.invoice_id,
                "admin": escrow.admin,
                "sme_address": escrow.sme_address,
                "amount": self.amount_to_sql(escrow.amount),
                "funding_target": self.amount_to_sql(escrow.funding_target),
                "funded_amount": self.amount_to_sql(escrow.funded_amount),
                "yield_bps": escrow.yield_bps,
                "maturity": self.amount_to_sql(escrow.maturity),
                "status": int(escrow.status),
                "legal_hold": projection.reading.legal_hold,
                "paused": projection.reading.paused,
                "ledger": projection.ledger,
                "updated_at": self.rows.timestamp_to_sql(projection.updated_at),
            },
        )

    def cursor(self, tenant_id: str) -> IndexerCursor | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(self.SELECT_CURSOR, {"tenant_id": tenant_id})
        return cursor_from_row(found[0], self.rows) if found else None

    def put_cursor(self, cursor: IndexerCursor, *, replacing: IndexerCursor | None) -> None:
        self._session.check_tenant(cursor.tenant_id)
        params: dict[str, Any] = {
            "tenant_id": cursor.tenant_id,
            "cursor": cursor.cursor,
            "ledger": cursor.ledger,
            "updated_at": self.rows.timestamp_to_sql(cursor.updated_at),
        }
        if replacing is None:
            written = self._session.write(self.INSERT_FIRST_CURSOR, params)
        else:
            params["expected_cursor"] = replacing.cursor or ""
            params["expected_ledger"] = replacing.ledger
            written = self._session.write(self.REPLACE_CURSOR, params)
        if written != 1:
            raise concurrent_update()  # another pass moved the cursor since this one read it

    def _projection(self, row: Row) -> EscrowProjection:
        escrow = InvoiceEscrow(
            invoice_id=str(row["escrow_invoice_id"]),
            admin=str(row["admin"]),
            sme_address=str(row["sme_address"]),
            amount=int(row["amount"]),
            funding_target=int(row["funding_target"]),
            funded_amount=int(row["funded_amount"]),
            yield_bps=int(row["yield_bps"]),
            maturity=int(row["maturity"]),
            status=EscrowStatus(int(row["status"])),
        )
        return EscrowProjection(
            tenant_id=str(row["tenant_id"]),
            invoice_id=str(row["invoice_id"]),
            contract=str(row["contract"]),
            reading=EscrowReading(
                escrow, legal_hold=bool(row["legal_hold"]), paused=bool(row["paused"])
            ),
            ledger=int(row["ledger"]),
            updated_at=self.rows.timestamp_from_sql(row["updated_at"]),
        )


def cursor_from_row(row: Row, rows: RowConverter) -> IndexerCursor:
    cursor = row["cursor"]
    return IndexerCursor(
        tenant_id=str(row["tenant_id"]),
        cursor=None if cursor is None else str(cursor),
        ledger=int(row["ledger"]),
        updated_at=rows.timestamp_from_sql(row["updated_at"]),
    )


def linked_escrow_from_row(row: Row) -> LinkedEscrow:
    return LinkedEscrow(str(row["tenant_id"]), str(row["invoice_id"]), str(row["contract"]))
