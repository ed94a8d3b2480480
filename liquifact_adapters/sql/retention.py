"""Retention policies, legal holds and the retention side of invoices over a SQL session,
written once for SQLite and PostgreSQL (``liquifact_core.ports.RetentionRepository``).
Tables ``retention_policies`` and ``legal_holds`` (migration 0014).

A dialect supplies what differs: the test of a column against a list of ids (``id_set``),
the "C" collation of ids on PostgreSQL, and its row lock on the invoice (``LOCK_INVOICE``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import ClassVar

from liquifact_adapters.sql.repositories import ConstraintViolation, Session
from liquifact_adapters.sql.rows import Params, Row, RowConverter
from liquifact_core import errors
from liquifact_core.invoices import Invoice
from liquifact_core.retention import (
    PURGED_BUYER_NAME,
    ClosedInvoice,
    HoldPage,
    HoldsQuery,
    LegalHold,
    LegalHoldType,
    PiiField,
    PolicyPage,
    RetentionPolicy,
    hold_already_active,
    hold_already_released,
    policy_name_taken,
)

_POLICY_COLUMNS = (
    "tenant_id, id, name, retention_days, pii_fields, active, version, created_at, "
    "updated_at, created_by, updated_by"
)
INSERT_POLICY = f"""
INSERT INTO retention_policies ({_POLICY_COLUMNS})
VALUES (:tenant_id, :id, :name, :retention_days, :pii_fields, :active, :version, :created_at,
    :updated_at, :created_by, :updated_by)
"""  # noqa: S608 - constant column names
UPDATE_POLICY = """
UPDATE retention_policies SET
    name = :name, retention_days = :retention_days, pii_fields = :pii_fields,
    active = :active, version = :version, updated_at = :updated_at, updated_by = :updated_by
WHERE tenant_id = :tenant_id AND id = :id AND version = :expected_version
"""
SELECT_POLICY = f"""
SELECT {_POLICY_COLUMNS} FROM retention_policies WHERE tenant_id = :tenant_id AND id = :id
"""  # noqa: S608 - constant column names
COUNT_POLICIES = "SELECT count(*) AS total FROM retention_policies WHERE tenant_id = :tenant_id"


def list_policies(collate: str) -> str:
    """A page of a tenant's policies, newest first; ids break ties in code point order."""
    return (
        f"SELECT {_POLICY_COLUMNS} FROM retention_policies WHERE tenant_id = :tenant_id\n"  # noqa: S608
        f"ORDER BY created_at DESC, id{collate} DESC LIMIT :limit OFFSET :offset"
    )


def active_policies(collate: str) -> str:
    return (
        f"SELECT {_POLICY_COLUMNS} FROM retention_policies\n"  # noqa: S608
        f"WHERE tenant_id = :tenant_id AND active = :yes ORDER BY id{collate}"
    )


_HOLD_COLUMNS = (
    "tenant_id, id, invoice_id, type, reason, placed_by, placed_at, released_at, released_by, "
    "release_reason"
)
INSERT_HOLD = f"""
INSERT INTO legal_holds ({_HOLD_COLUMNS})
VALUES (:tenant_id, :id, :invoice_id, :type, :reason, :placed_by, :placed_at, :released_at,
    :released_by, :release_reason)
"""  # noqa: S608 - constant column names
SELECT_HOLD = f"""
SELECT {_HOLD_COLUMNS} FROM legal_holds WHERE tenant_id = :tenant_id AND id = :id
"""  # noqa: S608 - constant column names
# Only an active hold is released, once: a second release changes no row.
RELEASE_HOLD = """
UPDATE legal_holds SET
    released_at = :released_at, released_by = :released_by, release_reason = :release_reason
WHERE tenant_id = :tenant_id AND id = :id AND released_at IS NULL
"""
_HOLDS_MATCHING = """
FROM legal_holds WHERE tenant_id = :tenant_id
    AND (CAST(:invoice_id AS TEXT) IS NULL OR invoice_id = CAST(:invoice_id AS TEXT))
"""
COUNT_HOLDS = "SELECT count(*) AS total" + _HOLDS_MATCHING


