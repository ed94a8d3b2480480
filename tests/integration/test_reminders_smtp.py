"""Maturity reminders through the job worker to a real SMTP peer (aiosmtpd on 127.0.0.1 with
STARTTLS and login, tests/smtp_peer.py): 250 delivers once, 451 then 250 delivers after a
retry, 550 lands in maturity_reminder_dead_letters at once, 451 every time ends there after
SMTP_MAX_RETRIES; the daily job running again sends nothing twice; the spec's three counters
match. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from prometheus_client import CollectorRegistry

from liquifact_adapters.composition import ServicesConfig, job_handlers, open_services, open_worker
from liquifact_adapters.memory import FixedClock
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_core.reminders import MATURITY_REMINDER, ContactUpdate, DeadLetterReason
from liquifact_core.schedules import MATURITY_REMINDERS
from liquifact_core.services import Services
from liquifact_http.metrics import Metrics, ReminderMetrics
from tests.factories import account_address, contract_address, funding_of, invoice_draft, link_of
from tests.smtp_peer import SmtpPeer

# Far from any other test's invoices: PostgreSQL's database is shared by the session.
NOW = datetime(2031, 7, 1, 9, 0, tzinfo=UTC)
DUE = "2031-07-04"
ADMIN = Actor("ops", Role.ADMIN)
SME = Actor("sme-1", Role.SME)
USER, PASSWORD = "mailer", "mail-password-1"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'reminders.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[SmtpPeer]:
    with SmtpPeer(tmp_path, USER, PASSWORD) as running:
        yield running


@attrs.define
class World:
    services: Services
    config: ServicesConfig
    clock: FixedClock
    metrics: Metrics
    tenant: str

    def run(self) -> int:
        worker = open_worker(self.services, reminder_handlers(self.services, self.config))
        return worker.drain()

    def counter(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture
def world(database_url: str, peer: SmtpPeer) -> Iterator[World]:
    config = ServicesConfig(
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=peer.port,
        smtp_user=USER,
        smtp_pass=PASSWORD,
        smtp_from="reminders@liquifact.test",
        smtp_tls_ca_file=peer.ca_file,
        smtp_max_retries=1,
        smtp_retry_base_delay_ms=1000,
        smtp_retry_max_delay_ms=2000,
        app_base_url="https://app.liquifact.test",
    )
    clock = FixedClock(NOW)
    metrics = Metrics(CollectorRegistry())
    services = open_services(config, clock=clock, on_reminder=ReminderMetrics(metrics))
    tenant = f"t-smtp-{account_address()[-8:].lower()}"
    yield World(services, config, clock, metrics, tenant)
    services.close()


def _setup(world: World) -> str:
    """One linked invoice maturing in three days: its SME (ok@) and three investors with
    live commitments (flaky@, bad@, down@), each with a contact e-mail."""
    services, tenant = world.services, world.tenant
    invoice = services.invoices.submit(
        tenant, SME, invoice_draft(dueDate=DUE, issueDate="2031-06-01", invoiceNumber="INV-42")
    )
    services.invoices.approve(tenant, ADMIN, invoice.id)
    services.invoices.link_escrow(tenant, ADMIN, invoice.id, link_of(contract_address(), "90000"))
    services.reminders.set_contact(tenant, SME, ContactUpdate("ok@example.com"))
    for name in ("flaky", "bad", "down"):
        investor = Actor(name, Role.INVESTOR, account_address())
        request = funding_of(
            {"invoiceId": invoice.id, "investorAddress": investor.wallet, "amountStroops": "10"}
        )
        services.funding.fund_invoice(tenant, investor, request, f"key-{name}-0001")
        services.reminders.set_contact(tenant, investor, ContactUpdate(f"{name}@example.com"))
    return invoice.id


def reminder_handlers(services: Services, config: ServicesConfig) -> dict[str, Any]:
    """The worker's reminder handlers only: PostgreSQL's queue is shared by the session, and
    a worker whose clock is years ahead must not run other tests' jobs."""
    wanted = (MATURITY_REMINDERS, MATURITY_REMINDER)
    return {k: v for k, v in job_handlers(services, config).items() if k in wanted}


def _dead_letters(world: World) -> list[Any]:
    return list(world.services.reminders.dead_letters(world.tenant, ADMIN))


