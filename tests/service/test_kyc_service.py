"""KYC use cases on the in-memory store: starting, the provider's answer, the signed webhook
(bad signature, old timestamp, replay, a good event), admin reads and audited exemptions, and
the gate on funding and escrow links."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from liquifact_adapters.composition import job_handlers, open_worker
from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
from liquifact_core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthenticated,
    Unavailable,
    Unprocessable,
)
from liquifact_core.invoices import Actor
from liquifact_core.kyc import ExemptKyc, KycEvent, KycRole, KycStatus, ProviderAnswer
from liquifact_core.lifecycle import Role
from liquifact_core.services import KycPorts, Services
from liquifact_core.services.kyc import MockKycProvider
from liquifact_core.webhooks import signature_header
from tests.factories import account_address, contract_address, funding_of, invoice_draft, link_of

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SECRET = "kyc-webhook-secret-for-tests"
TENANT = "t-kyc"
ADMIN = Actor("ops", Role.ADMIN)
SME = Actor("sme-1", Role.SME)
WALLET = account_address()
INVESTOR = Actor("investor-1", Role.INVESTOR, WALLET)


class ScriptedProvider:
    """A provider that answers every submission with ``answer`` (or raises ``error``)."""

    name = "http"
    assumed_status: KycStatus | None = None

    def __init__(self) -> None:
        self.status = "pending"
        self.error: Exception | None = None
        self.submitted: list[tuple[str, KycRole | None]] = []

    def submit(self, reference: str, subject: str, role: KycRole | None) -> ProviderAnswer:
        if self.error is not None:
            raise self.error
        self.submitted.append((reference, role))
        return ProviderAnswer(f"app-{len(self.submitted)}", self.status, "https://kyc.example/f")

    def check(self) -> None:
        return None


@attrs.define
class World:
    services: Services
    clock: FixedClock
    provider: Any

    def run_jobs(self) -> int:
        worker = open_worker(self.services, job_handlers(self.services), schedules=False)
        return worker.drain()

    def event(self, reference: str, status: str, event_id: str = "evt-1", **extra: Any) -> bytes:
        body = {"eventId": event_id, "reference": reference, "status": status, **extra}
        return json.dumps(body).encode()

    def deliver(self, raw: bytes, header: str | None = None) -> Any:
        kyc = self.services.kyc
        signed = kyc.authenticate(raw, header or signature_header(SECRET, raw, self.clock.now()))
        return kyc.apply_event(KycEvent(**_snake(json.loads(raw))), signed)


def _snake(body: dict[str, Any]) -> dict[str, Any]:
    names = {"eventId": "event_id", "providerReference": "provider_reference"}
    return {names.get(key, key): value for key, value in body.items()}


def _world(provider: Any) -> World:
    clock = FixedClock(T0)
    services = Services.from_ports(
        InMemoryStore(),
        clock,
        SequentialIdGenerator(),
        kyc=KycPorts(provider, SECRET),
    )
    return World(services, clock, provider)


@pytest.fixture
def world() -> World:
    return _world(ScriptedProvider())


def _linked_invoice(world: World, sme: Actor = SME) -> str:
    invoices = world.services.invoices
    invoice = invoices.submit(TENANT, sme, invoice_draft())
    invoices.approve(TENANT, ADMIN, invoice.id)
    return invoice.id


# ---- starting and the provider's answer --------------------------------------------------------
def test_starting_queues_one_submission_and_the_answer_is_recorded(world: World) -> None:
    started = world.services.kyc.start(TENANT, INVESTOR)
    again = world.services.kyc.start(TENANT, INVESTOR)

    assert (started.queued, again.queued) == (True, False)
    assert started.record.status is KycStatus.PENDING
    assert world.run_jobs() == 1
    view = world.services.kyc.mine(TENANT, INVESTOR)
    assert view.status is KycStatus.PENDING and view.record is not None
    assert view.record.provider_reference == "app-1"
    assert view.record.verification_url == "https://kyc.example/f"
    assert world.provider.submitted == [(started.record.reference, KycRole.INVESTOR)]
    _, history = world.services.kyc.record(TENANT, ADMIN, INVESTOR.id)
    assert [(c.sequence, c.source.value, c.provider_status) for c in history] == [
        (1, "submission", None),
        (2, "submission", "pending"),
    ]


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (Unavailable("down", code="KYC_PROVIDER_UNAVAILABLE"), "pending"),
        (Unprocessable("refused", code="KYC_PROVIDER_REFUSED"), "dead"),
    ],
)
def test_a_provider_that_is_down_is_retried_and_a_refusal_dead_letters(
    world: World, error: Exception, outcome: str
) -> None:
    world.services.kyc.start(TENANT, INVESTOR)
    world.provider.error = error
    worker = open_worker(world.services, job_handlers(world.services), schedules=False)
    assert worker.run_once() == 1
    with world.services.store.read_unit(TENANT) as uow:
        [job] = uow.jobs.list(_jobs_query()).items
    assert (job.status.value, job.attempts) == (outcome, 1)
    assert world.services.kyc.mine(TENANT, INVESTOR).status is KycStatus.PENDING


def _jobs_query() -> Any:
    from liquifact_core.jobs import JobQuery

    return JobQuery(TENANT)


def test_only_smes_and_investors_have_a_status_of_their_own(world: World) -> None:
    with pytest.raises(Forbidden):
        world.services.kyc.start(TENANT, ADMIN)
    with pytest.raises(Forbidden):
        world.services.kyc.record(TENANT, SME, "x")


# ---- the webhook ------------------------------------------------------------------------------
def test_a_good_event_updates_the_record_once_and_a_replay_is_refused(world: World) -> None:
    reference = world.services.kyc.start(TENANT, INVESTOR).record.reference
    raw = world.event(reference, "approved", providerReference="app-9")

    updated = world.deliver(raw)
    assert updated.status is KycStatus.VERIFIED and updated.provider_reference == "app-9"
    with pytest.raises(Conflict) as replayed:
        world.deliver(raw)
    assert replayed.value.code == "KYC_EVENT_REPLAYED"
    with world.services.store.read_unit(TENANT) as uow:
        audit = uow.audit.for_resource(TENANT, "kyc_subject", INVESTOR.id)
    assert [event.action for event in audit] == ["kyc.started", "kyc.status_changed"]


def test_bad_signatures_and_old_timestamps_are_refused_before_anything_is_read(
    world: World,
) -> None:
    reference = world.services.kyc.start(TENANT, INVESTOR).record.reference
    raw = world.event(reference, "approved")
    kyc = world.services.kyc
    cases: list[tuple[str | None, str]] = [
        (None, "KYC_SIGNATURE_MISSING"),
        (signature_header("another-secret-entirely", raw, T0), "KYC_SIGNATURE_INVALID"),
        (signature_header(SECRET, raw + b" ", T0), "KYC_SIGNATURE_INVALID"),
        ("t=1,v1=zz", "KYC_SIGNATURE_INVALID"),
        (signature_header(SECRET, raw, T0 - timedelta(minutes=6)), "KYC_SIGNATURE_EXPIRED"),
        (signature_header(SECRET, raw, T0 + timedelta(minutes=6)), "KYC_SIGNATURE_EXPIRED"),
    ]
    for header, code in cases:
        with pytest.raises(Unauthenticated) as refused:
            kyc.authenticate(raw, header)
        assert refused.value.code == code, header
    assert kyc.mine(TENANT, INVESTOR).status is KycStatus.PENDING
    # Within the tolerance: accepted.
    assert kyc.authenticate(raw, signature_header(SECRET, raw, T0 - timedelta(minutes=4)))


def test_unknown_references_and_statuses_change_nothing(world: World) -> None:
    reference = world.services.kyc.start(TENANT, INVESTOR).record.reference
    with pytest.raises(NotFound) as unknown:
        world.deliver(world.event("kyc_nosuchrecord", "approved"))
    assert unknown.value.code == "KYC_REFERENCE_UNKNOWN"
    with pytest.raises(Unprocessable):
        world.deliver(world.event(reference, "looks good to me", event_id="evt-2"))
    # Neither event was remembered: the provider may send them again once fixed.
    assert world.deliver(world.event(reference, "approved", event_id="evt-2")).status.value == (
        "verified"
    )


def test_an_event_older_than_the_last_applied_one_is_ignored(world: World) -> None:
    reference = world.services.kyc.start(TENANT, INVESTOR).record.reference
    world.deliver(world.event(reference, "rejected", event_id="new", reason="Document expired"))
    older = world.event(reference, "approved", event_id="old")
    kyc = world.services.kyc
    signed = kyc.authenticate(older, signature_header(SECRET, older, T0 - timedelta(seconds=30)))
    unchanged = kyc.apply_event(KycEvent("old", reference, "approved"), signed)
    assert (unchanged.status, unchanged.reason) == (KycStatus.REJECTED, "Document expired")


def test_without_a_secret_the_webhook_is_not_configured() -> None:
    services = Services.from_ports(InMemoryStore(), FixedClock(T0), SequentialIdGenerator())
    with pytest.raises(NotFound) as refused:
        services.kyc.authenticate(b"{}", "t=1,v1=" + "0" * 64)
    assert refused.value.code == "KYC_WEBHOOK_NOT_CONFIGURED"


# ---- exemptions ----------------------------------------------------------------------------------
def test_an_exemption_is_audited_idempotent_and_outlives_provider_events(world: World) -> None:
    reference = world.services.kyc.start(TENANT, SME).record.reference
    kyc = world.services.kyc
    first = kyc.exempt(TENANT, ADMIN, SME.id, ExemptKyc("Listed company"))
    again = kyc.exempt(TENANT, ADMIN, SME.id, ExemptKyc("Another reason"))
    after = world.deliver(world.event(reference, "declined", reason="Mismatch"))

    assert first == again
    assert (after.status, after.reason) == (KycStatus.EXEMPTED, "Listed company")
    record, history = kyc.record(TENANT, ADMIN, SME.id)
    assert [(c.status.value, c.source.value) for c in history][-2:] == [
        ("exempted", "admin"),
        ("exempted", "provider"),
    ]
    with world.services.store.read_unit(TENANT) as uow:
        [exempting] = [
            e
            for e in uow.audit.for_resource(TENANT, "kyc_subject", SME.id)
            if e.action == "kyc.exempted"
        ]
    assert exempting.actor_id == ADMIN.id
    assert dict(exempting.metadata)["reason"] == "Listed company"
    assert dict(exempting.metadata)["from"] == "pending"
    assert record.reason == "Listed company"


def test_a_subject_without_a_record_can_be_exempted(world: World) -> None:
    with pytest.raises(NotFound):
        world.services.kyc.record(TENANT, ADMIN, "newcomer")
    record = world.services.kyc.exempt(TENANT, ADMIN, "newcomer", ExemptKyc("Pilot partner"))
    assert record.status is KycStatus.EXEMPTED and record.role is None


# ---- the gate ----------------------------------------------------------------------------------
def _fund(world: World, invoice_id: str, key: str) -> Any:
    request = funding_of(
        {"invoiceId": invoice_id, "investorAddress": WALLET, "amountStroops": "1000"}
    )
    return world.services.funding.fund_invoice(TENANT, INVESTOR, request, key)


def test_funding_needs_a_verified_investor_and_succeeds_once_the_webhook_verifies(
    world: World,
) -> None:
    kyc = world.services.kyc
    kyc.exempt(TENANT, ADMIN, SME.id, ExemptKyc("Demo SME"))
    invoice_id = _linked_invoice(world)
    world.services.invoices.link_escrow(
        TENANT, ADMIN, invoice_id, link_of(contract_address(), "5000")
    )

    with pytest.raises(Forbidden) as not_started:
        _fund(world, invoice_id, "key-00000001")
    assert not_started.value.code == "INVESTOR_KYC_NOT_VERIFIED"
    reference = kyc.start(TENANT, INVESTOR).record.reference
    with pytest.raises(Forbidden) as pending:
        _fund(world, invoice_id, "key-00000001")
    assert "pending" in pending.value.message
    # Refused before the key was claimed: the same key works once verified.
    world.deliver(world.event(reference, "verified"))
    outcome = _fund(world, invoice_id, "key-00000001")
    assert not outcome.replayed and outcome.commitment.amount_stroops == 1000


def test_linking_needs_a_verified_or_exempted_sme(world: World) -> None:
    invoice_id = _linked_invoice(world)
    link = link_of(contract_address(), "5000")
    with pytest.raises(Forbidden) as refused:
        world.services.invoices.link_escrow(TENANT, ADMIN, invoice_id, link)
    assert refused.value.code == "SME_KYC_NOT_VERIFIED"
    assert world.services.invoices.get(TENANT, ADMIN, invoice_id).status.value == "approved"

    world.services.kyc.exempt(TENANT, ADMIN, SME.id, ExemptKyc("Known issuer"))
    linked = world.services.invoices.link_escrow(TENANT, ADMIN, invoice_id, link)
    assert linked.status.value == "linked_escrow"


@pytest.mark.parametrize(
    ("policy", "allowed"), [(KycStatus.VERIFIED, True), (KycStatus.PENDING, False)]
)
def test_the_mock_decides_by_its_default_policy(policy: KycStatus, allowed: bool) -> None:
    world = _world(MockKycProvider(policy))
    invoice_id = _linked_invoice(world)
    link: Callable[[], Any] = lambda: world.services.invoices.link_escrow(  # noqa: E731
        TENANT, ADMIN, invoice_id, link_of(contract_address(), "5000")
    )
    if allowed:
        assert link().status.value == "linked_escrow"
        return
    with pytest.raises(Forbidden):
        link()
    # Starting with the mock answers its policy at once: no job, no worker, no network.
    started = world.services.kyc.start(TENANT, SME)
    assert not started.queued and world.run_jobs() == 0
    assert world.services.kyc.mine(TENANT, SME).status is KycStatus.PENDING


def test_starting_with_the_default_mock_verifies_at_once() -> None:
    world = _world(MockKycProvider())
    started = world.services.kyc.start(TENANT, INVESTOR)
    assert (started.queued, started.record.status) == (False, KycStatus.VERIFIED)
    _, history = world.services.kyc.record(TENANT, ADMIN, INVESTOR.id)
    assert [(c.status.value, c.provider_status) for c in history] == [
        ("pending", None),
        ("verified", "verified"),
    ]


def test_a_submission_answer_never_overrides_a_decision_the_webhook_made_meanwhile() -> None:
    """The provider answers the submission "approved" while its webhook (without a
    providerReference) rejects the subject before the job records that answer: the subject
    stays rejected, never verified by the older answer."""

    class RacingProvider(ScriptedProvider):
        world: World

        def submit(self, reference: str, subject: str, role: KycRole | None) -> ProviderAnswer:
            answer = super().submit(reference, subject, role)
            self.world.deliver(self.world.event(reference, "rejected", reason="Document forged"))
            return answer

    provider = RacingProvider()
    provider.status = "approved"
    world = _world(provider)
    provider.world = world
    world.services.kyc.start(TENANT, INVESTOR)
    world.run_jobs()

    view = world.services.kyc.mine(TENANT, INVESTOR)
    assert view.status is KycStatus.REJECTED
    with pytest.raises(Forbidden) as refused:
        world.services.funding.check_kyc(TENANT, INVESTOR)
    assert refused.value.code == "INVESTOR_KYC_NOT_VERIFIED"
