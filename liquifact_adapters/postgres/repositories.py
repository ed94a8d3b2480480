"""The PostgreSQL repositories: the shared SQL logic (``liquifact_adapters.sql``) with
PostgreSQL's statements where they differ (row locks, typed NULL parameters, arrays, the "C"
collation for ids, exact sums in SQL).

Every query still filters on its tenant even though row-level security would hide other
tenants' rows anyway: the filter lets indexes work, and the policy is the safety net for a
query that forgets it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal

import psycopg
from psycopg import errors as pg_errors

from liquifact_adapters.postgres import marketplace as market
from liquifact_adapters.postgres.mapping import ROWS
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
    ConstraintViolation,
    SqlAuditLog,
    SqlCommitmentRepository,
    SqlIdempotencyRepository,
    SqlInvoiceRepository,
)
from liquifact_adapters.sql.retention import SqlRetentionRepository
from liquifact_adapters.sql.statements import pyformat
from liquifact_adapters.sql.wallets import SqlWalletRepository
from liquifact_adapters.sql.webhooks import SqlWebhookRepository
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.ports import StatusTotals

# A unit of work reads an invoice to decide how to change it. Locking the row here makes
# read-check-write atomic: a concurrent unit waits, then reads the committed result and
# decides again (so the second of two racing approvals sees 'approved' and is refused),
# instead of both deciding on the same old version. NO KEY UPDATE, the weakest lock that does
# this, still lets other units insert history rows that reference the invoice. A read-only
# unit takes no row locks (PostgreSQL refuses them in a READ ONLY transaction, and a read must
# never make a writer wait): it reads its snapshot.
_SELECT_INVOICE = pyformat(shared.SELECT_INVOICE)
_SELECT_INVOICE_LOCKED = _SELECT_INVOICE + "\nFOR NO KEY UPDATE"

# One fixed statement serves every filter combination, so no SQL is ever built from a query.
_LIVE_MATCHING = shared.live_invoices("= ANY(:statuses)")
_COMMITMENTS_MATCHING = shared.matching_commitments("= ANY(:statuses)")

# Sums in SQL are exact: numeric for amounts, numeric for bigint stroops.
_STATUS_TOTALS = """
SELECT status, currency, count(*) AS count, sum(amount) AS amount,
    coalesce(sum(funding_target_stroops), 0) AS funding_target_stroops,
    coalesce(sum(funded_stroops), 0) AS funded_stroops
FROM invoices
WHERE tenant_id = %(tenant_id)s AND deleted_at IS NULL
    AND (%(sme_id)s::text IS NULL OR sme_id = %(sme_id)s::text)
