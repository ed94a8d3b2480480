"""The webhook_delivery handler against a real HTTP receiver on 127.0.0.1 (no mock of httpx):
invoice transitions through the use cases write jobs, the production worker engine runs them,
the receiver verifies each signature with the library's verifier.

Outcomes (issue 11, item 5): 2xx delivered; 5xx, timeouts and refused connections retried;
3xx and 4xx dead at once; a host re-pointed to a private address at delivery time (DNS
rebinding) refused; an admin replays a dead letter. A transition never fails because delivery
fails.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import attrs
import pytest

from liquifact_adapters import open_services
from liquifact_adapters.composition import ServicesConfig, job_handlers, open_worker
from liquifact_adapters.system.worker import Worker
from liquifact_adapters.webhooks import DnsAddressPolicy, FernetSecretBox, generate_key
from liquifact_adapters.webhooks.delivery import TIMED_OUT
from liquifact_adapters.webhooks.guard import system_resolver as real_resolver
from liquifact_core.invoices import Actor
from liquifact_core.jobs import WEBHOOK_DELIVERY, Job, JobQuery, JobStatus
from liquifact_core.lifecycle import Role
from liquifact_core.services import Services, WebhookPorts
from liquifact_core.webhooks import transition_payload
from tests.factories import invoice_draft, new_tenant
from tests.webhook_receiver import HANG, WebhookReceiver

ADMIN = Actor("admin-1", Role.ADMIN)
SME = Actor("sme-1", Role.SME)
KEY = generate_key()


class Resolver:
    """The DNS answers of one test: a name -> addresses map the test can change (our own
    ``Resolver`` port of ``DnsAddressPolicy``; the system resolver is never asked)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    def __call__(self, host: str, port: int) -> Sequence[str]:
        if host not in self.answers:
            raise socket.gaierror("no such name")
        return self.answers[host]


def _config(tmp_path: Path, **overrides: object) -> ServicesConfig:
    settings: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'hooks.db'}",
        "webhook_secrets_key": KEY,
        "webhook_allow_insecure_loopback": True,
        "webhook_base_delay_ms": 10,
        "webhook_max_delay_ms": 40,
        "webhook_timeout_ms": 2000,
        **overrides,
    }
    return ServicesConfig(**settings)  # type: ignore[arg-type]


