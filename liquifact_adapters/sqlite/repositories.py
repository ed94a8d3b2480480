"""The SQLite repositories: the shared SQL logic (``liquifact_adapters.sql``) with SQLite's
statements where they differ (JSON status sets, rowid order, summing exact decimal text)."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal

from liquifact_adapters.sql import (
    escrows,
    files,
    kyc,
    profiles,
    reconciliation,
    reminders,
    retention,
    wallets,
    webhooks,
)
from liquifact_adapters.sql import statements as shared
from liquifact_adapters.sql.escrows import SqlEscrowProjectionRepository
from liquifact_adapters.sql.files import SqlInvoiceFileRepository
from liquifact_adapters.sql.kyc import SqlKycRepository
from liquifact_adapters.sql.profiles import SqlProfileRepository
from liquifact_adapters.sql.reconciliation import SqlReconciliationRepository
from liquifact_adapters.sql.reminders import SqlContactRepository, SqlReminderRepository
from liquifact_adapters.sql.repositories import (
    ESCROW_ADDRESS_KEY,
    ConstraintViolation,
    SqlAuditLog,
    SqlCommitmentRepository,
    SqlIdempotencyRepository,
    SqlInvoiceRepository,
    ViolationKind,
)
from liquifact_adapters.sql.retention import SqlRetentionRepository
from liquifact_adapters.sql.wallets import SqlWalletRepository
from liquifact_adapters.sql.webhooks import SqlWebhookRepository
from liquifact_adapters.sqlite import marketplace as market
from liquifact_adapters.sqlite.mapping import ROWS
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.ports import StatusTotals

# One fixed statement serves every filter combination, so no SQL is ever built from a query.
_STATUS_IN = "IN (SELECT value FROM json_each(:statuses))"
_LIVE_MATCHING = shared.live_invoices(_STATUS_IN)
_COMMITMENTS_MATCHING = shared.matching_commitments(_STATUS_IN)

_SELECT_FOR_TOTALS = """
SELECT status, currency, amount, funding_target_stroops, funded_stroops FROM invoices
WHERE tenant_id = :tenant_id AND deleted_at IS NULL AND (:sme_id IS NULL OR sme_id = :sme_id)
"""


_CONSTRAINTS: dict[str, ViolationKind] = {
    "SQLITE_CONSTRAINT_PRIMARYKEY": "primary_key",
    "SQLITE_CONSTRAINT_UNIQUE": "unique",
    "SQLITE_CONSTRAINT_FOREIGNKEY": "foreign_key",
}


# SQLite names the columns of a unique index that refused a write ("UNIQUE constraint failed:
# invoices.escrow_address"), not the index: the indexes a caller tells apart, by their columns.
_UNIQUE_FAILED = "UNIQUE constraint failed: "
_UNIQUE_INDEXES = {"invoices.escrow_address": ESCROW_ADDRESS_KEY}


@contextmanager
def constraint_violations() -> Iterator[None]:
    """Report a refused write as the driver-neutral ConstraintViolation."""
    try:
        yield
    except sqlite3.IntegrityError as error:
        kind = _CONSTRAINTS.get(error.sqlite_errorname, "other")
        constraint = None
        if kind == "unique":
            constraint = _UNIQUE_INDEXES.get(str(error).removeprefix(_UNIQUE_FAILED))
        raise ConstraintViolation(kind, constraint) from error


class SqliteInvoiceRepository(SqlInvoiceRepository):
    rows = ROWS
    INSERT = shared.INSERT_INVOICE
    UPDATE = shared.UPDATE_INVOICE
    SELECT = SELECT_FOR_WRITE = shared.SELECT_INVOICE  # BEGIN IMMEDIATE already serialises
    LIST = shared.list_invoices(_LIVE_MATCHING)
    COUNT = shared.count_invoices(_LIVE_MATCHING)
    COUNT_MAINTAINED, COUNT_MAINTAINED_SME = shared.maintained_counts(_STATUS_IN)
    MARKET_PAGES = market.PAGE_SQL
    MARKET_COUNT = market.COUNT_SQL
    MARKET_COUNT_SEARCH = market.COUNT_SEARCH_SQL
    MARKET_GENERATION = market.GENERATION_SQL
    INSERT_TRANSITION = shared.INSERT_TRANSITION
    SELECT_HISTORY = shared.SELECT_HISTORY

    def status_set(self, statuses: tuple[str, ...]) -> str:
        return json.dumps(statuses)

    def status_totals(self, tenant_id: str, sme_id: str | None) -> Sequence[StatusTotals]:
        self._session.check_tenant(tenant_id)
        # Summed here, not in SQL: amounts are exact decimal text, which SQLite sums as REAL.
        sums: dict[tuple[str, str], list[int | Decimal]] = defaultdict(
            lambda: [0, Decimal(0), 0, 0]
        )
        params = {"tenant_id": tenant_id, "sme_id": sme_id}
        for row in self._session.fetch_all(_SELECT_FOR_TOTALS, params):
            group = sums[(str(row["status"]), str(row["currency"]))]
            target = row["funding_target_stroops"]
            group[0] += 1
            group[1] += Decimal(str(row["amount"]))
            group[2] += 0 if target is None else int(target)
            group[3] += int(row["funded_stroops"])
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


class SqliteAuditLog(SqlAuditLog):
    rows = ROWS
    INSERT = shared.INSERT_AUDIT
    # rowid breaks ties between events of the same instant in the order they were appended.
    SELECT = shared.SELECT_AUDIT + "rowid"
    # rowid is the append order (the table is never updated or deleted from).
    TRAIL, COUNT_TRAIL, STREAM_TRAIL = shared.invoice_trail("rowid")


class SqliteCommitmentRepository(SqlCommitmentRepository):
    rows = ROWS
    INSERT = shared.INSERT_COMMITMENT
    UPDATE = shared.UPDATE_COMMITMENT
    SELECT = shared.SELECT_COMMITMENT
    PENDING_TOTAL = shared.PENDING_TOTAL
    RELEASE_PENDING = shared.RELEASE_PENDING
    # SQLite's default BINARY collation already orders text by code point.
    SELECT_LOCKS = shared.select_locks("")
    COUNT_LOCKS = shared.COUNT_LOCKS
    LIST = shared.list_commitments(_COMMITMENTS_MATCHING, "")
    COUNT = shared.count_commitments(_COMMITMENTS_MATCHING)

    def status_set(self, statuses: tuple[str, ...]) -> str:
        return json.dumps(statuses)

    def serialise_funding(self, tenant_id: str, invoice_id: str) -> None:
        # Every unit holds the file's write lock from BEGIN IMMEDIATE: already serialised.
        del tenant_id, invoice_id


class SqliteIdempotencyRepository(SqlIdempotencyRepository):
    rows = ROWS
    CLAIM = shared.CLAIM
    COMPLETE = shared.COMPLETE
    RELEASE = shared.RELEASE_CLAIM
    SELECT = shared.SELECT_RECORD


PURGE_EXPIRED = """
DELETE FROM idempotency_records WHERE rowid IN (
    SELECT rowid FROM idempotency_records WHERE expires_at <= ? LIMIT ?
)
"""


class SqliteWalletRepository(SqlWalletRepository):
    rows = ROWS
    INSERT = wallets.INSERT_WALLET
    SELECT = wallets.SELECT_WALLET
    LIST = wallets.LIST_WALLETS
    COUNT = wallets.COUNT_WALLETS
    DELETE = wallets.DELETE_WALLET


class SqliteProfileRepository(SqlProfileRepository):
    rows = ROWS
    UPSERT = profiles.UPSERT_PROFILE
    SELECT = profiles.SELECT_PROFILE


class SqliteWebhookRepository(SqlWebhookRepository):
    rows = ROWS
    INSERT = webhooks.INSERT_WEBHOOK
    UPSERT = webhooks.UPSERT_WEBHOOK
    SELECT = SELECT_FOR_WRITE = webhooks.SELECT_WEBHOOK  # BEGIN IMMEDIATE already serialises
    DELETE = webhooks.DELETE_WEBHOOK


class SqliteReconciliationRepository(SqlReconciliationRepository):
    rows = ROWS
    INSERT_RUN = reconciliation.INSERT_RUN
    INSERT_RESULT = reconciliation.INSERT_RESULT
    SELECT_RUN = reconciliation.SELECT_RUN
    SELECT_RESULTS = reconciliation.SELECT_RESULTS
    LIST = reconciliation.LIST_RUNS
    COUNT = reconciliation.COUNT_RUNS


# Store-wide (outside a tenant's unit): the tenants the nightly reconciliation visits.
SELECT_RECONCILIATION_TENANTS = """
SELECT DISTINCT tenant_id FROM invoices
WHERE deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded', 'funded')
ORDER BY tenant_id
"""


class SqliteEscrowProjectionRepository(SqlEscrowProjectionRepository):
    rows = ROWS
    UPSERT = escrows.UPSERT_PROJECTION
    SELECT = escrows.SELECT_PROJECTION
    INSERT_FIRST_CURSOR = escrows.INSERT_FIRST_CURSOR
    REPLACE_CURSOR = escrows.REPLACE_CURSOR
    SELECT_CURSOR = escrows.SELECT_CURSOR

    @staticmethod
    def amount_to_sql(value: int) -> str:
        """i128 amounts as digit strings (SQLite integers stop at 2^63 - 1)."""
        return str(value)


# Store-wide (outside a tenant's unit): the sign-in lookup and the challenge ledger.
SELECT_WALLET_ANY_TENANT = wallets.SELECT_WALLET_ANY_TENANT
PURGE_CHALLENGES = """
DELETE FROM redeemed_challenges WHERE digest IN (
    SELECT digest FROM redeemed_challenges WHERE expires_at <= :now LIMIT :limit
)
"""


class SqliteKycRepository(SqlKycRepository):
    rows = ROWS
    INSERT = kyc.INSERT_RECORD
    UPDATE = kyc.UPDATE_RECORD
    SELECT = kyc.SELECT_RECORD
    INSERT_CHANGE = kyc.INSERT_CHANGE
    SELECT_HISTORY = kyc.SELECT_HISTORY
    REDEEM = kyc.REDEEM_EVENT


class SqliteReminderRepository(SqlReminderRepository):
    rows = ROWS
    DUE = reminders.DUE_INVOICES
    INVESTORS = reminders.INVESTOR_SUBJECTS
    INSERT = reminders.INSERT_REMINDER
    SELECT = reminders.SELECT_REMINDER
    UPDATE = reminders.UPDATE_REMINDER
    INSERT_DEAD_LETTER = reminders.INSERT_DEAD_LETTER
    LIST_DEAD_LETTERS = reminders.LIST_DEAD_LETTERS


class SqliteContactRepository(SqlContactRepository):
    rows = ROWS
    UPSERT = reminders.UPSERT_CONTACT
    SELECT = reminders.SELECT_CONTACT


# Store-wide (outside a tenant's unit): the KYC webhook's lookup, the event ledger's purge and
# the tenants the daily reminder run visits.
SELECT_KYC_SUBJECT = kyc.SELECT_SUBJECT_BY_REFERENCE
PURGE_KYC_EVENTS = """
DELETE FROM kyc_webhook_events WHERE event_id IN (
    SELECT event_id FROM kyc_webhook_events WHERE expires_at <= :now LIMIT :limit
)
"""
SELECT_REMINDER_TENANTS = reminders.REMINDER_TENANTS


class SqliteInvoiceFileRepository(SqlInvoiceFileRepository):
    rows = ROWS
    INSERT = files.INSERT_FILE
    SELECT = files.SELECT_FILE
    LIST = files.LIST_FILES
    MARK_STORED = files.MARK_STORED
    CLEAR_PRIMARY = files.CLEAR_PRIMARY
    SET_PRIMARY = files.SET_PRIMARY
    DELETE_PENDING = files.DELETE_PENDING
    DELETE_INVOICE = files.DELETE_INVOICE_FILES
    TRUE = 1
    FALSE = 0


class SqliteRetentionRepository(SqlRetentionRepository):
    rows = ROWS
    INSERT_POLICY = retention.INSERT_POLICY
    UPDATE_POLICY = retention.UPDATE_POLICY
    SELECT_POLICY = retention.SELECT_POLICY
    LIST_POLICIES = retention.list_policies("")
    COUNT_POLICIES = retention.COUNT_POLICIES
    ACTIVE_POLICIES = retention.active_policies("")
    INSERT_HOLD = retention.INSERT_HOLD
    SELECT_HOLD = retention.SELECT_HOLD
    RELEASE_HOLD = retention.RELEASE_HOLD
    LIST_HOLDS = retention.list_holds("")
    COUNT_HOLDS = retention.COUNT_HOLDS
    ACTIVE_HOLDS = retention.active_holds("IN (SELECT value FROM json_each(:invoice_ids))")
    # BEGIN IMMEDIATE already serialises every unit of work.
    SELECT_INVOICE = LOCK_INVOICE = retention.SELECT_ANY_INVOICE
    CLOSED_INVOICES = retention.closed_invoices("")
    ERASE_PII = retention.ERASE_PII

    def id_set(self, ids: tuple[str, ...]) -> str:
        return json.dumps(ids)


# Store-wide (outside a tenant's unit): the tenants the daily purge visits.
SELECT_RETENTION_TENANTS = """
SELECT DISTINCT tenant_id FROM retention_policies WHERE active = 1 ORDER BY tenant_id
"""