def test_reminders_against_a_real_smtp_peer(world: World, peer: SmtpPeer) -> None:
    invoice_id = _setup(world)

    world.run()  # the daily slot plans four reminders, and the first attempts run
    assert [m["To"] for m in peer.delivered] == ["ok@example.com"]
    [permanent] = _dead_letters(world)
    assert (permanent.recipient, permanent.reason, permanent.smtp_code, permanent.attempts) == (
        "bad",
        DeadLetterReason.PERMANENT_ERROR,
        550,
        1,
    )
    assert permanent.recipient_hint == "b***@example.com"
    assert "bad@example.com" not in permanent.error

    world.clock.advance(timedelta(minutes=1))  # past the backoff: the 451s are retried
    world.run()
    assert sorted(m["To"] for m in peer.delivered) == ["flaky@example.com", "ok@example.com"]
    reasons = sorted((d.recipient, d.reason.value, d.smtp_code) for d in _dead_letters(world))
    assert reasons == [
        ("bad", "permanent_error", 550),
        ("down", "max_retries_exceeded", 451),
    ]
    assert peer.rcpt_count == {
        "ok@example.com": 1,
        "flaky@example.com": 2,
        "bad@example.com": 1,
        "down@example.com": 2,
    }

    # The daily job again (same day, then the next day's slot): nothing is sent twice.
    world.services.reminders.plan()
    world.run()
    world.clock.advance(timedelta(days=1))
    world.run()
    assert len(peer.delivered) == 2 and len(_dead_letters(world)) == 2

    labels = {"job_type": "maturity_reminder"}
    assert world.counter("maturity_reminder_delivery_attempts_total", **labels) == 6
    assert world.counter("maturity_reminder_delivery_success_total", **labels) == 2
    for reason in ("permanent_error", "max_retries_exceeded"):
        assert world.counter("maturity_reminder_dead_letter_total", reason=reason, **labels) == 1

    message = peer.to("ok@example.com")[0]
    assert message["From"] == "reminders@liquifact.test"
    assert message["Subject"] == f"Invoice INV-42 matures on {DUE}"
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and rich is not None
    text, html = plain.get_content(), rich.get_content()
    link = f"https://app.liquifact.test/invoices/{invoice_id}"
    for body in (text, html):
        assert "INV-42" in body and DUE in body and "1250.00 USD" in body and link in body
    # Every connection upgraded with STARTTLS and logged in: one per attempt.
    assert peer.tls_used == [True, True] and peer.logins == [USER] * 6


def test_without_an_smtp_host_reminders_are_logged(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServicesConfig(database_url=database_url)
    services = open_services(config, clock=FixedClock(NOW))
    world = World(services, config, FixedClock(NOW), Metrics(CollectorRegistry()), "t-dry")
    world.tenant = f"t-dry-{account_address()[-8:].lower()}"
    try:
        _setup(world)
        # Planned directly: on PostgreSQL the day's slot job may be another test's already.
        assert services.reminders.plan().planned == 4
        with caplog.at_level("INFO", logger="liquifact.mail"):
            open_worker(services, reminder_handlers(services, config), schedules=False).drain()
        logged = [r.getMessage() for r in caplog.records if r.name == "liquifact.mail"]
        assert len(logged) == 4 and all("mail_dry_run" in line for line in logged)
        assert not any("@example.com" in line and "***" not in line for line in logged)
    finally:
        services.close()


def test_the_mailer_sends_to_the_one_address_it_is_given(peer: SmtpPeer) -> None:
    """A stored contact from before the stricter rule, an encoded word that the To header
    would decode into a second recipient: refused for good, nothing sent to anyone."""
    from liquifact_adapters.mail.smtp import SmtpMailer, SmtpSettings
    from liquifact_core.reminders import MailFailure, MailMessage

    mailer = SmtpMailer(
        SmtpSettings(
            "127.0.0.1", peer.port, USER, PASSWORD, "reminders@liquifact.test", 5000, peer.ca_file
        )
    )
    injected = "=?utf-8?q?evil=40attacker.test=2C?=me@example.com"
    with pytest.raises(MailFailure) as refused:
        mailer.send(MailMessage(injected, "Subject", "text", "<p>html</p>"))
    assert refused.value.permanent
    assert peer.rcpt_count == {} and peer.delivered == []
    mailer.send(MailMessage("me@example.com", "Subject", "text", "<p>html</p>"))
    assert peer.rcpt_count == {"me@example.com": 1}