def list_holds(collate: str) -> str:
    return (
        f"SELECT {_HOLD_COLUMNS}"
        + _HOLDS_MATCHING
        + f"ORDER BY placed_at DESC, id{collate} DESC LIMIT :limit OFFSET :offset"
    )


def active_holds(id_in: str) -> str:
    """The active holds of a set of invoices; ``id_in`` is the dialect's test of
    ``invoice_id`` against ``:invoice_ids``."""
    return (
        f"SELECT {_HOLD_COLUMNS} FROM legal_holds\n"  # noqa: S608
        f"WHERE tenant_id = :tenant_id AND released_at IS NULL AND invoice_id {id_in}"
    )


# Live or soft-deleted: a hold may be placed on a deleted invoice, whose data still exists.
SELECT_ANY_INVOICE = "SELECT * FROM invoices WHERE tenant_id = :tenant_id AND id = :id"

_TERMINAL = "('rejected', 'cancelled', 'settled', 'defaulted')"


def closed_invoices(collate: str) -> str:
    """A tenant's closed invoices holding personal data, closed at or before
    ``:closed_before``, by id after ``:after_id``. ``closed_at``: ``deleted_at``, else the
    time of the transition into the terminal status (a terminal status is never left)."""
    return f"""
SELECT * FROM (
    SELECT i.*, coalesce(i.deleted_at, (
        SELECT max(t.at) FROM invoice_transitions AS t
        WHERE t.tenant_id = i.tenant_id AND t.invoice_id = i.id AND t.to_status IN {_TERMINAL}
    )) AS closed_at
    FROM invoices AS i
    WHERE i.tenant_id = :tenant_id
        AND (i.deleted_at IS NOT NULL OR i.status IN {_TERMINAL})
        AND (i.buyer_email IS NOT NULL OR i.buyer_tax_id IS NOT NULL
            OR i.buyer_name <> :purged_name)
        AND (CAST(:after_id AS TEXT) IS NULL OR i.id{collate} > CAST(:after_id AS TEXT))
) AS c
WHERE c.closed_at <= :closed_before
ORDER BY c.id{collate}
LIMIT :limit
"""  # noqa: S608 - built at import time from constants


# Only the buyer fields a purge erases, the search key derived from the name, the version and
# updated_at; live and soft-deleted rows alike, guarded by the version.
ERASE_PII = """
UPDATE invoices SET
    buyer_name = :buyer_name, buyer_name_key = :buyer_name_key, buyer_email = :buyer_email,
    buyer_tax_id = :buyer_tax_id, version = :version, updated_at = :updated_at
WHERE tenant_id = :tenant_id AND id = :id AND version = :expected_version
"""


