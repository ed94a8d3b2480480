"""Maturity reminders on the in-memory store with a scripted mailer: who is planned, once;
delivery, retries, dead letters and what they keep; the observer's counts."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs
import pytest

from liquifact_adapters.composition import job_handlers, open_worker
from liquifact_adapters.mail import DryRunMailer, FileTemplates
from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
from liquifact_core.invoices import Actor, TransitionReason
from liquifact_core.jobs import JobQuery, JobStatus
from liquifact_core.lifecycle import Role
from liquifact_core.reminders import (
    ContactUpdate,
    DeadLetterReason,
    MailFailure,
    MailMessage,
    ReminderStatus,
)
from liquifact_core.services import ReminderPorts, Services
from liquifact_core.services.reminders import ReminderSettings
from tests.factories import account_address, contract_address, funding_of, invoice_draft, link_of

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TENANT = "t-rem"
ADMIN = Actor("ops", Role.ADMIN)
SME = Actor("sme-1", Role.SME)


class ScriptedMailer:
    """Accepts, or fails as scripted per address (a list of failures, consumed in order)."""

    dry_run = False

    def __init__(self) -> None:
        self.sent: list[MailMessage] = []
        self.script: dict[str, list[MailFailure]] = {}

    def send(self, message: MailMessage) -> None:
        failures = self.script.get(message.to, [])
        if failures:
            raise failures.pop(0)
        self.sent.append(message)


class CountingObserver:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def attempted(self) -> None:
        self.counts["attempts"] += 1

    def delivered(self) -> None:
        self.counts["success"] += 1

    def dead_lettered(self, reason: DeadLetterReason) -> None:
        self.counts[f"dead:{reason.value}"] += 1


@attrs.define
class World:
    services: Services
    clock: FixedClock
    mailer: Any
    observer: CountingObserver

    def plan(self) -> int:
        return self.services.reminders.plan().planned

    def run(self) -> int:
        worker = open_worker(self.services, job_handlers(self.services), schedules=False)
        return worker.drain()

    def later(self, minutes: int = 5) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    def contact(self, actor: Actor, email: str) -> None:
        self.services.reminders.set_contact(TENANT, actor, ContactUpdate(email))

    def reminder(self, invoice_id: str, recipient: str) -> Any:
        with self.services.store.read_unit(TENANT) as uow:
            return uow.reminders.get(TENANT, invoice_id, recipient)


def _world(mailer: Any = None, max_retries: int = 2) -> World:
    clock = FixedClock(T0)
    observer = CountingObserver()
    mailer = mailer or ScriptedMailer()
    services = Services.from_ports(
        InMemoryStore(),
        clock,
        SequentialIdGenerator(),
        reminders=ReminderPorts(
            mailer,
            FileTemplates(),
            ReminderSettings(7, "https://app.example", max_retries),
            observer,
        ),
    )
    return World(services, clock, mailer, observer)


@pytest.fixture
def world() -> World:
    return _world()


def _investor(name: str) -> Actor:
    return Actor(name, Role.INVESTOR, account_address())


def _linked(world: World, due: str, number: str = "INV-7") -> str:
    invoices = world.services.invoices
    draft = invoice_draft(dueDate=due, invoiceNumber=number, amount="1250.50")
    invoice = invoices.submit(TENANT, SME, draft)
    invoices.approve(TENANT, ADMIN, invoice.id)
    invoices.link_escrow(TENANT, ADMIN, invoice.id, link_of(contract_address(), "100000"))
    return invoice.id


def _fund(world: World, investor: Actor, invoice_id: str) -> None:
    request = funding_of(
        {"invoiceId": invoice_id, "investorAddress": investor.wallet, "amountStroops": "10"}
    )
    world.services.funding.fund_invoice(
        TENANT, investor, request, f"key-{investor.id}-{invoice_id}"
    )


def test_each_recipient_is_reminded_once_however_often_the_plan_runs(world: World) -> None:
    invoice_id = _linked(world, "2026-03-05")
    alice, bob, carol = _investor("alice"), _investor("bob"), _investor("carol")
    for investor in (alice, bob, carol):
        _fund(world, investor, invoice_id)
    world.contact(SME, "sme@example.com")
    world.contact(alice, "alice@example.com")
    world.contact(carol, "carol@example.com")

    assert world.plan() == 3  # bob has no contact e-mail
    assert world.plan() == 0
    assert world.run() == 3
    assert world.plan() == 0 and world.run() == 0
    assert sorted(m.to for m in world.mailer.sent) == [
        "alice@example.com",
        "carol@example.com",
        "sme@example.com",
    ]
    # Bob gives an e-mail: the next daily run plans him, and only him.
    world.contact(bob, "bob@example.com")
    assert world.plan() == 1 and world.run() == 1
    assert world.observer.counts == Counter({"attempts": 4, "success": 4})
    assert world.reminder(invoice_id, "alice").status is ReminderStatus.SENT


def test_the_message_says_the_number_amount_date_and_link(world: World) -> None:
    invoice_id = _linked(world, "2026-03-04", number="INV-<b>&")
    world.contact(SME, "sme@example.com")
    world.plan()
    world.run()
    [message] = world.mailer.sent
    assert message.subject == "Invoice INV-<b>& matures on 2026-03-04"
    for part in ("INV-<b>&", "1250.50 USD", "2026-03-04 (in 3 days)"):
        assert part in message.text
    assert f"https://app.example/invoices/{invoice_id}" in message.text
    assert "INV-&lt;b&gt;&amp;" in message.html and "<b>&" not in message.html
    assert f'href="https://app.example/invoices/{invoice_id}"' in message.html


@pytest.mark.parametrize(
    ("due", "planned"),
    [("2026-02-28", 0), ("2026-03-01", 1), ("2026-03-08", 1), ("2026-03-09", 0)],
)
def test_only_maturities_in_the_window_are_planned(world: World, due: str, planned: int) -> None:
    _linked(world, due)
    world.contact(SME, "sme@example.com")
    assert world.plan() == planned


def test_invoices_not_on_an_escrow_are_not_reminded(world: World) -> None:
    invoice = world.services.invoices.submit(TENANT, SME, invoice_draft(dueDate="2026-03-03"))
    world.contact(SME, "sme@example.com")
    assert world.plan() == 0
    world.services.invoices.approve(TENANT, ADMIN, invoice.id)
    assert world.plan() == 0


def test_a_permanent_failure_is_dead_lettered_at_once_with_sanitised_fields(world: World) -> None:
    invoice_id = _linked(world, "2026-03-05")
    world.contact(SME, "sme@example.com")
    world.mailer.script["sme@example.com"] = [
        MailFailure(
            "The recipient was refused: SMTP 550 <sme@example.com> no such user",
            permanent=True,
            code=550,
        )
    ]
    world.plan()
    assert world.run() == 1

    assert world.reminder(invoice_id, SME.id).status is ReminderStatus.DEAD
    [letter] = world.services.reminders.dead_letters(TENANT, ADMIN)
    assert (letter.reason, letter.smtp_code, letter.attempts) == (
        DeadLetterReason.PERMANENT_ERROR,
        550,
        1,
    )
    assert letter.recipient_hint == "s***@example.com"
    assert "sme@example.com" not in letter.error
    with world.services.store.read_unit(TENANT) as uow:
        [job] = uow.jobs.list(JobQuery(TENANT, job_type="maturity_reminder")).items
    assert job.status is JobStatus.DEAD and "sme@example.com" not in (job.last_error or "")
    assert world.observer.counts == Counter({"attempts": 1, "dead:permanent_error": 1})


def test_a_transient_failure_is_retried_then_delivered(world: World) -> None:
    invoice_id = _linked(world, "2026-03-05")
    world.contact(SME, "sme@example.com")
    world.mailer.script["sme@example.com"] = [
        MailFailure("SMTP 451 later", permanent=False, code=451)
    ]
    world.plan()
    assert world.run() == 1
    assert world.reminder(invoice_id, SME.id).status is ReminderStatus.PLANNED
    world.later()
    assert world.run() == 1
    assert world.reminder(invoice_id, SME.id).status is ReminderStatus.SENT
    assert world.observer.counts == Counter({"attempts": 2, "success": 1})
    assert world.services.reminders.dead_letters(TENANT, ADMIN) == []


def test_transient_failures_past_the_retries_are_dead_lettered(world: World) -> None:
    invoice_id = _linked(world, "2026-03-05")
    world.contact(SME, "sme@example.com")
    world.mailer.script["sme@example.com"] = [
        MailFailure("Network error: ConnectionRefusedError.", permanent=False) for _ in range(5)
    ]
    world.plan()
    for _ in range(3):  # SMTP_MAX_RETRIES=2: three attempts
        assert world.run() == 1
        world.later(10)
    assert world.run() == 0
    [letter] = world.services.reminders.dead_letters(TENANT, ADMIN)
    assert (letter.reason, letter.attempts, letter.smtp_code) == (
        DeadLetterReason.MAX_RETRIES_EXCEEDED,
        3,
        None,
    )
    assert world.reminder(invoice_id, SME.id).status is ReminderStatus.DEAD
    assert world.observer.counts == Counter({"attempts": 3, "dead:max_retries_exceeded": 1})


def test_a_reminder_whose_invoice_left_the_escrow_states_is_skipped(world: World) -> None:
    invoice_id = _linked(world, "2026-03-05")
    world.contact(SME, "sme@example.com")
    world.plan()
    world.services.invoices.cancel(TENANT, ADMIN, invoice_id, TransitionReason("Withdrawn"))
    world.run()
    assert world.mailer.sent == []
    assert world.reminder(invoice_id, SME.id).status is ReminderStatus.SKIPPED
    assert world.observer.counts == Counter()


def test_dry_run_logs_instead_of_sending(caplog: pytest.LogCaptureFixture) -> None:
    world = _world(DryRunMailer())
    invoice_id = _linked(world, "2026-03-02")
    world.contact(SME, "someone@example.com")
    world.plan()
    with caplog.at_level(logging.INFO, logger="liquifact.mail"):
        world.run()
    reminder = world.reminder(invoice_id, SME.id)
    assert (reminder.status, reminder.dry_run) == (ReminderStatus.SENT, True)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "s***@example.com" in logged and "someone@example.com" not in logged
    assert "matures on 2026-03-02" in logged


def test_contacts_are_their_owners_own(world: World) -> None:
    from liquifact_core.errors import Forbidden, NotFound

    with pytest.raises(NotFound):
        world.services.reminders.contact(TENANT, SME)
    world.contact(SME, "sme@example.com")
    assert world.services.reminders.contact(TENANT, SME).email == "sme@example.com"
    with pytest.raises(Forbidden):
        world.services.reminders.set_contact(TENANT, ADMIN, ContactUpdate("a@b.co"))
    assert date(2026, 3, 1) == T0.date()
