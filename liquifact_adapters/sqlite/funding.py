"""Investor commitments and idempotency records over one SQLite unit of work."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from liquifact_adapters.sqlite import mapping
from liquifact_adapters.sqlite.repositories import Session, violated
from liquifact_core.commitments import Commitment, CommitmentQuery, LockPage
from liquifact_core.errors import Conflict, NotFound
from liquifact_core.idempotency import IdempotencyRecord, RequestInProgress, StoredResponse

_INSERT_COMMITMENT = """
INSERT INTO investor_commitments (
    tenant_id, id, invoice_id, investor_address, amount_stroops, status,
    investor_effective_yield_bps, claim_not_before, submission_status, tx_hash,
    idempotency_key, actor_id, created_at, updated_at
) VALUES (
    :tenant_id, :id, :invoice_id, :investor_address, :amount_stroops, :status,
    :investor_effective_yield_bps, :claim_not_before, :submission_status, :tx_hash,
    :idempotency_key, :actor_id, :created_at, :updated_at
)
"""

# Only what may change is written; the terms (amount, investor, invoice) never are, and a
# trigger refuses any statement that tries.
_UPDATE_COMMITMENT = """
UPDATE investor_commitments SET
    status = :status, submission_status = :submission_status, tx_hash = :tx_hash,
    updated_at = :updated_at
WHERE tenant_id = :tenant_id AND id = :id
"""

_SELECT_COMMITMENT = "SELECT * FROM investor_commitments WHERE tenant_id = ? AND id = ?"
_SELECT_BY_KEY = "SELECT * FROM investor_commitments WHERE tenant_id = ? AND idempotency_key = ?"
_PENDING_TOTAL = """
SELECT coalesce(sum(amount_stroops), 0) FROM investor_commitments
WHERE tenant_id = ? AND invoice_id = ? AND status = 'pending'
"""

_LOCK_GROUPS = """
FROM investor_commitments AS c
JOIN invoices AS i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
WHERE c.tenant_id = :tenant_id AND c.status IN ('pending', 'confirmed')
    AND (:investor IS NULL OR c.investor_address = :investor)
    AND (:invoice_id IS NULL OR c.invoice_id = :invoice_id)
GROUP BY c.invoice_id, c.investor_address
"""
_SELECT_LOCKS = (
    """
SELECT c.invoice_id, c.investor_address, sum(c.amount_stroops) AS amount_stroops,
    count(*) AS commitment_count, max(c.updated_at) AS updated_at,
    max(i.yield_bps) AS yield_bps, max(i.due_date) AS due_date
"""
    + _LOCK_GROUPS
    + "ORDER BY c.invoice_id, c.investor_address LIMIT :limit OFFSET :offset"
)
_COUNT_LOCKS = "SELECT count(*) FROM (SELECT 1 " + _LOCK_GROUPS + ")"  # noqa: S608 - constants

# Inserts a claim, or takes over a record that expired or whose in-progress holder's lock
# lapsed. A live record makes the row count 0 and stays as it is.
_CLAIM = """
INSERT INTO idempotency_records (
    tenant_id, key, fingerprint, state, claim_id, created_at, expires_at, locked_until
) VALUES (
    :tenant_id, :key, :fingerprint, :state, :claim_id, :created_at, :expires_at, :locked_until
)
ON CONFLICT (tenant_id, key) DO UPDATE SET
    fingerprint = excluded.fingerprint, state = excluded.state, claim_id = excluded.claim_id,
    response_status = NULL, response_headers = NULL, response_body = NULL,
    created_at = excluded.created_at, expires_at = excluded.expires_at,
    locked_until = excluded.locked_until
WHERE idempotency_records.expires_at <= :now
    OR (idempotency_records.state = 'in_progress' AND idempotency_records.locked_until <= :now)
"""
_COMPLETE = """
UPDATE idempotency_records SET
    state = 'completed', response_status = :response_status,
    response_headers = :response_headers, response_body = :response_body
