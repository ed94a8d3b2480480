"""Maturity reminders: who is reminded of which invoice, once, and what a failed e-mail leaves.

A daily schedule slot (``liquifact_core.schedules.MATURITY_REMINDERS``) plans the reminders of
every invoice whose maturity date (= due date) falls within the next ``days_before`` days
(today included) and that is still live on its escrow (``REMINDED_STATES``): one for its SME
and one for each investor with a live (pending or confirmed) commitment, for every recipient
with a contact e-mail (``Contact``). A plan is a row per (tenant, invoice, recipient) whose
primary key makes a second plan of the same reminder a no-op, written with its
``maturity_reminder`` job (a deterministic id) in one unit: the daily job may run twice, or
late, or on several workers, and each recipient is still reminded once. A recipient who adds
an e-mail later is planned by the next daily run while the invoice is still in the window.

Each ``maturity_reminder`` job sends one e-mail. A transient failure (an SMTP 4xx reply, a
network error) is retried with exponential backoff up to SMTP_MAX_RETRIES retries; a
permanent one (an SMTP 5xx reply, an invalid recipient) ends it at once. Either way, the end
of a reminder that was not delivered is a row in ``maturity_reminder_dead_letters`` with
sanitised fields (the recipient's e-mail masked, the error text through
``jobs.sanitise_error``).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import attrs

from liquifact_core.errors import FieldError, ValidationError
from liquifact_core.jobs import Job, new_job, sanitise_error
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.rules import Checked, ContactEmail, query_error, rule_field

MATURITY_REMINDER = "maturity_reminder"
DEFAULT_DAYS_BEFORE = 7
MAX_DAYS_BEFORE = 90
# Invoices whose money is (being) held in escrow: their parties have a maturity to prepare for.
REMINDED_STATES = frozenset(
    {
        InvoiceStatus.LINKED_ESCROW,
        InvoiceStatus.PARTIALLY_FUNDED,
        InvoiceStatus.FUNDED,
        InvoiceStatus.DISBURSED,
    }
)
_JOB_PREFIX = "job_rem_"


class ReminderStatus(enum.StrEnum):
    """``planned``: its job will send it; ``sent``: delivered (or logged, in dry-run mode);
    ``dead``: not delivered (a dead-letter row says why); ``skipped``: nothing to send when
    its job ran (the invoice left the reminded states, or the recipient's e-mail was removed)."""

    PLANNED = "planned"
    SENT = "sent"
    DEAD = "dead"
    SKIPPED = "skipped"


class RecipientRole(enum.StrEnum):
    SME = "sme"
    INVESTOR = "investor"


class DeadLetterReason(enum.StrEnum):
    """The spec's ``reason`` label of ``maturity_reminder_dead_letter_total``."""

    PERMANENT_ERROR = "permanent_error"
    MAX_RETRIES_EXCEEDED = "max_retries_exceeded"


@attrs.frozen
class DueInvoice:
    """An invoice whose maturity is in the reminder window: what planning needs of it."""

    tenant_id: str
    invoice_id: str
    sme_id: str
    maturity_date: date


@attrs.frozen
class MaturityReminder:
    """The reminder of one invoice for one recipient (a subject of the invoice's tenant)."""

    tenant_id: str
    invoice_id: str
    recipient: str
    role: RecipientRole
    maturity_date: date
    job_id: str
    status: ReminderStatus
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    dry_run: bool = False


@attrs.frozen
class ReminderDeadLetter:
    """A reminder that was not delivered, as kept for inspection: no e-mail address (only its
    masked ``recipient_hint``), the SMTP reply code if there was one, and the error text
    sanitised (``jobs.sanitise_error``)."""

    id: str
    tenant_id: str
    invoice_id: str
    recipient: str
    role: RecipientRole
    recipient_hint: str
    reason: DeadLetterReason
    error: str
    attempts: int
    job_id: str
    created_at: datetime
    smtp_code: int | None = None


@attrs.frozen
class Contact:
    """Where a subject (SME or investor) of a tenant receives notices: one e-mail address."""

    tenant_id: str
    subject: str
    email: str
    updated_at: datetime


@attrs.frozen
class ContactUpdate(Checked):
    """A subject's contact as it sends it (``PUT /v1/me/contact``, ``{email}``): one plain
    address (``ContactEmail``), where reminders are sent."""

    INVALID_MESSAGE = "The contact has invalid fields."

    email: str = rule_field(ContactEmail())

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, cls.INVALID_MESSAGE)


