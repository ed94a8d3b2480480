"""Investor commitments and idempotency records over one PostgreSQL unit of work."""

from __future__ import annotations

from datetime import datetime

from psycopg import errors as pg_errors

from liquifact_adapters.postgres import mapping
from liquifact_adapters.postgres.repositories import Session, constraint_of
from liquifact_core.commitments import Commitment, CommitmentQuery, LockPage
from liquifact_core.errors import Conflict, NotFound
from liquifact_core.idempotency import IdempotencyRecord, RequestInProgress, StoredResponse

_INSERT_COMMITMENT = """
INSERT INTO investor_commitments (
    tenant_id, id, invoice_id, investor_address, amount_stroops, status,
    investor_effective_yield_bps, claim_not_before, submission_status, tx_hash,
    idempotency_key, actor_id, created_at, updated_at
) VALUES (
    %(tenant_id)s, %(id)s, %(invoice_id)s, %(investor_address)s, %(amount_stroops)s,
    %(status)s, %(investor_effective_yield_bps)s, %(claim_not_before)s,
    %(submission_status)s, %(tx_hash)s, %(idempotency_key)s, %(actor_id)s, %(created_at)s,
    %(updated_at)s
)
"""

# Only what may change is written (the application role may update nothing else); the terms
# (amount, investor, invoice) never are, and a trigger refuses any statement that tries.
_UPDATE_COMMITMENT = """
UPDATE investor_commitments SET
    status = %(status)s, submission_status = %(submission_status)s, tx_hash = %(tx_hash)s,
    updated_at = %(updated_at)s
WHERE tenant_id = %(tenant_id)s AND id = %(id)s
"""

_SELECT_COMMITMENT = "SELECT * FROM investor_commitments WHERE tenant_id = %s AND id = %s"
_SELECT_BY_KEY = "SELECT * FROM investor_commitments WHERE tenant_id = %s AND idempotency_key = %s"
# FOR UPDATE (not NO KEY UPDATE) on the invoice also conflicts with the KEY SHARE lock that
# inserting a commitment takes through its foreign key: until this unit ends, no other unit
# can add a commitment to the invoice, change its funding or sum its pending commitments.
_LOCK_INVOICE = "SELECT 1 FROM invoices WHERE tenant_id = %s AND id = %s FOR UPDATE"
_PENDING_TOTAL = """
SELECT coalesce(sum(amount_stroops), 0) AS total FROM investor_commitments
WHERE tenant_id = %s AND invoice_id = %s AND status = 'pending'
"""

_LOCK_GROUPS = """
FROM investor_commitments AS c
JOIN invoices AS i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
WHERE c.tenant_id = %(tenant_id)s AND c.status IN ('pending', 'confirmed')
    AND (%(investor)s::text IS NULL OR c.investor_address = %(investor)s::text)
    AND (%(invoice_id)s::text IS NULL OR c.invoice_id = %(invoice_id)s::text)
GROUP BY c.invoice_id, c.investor_address
"""
_SELECT_LOCKS = (
    """
SELECT c.invoice_id, c.investor_address, sum(c.amount_stroops) AS amount_stroops,
    count(*) AS commitment_count, max(c.updated_at) AS updated_at,
    max(i.yield_bps) AS yield_bps, max(i.due_date) AS due_date
"""
    + _LOCK_GROUPS
    + 'ORDER BY c.invoice_id COLLATE "C", c.investor_address COLLATE "C"\n'
    + "LIMIT %(limit)s OFFSET %(offset)s"
)
_COUNT_LOCKS = "SELECT count(*) AS total FROM (SELECT 1 " + _LOCK_GROUPS + ") AS groups"  # noqa: S608

# Inserts a claim, or takes over a record that expired or whose in-progress holder's lease
# lapsed. A live record makes the row count 0 and stays as it is. A concurrent claimant of the
# same key waits for the first one's transaction, then sees its row (live: count 0).
_CLAIM = """
INSERT INTO idempotency_records (
    tenant_id, key, fingerprint, state, claim_id, created_at, expires_at, locked_until
) VALUES (
    %(tenant_id)s, %(key)s, %(fingerprint)s, %(state)s, %(claim_id)s, %(created_at)s,
    %(expires_at)s, %(locked_until)s
)
ON CONFLICT (tenant_id, key) DO UPDATE SET
    fingerprint = excluded.fingerprint, state = excluded.state, claim_id = excluded.claim_id,
    response_status = NULL, response_headers = NULL, response_body = NULL,
    created_at = excluded.created_at, expires_at = excluded.expires_at,
    locked_until = excluded.locked_until
WHERE idempotency_records.expires_at <= %(now)s
    OR (idempotency_records.state = 'in_progress' AND idempotency_records.locked_until <= %(now)s)
"""
_COMPLETE = """
UPDATE idempotency_records SET
    state = 'completed', response_status = %(response_status)s,
    response_headers = %(response_headers)s, response_body = %(response_body)s
WHERE tenant_id = %(tenant_id)s AND key = %(key)s AND claim_id = %(claim_id)s
    AND state = 'in_progress'
"""
_RELEASE = """
DELETE FROM idempotency_records
WHERE tenant_id = %(tenant_id)s AND key = %(key)s AND claim_id = %(claim_id)s
    AND state = 'in_progress'
"""
_SELECT_RECORD = "SELECT * FROM idempotency_records WHERE tenant_id = %s AND key = %s"
# Across tenants, through the SECURITY DEFINER function of migration 0002.
PURGE_EXPIRED = "SELECT purge_expired_idempotency_records(%s, %s) AS removed"

