"""The wallet directory over a SQL session, written once for SQLite and PostgreSQL
(``liquifact_core.ports.WalletRepository``), and the statements both dialects share.

Table ``wallet_bindings`` (migration 0006): the address is the primary key, so an address is
bound at most once across every tenant; the database refuses a second binding even when it
belongs to a tenant the unit cannot see (PostgreSQL's row-level security hides the row, not
the key).
"""

from __future__ import annotations

from typing import Any, ClassVar

from liquifact_adapters.sql.repositories import ConstraintViolation, Session
from liquifact_adapters.sql.rows import Params, Row, RowConverter
from liquifact_core.lifecycle import Role
from liquifact_core.wallets import WalletBinding, WalletPage, wallet_already_bound

WALLET_COLUMNS = "address, tenant_id, role, subject, verified, created_at, created_by"
INSERT_WALLET = """
INSERT INTO wallet_bindings (address, tenant_id, role, subject, verified, created_at, created_by)
VALUES (:address, :tenant_id, :role, :subject, :verified, :created_at, :created_by)
"""
SELECT_WALLET = """
SELECT address, tenant_id, role, subject, verified, created_at, created_by FROM wallet_bindings
WHERE tenant_id = :tenant_id AND address = :address
"""
SELECT_WALLET_ANY_TENANT = """
SELECT address, tenant_id, role, subject, verified, created_at, created_by FROM wallet_bindings
WHERE address = :address
"""
COUNT_WALLETS = "SELECT count(*) AS total FROM wallet_bindings WHERE tenant_id = :tenant_id"
DELETE_WALLET = "DELETE FROM wallet_bindings WHERE tenant_id = :tenant_id AND address = :address"
LIST_WALLETS = """
SELECT address, tenant_id, role, subject, verified, created_at, created_by FROM wallet_bindings
WHERE tenant_id = :tenant_id
ORDER BY address LIMIT :limit OFFSET :offset
"""
# PostgreSQL orders the addresses in the "C" collation: code point order, as Python and SQLite.
LIST_WALLETS_C = LIST_WALLETS.replace("ORDER BY address", 'ORDER BY address COLLATE "C"')
# Challenges are identified by their transaction hash; the primary key makes a second
# redemption fail, whichever process tries it.
INSERT_CHALLENGE = """
INSERT INTO redeemed_challenges (digest, expires_at) VALUES (:digest, :expires_at)
ON CONFLICT (digest) DO NOTHING
"""


def wallet_params(binding: WalletBinding, rows: RowConverter) -> Params:
    """The columns of one binding."""
    return {
        "address": binding.address,
        "tenant_id": binding.tenant_id,
        "role": binding.role.value,
        "subject": binding.subject,
        "verified": binding.verified,
        "created_at": rows.timestamp_to_sql(binding.created_at),
        "created_by": binding.created_by,
    }


def wallet_from_row(row: Row | dict[str, Any], rows: RowConverter) -> WalletBinding:
    """One stored binding (``verified`` is an integer in SQLite, a boolean in PostgreSQL)."""
    return WalletBinding(
        address=str(row["address"]),
        tenant_id=str(row["tenant_id"]),
        role=Role(row["role"]),
        subject=str(row["subject"]),
        verified=bool(row["verified"]),
        created_at=rows.timestamp_from_sql(row["created_at"]),
        created_by=str(row["created_by"]),
    )


class SqlWalletRepository:
    """``WalletRepository`` over a SQL session; a dialect names its converter and statements."""

    rows: ClassVar[RowConverter]
    INSERT: ClassVar[str]
    SELECT: ClassVar[str]
    LIST: ClassVar[str]
    COUNT: ClassVar[str]
    DELETE: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, binding: WalletBinding) -> None:
        self._session.check_tenant(binding.tenant_id)
        try:
            self._session.write(self.INSERT, wallet_params(binding, self.rows))
        except ConstraintViolation as violation:
            if violation.kind in ("primary_key", "unique"):
                raise wallet_already_bound() from None
            raise

    def get(self, tenant_id: str, address: str) -> WalletBinding | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(self.SELECT, {"tenant_id": tenant_id, "address": address})
        return wallet_from_row(found[0], self.rows) if found else None

    def list(self, tenant_id: str, limit: int, offset: int) -> WalletPage:
        self._session.check_tenant(tenant_id)
        params: Params = {"tenant_id": tenant_id, "limit": limit, "offset": offset}
        found = self._session.fetch_all(self.LIST, params)
        [count] = self._session.fetch_all(self.COUNT, {"tenant_id": tenant_id})
        return WalletPage([wallet_from_row(row, self.rows) for row in found], int(count["total"]))

    def remove(self, tenant_id: str, address: str) -> bool:
        self._session.check_tenant(tenant_id)
        params = {"tenant_id": tenant_id, "address": address}
        return self._session.write(self.DELETE, params) == 1