class World:
    def __init__(self, services: Services, config: ServicesConfig) -> None:
        self.services = services
        self.config = config
        self.tenant = new_tenant()
        self.worker: Worker = open_worker(
            services,
            job_handlers(services, config),
            poll_interval_seconds=0.02,
            retry_base_delay_ms=10,
            retry_max_delay_ms=40,
            schedules=False,
        )

    def configure(self, url: str) -> str:
        shown = self.services.webhooks.configure(self.tenant, ADMIN, url)
        assert shown.secret is not None
        return shown.secret

    def approve_new_invoice(self) -> str:
        invoice = self.services.invoices.submit(self.tenant, SME, invoice_draft())
        self.services.invoices.approve(self.tenant, ADMIN, invoice.id)
        return invoice.id

    def jobs(self) -> list[Job]:
        page = self.services.webhooks.jobs(ADMIN, JobQuery(self.tenant, limit=100))
        return sorted(page.items, key=lambda job: job.id)

    def settle(self, done: Callable[[], bool], timeout: float = 20.0) -> None:
        """Run worker rounds until ``done()`` (retries wait for their backoff)."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"not settled: {self.jobs()}"
            if self.worker.run_once() == 0:
                time.sleep(0.02)

    def settled(self) -> bool:
        return all(job.status in (JobStatus.SUCCEEDED, JobStatus.DEAD) for job in self.jobs())

    def audit(self, resource: tuple[str, str]) -> list[dict[str, object]]:
        with self.services.store.read_unit(self.tenant) as uow:
            events = uow.audit.for_resource(self.tenant, *resource)
        return [{"action": e.action, **e.metadata} for e in events]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    config = _config(tmp_path)
    services = open_services(config)
    try:
        yield World(services, config)
    finally:
        services.close()


def test_every_transition_is_delivered_signed_and_verified(world: World) -> None:
    with WebhookReceiver() as receiver:
        receiver.secret = world.configure(receiver.url)
        invoice_id = world.approve_new_invoice()
        world.settle(world.settled)
        received = receiver.wait_for(2)
    assert all(item.verified for item in received)
    events = sorted((item.json["event"], item.json["invoiceId"]) for item in received)
    assert events == [("invoice.created", invoice_id), ("invoice.pending_to_approved", invoice_id)]
    with world.services.store.read_unit(world.tenant) as uow:
        history = uow.invoices.history(world.tenant, invoice_id)
    sent = next(i for i in received if i.json["event"] == "invoice.pending_to_approved")
    # The body is exactly the spec's payload, keys sorted, compact, timestamp set when sent.
    expected = transition_payload(history[1], world.services.clock.now())
    assert {k: v for k, v in sent.json.items() if k != "timestamp"} == {
        k: v for k, v in expected.items() if k != "timestamp"
    }
    assert sent.body == json.dumps(sent.json, sort_keys=True, separators=(",", ":")).encode()
    assert sent.path == "/hooks?token=s3cr3t-query"
    assert sent.headers["host"] == receiver.url.split("/")[2]
    assert sent.headers["x-liquifact-event"] == "invoice.pending_to_approved"
    assert {job.status for job in world.jobs()} == {JobStatus.SUCCEEDED}
    assert {item.delivery_id for item in received} == {job.id for job in world.jobs()}
    outcomes = world.audit(("invoice", invoice_id))
    delivered = [e for e in outcomes if e["action"] == "webhook.delivered"]
    assert len(delivered) == 2
    assert all(e["host"] == "127.0.0.1" and e["statusCode"] == 200 for e in delivered)
    assert "s3cr3t-query" not in json.dumps(outcomes)


def test_a_5xx_is_retried_until_delivered(world: World) -> None:
    with WebhookReceiver() as receiver:
        receiver.secret = world.configure(receiver.url)
        receiver.script(500, 503, 200)
        world.services.invoices.submit(world.tenant, SME, invoice_draft())
        world.settle(world.settled)
        received = receiver.wait_for(3)
    assert [item.json["event"] for item in received] == ["invoice.created"] * 3
    assert all(item.verified for item in received)
    assert len({item.delivery_id for item in received}) == 1
    (job,) = world.jobs()
    assert (job.status, job.attempts, job.max_attempts) == (JobStatus.SUCCEEDED, 3, 4)
    actions = [e["action"] for e in world.audit(("invoice", job.payload["invoiceId"]))]
    assert actions.count("webhook.retry_scheduled") == 2
    assert actions.count("webhook.delivered") == 1


@pytest.mark.parametrize(("status", "why"), [(400, "HTTP 400"), (302, "redirects")])
def test_a_4xx_or_a_redirect_gets_one_attempt(world: World, status: int, why: str) -> None:
    with WebhookReceiver() as receiver:
        world.configure(receiver.url)
        receiver.script(status, 200)
        world.services.invoices.submit(world.tenant, SME, invoice_draft())
        world.settle(world.settled)
        assert len(receiver.received) == 1
    (job,) = world.jobs()
    assert (job.status, job.attempts) == (JobStatus.DEAD, 1)
    assert job.last_error is not None and why in job.last_error
    dead = world.audit(("invoice", job.payload["invoiceId"]))[-1]
    assert (dead["action"], dead["statusCode"], dead["host"]) == (
        "webhook.dead_lettered",
        status,
        "127.0.0.1",
    )


def test_a_receiver_that_never_answers_ends_dead_and_a_replay_delivers(tmp_path: Path) -> None:
    config = _config(tmp_path, webhook_timeout_ms=300, webhook_max_retries=1)
    services = open_services(config)
    try:
        world = World(services, config)
        with WebhookReceiver() as receiver:
            receiver.secret = world.configure(receiver.url)
            receiver.script(HANG, HANG)
            world.services.invoices.submit(world.tenant, SME, invoice_draft())
            world.settle(world.settled)
            (job,) = world.jobs()
            assert (job.status, job.attempts, job.max_attempts) == (JobStatus.DEAD, 2, 2)
            assert job.last_error == TIMED_OUT
            replayed = world.services.webhooks.replay(world.tenant, ADMIN, job.id)
            assert (replayed.status, replayed.attempts) == (JobStatus.PENDING, 0)
            world.settle(world.settled)
            received = receiver.wait_for(3)
        (job,) = world.jobs()
        assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
        assert received[-1].verified
    finally:
        services.close()


def test_a_transition_never_fails_because_delivery_fails(world: World) -> None:
    with socket.socket() as unused:  # a port nobody listens on: connections are refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    world.configure(f"http://127.0.0.1:{port}/hooks")
    invoice_id = world.approve_new_invoice()
    world.settle(world.settled)
    assert world.services.invoices.get(world.tenant, ADMIN, invoice_id).status.value == "approved"
    jobs = world.jobs()
    assert [(job.status, job.attempts) for job in jobs] == [(JobStatus.DEAD, 4)] * 2
    assert {job.last_error for job in jobs} == {"Network error: ConnectError."}


def test_deliveries_go_to_the_address_checked_and_rebinding_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    resolver = Resolver({"hooks.localhost": ["127.0.0.1"]})
    policy = DnsAddressPolicy(allow_loopback=True, resolver=resolver)
    box = FernetSecretBox(KEY)
    services = open_services(config)
    pinned = Services.from_ports(
        services.store,
        services.clock,
        services.ids,
        webhooks=WebhookPorts(box, policy, allow_insecure_loopback=True),
    )
    try:
        world = World(pinned, config)
        with WebhookReceiver() as receiver:
            port = receiver.url.split(":")[2].split("/")[0]
            receiver.secret = world.configure(f"http://hooks.localhost:{port}/in")
            world.services.invoices.submit(world.tenant, SME, invoice_draft())
            world.settle(world.settled)
            (arrived,) = receiver.wait_for(1)
            # Sent to the resolved address, with the URL's name as Host.
            assert arrived.headers["host"] == f"hooks.localhost:{port}"
            assert arrived.verified
            resolver.answers["hooks.localhost"] = ["127.0.0.1", "10.1.2.3"]
            world.services.invoices.submit(world.tenant, SME, invoice_draft())
            world.settle(world.settled)
            assert len(receiver.received) == 1
        dead = [job for job in world.jobs() if job.status is JobStatus.DEAD]
        assert [(job.attempts, job.last_error) for job in dead] == [
            (1, "The webhook URL was refused: WEBHOOK_URL_BLOCKED.")
        ]
    finally:
        services.close()


def test_without_an_endpoint_or_with_another_key_a_delivery_is_dead(world: World) -> None:
    with WebhookReceiver() as receiver:
        world.configure(receiver.url)
        world.services.invoices.submit(world.tenant, SME, invoice_draft())
        world.services.webhooks.remove(world.tenant, ADMIN)
        world.settle(world.settled)
        assert receiver.received == []
    (job,) = world.jobs()
    assert (job.status, job.last_error) == (
        JobStatus.DEAD,
        "The tenant has no webhook endpoint configured.",
    )
    # A process with another WEBHOOK_SECRETS_KEY cannot open the secret: dead, never sent.
    world.configure("http://127.0.0.1:9/hooks")
    world.services.invoices.submit(world.tenant, SME, invoice_draft())
    stranger = open_services(attrs.evolve(world.config, webhook_secrets_key=generate_key()))
    try:
        other = World(stranger, world.config)
        other.tenant = world.tenant
        other.settle(world.settled)
    finally:
        stranger.close()
    errors = {job.last_error for job in world.jobs() if job.type == WEBHOOK_DELIVERY}
    assert any(e and "cannot be opened with WEBHOOK_SECRETS_KEY" in e for e in errors)


def test_secrets_are_sealed_and_open_only_with_their_keys() -> None:
    old, new = generate_key(), generate_key()
    sealed = FernetSecretBox(old).seal("whsec-value")
    assert "whsec-value" not in sealed
    assert FernetSecretBox(f"{new},{old}").open(sealed) == "whsec-value"  # rotation
    with pytest.raises(ValueError, match="cannot be opened") as refused:
        FernetSecretBox(new).open(sealed)
    assert "whsec-value" not in str(refused.value)
    assert old not in repr(FernetSecretBox(old))
    with pytest.raises(ValueError, match="Fernet keys"):
        FernetSecretBox("not-a-key")


def test_the_system_resolver_answers_from_the_hosts_file() -> None:
    # The production resolver itself, on a name /etc/hosts answers (no DNS query is sent).
    assert "127.0.0.1" in real_resolver("localhost", 443)


class DrippingReceiver:
    """A raw TCP receiver that reads the request, then sends its answer's status line and
    headers one byte every ``interval`` seconds: no phase of the exchange ever waits longer
    than ``interval``, so only a deadline on the whole exchange ends it."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.requests = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}/drip"

    def __enter__(self) -> DrippingReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self.requests += 1
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
            for byte in answer:
                if self._stop.wait(self.interval):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return


def test_a_receiver_dripping_its_answer_is_cut_at_the_whole_request_deadline(
    tmp_path: Path,
) -> None:
    # Each byte comes well within the 500 ms timeout, so a per-phase read timeout would wait
    # for all of them (about 40 s, far past a lease); the whole-exchange deadline ends it.
    config = _config(tmp_path, webhook_timeout_ms=500, webhook_max_retries=0)
    services = open_services(config)
    try:
        world = World(services, config)
        with DrippingReceiver(interval=0.2) as receiver:
            world.configure(receiver.url)
            world.services.invoices.submit(world.tenant, SME, invoice_draft())
            world.settle(world.settled)
            assert receiver.requests == 1
        (job,) = world.jobs()
        assert (job.status, job.attempts, job.last_error) == (JobStatus.DEAD, 1, TIMED_OUT)
    finally:
        services.close()
