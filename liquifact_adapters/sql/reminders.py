"""Maturity reminders, their dead letters and subjects' contacts over a SQL session, written
once for SQLite and PostgreSQL (``liquifact_core.ports.ReminderRepository``,
``ContactRepository``). Tables of migration 0015: ``maturity_reminders`` (primary key (tenant,
invoice, recipient): a second plan inserts nothing), ``maturity_reminder_dead_letters`` and
``contacts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, ClassVar

from liquifact_adapters.sql.repositories import Session
from liquifact_adapters.sql.rows import Row, RowConverter
from liquifact_core.errors import concurrent_update
from liquifact_core.reminders import (
    Contact,
    DeadLetterReason,
    DueInvoice,
    MaturityReminder,
    RecipientRole,
    ReminderDeadLetter,
    ReminderStatus,
)

# liquifact_core.reminders.REMINDED_STATES, and the commitments that are live.
_REMINDED = "('linked_escrow', 'partially_funded', 'funded', 'disbursed')"
DUE_INVOICES = """
SELECT tenant_id, id, sme_id, due_date FROM invoices
WHERE tenant_id = :tenant_id AND deleted_at IS NULL AND status IN ('linked_escrow',
    'partially_funded', 'funded', 'disbursed')
    AND due_date BETWEEN :first_day AND :last_day
ORDER BY due_date, id
"""
INVESTOR_SUBJECTS = """
SELECT actor_id FROM investor_commitments
WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id AND status IN ('pending', 'confirmed')
GROUP BY actor_id ORDER BY actor_id
"""
INSERT_REMINDER = """
INSERT INTO maturity_reminders (tenant_id, invoice_id, recipient, role, maturity_date, job_id,
    status, created_at, updated_at, sent_at, dry_run)
VALUES (:tenant_id, :invoice_id, :recipient, :role, :maturity_date, :job_id, :status,
    :created_at, :updated_at, :sent_at, :dry_run)
ON CONFLICT (tenant_id, invoice_id, recipient) DO NOTHING
"""
SELECT_REMINDER = """
SELECT tenant_id, invoice_id, recipient, role, maturity_date, job_id, status, created_at,
    updated_at, sent_at, dry_run FROM maturity_reminders
WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id AND recipient = :recipient
"""
UPDATE_REMINDER = """
UPDATE maturity_reminders SET status = :status, updated_at = :updated_at, sent_at = :sent_at,
    dry_run = :dry_run
WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id AND recipient = :recipient
"""
INSERT_DEAD_LETTER = """
INSERT INTO maturity_reminder_dead_letters (id, tenant_id, invoice_id, recipient, role,
    recipient_hint, reason, smtp_code, error, attempts, job_id, created_at)
VALUES (:id, :tenant_id, :invoice_id, :recipient, :role, :recipient_hint, :reason, :smtp_code,
    :error, :attempts, :job_id, :created_at)
"""
LIST_DEAD_LETTERS = """
SELECT id, tenant_id, invoice_id, recipient, role, recipient_hint, reason, smtp_code, error,
    attempts, job_id, created_at FROM maturity_reminder_dead_letters WHERE tenant_id = :tenant_id
ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset
"""
UPSERT_CONTACT = """
INSERT INTO contacts (tenant_id, subject, email, updated_at)
VALUES (:tenant_id, :subject, :email, :updated_at)
ON CONFLICT (tenant_id, subject) DO UPDATE SET
    email = excluded.email, updated_at = excluded.updated_at
"""
SELECT_CONTACT = """
SELECT tenant_id, subject, email, updated_at FROM contacts
WHERE tenant_id = :tenant_id AND subject = :subject
"""
# Store-wide (SQLite: one file holds every tenant; PostgreSQL goes through reminder_tenants()).
REMINDER_TENANTS = """
SELECT DISTINCT tenant_id FROM invoices
WHERE deleted_at IS NULL AND status IN ('linked_escrow', 'partially_funded', 'funded',
    'disbursed') AND due_date BETWEEN :first_day AND :last_day