GROUP BY status, currency
ORDER BY status COLLATE "C", currency COLLATE "C"
"""

# FOR UPDATE (not NO KEY UPDATE) on the invoice also conflicts with the KEY SHARE lock that
# inserting a commitment takes through its foreign key: until this unit ends, no other unit
# can add a commitment to the invoice, change its funding or sum its pending commitments.
_LOCK_INVOICE = (
    "SELECT 1 FROM invoices WHERE tenant_id = %(tenant_id)s AND id = %(invoice_id)s FOR UPDATE"
)


@contextmanager
def constraint_violations() -> Iterator[None]:
    """Report a refused write as the driver-neutral ConstraintViolation (primary keys are
    named ``<table>_pkey`` in migrations 0001 and 0002)."""
    try:
        yield
    except pg_errors.UniqueViolation as error:
        name = error.diag.constraint_name or ""
        if name.endswith("_pkey"):
            raise ConstraintViolation("primary_key") from error
        raise ConstraintViolation("unique", name or None) from error
    except pg_errors.ForeignKeyViolation as error:
        raise ConstraintViolation("foreign_key") from error
    except psycopg.IntegrityError as error:
        raise ConstraintViolation("other") from error


class PostgresInvoiceRepository(SqlInvoiceRepository):
    rows = ROWS
    INSERT = pyformat(shared.INSERT_INVOICE)
    UPDATE = pyformat(shared.UPDATE_INVOICE)
    SELECT = _SELECT_INVOICE
    SELECT_FOR_WRITE = _SELECT_INVOICE_LOCKED
    LIST = pyformat(shared.list_invoices(_LIVE_MATCHING))
    COUNT = pyformat(shared.count_invoices(_LIVE_MATCHING))
    COUNT_MAINTAINED, COUNT_MAINTAINED_SME = (
        pyformat(sql) for sql in shared.maintained_counts("= ANY(:statuses)")
    )
    MARKET_PAGES = market.PAGE_SQL
    MARKET_COUNT = market.COUNT_SQL
    MARKET_COUNT_SEARCH = market.COUNT_SEARCH_SQL
    MARKET_GENERATION = market.GENERATION_SQL
    INSERT_TRANSITION = pyformat(shared.INSERT_TRANSITION)
    SELECT_HISTORY = pyformat(shared.SELECT_HISTORY)

    def status_set(self, statuses: tuple[str, ...]) -> list[str]:
        return [*statuses]

    def status_totals(self, tenant_id: str, sme_id: str | None) -> Sequence[StatusTotals]:
        self._session.check_tenant(tenant_id)
        rows = self._session.fetch_all(_STATUS_TOTALS, {"tenant_id": tenant_id, "sme_id": sme_id})
        return [
            StatusTotals(
                status=InvoiceStatus(row["status"]),
                currency=str(row["currency"]),
                count=int(row["count"]),
                amount=Decimal(row["amount"]),
                funding_target_stroops=int(row["funding_target_stroops"]),
                funded_stroops=int(row["funded_stroops"]),
            )
            for row in rows
        ]


class PostgresAuditLog(SqlAuditLog):
    rows = ROWS
    INSERT = pyformat(shared.INSERT_AUDIT)
    # seq (a bigserial) breaks ties between events of the same instant in append order.
    SELECT = pyformat(shared.SELECT_AUDIT) + "seq"
    # seq is the append order (an identity; the table is never updated or deleted from).
    TRAIL, COUNT_TRAIL, STREAM_TRAIL = (pyformat(sql) for sql in shared.invoice_trail("seq"))


class PostgresCommitmentRepository(SqlCommitmentRepository):
    rows = ROWS
    INSERT = pyformat(shared.INSERT_COMMITMENT)
    UPDATE = pyformat(shared.UPDATE_COMMITMENT)
    SELECT = pyformat(shared.SELECT_COMMITMENT)
    PENDING_TOTAL = pyformat(shared.PENDING_TOTAL)
    RELEASE_PENDING = pyformat(shared.RELEASE_PENDING)
    # Ids in the "C" collation: code point order, as Python and SQLite compare strings.
    SELECT_LOCKS = pyformat(shared.select_locks(' COLLATE "C"'))
    COUNT_LOCKS = pyformat(shared.COUNT_LOCKS)
    LIST = pyformat(shared.list_commitments(_COMMITMENTS_MATCHING, ' COLLATE "C"'))
    COUNT = pyformat(shared.count_commitments(_COMMITMENTS_MATCHING))

    def status_set(self, statuses: tuple[str, ...]) -> list[str]:
        return [*statuses]

    def serialise_funding(self, tenant_id: str, invoice_id: str) -> None:
        # The lock first: a sum read after it counts every commitment committed before it,
        # and none can be added until this unit ends.
        self._session.fetch_all(_LOCK_INVOICE, {"tenant_id": tenant_id, "invoice_id": invoice_id})


class PostgresIdempotencyRepository(SqlIdempotencyRepository):
    rows = ROWS
    CLAIM = pyformat(shared.CLAIM)
    COMPLETE = pyformat(shared.COMPLETE)
    RELEASE = pyformat(shared.RELEASE_CLAIM)
    SELECT = pyformat(shared.SELECT_RECORD)


# Across tenants, through the SECURITY DEFINER function of migration 0002.
PURGE_EXPIRED = "SELECT purge_expired_idempotency_records(%s, %s) AS removed"


class PostgresWalletRepository(SqlWalletRepository):
    rows = ROWS
    INSERT = pyformat(wallets.INSERT_WALLET)
    SELECT = pyformat(wallets.SELECT_WALLET)
    LIST = pyformat(wallets.LIST_WALLETS_C)
    COUNT = pyformat(wallets.COUNT_WALLETS)
    DELETE = pyformat(wallets.DELETE_WALLET)


class PostgresProfileRepository(SqlProfileRepository):
    rows = ROWS
    UPSERT = pyformat(profiles.UPSERT_PROFILE)
    SELECT = pyformat(profiles.SELECT_PROFILE)


class PostgresWebhookRepository(SqlWebhookRepository):
    rows = ROWS
    INSERT = pyformat(webhooks.INSERT_WEBHOOK)
    UPSERT = pyformat(webhooks.UPSERT_WEBHOOK)
    SELECT = pyformat(webhooks.SELECT_WEBHOOK)
    SELECT_FOR_WRITE = pyformat(webhooks.SELECT_WEBHOOK) + "FOR UPDATE"
    DELETE = pyformat(webhooks.DELETE_WEBHOOK)


class PostgresReconciliationRepository(SqlReconciliationRepository):
    rows = ROWS
    INSERT_RUN = pyformat(reconciliation.INSERT_RUN)
    INSERT_RESULT = pyformat(reconciliation.INSERT_RESULT)
    SELECT_RUN = pyformat(reconciliation.SELECT_RUN)
    SELECT_RESULTS = pyformat(reconciliation.SELECT_RESULTS_C)
    LIST = pyformat(reconciliation.LIST_RUNS_C)
    COUNT = pyformat(reconciliation.COUNT_RUNS)


# Across tenants, through the SECURITY DEFINER function of migration 0010: tenant ids only.
SELECT_RECONCILIATION_TENANTS = "SELECT tenant_id FROM reconciliation_tenants() AS tenant_id"


class PostgresEscrowProjectionRepository(SqlEscrowProjectionRepository):
    rows = ROWS
    UPSERT = pyformat(escrows.UPSERT_PROJECTION)
    SELECT = pyformat(escrows.SELECT_PROJECTION)
    INSERT_FIRST_CURSOR = pyformat(escrows.INSERT_FIRST_CURSOR)
    REPLACE_CURSOR = pyformat(escrows.REPLACE_CURSOR)
    SELECT_CURSOR = pyformat(escrows.SELECT_CURSOR)


# Across tenants, through the SECURITY DEFINER functions of migration 0011.
LINKED_ESCROWS = "SELECT tenant_id, invoice_id, contract FROM linked_escrows_to_index()"
INDEXER_PROGRESS = (
    "SELECT oldest_ledger, oldest_run_at, newest_ledger FROM escrow_indexer_progress()"
)

# Across tenants, through the SECURITY DEFINER function of migration 0006.
SELECT_WALLET_ANY_TENANT = "SELECT * FROM wallet_binding_of(%(address)s)"
INSERT_CHALLENGE = pyformat(wallets.INSERT_CHALLENGE)
PURGE_CHALLENGES = """
DELETE FROM redeemed_challenges WHERE digest IN (
    SELECT digest FROM redeemed_challenges WHERE expires_at <= %(now)s
    ORDER BY expires_at LIMIT %(limit)s
)
"""


class PostgresKycRepository(SqlKycRepository):
    rows = ROWS
    INSERT = pyformat(kyc.INSERT_RECORD)
    UPDATE = pyformat(kyc.UPDATE_RECORD)
    SELECT = pyformat(kyc.SELECT_RECORD)
    INSERT_CHANGE = pyformat(kyc.INSERT_CHANGE)
    SELECT_HISTORY = pyformat(kyc.SELECT_HISTORY)
    REDEEM = pyformat(kyc.REDEEM_EVENT)


class PostgresReminderRepository(SqlReminderRepository):
    rows = ROWS
    # Ids in the "C" collation: code point order, as Python and SQLite compare strings.
    DUE = pyformat(
        reminders.DUE_INVOICES.replace("ORDER BY due_date, id", 'ORDER BY due_date, id COLLATE "C"')
    )
    INVESTORS = pyformat(
        reminders.INVESTOR_SUBJECTS.replace("ORDER BY actor_id", 'ORDER BY actor_id COLLATE "C"')
    )
    INSERT = pyformat(reminders.INSERT_REMINDER)
    SELECT = pyformat(reminders.SELECT_REMINDER)
    UPDATE = pyformat(reminders.UPDATE_REMINDER)
    INSERT_DEAD_LETTER = pyformat(reminders.INSERT_DEAD_LETTER)
    LIST_DEAD_LETTERS = pyformat(
        reminders.LIST_DEAD_LETTERS.replace("id DESC", 'id COLLATE "C" DESC')
    )


class PostgresContactRepository(SqlContactRepository):
    rows = ROWS
    UPSERT = pyformat(reminders.UPSERT_CONTACT)
    SELECT = pyformat(reminders.SELECT_CONTACT)


# Across tenants, through the SECURITY DEFINER functions of migration 0015: (tenant, subject)
# of one KYC reference; tenant ids with invoices maturing in a window.
SELECT_KYC_SUBJECT = "SELECT tenant_id, subject FROM kyc_subject_of(%(reference)s)"
SELECT_REMINDER_TENANTS = (
    "SELECT tenant_id FROM reminder_tenants(%(first_day)s, %(last_day)s) AS tenant_id"
)
# kyc_webhook_events has no row-level security (not tenant data): a plain delete.
PURGE_KYC_EVENTS = """
DELETE FROM kyc_webhook_events WHERE event_id IN (
    SELECT event_id FROM kyc_webhook_events WHERE expires_at <= %(now)s
    ORDER BY expires_at LIMIT %(limit)s
)
"""


class PostgresInvoiceFileRepository(SqlInvoiceFileRepository):
    rows = ROWS
    INSERT = pyformat(files.INSERT_FILE)
    SELECT = pyformat(files.SELECT_FILE)
    LIST = pyformat(files.LIST_FILES) + ' COLLATE "C"'
    MARK_STORED = pyformat(files.MARK_STORED)
    CLEAR_PRIMARY = pyformat(files.CLEAR_PRIMARY)
    SET_PRIMARY = pyformat(files.SET_PRIMARY)
    DELETE_PENDING = pyformat(files.DELETE_PENDING)
    DELETE_INVOICE = pyformat(files.DELETE_INVOICE_FILES)


class PostgresRetentionRepository(SqlRetentionRepository):
    rows = ROWS
    INSERT_POLICY = pyformat(retention.INSERT_POLICY)
    UPDATE_POLICY = pyformat(retention.UPDATE_POLICY)
    SELECT_POLICY = pyformat(retention.SELECT_POLICY)
    LIST_POLICIES = pyformat(retention.list_policies(' COLLATE "C"'))
    COUNT_POLICIES = pyformat(retention.COUNT_POLICIES)
    ACTIVE_POLICIES = pyformat(retention.active_policies(' COLLATE "C"'))
    INSERT_HOLD = pyformat(retention.INSERT_HOLD)
    SELECT_HOLD = pyformat(retention.SELECT_HOLD)
    RELEASE_HOLD = pyformat(retention.RELEASE_HOLD)
    LIST_HOLDS = pyformat(retention.list_holds(' COLLATE "C"'))
    COUNT_HOLDS = pyformat(retention.COUNT_HOLDS)
    ACTIVE_HOLDS = pyformat(retention.active_holds("= ANY(:invoice_ids)"))
    SELECT_INVOICE = pyformat(retention.SELECT_ANY_INVOICE)
    # FOR UPDATE: placing a hold and purging the invoice lock the same row, one after the other.
    LOCK_INVOICE = SELECT_INVOICE + "\nFOR UPDATE"
    CLOSED_INVOICES = pyformat(retention.closed_invoices(' COLLATE "C"'))
    ERASE_PII = pyformat(retention.ERASE_PII)

    def id_set(self, ids: tuple[str, ...]) -> list[str]:
        return [*ids]


# Across tenants, through the SECURITY DEFINER function of migration 0014: tenant ids only.
SELECT_RETENTION_TENANTS = "SELECT tenant_id FROM retention_tenants() AS tenant_id"
