"""SME profiles over a SQL session, written once for SQLite and PostgreSQL
(``liquifact_core.ports.ProfileRepository``), and the backfill of the invoices' folded
buyer-name keys.

Table ``sme_profiles`` (migration 0007): primary key (tenant_id, subject). The folded display
name (``display_name_key``) is computed by the core (``liquifact_core.search.fold``) and
written with every write of the row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from liquifact_adapters.sql.repositories import Session
from liquifact_adapters.sql.rows import Params, Row, RowConverter
from liquifact_core.profiles import SmeProfile
from liquifact_core.search import fold

UPSERT_PROFILE = """
INSERT INTO sme_profiles (tenant_id, subject, display_name, display_name_key, country, updated_at)
VALUES (:tenant_id, :subject, :display_name, :display_name_key, :country, :updated_at)
ON CONFLICT (tenant_id, subject) DO UPDATE SET
    display_name = excluded.display_name, display_name_key = excluded.display_name_key,
    country = excluded.country, updated_at = excluded.updated_at
"""
SELECT_PROFILE = """
SELECT tenant_id, subject, display_name, country, updated_at FROM sme_profiles
WHERE tenant_id = :tenant_id AND subject = :subject
"""

# The backfill of invoices written before migration 0007 (buyer_name_key NULL): one folded key
# per distinct buyer name, written only where still NULL, so running it again changes nothing.
UNKEYED_BUYER_NAMES = "SELECT DISTINCT buyer_name FROM invoices WHERE buyer_name_key IS NULL"
FILL_BUYER_NAME_KEY = """
UPDATE invoices SET buyer_name_key = :buyer_name_key
WHERE buyer_name = :buyer_name AND buyer_name_key IS NULL
"""


def profile_params(profile: SmeProfile, rows: RowConverter) -> Params:
    """The columns of one profile, its folded display name included."""
    return {
        "tenant_id": profile.tenant_id,
        "subject": profile.subject,
        "display_name": profile.display_name,
        "display_name_key": profile.display_name_key,
        "country": profile.country,
        "updated_at": rows.timestamp_to_sql(profile.updated_at),
    }


def profile_from_row(row: Row | dict[str, Any], rows: RowConverter) -> SmeProfile:
    """One stored profile."""
    return SmeProfile(
        tenant_id=str(row["tenant_id"]),
        subject=str(row["subject"]),
        display_name=str(row["display_name"]),
        country=str(row["country"]),
        updated_at=rows.timestamp_from_sql(row["updated_at"]),
    )


class SqlProfileRepository:
    """``ProfileRepository`` over a SQL session; a dialect names its converter and statements."""

    rows: ClassVar[RowConverter]
    UPSERT: ClassVar[str]
    SELECT: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, tenant_id: str, subject: str) -> SmeProfile | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(self.SELECT, {"tenant_id": tenant_id, "subject": subject})
        return profile_from_row(found[0], self.rows) if found else None

    def upsert(self, profile: SmeProfile) -> None:
        self._session.check_tenant(profile.tenant_id)
        self._session.write(self.UPSERT, profile_params(profile, self.rows))


def backfill_buyer_name_keys(
    names: Callable[[], Sequence[str]], fill: Callable[[list[Params]], object]
) -> int:
    """Fill ``invoices.buyer_name_key`` where it is NULL (rows written before migration 0007)
    with the core's folding; returns how many distinct buyer names were keyed. ``names`` runs
    ``UNKEYED_BUYER_NAMES``; ``fill`` runs ``FILL_BUYER_NAME_KEY`` once per parameter set, in
    the same transaction. Idempotent: a second run finds no NULL key and writes nothing."""
    pending = list(names())
    if pending:
        fill([{"buyer_name": name, "buyer_name_key": fold(name)} for name in pending])
    return len(pending)