ORDER BY tenant_id
"""


def _reminder_from_row(row: Row | dict[str, Any], rows: RowConverter) -> MaturityReminder:
    sent = row["sent_at"]
    return MaturityReminder(
        tenant_id=str(row["tenant_id"]),
        invoice_id=str(row["invoice_id"]),
        recipient=str(row["recipient"]),
        role=RecipientRole(row["role"]),
        maturity_date=rows.date_from_sql(row["maturity_date"]),
        job_id=str(row["job_id"]),
        status=ReminderStatus(row["status"]),
        created_at=rows.timestamp_from_sql(row["created_at"]),
        updated_at=rows.timestamp_from_sql(row["updated_at"]),
        sent_at=None if sent is None else rows.timestamp_from_sql(sent),
        dry_run=bool(row["dry_run"]),
    )


def _letter_from_row(row: Row | dict[str, Any], rows: RowConverter) -> ReminderDeadLetter:
    code = row["smtp_code"]
    return ReminderDeadLetter(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        invoice_id=str(row["invoice_id"]),
        recipient=str(row["recipient"]),
        role=RecipientRole(row["role"]),
        recipient_hint=str(row["recipient_hint"]),
        reason=DeadLetterReason(row["reason"]),
        error=str(row["error"]),
        attempts=int(row["attempts"]),
        job_id=str(row["job_id"]),
        created_at=rows.timestamp_from_sql(row["created_at"]),
        smtp_code=None if code is None else int(code),
    )


class SqlReminderRepository:
    """``ReminderRepository`` over a SQL session; a dialect names its converter and
    statements."""

    rows: ClassVar[RowConverter]
    DUE: ClassVar[str]
    INVESTORS: ClassVar[str]
    INSERT: ClassVar[str]
    SELECT: ClassVar[str]
    UPDATE: ClassVar[str]
    INSERT_DEAD_LETTER: ClassVar[str]
    LIST_DEAD_LETTERS: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self._session = session

    def due_invoices(self, tenant_id: str, start: date, end: date) -> Sequence[DueInvoice]:
        self._session.check_tenant(tenant_id)
        params = {
            "tenant_id": tenant_id,
            "first_day": self.rows.date_to_sql(start),
            "last_day": self.rows.date_to_sql(end),
        }
        return [
            DueInvoice(
                str(row["tenant_id"]),
                str(row["id"]),
                str(row["sme_id"]),
                self.rows.date_from_sql(row["due_date"]),
            )
            for row in self._session.fetch_all(self.DUE, params)
        ]

    def investor_subjects(self, tenant_id: str, invoice_id: str) -> Sequence[str]:
        self._session.check_tenant(tenant_id)
        params = {"tenant_id": tenant_id, "invoice_id": invoice_id}
        return [str(row["actor_id"]) for row in self._session.fetch_all(self.INVESTORS, params)]

    def add(self, reminder: MaturityReminder) -> bool:
        self._session.check_tenant(reminder.tenant_id)
        return self._session.write(self.INSERT, self._params(reminder)) == 1

    def get(self, tenant_id: str, invoice_id: str, recipient: str) -> MaturityReminder | None:
        self._session.check_tenant(tenant_id)
        params = {"tenant_id": tenant_id, "invoice_id": invoice_id, "recipient": recipient}
        found = self._session.fetch_all(self.SELECT, params)
        return _reminder_from_row(found[0], self.rows) if found else None

    def update(self, reminder: MaturityReminder) -> None:
        self._session.check_tenant(reminder.tenant_id)
        params = self._params(reminder)
        for unchanged in ("role", "maturity_date", "job_id", "created_at"):
            del params[unchanged]
        if self._session.write(self.UPDATE, params) != 1:
            raise concurrent_update()

    def add_dead_letter(self, letter: ReminderDeadLetter) -> None:
        self._session.check_tenant(letter.tenant_id)
        self._session.write(
            self.INSERT_DEAD_LETTER,
            {
                "id": letter.id,
                "tenant_id": letter.tenant_id,
                "invoice_id": letter.invoice_id,
                "recipient": letter.recipient,
                "role": letter.role.value,
                "recipient_hint": letter.recipient_hint,
                "reason": letter.reason.value,
                "smtp_code": letter.smtp_code,
                "error": letter.error,
                "attempts": letter.attempts,
                "job_id": letter.job_id,
                "created_at": self.rows.timestamp_to_sql(letter.created_at),
            },
        )

    def dead_letters(self, tenant_id: str, limit: int, offset: int) -> Sequence[ReminderDeadLetter]:
        self._session.check_tenant(tenant_id)
        params = {"tenant_id": tenant_id, "limit": limit, "offset": offset}
        return [
            _letter_from_row(row, self.rows)
            for row in self._session.fetch_all(self.LIST_DEAD_LETTERS, params)
        ]

    def _params(self, reminder: MaturityReminder) -> dict[str, Any]:
        sent = reminder.sent_at
        return {
            "tenant_id": reminder.tenant_id,
            "invoice_id": reminder.invoice_id,
            "recipient": reminder.recipient,
            "role": reminder.role.value,
            "maturity_date": self.rows.date_to_sql(reminder.maturity_date),
            "job_id": reminder.job_id,
            "status": reminder.status.value,
            "created_at": self.rows.timestamp_to_sql(reminder.created_at),
            "updated_at": self.rows.timestamp_to_sql(reminder.updated_at),
            "sent_at": None if sent is None else self.rows.timestamp_to_sql(sent),
            "dry_run": reminder.dry_run,
        }


class SqlContactRepository:
    """``ContactRepository`` over a SQL session; a dialect names its converter and
    statements."""

    rows: ClassVar[RowConverter]
    UPSERT: ClassVar[str]
    SELECT: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, tenant_id: str, subject: str) -> Contact | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(self.SELECT, {"tenant_id": tenant_id, "subject": subject})
        if not found:
            return None
        row = found[0]
        return Contact(
            str(row["tenant_id"]),
            str(row["subject"]),
            str(row["email"]),
            self.rows.timestamp_from_sql(row["updated_at"]),
        )

    def put(self, contact: Contact) -> None:
        self._session.check_tenant(contact.tenant_id)
        self._session.write(
            self.UPSERT,
            {
                "tenant_id": contact.tenant_id,
                "subject": contact.subject,
                "email": contact.email,
                "updated_at": self.rows.timestamp_to_sql(contact.updated_at),
            },
        )
