"""The invoice repository and audit log over one PostgreSQL unit of work.

Every query still filters on its tenant even though row-level security would hide other
tenants' rows anyway: the filter lets indexes work, and the policy is the safety net for a
query that forgets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import psycopg
from psycopg import errors as pg_errors

from liquifact_adapters.postgres import mapping
from liquifact_core.audit import AuditEvent
from liquifact_core.errors import Conflict, NotFound, StaleVersion
from liquifact_core.invoices import Invoice, Transition
from liquifact_core.ports import InvoiceQuery, Page

_INSERT_INVOICE = """
INSERT INTO invoices (
    tenant_id, id, sme_id, sme_wallet, invoice_number, buyer_name, buyer_email, buyer_tax_id,
    amount, currency, issue_date, due_date, yield_bps, description, metadata, status,
    status_reason, version, escrow_address, funding_target_stroops, funded_stroops,
    created_at, updated_at, deleted_at
) VALUES (
    %(tenant_id)s, %(id)s, %(sme_id)s, %(sme_wallet)s, %(invoice_number)s, %(buyer_name)s,
    %(buyer_email)s, %(buyer_tax_id)s, %(amount)s, %(currency)s, %(issue_date)s, %(due_date)s,
    %(yield_bps)s, %(description)s, %(metadata)s, %(status)s, %(status_reason)s, %(version)s,
    %(escrow_address)s, %(funding_target_stroops)s, %(funded_stroops)s, %(created_at)s,
    %(updated_at)s, %(deleted_at)s
)
"""

# The version and liveness checks sit in the WHERE clause so that checking and writing are
# one atomic statement; a row count of 0 means someone else won.
_UPDATE_INVOICE = """
UPDATE invoices SET
    sme_id = %(sme_id)s, sme_wallet = %(sme_wallet)s, invoice_number = %(invoice_number)s,
    buyer_name = %(buyer_name)s, buyer_email = %(buyer_email)s,
    buyer_tax_id = %(buyer_tax_id)s, amount = %(amount)s, currency = %(currency)s,
    issue_date = %(issue_date)s, due_date = %(due_date)s, yield_bps = %(yield_bps)s,
    description = %(description)s, metadata = %(metadata)s, status = %(status)s,
    status_reason = %(status_reason)s, version = %(version)s,
    escrow_address = %(escrow_address)s, funding_target_stroops = %(funding_target_stroops)s,
    funded_stroops = %(funded_stroops)s, created_at = %(created_at)s,
    updated_at = %(updated_at)s, deleted_at = %(deleted_at)s
WHERE tenant_id = %(tenant_id)s AND id = %(id)s AND version = %(expected_version)s
    AND deleted_at IS NULL
"""

# A unit of work reads an invoice to decide how to change it. Locking the row here makes
# read-check-write atomic: a concurrent unit waits, then reads the committed result and
# decides again (so the second of two racing approvals sees 'approved' and is refused),
# instead of both deciding on the same old version. NO KEY UPDATE, the weakest lock that does
# this, still lets other units insert history rows that reference the invoice.
_SELECT_INVOICE = """
SELECT * FROM invoices
WHERE tenant_id = %s AND id = %s AND deleted_at IS NULL
FOR NO KEY UPDATE
"""

# One fixed statement serves every filter combination, so no SQL is ever built from a query.
_LIVE_MATCHING = """
FROM invoices
WHERE tenant_id = %(tenant_id)s AND deleted_at IS NULL
    AND (%(any_status)s OR status = ANY(%(statuses)s))
    AND (%(sme_id)s::text IS NULL OR sme_id = %(sme_id)s)