# Constraint names from migrations/0002_marketplace_and_funding.up.sql.
_COMMITMENT_KEY = "investor_commitments_pkey"
_COMMITMENT_IDEMPOTENCY_KEY = "investor_commitments_idempotency_key"


class PostgresCommitmentRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, commitment: Commitment) -> None:
        self._session.check_tenant(commitment.tenant_id)
        try:
            self._session.write(_INSERT_COMMITMENT, mapping.commitment_params(commitment))
        except pg_errors.UniqueViolation as error:
            if constraint_of(error) in (_COMMITMENT_KEY, _COMMITMENT_IDEMPOTENCY_KEY):
                raise Conflict(
                    "This commitment was already recorded.", code="DUPLICATE_COMMITMENT"
                ) from error
            raise
        except pg_errors.ForeignKeyViolation as error:
            raise NotFound(f"Invoice '{commitment.invoice_id}' was not found.") from error

    def get(self, tenant_id: str, commitment_id: str) -> Commitment | None:
        self._session.check_tenant(tenant_id)
        rows = self._session.fetch_all(_SELECT_COMMITMENT, (tenant_id, commitment_id))
        return mapping.commitment_from_row(rows[0]) if rows else None

    def by_idempotency_key(self, tenant_id: str, key: str) -> Commitment | None:
        self._session.check_tenant(tenant_id)
        rows = self._session.fetch_all(_SELECT_BY_KEY, (tenant_id, key))
        return mapping.commitment_from_row(rows[0]) if rows else None

    def update(self, commitment: Commitment) -> None:
        self._session.check_tenant(commitment.tenant_id)
        count = self._session.write(_UPDATE_COMMITMENT, mapping.commitment_params(commitment))
        if count != 1:
            raise NotFound(f"Commitment '{commitment.id}' was not found.")

    def pending_total_for_update(self, tenant_id: str, invoice_id: str) -> int:
        self._session.check_tenant(tenant_id)
        # The lock first: the sum below then counts every commitment committed before it,
        # and none can be added until this unit ends.
        self._session.fetch_all(_LOCK_INVOICE, (tenant_id, invoice_id))
        [row] = self._session.fetch_all(_PENDING_TOTAL, (tenant_id, invoice_id))
        return int(row["total"])

    def locks(self, query: CommitmentQuery) -> LockPage:
        self._session.check_tenant(query.tenant_id)
        params: mapping.Params = {
            "tenant_id": query.tenant_id,
            "investor": query.investor_address,
            "invoice_id": query.invoice_id,
            "limit": query.limit,
            "offset": query.offset,
        }
        rows = self._session.fetch_all(_SELECT_LOCKS, params)
        [count] = self._session.fetch_all(_COUNT_LOCKS, params)
        return LockPage(
            [mapping.lock_from_row(query.tenant_id, row) for row in rows], int(count["total"])
        )


class PostgresIdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def claim(self, record: IdempotencyRecord, now: datetime) -> IdempotencyRecord | None:
        self._session.check_tenant(record.tenant_id)
        params = {**mapping.idempotency_params(record), "now": mapping.aware(now)}
        if self._session.write(_CLAIM, params) == 1:
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
        if self._session.write(_COMPLETE, params) != 1:
            raise RequestInProgress("The claim on this Idempotency-Key was lost; retry.")

    def release(self, tenant_id: str, key: str, claim_id: str) -> None:
        self._session.check_tenant(tenant_id)
        self._session.write(_RELEASE, {"tenant_id": tenant_id, "key": key, "claim_id": claim_id})

    def get(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        self._session.check_tenant(tenant_id)
        rows = self._session.fetch_all(_SELECT_RECORD, (tenant_id, key))
        return mapping.idempotency_from_row(rows[0]) if rows else None