WHERE tenant_id = :tenant_id AND key = :key AND claim_id = :claim_id AND state = 'in_progress'
"""
_RELEASE = """
DELETE FROM idempotency_records
WHERE tenant_id = ? AND key = ? AND claim_id = ? AND state = 'in_progress'
"""
_SELECT_RECORD = "SELECT * FROM idempotency_records WHERE tenant_id = ? AND key = ?"
PURGE_EXPIRED = """
DELETE FROM idempotency_records WHERE rowid IN (
    SELECT rowid FROM idempotency_records WHERE expires_at <= ? LIMIT ?
)
"""


class SqliteCommitmentRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, commitment: Commitment) -> None:
        self._session.check_tenant(commitment.tenant_id)
        try:
            self._session.execute(_INSERT_COMMITMENT, mapping.commitment_params(commitment))
        except sqlite3.IntegrityError as error:
            if violated(error, "PRIMARYKEY") or violated(error, "UNIQUE"):
                raise Conflict(
                    "This commitment was already recorded.", code="DUPLICATE_COMMITMENT"
                ) from error
            if violated(error, "FOREIGNKEY"):
                raise NotFound(f"Invoice '{commitment.invoice_id}' was not found.") from error
            raise

    def get(self, tenant_id: str, commitment_id: str) -> Commitment | None:
        self._session.check_tenant(tenant_id)
        row = self._session.execute(_SELECT_COMMITMENT, (tenant_id, commitment_id)).fetchone()
        return None if row is None else mapping.commitment_from_row(row)

    def by_idempotency_key(self, tenant_id: str, key: str) -> Commitment | None:
        self._session.check_tenant(tenant_id)
        row = self._session.execute(_SELECT_BY_KEY, (tenant_id, key)).fetchone()
        return None if row is None else mapping.commitment_from_row(row)

    def update(self, commitment: Commitment) -> None:
        self._session.check_tenant(commitment.tenant_id)
        params = mapping.commitment_params(commitment)
        cursor = self._session.execute(_UPDATE_COMMITMENT, params)
        if cursor.rowcount != 1:
            raise NotFound(f"Commitment '{commitment.id}' was not found.")

    def pending_total_for_update(self, tenant_id: str, invoice_id: str) -> int:
        # Every unit holds the file's write lock from BEGIN IMMEDIATE: already serialised.
        self._session.check_tenant(tenant_id)
        (total,) = self._session.execute(_PENDING_TOTAL, (tenant_id, invoice_id)).fetchone()
        return int(total)

    def locks(self, query: CommitmentQuery) -> LockPage:
        self._session.check_tenant(query.tenant_id)
        params: dict[str, mapping.SqlValue] = {
            "tenant_id": query.tenant_id,
            "investor": query.investor_address,
            "invoice_id": query.invoice_id,
            "limit": query.limit,
            "offset": query.offset,
        }
        rows = self._session.execute(_SELECT_LOCKS, params).fetchall()
        (total,) = self._session.execute(_COUNT_LOCKS, params).fetchone()
        return LockPage([mapping.lock_from_row(query.tenant_id, row) for row in rows], int(total))


class SqliteIdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def claim(self, record: IdempotencyRecord, now: datetime) -> IdempotencyRecord | None:
        self._session.check_tenant(record.tenant_id)
        params = {**mapping.idempotency_params(record), "now": mapping.utc_text(now)}
        if self._session.execute(_CLAIM, params).rowcount == 1:
            return None
        return self.get(record.tenant_id, record.key)

    def complete(self, tenant_id: str, key: str, claim_id: str, response: StoredResponse) -> None:
        self._session.check_tenant(tenant_id)
        params = {
            **mapping.response_params(response),
            "tenant_id": tenant_id,
            "key": key,
            "claim_id": claim_id,
        }
        if self._session.execute(_COMPLETE, params).rowcount != 1:
            raise RequestInProgress("The claim on this Idempotency-Key was lost; retry.")

    def release(self, tenant_id: str, key: str, claim_id: str) -> None:
        self._session.check_tenant(tenant_id)
        self._session.execute(_RELEASE, (tenant_id, key, claim_id))

    def get(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        self._session.check_tenant(tenant_id)
        row = self._session.execute(_SELECT_RECORD, (tenant_id, key)).fetchone()
        return None if row is None else mapping.idempotency_from_row(row)