@attrs.frozen
class ReminderContent:
    """What a reminder says: the invoice number, amount and currency, maturity date, how many
    days are left (0: today), a link to the invoice, and to whom (its SME or an investor)."""

    invoice_number: str
    amount: str
    currency: str
    maturity_date: date
    days_left: int
    link: str
    role: RecipientRole


@attrs.frozen
class RenderedMail:
    """A message body pair from the templates: subject line, plain text and HTML."""

    subject: str
    text: str
    html: str


@attrs.frozen
class MailMessage:
    """One e-mail to send: the rendered texts to one recipient."""

    to: str = attrs.field(repr=False)
    subject: str
    text: str
    html: str


class MailFailure(Exception):
    """A message was not accepted. ``permanent``: retrying cannot help (an SMTP 5xx reply, an
    invalid recipient); otherwise it may succeed later (4xx, network errors, timeouts).
    ``code`` is the SMTP reply code when the server gave one; the text holds no credential."""

    def __init__(self, error: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent
        self.code = code


def window(today: date, days_before: int) -> tuple[date, date]:
    """The maturity dates reminded on ``today``: today through ``days_before`` days ahead."""
    if not 1 <= days_before <= MAX_DAYS_BEFORE:
        raise ValueError(f"days_before must be 1-{MAX_DAYS_BEFORE}")
    return today, today + timedelta(days=days_before)


def reminder_job_id(tenant_id: str, invoice_id: str, recipient: str) -> str:
    """The one job id of a reminder: ``job_rem_`` + 40 hex digits of SHA-256 over (tenant,
    invoice, recipient), so planning it twice writes the same id."""
    digest = hashlib.sha256("\x00".join((tenant_id, invoice_id, recipient)).encode()).hexdigest()
    return _JOB_PREFIX + digest[:40]


def planned(
    due: DueInvoice, recipient: str, role: RecipientRole, now: datetime
) -> MaturityReminder:
    return MaturityReminder(
        tenant_id=due.tenant_id,
        invoice_id=due.invoice_id,
        recipient=recipient,
        role=role,
        maturity_date=due.maturity_date,
        job_id=reminder_job_id(due.tenant_id, due.invoice_id, recipient),
        status=ReminderStatus.PLANNED,
        created_at=now,
        updated_at=now,
    )


def reminder_job(reminder: MaturityReminder, now: datetime, max_retries: int) -> Job:
    """The ``maturity_reminder`` job of a planned reminder: ``max_retries`` retries after the
    first attempt (SMTP_MAX_RETRIES); the payload names the invoice and recipient only."""
    return new_job(
        job_id=reminder.job_id,
        tenant_id=reminder.tenant_id,
        job_type=MATURITY_REMINDER,
        payload={
            "invoiceId": reminder.invoice_id,
            "recipient": reminder.recipient,
            "role": reminder.role.value,
        },
        now=now,
        max_attempts=max_retries + 1,
    )


def mask_email(email: str) -> str:
    """An address as a dead letter keeps it: the first character of the local part and the
    domain (``a***@example.com``)."""
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def dead_letter(
    letter_id: str,
    reminder: MaturityReminder,
    email: str,
    failure: MailFailure,
    attempts: int,
    now: datetime,
) -> ReminderDeadLetter:
    """The dead letter of a reminder whose last attempt failed with ``failure``: permanent, or
    transient on its last attempt. The e-mail is masked, the error sanitised (and the address
    redacted from it: servers echo it)."""
    reason = (
        DeadLetterReason.PERMANENT_ERROR
        if failure.permanent
        else DeadLetterReason.MAX_RETRIES_EXCEEDED
    )
    return ReminderDeadLetter(
        id=letter_id,
        tenant_id=reminder.tenant_id,
        invoice_id=reminder.invoice_id,
        recipient=reminder.recipient,
        role=reminder.role,
        recipient_hint=mask_email(email),
        reason=reason,
        error=sanitise_error(failure.error, (email,)),
        attempts=attempts,
        job_id=reminder.job_id,
        created_at=now,
        smtp_code=failure.code,
    )


def invoice_link(base_url: str, invoice_id: str) -> str:
    """Where the reminder points: the invoice's page in the app at ``base_url``."""
    return f"{base_url.rstrip('/')}/invoices/{invoice_id}"