"""
_LIST_INVOICES = (
    "SELECT *"
    + _LIVE_MATCHING
    + "ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s"
)
_COUNT_INVOICES = "SELECT count(*) AS total" + _LIVE_MATCHING

_INSERT_TRANSITION = """
INSERT INTO invoice_transitions (
    tenant_id, invoice_id, sequence, from_status, to_status, actor_id, actor_role, reason, at
) VALUES (
    %(tenant_id)s, %(invoice_id)s, %(sequence)s, %(from_status)s, %(to_status)s, %(actor_id)s,
    %(actor_role)s, %(reason)s, %(at)s
)
"""

_SELECT_HISTORY = """
SELECT * FROM invoice_transitions WHERE tenant_id = %s AND invoice_id = %s ORDER BY sequence
"""

_INSERT_AUDIT = """
INSERT INTO audit_log_events (
    id, tenant_id, actor_id, actor_role, action, resource_type, resource_id, at, metadata
) VALUES (
    %(id)s, %(tenant_id)s, %(actor_id)s, %(actor_role)s, %(action)s, %(resource_type)s,
    %(resource_id)s, %(at)s, %(metadata)s
)
"""

_SELECT_AUDIT = """
SELECT * FROM audit_log_events
WHERE tenant_id = %s AND resource_type = %s AND resource_id = %s
ORDER BY at, seq
"""

# Constraint names from migrations/0001_initial_schema.up.sql.
_LIVE_NUMBER = "invoices_live_number"
_INVOICE_KEY = "invoices_pkey"
_TRANSITION_KEY = "invoice_transitions_pkey"
_AUDIT_KEY = "audit_log_events_pkey"


class Session(Protocol):
    """What repositories need from their unit of work."""

    def check_tenant(self, tenant_id: str) -> None: ...

    def fetch_all(self, sql: str, params: mapping.Params | Sequence[object]) -> list[mapping.Row]:
        """Rows of a read; infrastructure failures arrive as core errors."""
        ...

    def write(self, sql: str, params: mapping.Params) -> int:
        """Run a write in a savepoint and return its row count; a refused write (raising
        psycopg.IntegrityError) leaves the rest of the transaction usable."""
        ...


def _constraint(error: psycopg.Error) -> str | None:
    return error.diag.constraint_name


def _duplicate_number(invoice: Invoice) -> Conflict:
    return Conflict(
        f"Invoice number '{invoice.draft.invoice_number}' is already used.",
        code="DUPLICATE_INVOICE_NUMBER",
    )


class PostgresInvoiceRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, invoice: Invoice) -> None:
        self._session.check_tenant(invoice.tenant_id)
        try:
            self._session.write(_INSERT_INVOICE, mapping.invoice_params(invoice))
        except pg_errors.UniqueViolation as error:
            if _constraint(error) == _LIVE_NUMBER:
                raise _duplicate_number(invoice) from error
            if _constraint(error) == _INVOICE_KEY:
                raise Conflict(
                    f"Invoice '{invoice.id}' already exists.", code="DUPLICATE_INVOICE_ID"
                ) from error
            raise

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        self._session.check_tenant(tenant_id)
        rows = self._session.fetch_all(_SELECT_INVOICE, (tenant_id, invoice_id))
        return mapping.invoice_from_row(rows[0]) if rows else None

    def update(self, invoice: Invoice, expected_version: int) -> None:
        self._session.check_tenant(invoice.tenant_id)
        params = {**mapping.invoice_params(invoice), "expected_version": expected_version}
        try:
            count = self._session.write(_UPDATE_INVOICE, params)
        except pg_errors.UniqueViolation as error:
            if _constraint(error) == _LIVE_NUMBER:
                raise _duplicate_number(invoice) from error
            raise
        if count != 1:
            raise StaleVersion("The invoice changed since it was read; re-read it and retry.")

    def list(self, query: InvoiceQuery) -> Page:
        self._session.check_tenant(query.tenant_id)
        params: mapping.Params = {
            "tenant_id": query.tenant_id,
            "any_status": not query.statuses,
            "statuses": sorted(status.value for status in query.statuses),
            "sme_id": query.sme_id,
            "limit": query.limit,
            "offset": query.offset,
        }
        rows = self._session.fetch_all(_LIST_INVOICES, params)
        [count] = self._session.fetch_all(_COUNT_INVOICES, params)
        return Page([mapping.invoice_from_row(row) for row in rows], int(count["total"]))

    def add_transition(self, step: Transition) -> None:
        self._session.check_tenant(step.tenant_id)
        try:
            self._session.write(_INSERT_TRANSITION, mapping.transition_params(step))
        except pg_errors.UniqueViolation as error:
            if _constraint(error) == _TRANSITION_KEY:
                raise Conflict(
                    "This history step was already recorded.", code="CONCURRENT_UPDATE"
                ) from error
            raise
        except pg_errors.ForeignKeyViolation as error:
            raise NotFound(f"Invoice '{step.invoice_id}' was not found.") from error

    def history(self, tenant_id: str, invoice_id: str) -> Sequence[Transition]:
        self._session.check_tenant(tenant_id)
        rows = self._session.fetch_all(_SELECT_HISTORY, (tenant_id, invoice_id))
        return [mapping.transition_from_row(row) for row in rows]


class PostgresAuditLog:
    def __init__(self, session: Session) -> None:
        self._session = session

    def append(self, event: AuditEvent) -> None:
        self._session.check_tenant(event.tenant_id)
        try:
            self._session.write(_INSERT_AUDIT, mapping.audit_params(event))
        except pg_errors.UniqueViolation as error:
            if _constraint(error) == _AUDIT_KEY:
                raise Conflict(
                    f"Audit event '{event.id}' was already recorded.", code="DUPLICATE_AUDIT_EVENT"
                ) from error
            raise

    def for_resource(
        self, tenant_id: str, resource_type: str, resource_id: str
    ) -> Sequence[AuditEvent]:
        self._session.check_tenant(tenant_id)
        rows = self._session.fetch_all(_SELECT_AUDIT, (tenant_id, resource_type, resource_id))
        return [mapping.audit_from_row(row) for row in rows]