class SqlRetentionRepository(ABC):
    """``RetentionRepository`` over a SQL session; a dialect names its converter and
    statements."""

    rows: ClassVar[RowConverter]
    INSERT_POLICY: ClassVar[str]
    UPDATE_POLICY: ClassVar[str]
    SELECT_POLICY: ClassVar[str]
    LIST_POLICIES: ClassVar[str]
    COUNT_POLICIES: ClassVar[str]
    ACTIVE_POLICIES: ClassVar[str]
    INSERT_HOLD: ClassVar[str]
    SELECT_HOLD: ClassVar[str]
    RELEASE_HOLD: ClassVar[str]
    LIST_HOLDS: ClassVar[str]
    COUNT_HOLDS: ClassVar[str]
    ACTIVE_HOLDS: ClassVar[str]
    SELECT_INVOICE: ClassVar[str]
    LOCK_INVOICE: ClassVar[str]  # the dialect's row lock, for units of work
    CLOSED_INVOICES: ClassVar[str]
    ERASE_PII: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self._session = session

    @abstractmethod
    def id_set(self, ids: tuple[str, ...]) -> object:
        """A set of ids as the dialect's ``ACTIVE_HOLDS`` binds it."""

    # ---- policies -------------------------------------------------------------------------
    def add_policy(self, policy: RetentionPolicy) -> None:
        self._session.check_tenant(policy.tenant_id)
        try:
            self._session.write(self.INSERT_POLICY, self._policy_params(policy))
        except ConstraintViolation as violation:
            if violation.kind == "unique":
                raise policy_name_taken(policy.name) from None
            if violation.kind == "primary_key":
                raise errors.concurrent_update() from None
            raise

    def get_policy(self, tenant_id: str, policy_id: str) -> RetentionPolicy | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(
            self.SELECT_POLICY, {"tenant_id": tenant_id, "id": policy_id}
        )
        return self._policy(found[0]) if found else None

    def update_policy(self, policy: RetentionPolicy, expected_version: int) -> None:
        self._session.check_tenant(policy.tenant_id)
        params = {**self._policy_params(policy), "expected_version": expected_version}
        try:
            count = self._session.write(self.UPDATE_POLICY, params)
        except ConstraintViolation as violation:
            if violation.kind == "unique":
                raise policy_name_taken(policy.name) from None
            raise
        if count != 1:
            raise errors.concurrent_update()

    def policies(self, tenant_id: str, limit: int, offset: int) -> PolicyPage:
        self._session.check_tenant(tenant_id)
        params = {"tenant_id": tenant_id, "limit": limit, "offset": offset}
        rows = self._session.fetch_all(self.LIST_POLICIES, params)
        [count] = self._session.fetch_all(self.COUNT_POLICIES, params)
        return PolicyPage([self._policy(row) for row in rows], int(count["total"]))

    def active_policies(self, tenant_id: str) -> Sequence[RetentionPolicy]:
        self._session.check_tenant(tenant_id)
        rows = self._session.fetch_all(self.ACTIVE_POLICIES, {"tenant_id": tenant_id, "yes": True})
        return [self._policy(row) for row in rows]

    # ---- holds ----------------------------------------------------------------------------
    def add_hold(self, hold: LegalHold) -> None:
        self._session.check_tenant(hold.tenant_id)
        try:
            self._session.write(self.INSERT_HOLD, self._hold_params(hold))
        except ConstraintViolation as violation:
            if violation.kind == "unique":
                raise hold_already_active(hold.invoice_id) from None
            if violation.kind == "foreign_key":
                raise errors.invoice_not_found(hold.invoice_id) from None
            if violation.kind == "primary_key":
                raise errors.concurrent_update() from None
            raise

    def get_hold(self, tenant_id: str, hold_id: str) -> LegalHold | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(self.SELECT_HOLD, {"tenant_id": tenant_id, "id": hold_id})
        return self._hold(found[0]) if found else None

    def release_hold(self, hold: LegalHold) -> None:
        self._session.check_tenant(hold.tenant_id)
        if self._session.write(self.RELEASE_HOLD, self._hold_params(hold)) != 1:
            raise hold_already_released()

    def active_holds(self, tenant_id: str, invoice_ids: Collection[str]) -> Sequence[LegalHold]:
        self._session.check_tenant(tenant_id)
        if not invoice_ids:
            return []
        params = {"tenant_id": tenant_id, "invoice_ids": self.id_set(tuple(sorted(invoice_ids)))}
        return [self._hold(row) for row in self._session.fetch_all(self.ACTIVE_HOLDS, params)]

    def holds(self, query: HoldsQuery, tenant_id: str) -> HoldPage:
        self._session.check_tenant(tenant_id)
        params = {
            "tenant_id": tenant_id,
            "invoice_id": query.invoice_id,
            "limit": query.limit,
            "offset": query.offset,
        }
        rows = self._session.fetch_all(self.LIST_HOLDS, params)
        [count] = self._session.fetch_all(self.COUNT_HOLDS, params)
        return HoldPage([self._hold(row) for row in rows], int(count["total"]))

    # ---- invoices -------------------------------------------------------------------------
    def lock_invoice(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        self._session.check_tenant(tenant_id)
        statement = self.SELECT_INVOICE if self._session.read_only else self.LOCK_INVOICE
        found = self._session.fetch_all(statement, {"tenant_id": tenant_id, "id": invoice_id})
        return self.rows.invoice_from_row(found[0]) if found else None

    def closed_invoices(
        self, tenant_id: str, closed_before: datetime, after_id: str | None, limit: int
    ) -> Sequence[ClosedInvoice]:
        self._session.check_tenant(tenant_id)
        params: Params = {
            "tenant_id": tenant_id,
            "closed_before": self.rows.timestamp_to_sql(closed_before),
            "after_id": after_id,
            "purged_name": PURGED_BUYER_NAME,
            "limit": limit,
        }
        return [
            ClosedInvoice(
                self.rows.invoice_from_row(row), self.rows.timestamp_from_sql(row["closed_at"])
            )
            for row in self._session.fetch_all(self.CLOSED_INVOICES, params)
        ]

    def erase_pii(self, invoice: Invoice, expected_version: int) -> None:
        self._session.check_tenant(invoice.tenant_id)
        row = self.rows.invoice_params(invoice)
        params = {
            name: row[name]
            for name in (
                "tenant_id",
                "id",
                "buyer_name",
                "buyer_name_key",
                "buyer_email",
                "buyer_tax_id",
                "version",
                "updated_at",
            )
        }
        params["expected_version"] = expected_version
        if self._session.write(self.ERASE_PII, params) != 1:
            raise errors.stale_invoice()

    # ---- rows -----------------------------------------------------------------------------
    def _policy_params(self, policy: RetentionPolicy) -> Params:
        return {
            "tenant_id": policy.tenant_id,
            "id": policy.id,
            "name": policy.name,
            "retention_days": policy.retention_days,
            "pii_fields": self.rows.json_to_sql(sorted(field.value for field in policy.pii_fields)),
            "active": policy.active,
            "version": policy.version,
            "created_at": self.rows.timestamp_to_sql(policy.created_at),
            "updated_at": self.rows.timestamp_to_sql(policy.updated_at),
            "created_by": policy.created_by,
            "updated_by": policy.updated_by,
        }

    def _policy(self, row: Row) -> RetentionPolicy:
        fields = self.rows.json_from_sql(row["pii_fields"])
        return RetentionPolicy(
            id=str(row["id"]),
            tenant_id=str(row["tenant_id"]),
            name=str(row["name"]),
            retention_days=int(row["retention_days"]),
            pii_fields=frozenset(PiiField(field) for field in fields),
            active=bool(row["active"]),
            version=int(row["version"]),
            created_at=self.rows.timestamp_from_sql(row["created_at"]),
            updated_at=self.rows.timestamp_from_sql(row["updated_at"]),
            created_by=str(row["created_by"]),
            updated_by=str(row["updated_by"]),
        )

    def _hold_params(self, hold: LegalHold) -> Params:
        released = hold.released_at
        return {
            "tenant_id": hold.tenant_id,
            "id": hold.id,
            "invoice_id": hold.invoice_id,
            "type": hold.type.value,
            "reason": hold.reason,
            "placed_by": hold.placed_by,
            "placed_at": self.rows.timestamp_to_sql(hold.placed_at),
            "released_at": None if released is None else self.rows.timestamp_to_sql(released),
            "released_by": hold.released_by,
            "release_reason": hold.release_reason,
        }

    def _hold(self, row: Row) -> LegalHold:
        released = row["released_at"]
        return LegalHold(
            id=str(row["id"]),
            tenant_id=str(row["tenant_id"]),
            invoice_id=str(row["invoice_id"]),
            type=LegalHoldType(row["type"]),
            reason=str(row["reason"]),
            placed_by=str(row["placed_by"]),
            placed_at=self.rows.timestamp_from_sql(row["placed_at"]),
            released_at=None if released is None else self.rows.timestamp_from_sql(released),
            released_by=None if row["released_by"] is None else str(row["released_by"]),
            release_reason=None if row["release_reason"] is None else str(row["release_reason"]),
        )
