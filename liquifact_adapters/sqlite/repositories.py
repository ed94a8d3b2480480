"""The invoice repository and audit log over one SQLite unit of work."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from liquifact_adapters.sqlite import mapping
from liquifact_adapters.sqlite import marketplace as market
from liquifact_core.audit import AuditEvent
from liquifact_core.errors import Conflict, NotFound, StaleVersion
from liquifact_core.invoices import Invoice, Transition
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.marketplace import MarketplacePage, MarketplaceQuery
from liquifact_core.ports import InvoiceQuery, Page, StatusTotals

_INSERT_INVOICE = """
INSERT INTO invoices (
    tenant_id, id, sme_id, sme_wallet, invoice_number, buyer_name, buyer_email, buyer_tax_id,
    amount, currency, issue_date, due_date, yield_bps, description, metadata, status,
    status_reason, version, escrow_address, funding_target_stroops, funded_stroops,
    created_at, updated_at, deleted_at, funded_ratio_hundredths, amount_key
) VALUES (
    :tenant_id, :id, :sme_id, :sme_wallet, :invoice_number, :buyer_name, :buyer_email,
    :buyer_tax_id, :amount, :currency, :issue_date, :due_date, :yield_bps, :description,
    :metadata, :status, :status_reason, :version, :escrow_address, :funding_target_stroops,
    :funded_stroops, :created_at, :updated_at, :deleted_at, :funded_ratio_hundredths,
    :amount_key
)
"""

# The version and liveness checks sit in the WHERE clause so that checking and writing are
# one atomic statement; a row count of 0 means someone else won.
_UPDATE_INVOICE = """
UPDATE invoices SET
    sme_id = :sme_id, sme_wallet = :sme_wallet, invoice_number = :invoice_number,
    buyer_name = :buyer_name, buyer_email = :buyer_email, buyer_tax_id = :buyer_tax_id,
    amount = :amount, currency = :currency, issue_date = :issue_date, due_date = :due_date,
    yield_bps = :yield_bps, description = :description, metadata = :metadata,
    status = :status, status_reason = :status_reason, version = :version,
    escrow_address = :escrow_address, funding_target_stroops = :funding_target_stroops,
    funded_stroops = :funded_stroops, created_at = :created_at, updated_at = :updated_at,
    deleted_at = :deleted_at, funded_ratio_hundredths = :funded_ratio_hundredths,
    amount_key = :amount_key
WHERE tenant_id = :tenant_id AND id = :id AND version = :expected_version
    AND deleted_at IS NULL
"""

_SELECT_INVOICE = """
SELECT * FROM invoices WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL
"""

# One fixed statement serves every filter combination, so no SQL is ever built from a query.
_LIVE_MATCHING = """
FROM invoices
WHERE tenant_id = :tenant_id AND deleted_at IS NULL
    AND (:any_status OR status IN (SELECT value FROM json_each(:statuses)))
    AND (:sme_id IS NULL OR sme_id = :sme_id)
