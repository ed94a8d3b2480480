"""Maturity reminders (``liquifact_core.reminders``): the daily plan, the delivery of each
reminder, and the contact e-mails they go to.

``plan`` is the handler of the daily ``maintenance.maturity_reminders`` slot: it visits every
tenant with invoices in the window (``Store.reminder_tenants``, tenant ids only) and, per
tenant, writes the missing reminders with their ``maturity_reminder`` jobs in one unit.
``deliver`` is the handler of those jobs: it reads what to say in a read unit, sends with no
unit open, then records the outcome (sent, or a dead letter) in a unit of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Protocol

import attrs

from liquifact_core.errors import Forbidden, NotFound, Unavailable
from liquifact_core.invoices import Actor
from liquifact_core.jobs import Job, JobFailed, JobFailure, sanitise_error
from liquifact_core.lifecycle import Role
from liquifact_core.ports import Clock, IdGenerator, Mailer, ReminderTemplates, UnitOfWorkFactory
from liquifact_core.reminders import (
    DEFAULT_DAYS_BEFORE,
    REMINDED_STATES,
    Contact,
    ContactUpdate,
    DeadLetterReason,
    MailFailure,
    MailMessage,
    MaturityReminder,
    RecipientRole,
    ReminderContent,
    ReminderDeadLetter,
    ReminderStatus,
    dead_letter,
    invoice_link,
    planned,
    reminder_job,
    window,
)

DEFAULT_LINK_BASE_URL = "http://localhost:3000"
DEFAULT_MAX_RETRIES = 3
_SUBJECTS = frozenset({Role.SME, Role.INVESTOR})
# What a job may still send: planned, or dead and replayed by an admin.
_OPEN = frozenset({ReminderStatus.PLANNED, ReminderStatus.DEAD})


class ReminderObserver(Protocol):
    """Hears each delivery attempt and outcome (the shell counts them in Prometheus)."""

    def attempted(self) -> None: ...
    def delivered(self) -> None: ...
    def dead_lettered(self, reason: DeadLetterReason) -> None: ...


class _Silent:
    def attempted(self) -> None:
        return None

    def delivered(self) -> None:
        return None

    def dead_lettered(self, reason: DeadLetterReason) -> None:
        return None


@attrs.frozen
class ReminderSettings:
    """``days_before``: how far ahead maturities are reminded (MATURITY_REMINDER_DAYS);
    ``link_base_url``: the app the e-mail links to (APP_BASE_URL); ``max_retries``: retries
    after the first attempt of a transient failure (SMTP_MAX_RETRIES)."""

    days_before: int = DEFAULT_DAYS_BEFORE
    link_base_url: str = DEFAULT_LINK_BASE_URL
    max_retries: int = DEFAULT_MAX_RETRIES


@attrs.frozen
class PlanOutcome:
    """What one daily run planned: how many reminders, over how many tenants."""

    planned: int
    tenants: int


class ReminderService:
    """Maturity reminders and contact e-mails. Without a ``mailer`` and ``templates`` (a
    ``Services`` built without them) nothing is planned or sent: ``available`` is False and
    the worker has no handler for these jobs."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        read_unit: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        tenants: Callable[[date, date], Sequence[str]],
        mailer: Mailer | None = None,
        templates: ReminderTemplates | None = None,
        settings: ReminderSettings | None = None,
        observer: ReminderObserver | None = None,
    ) -> None:
        self._uow = unit_of_work
        self._read = read_unit
        self._clock = clock
        self._ids = ids
        self._tenants = tenants
        self._mailer = mailer
        self._templates = templates
        self.settings = settings or ReminderSettings()
        self._observer = observer or _Silent()

    @property
    def available(self) -> bool:
        return self._mailer is not None and self._templates is not None

    @property
    def dry_run(self) -> bool:
        """True when messages are logged instead of sent (no SMTP_HOST)."""
        return self._mailer is None or self._mailer.dry_run

    # ---- the daily plan ---------------------------------------------------------------------
    def plan(self, today: date | None = None) -> PlanOutcome:
        """Plan the reminders of every invoice maturing from ``today`` (default: the clock's
        UTC date) to ``days_before`` days ahead, for its SME and its investors with live
        commitments who have a contact e-mail; each reminder once, whatever the number of
        runs (a reminder that exists already, in any status, is left alone)."""
        if not self.available:
            raise _unavailable()
        now = self._clock.now()
        start, end = window(today or now.date(), self.settings.days_before)
        tenants = self._tenants(start, end)
        count = 0
        for tenant_id in tenants:
            with self._uow(tenant_id) as uow:
                for due in uow.reminders.due_invoices(tenant_id, start, end):
                    recipients = [(due.sme_id, RecipientRole.SME)] + [
                        (subject, RecipientRole.INVESTOR)
                        for subject in uow.reminders.investor_subjects(tenant_id, due.invoice_id)
                    ]
                    for subject, role in recipients:
                        if uow.contacts.get(tenant_id, subject) is None:
                            continue  # planned by a later run once they give an e-mail
                        reminder = planned(due, subject, role, now)
                        if uow.reminders.add(reminder):
                            uow.jobs.enqueue(reminder_job(reminder, now, self.settings.max_retries))
                            count += 1
                uow.commit()
        return PlanOutcome(count, len(tenants))

    # ---- one reminder -----------------------------------------------------------------------
    def deliver(self, job: Job, /) -> None:
        """The ``maturity_reminder`` job handler: send one reminder, once. Sent or skipped
        already: nothing to do. The invoice no longer in the reminded states, or no contact
        any more: skipped. A permanent failure, or a transient one on the last attempt: a
        dead letter, then the job fails for good; another transient failure: the job is
        retried (exponential backoff). A dead reminder whose job an admin replays
        (``/v1/admin/jobs/{jobId}/replay``) is tried again; its dead letters stay."""
        mailer, templates = self._mailer, self._templates
        if mailer is None or templates is None:
            raise _unavailable()
        tenant_id = job.tenant_id
        invoice_id = str(job.payload.get("invoiceId", ""))
        recipient = str(job.payload.get("recipient", ""))
        with self._read(tenant_id) as uow:
            reminder = uow.reminders.get(tenant_id, invoice_id, recipient)
            invoice = uow.invoices.get(tenant_id, invoice_id)
            contact = uow.contacts.get(tenant_id, recipient)
        if reminder is None or reminder.status not in _OPEN:
            return
        if invoice is None or invoice.status not in REMINDED_STATES or contact is None:
            self._settle(reminder, ReminderStatus.SKIPPED)
            return
        today = self._clock.now().date()
        content = ReminderContent(
            invoice_number=invoice.draft.invoice_number,
            amount=f"{invoice.draft.amount.amount}",
            currency=invoice.draft.amount.currency,
            maturity_date=invoice.draft.due_date,
            days_left=max((invoice.draft.due_date - today).days, 0),
            link=invoice_link(self.settings.link_base_url, invoice.id),
            role=reminder.role,
        )
        rendered = templates.render(content)
        message = MailMessage(contact.email, rendered.subject, rendered.text, rendered.html)
        self._observer.attempted()
        try:
            mailer.send(message)
        except MailFailure as failure:
            final = failure.permanent or job.attempts >= job.max_attempts
            letter = None
            if final:
                letter = dead_letter(
                    self._ids.new_id("rdl_"),
                    reminder,
                    contact.email,
                    failure,
                    job.attempts,
                    self._clock.now(),
                )
                self._settle(reminder, ReminderStatus.DEAD, letter)
                self._observer.dead_lettered(letter.reason)
            # Servers echo the address in their replies: never in a job's error either.
            error = sanitise_error(failure.error, (contact.email,))
            raise JobFailed(JobFailure(error, retryable=not failure.permanent)) from None
        self._settle(reminder, ReminderStatus.SENT, dry_run=mailer.dry_run)
        self._observer.delivered()

    def _settle(
        self,
        reminder: MaturityReminder,
        status: ReminderStatus,
        letter: ReminderDeadLetter | None = None,
        *,
        dry_run: bool = False,
    ) -> None:
        now = self._clock.now()
        with self._uow(reminder.tenant_id) as uow:
            current = uow.reminders.get(reminder.tenant_id, reminder.invoice_id, reminder.recipient)
            if current is None or current.status not in _OPEN:
                return
            uow.reminders.update(
                attrs.evolve(
                    current,
                    status=status,
                    updated_at=now,
                    sent_at=now if status is ReminderStatus.SENT else None,
                    dry_run=dry_run,
                )
            )
            if letter is not None:
                uow.reminders.add_dead_letter(letter)
            uow.commit()

    # ---- reads for admins and tests ---------------------------------------------------------
    def dead_letters(
        self, tenant_id: str, actor: Actor, limit: int = 50, offset: int = 0
    ) -> Sequence[ReminderDeadLetter]:
        """The tenant's reminder dead letters, newest first (admins)."""
        if actor.role is not Role.ADMIN:
            raise Forbidden("Only admins read reminder dead letters.")
        with self._read(tenant_id) as uow:
            return uow.reminders.dead_letters(tenant_id, limit, offset)

    # ---- contacts ---------------------------------------------------------------------------
    def contact(self, tenant_id: str, actor: Actor) -> Contact:
        """The caller's contact (SMEs and investors); NotFound CONTACT_NOT_FOUND before one
        was set."""
        _check_subject(actor)
        with self._read(tenant_id) as uow:
            found = uow.contacts.get(tenant_id, actor.id)
        if found is None:
            raise NotFound("No contact e-mail is set for this account.", code="CONTACT_NOT_FOUND")
        return found

    def set_contact(self, tenant_id: str, actor: Actor, update: ContactUpdate) -> Contact:
        """Set the caller's contact e-mail (SMEs and investors), where reminders go."""
        _check_subject(actor)
        contact = Contact(tenant_id, actor.id, update.email, self._clock.now())
        with self._uow(tenant_id) as uow:
            uow.contacts.put(contact)
            uow.commit()
        return contact


def _check_subject(actor: Actor) -> None:
    if actor.role not in _SUBJECTS:
        raise Forbidden("Only SMEs and investors have a contact e-mail of their own.")


def _unavailable() -> Unavailable:
    return Unavailable(
        "Maturity reminders are not configured on this server.",
        code="REMINDERS_UNAVAILABLE",
        retryable=False,
    )
