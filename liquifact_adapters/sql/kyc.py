"""KYC records, their history and the provider webhook events applied, over a SQL session,
written once for SQLite and PostgreSQL (``liquifact_core.ports.KycRepository``).

Tables of migration 0015: ``kyc_records`` (primary key (tenant_id, subject), ``reference``
unique across tenants), ``kyc_history`` (primary key (tenant_id, subject, sequence)) and
``kyc_webhook_events`` (primary key ``event_id``; not tenant data, no row-level security).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from liquifact_adapters.sql.repositories import ConstraintViolation, Session
from liquifact_adapters.sql.rows import Params, Row, RowConverter
from liquifact_core.errors import concurrent_update
from liquifact_core.kyc import (
    KycChange,
    KycRecord,
    KycRole,
    KycSource,
    KycStatus,
    kyc_record_exists,
)

INSERT_RECORD = """
INSERT INTO kyc_records (tenant_id, subject, reference, status, role, provider_reference,
    verification_url, reason, provider_event_at, created_at, updated_at, version)
VALUES (:tenant_id, :subject, :reference, :status, :role, :provider_reference,
    :verification_url, :reason, :provider_event_at, :created_at, :updated_at, :version)
"""
UPDATE_RECORD = """
UPDATE kyc_records SET status = :status, role = :role, provider_reference = :provider_reference,
    verification_url = :verification_url, reason = :reason,
    provider_event_at = :provider_event_at, updated_at = :updated_at, version = :version
WHERE tenant_id = :tenant_id AND subject = :subject AND version = :expected_version
"""
SELECT_RECORD = """
SELECT tenant_id, subject, reference, status, role, provider_reference, verification_url,
    reason, provider_event_at, created_at, updated_at, version FROM kyc_records WHERE tenant_id =
    :tenant_id AND subject = :subject
"""
INSERT_CHANGE = """
INSERT INTO kyc_history (tenant_id, subject, sequence, status, source, actor_id, at,
    provider_status, reason, event_id)
VALUES (:tenant_id, :subject, :sequence, :status, :source, :actor_id, :at, :provider_status,
    :reason, :event_id)
"""
SELECT_HISTORY = """
SELECT tenant_id, subject, sequence, status, source, actor_id, at, provider_status, reason,
    event_id FROM kyc_history
WHERE tenant_id = :tenant_id AND subject = :subject ORDER BY sequence
"""
REDEEM_EVENT = """
INSERT INTO kyc_webhook_events (event_id, received_at, expires_at)
VALUES (:event_id, :received_at, :expires_at)
ON CONFLICT (event_id) DO NOTHING
"""
# Store-wide (SQLite: one file holds every tenant; PostgreSQL goes through kyc_subject_of()).
SELECT_SUBJECT_BY_REFERENCE = (
    "SELECT tenant_id, subject FROM kyc_records WHERE reference = :reference"
)


def record_params(record: KycRecord, rows: RowConverter) -> Params:
    at = record.provider_event_at
    return {
        "tenant_id": record.tenant_id,
        "subject": record.subject,
        "reference": record.reference,
        "status": record.status.value,
        "role": None if record.role is None else record.role.value,
        "provider_reference": record.provider_reference,
        "verification_url": record.verification_url,
        "reason": record.reason,
        "provider_event_at": None if at is None else rows.timestamp_to_sql(at),
        "created_at": rows.timestamp_to_sql(record.created_at),
        "updated_at": rows.timestamp_to_sql(record.updated_at),
        "version": record.version,
    }


def record_from_row(row: Row | dict[str, Any], rows: RowConverter) -> KycRecord:
    at = row["provider_event_at"]
    return KycRecord(
        tenant_id=str(row["tenant_id"]),
        subject=str(row["subject"]),
        reference=str(row["reference"]),
        status=KycStatus(row["status"]),
        role=None if row["role"] is None else KycRole(row["role"]),
        provider_reference=row["provider_reference"],
        verification_url=row["verification_url"],
        reason=row["reason"],
        provider_event_at=None if at is None else rows.timestamp_from_sql(at),
        created_at=rows.timestamp_from_sql(row["created_at"]),
        updated_at=rows.timestamp_from_sql(row["updated_at"]),
        version=int(row["version"]),
    )


def change_from_row(row: Row | dict[str, Any], rows: RowConverter) -> KycChange:
    return KycChange(
        tenant_id=str(row["tenant_id"]),
        subject=str(row["subject"]),
        sequence=int(row["sequence"]),
        status=KycStatus(row["status"]),
        source=KycSource(row["source"]),
        actor_id=str(row["actor_id"]),
        at=rows.timestamp_from_sql(row["at"]),
        provider_status=row["provider_status"],
        reason=row["reason"],
        event_id=row["event_id"],
    )


class SqlKycRepository:
    """``KycRepository`` over a SQL session; a dialect names its converter and statements."""

    rows: ClassVar[RowConverter]
    INSERT: ClassVar[str]
    UPDATE: ClassVar[str]
    SELECT: ClassVar[str]
    INSERT_CHANGE: ClassVar[str]
    SELECT_HISTORY: ClassVar[str]
    REDEEM: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, tenant_id: str, subject: str) -> KycRecord | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(self.SELECT, {"tenant_id": tenant_id, "subject": subject})
        return record_from_row(found[0], self.rows) if found else None

    def add(self, record: KycRecord) -> None:
        self._session.check_tenant(record.tenant_id)
        try:
            self._session.write(self.INSERT, record_params(record, self.rows))
        except ConstraintViolation as violation:
            if violation.kind == "primary_key":
                raise kyc_record_exists() from None
            raise

    def update(self, record: KycRecord, expected_version: int) -> None:
        self._session.check_tenant(record.tenant_id)
        params = {**record_params(record, self.rows), "expected_version": expected_version}
        del params["reference"], params["created_at"]
        if self._session.write(self.UPDATE, params) != 1:
            raise concurrent_update()

    def add_change(self, change: KycChange) -> None:
        self._session.check_tenant(change.tenant_id)
        params = {
            "tenant_id": change.tenant_id,
            "subject": change.subject,
            "sequence": change.sequence,
            "status": change.status.value,
            "source": change.source.value,
            "actor_id": change.actor_id,
            "at": self.rows.timestamp_to_sql(change.at),
            "provider_status": change.provider_status,
            "reason": change.reason,
            "event_id": change.event_id,
        }
        try:
            self._session.write(self.INSERT_CHANGE, params)
        except ConstraintViolation as violation:
            if violation.kind == "primary_key":
                raise concurrent_update() from None
            raise

    def history(self, tenant_id: str, subject: str) -> Sequence[KycChange]:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(
            self.SELECT_HISTORY, {"tenant_id": tenant_id, "subject": subject}
        )
        return [change_from_row(row, self.rows) for row in found]

    def redeem_event(self, event_id: str, received_at: datetime, expires_at: datetime) -> bool:
        params = {
            "event_id": event_id,
            "received_at": self.rows.timestamp_to_sql(received_at),
            "expires_at": self.rows.timestamp_to_sql(expires_at),
        }
        return self._session.write(self.REDEEM, params) == 1