"""
_LIST_INVOICES = (
    "SELECT *" + _LIVE_MATCHING + "ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset"
)
_COUNT_INVOICES = "SELECT count(*)" + _LIVE_MATCHING

_INSERT_TRANSITION = """
INSERT INTO invoice_transitions (
    tenant_id, invoice_id, sequence, from_status, to_status, actor_id, actor_role, reason, at
) VALUES (
    :tenant_id, :invoice_id, :sequence, :from_status, :to_status, :actor_id, :actor_role,
    :reason, :at
)
"""

_SELECT_HISTORY = """
SELECT * FROM invoice_transitions WHERE tenant_id = ? AND invoice_id = ? ORDER BY sequence
"""

_INSERT_AUDIT = """
INSERT INTO audit_log_events (
    id, tenant_id, actor_id, actor_role, action, resource_type, resource_id, at, metadata
) VALUES (
    :id, :tenant_id, :actor_id, :actor_role, :action, :resource_type, :resource_id, :at,
    :metadata
)
"""

# rowid breaks ties between events of the same instant in the order they were appended.
_SELECT_AUDIT = """
SELECT * FROM audit_log_events
WHERE tenant_id = ? AND resource_type = ? AND resource_id = ?
ORDER BY at, rowid
"""


class Session(Protocol):
    """What repositories need from their unit of work."""

    def check_tenant(self, tenant_id: str) -> None: ...

    def execute(self, sql: str, params: mapping.SqlParams) -> sqlite3.Cursor: ...


def violated(error: sqlite3.IntegrityError, constraint: str) -> bool:
    return error.sqlite_errorname == f"SQLITE_CONSTRAINT_{constraint}"


def _duplicate_number(invoice: Invoice) -> Conflict:
    return Conflict(
        f"Invoice number '{invoice.draft.invoice_number}' is already used.",
        code="DUPLICATE_INVOICE_NUMBER",
    )


class SqliteInvoiceRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, invoice: Invoice) -> None:
        self._session.check_tenant(invoice.tenant_id)
        try:
            self._session.execute(_INSERT_INVOICE, mapping.invoice_params(invoice))
        except sqlite3.IntegrityError as error:
            if violated(error, "UNIQUE"):
                raise _duplicate_number(invoice) from error
            if violated(error, "PRIMARYKEY"):
                raise Conflict(
                    f"Invoice '{invoice.id}' already exists.", code="DUPLICATE_INVOICE_ID"
                ) from error
            raise

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        self._session.check_tenant(tenant_id)
        row = self._session.execute(_SELECT_INVOICE, (tenant_id, invoice_id)).fetchone()
        return None if row is None else mapping.invoice_from_row(row)

    def update(self, invoice: Invoice, expected_version: int) -> None:
        self._session.check_tenant(invoice.tenant_id)
        params = {**mapping.invoice_params(invoice), "expected_version": expected_version}
        try:
            cursor = self._session.execute(_UPDATE_INVOICE, params)
        except sqlite3.IntegrityError as error:
            if violated(error, "UNIQUE"):
                raise _duplicate_number(invoice) from error
            raise
        if cursor.rowcount != 1:
            raise StaleVersion("The invoice changed since it was read; re-read it and retry.")

    def list(self, query: InvoiceQuery) -> Page:
        self._session.check_tenant(query.tenant_id)
        params: dict[str, mapping.SqlValue] = {
            "tenant_id": query.tenant_id,
            "any_status": int(not query.statuses),
            "statuses": json.dumps(sorted(status.value for status in query.statuses)),
            "sme_id": query.sme_id,
            "limit": query.limit,
            "offset": query.offset,
        }
        rows = self._session.execute(_LIST_INVOICES, params).fetchall()
        (total,) = self._session.execute(_COUNT_INVOICES, params).fetchone()
        return Page([mapping.invoice_from_row(row) for row in rows], int(total))

    def add_transition(self, step: Transition) -> None:
        self._session.check_tenant(step.tenant_id)
        try:
            self._session.execute(_INSERT_TRANSITION, mapping.transition_params(step))
        except sqlite3.IntegrityError as error:
            if violated(error, "PRIMARYKEY"):
                raise Conflict(
                    "This history step was already recorded.", code="CONCURRENT_UPDATE"
                ) from error
            if violated(error, "FOREIGNKEY"):
                raise NotFound(f"Invoice '{step.invoice_id}' was not found.") from error
            raise

    def history(self, tenant_id: str, invoice_id: str) -> Sequence[Transition]:
        self._session.check_tenant(tenant_id)
        rows = self._session.execute(_SELECT_HISTORY, (tenant_id, invoice_id)).fetchall()
        return [mapping.transition_from_row(row) for row in rows]

    def marketplace(self, query: MarketplaceQuery) -> MarketplacePage:
        return marketplace_page(self._session, query)

    def status_totals(self, tenant_id: str, sme_id: str | None) -> Sequence[StatusTotals]:
        return status_totals(self._session, tenant_id, sme_id)


_SELECT_FOR_TOTALS = """
SELECT status, currency, amount, funding_target_stroops, funded_stroops FROM invoices
WHERE tenant_id = :tenant_id AND deleted_at IS NULL AND (:sme_id IS NULL OR sme_id = :sme_id)
"""


def marketplace_page(session: Session, query: MarketplaceQuery) -> MarketplacePage:
    session.check_tenant(query.tenant_id)
    values = market.params(query)
    sql = market.PAGE_SQL[(query.sort, query.order, query.after is not None)]
    rows = session.execute(sql, values).fetchall()
    total = None
    if query.with_total:
        (total,) = session.execute(market.COUNT_SQL, values).fetchone()
    items = [mapping.invoice_from_row(row) for row in rows[: query.limit]]
    return MarketplacePage(
        items=items, has_more=len(rows) > query.limit, total=None if total is None else int(total)
    )


def status_totals(session: Session, tenant_id: str, sme_id: str | None) -> list[StatusTotals]:
    session.check_tenant(tenant_id)
    # Summed here, not in SQL: amounts are exact decimal text, which SQLite would sum as REAL.
    sums: dict[tuple[str, str], list[int | Decimal]] = defaultdict(lambda: [0, Decimal(0), 0, 0])
    cursor = session.execute(_SELECT_FOR_TOTALS, {"tenant_id": tenant_id, "sme_id": sme_id})
    for status, currency, amount, target, funded in cursor:
        group = sums[(str(status), str(currency))]
        group[0] += 1
        group[1] += Decimal(str(amount))
        group[2] += 0 if target is None else int(target)
        group[3] += int(funded)
    return [
        StatusTotals(
            status=InvoiceStatus(status),
            currency=currency,
            count=int(count),
            amount=Decimal(amount),
            funding_target_stroops=int(target),
            funded_stroops=int(funded),
        )
        for (status, currency), (count, amount, target, funded) in sorted(sums.items())
    ]


class SqliteAuditLog:
    def __init__(self, session: Session) -> None:
        self._session = session

    def append(self, event: AuditEvent) -> None:
        self._session.check_tenant(event.tenant_id)
        try:
            self._session.execute(_INSERT_AUDIT, mapping.audit_params(event))
        except sqlite3.IntegrityError as error:
            if violated(error, "PRIMARYKEY"):
                raise Conflict(
                    f"Audit event '{event.id}' was already recorded.", code="DUPLICATE_AUDIT_EVENT"
                ) from error
            raise

    def for_resource(
        self, tenant_id: str, resource_type: str, resource_id: str
    ) -> Sequence[AuditEvent]:
        self._session.check_tenant(tenant_id)
        rows = self._session.execute(
            _SELECT_AUDIT, (tenant_id, resource_type, resource_id)
        ).fetchall()
        return [mapping.audit_from_row(row) for row in rows]
