"""Tenant webhooks with real processes and a real HTTP receiver (issue 11, "Done when"):

* a worker killed with SIGKILL in the middle of a delivery: after a restart the webhook is
  delivered and the receiver's verifier accepts it (SQLite and PostgreSQL);
* three workers on one PostgreSQL database deliver 1,000 queued webhooks, none lost and
  none delivered twice;
* ``liquifact serve`` on the embedded store (what ``make run`` starts) delivers with no
  other process: 500 then 200 is retried, 400 gets one attempt, a receiver that never
  answers ends in a dead letter an admin replays, and ``/metrics`` shows the gauges move.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import httpx2 as httpx
import pytest

from liquifact_adapters import open_services
from liquifact_adapters.composition import ServicesConfig
from liquifact_adapters.webhooks import generate_key
from liquifact_adapters.webhooks.delivery import TIMED_OUT
from liquifact_core.invoices import Actor, Transition
from liquifact_core.jobs import JobStatus
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.services import Services
from liquifact_core.webhook_endpoints import delivery_job, delivery_payload
from liquifact_core.webhooks import verify_signature
from tests.auth_helpers import TEST_SECRET, bearer
from tests.factories import invoice_draft, invoice_payload, new_tenant
from tests.integration.server import ServerProcess
from tests.integration.test_worker_processes import (  # noqa: F401 - fixtures
    LEASE_SECONDS,
    database_url,
    get_job,
    postgres_database,
    recorded_runs,
    runs,
    start_worker,
    stopped_gracefully,
    wait_for,
)
from tests.webhook_receiver import HANG, WebhookReceiver

pytestmark = [pytest.mark.slow]
KEY = generate_key()
ADMIN = Actor("admin-1", Role.ADMIN)
SME = Actor("sme-1", Role.SME)


def _services(url: str) -> Services:
    return open_services(
        ServicesConfig(
            database_url=url, webhook_secrets_key=KEY, webhook_allow_insecure_loopback=True
        )
    )


def test_a_delivery_cut_by_sigkill_is_delivered_after_restart(
    database_url: str,  # noqa: F811 - the imported fixture
    runs: Path,  # noqa: F811
) -> None:
    services = _services(database_url)
    tenant = new_tenant()
    try:
        with WebhookReceiver() as receiver:
            receiver.secret = services.webhooks.configure(tenant, ADMIN, receiver.url).secret
            receiver.script(HANG)  # the first delivery is held open: the worker is mid-call
            invoice = services.invoices.submit(tenant, SME, invoice_draft())
            page = services.webhooks.jobs(ADMIN, _all(tenant))
            (job,) = page.items

            first = start_worker(
                database_url, runs, "--lease", str(LEASE_SECONDS), "--webhook-key", KEY
            )
            try:
                receiver.wait_for(1)
                first.send_signal(signal.SIGKILL)
                assert first.wait(timeout=10) == -signal.SIGKILL
            finally:
                if first.poll() is None:
                    first.kill()
                    first.wait()
                if first.stderr:
                    first.stderr.close()
            cut = get_job(services.store, job)
            assert (cut.status, cut.attempts) == (JobStatus.RUNNING, 1)

            second = start_worker(
                database_url, runs, "--lease", str(LEASE_SECONDS), "--webhook-key", KEY
            )
            try:
                wait_for(
                    lambda: get_job(services.store, job).status is JobStatus.SUCCEEDED,
                    LEASE_SECONDS + 30,
                    "the delivery to run again",
                )
            finally:
                stopped_gracefully(second)
            held, delivered = receiver.wait_for(2)
        assert delivered.verified
        assert delivered.delivery_id == held.delivery_id == job.id
        assert delivered.json["event"] == "invoice.created"
        assert delivered.json["invoiceId"] == invoice.id
        assert get_job(services.store, job).attempts == 2
    finally:
        services.close()


def _all(tenant: str):  # type: ignore[no-untyped-def]
    from liquifact_core.jobs import JobQuery

    return JobQuery(tenant, limit=100)


@pytest.mark.postgres
def test_three_workers_deliver_a_thousand_webhooks_once_each(
    postgres_database: str,  # noqa: F811
    runs: Path,  # noqa: F811
) -> None:
    services = _services(postgres_database)
    tenants = [new_tenant() for _ in range(4)]
    secrets: dict[str, str] = {}
    job_ids: set[str] = set()
    with WebhookReceiver() as receiver:
        try:
            now = datetime.now(UTC)
            for tenant in tenants:
                secret = services.webhooks.configure(tenant, ADMIN, receiver.url).secret
                assert secret is not None
                secrets[tenant] = secret
                with services.store.unit_of_work(tenant) as uow:
                    for n in range(250):
                        step = Transition(
                            invoice_id=f"inv_{n:05d}",
                            tenant_id=tenant,
                            sequence=2,
                            from_status=InvoiceStatus.PENDING,
                            to_status=InvoiceStatus.APPROVED,
                            actor_id="admin-1",
                            actor_role=Role.ADMIN,
                            at=now,
                        )
                        job = delivery_job(
                            f"job_{uuid4().hex}", tenant, delivery_payload(step), now, 3
                        )
                        uow.jobs.enqueue(job)
                        job_ids.add(job.id)
                    uow.commit()
        finally:
            services.close()

        workers = [start_worker(postgres_database, runs, "--webhook-key", KEY) for _ in range(3)]
        try:
            received = receiver.wait_for(1000, timeout=180)
        finally:
            for worker in workers:
                stopped_gracefully(worker)

    delivered = Counter(item.delivery_id for item in received)
    assert delivered == Counter(dict.fromkeys(job_ids, 1)), "lost or delivered twice"
    for item in received:
        verify_signature(secrets[item.json["tenantId"]], item.body, item.headers["x-signature"])
    calls = [(job_id, attempt) for job_id, attempt, _ in recorded_runs(runs) if job_id in job_ids]
    assert len(calls) == len(set(calls)) == 1000
    # The queue was shared, not drained by one process.
    assert len({log for job_id, _, log in recorded_runs(runs) if job_id in job_ids}) >= 2


# ---- make run: the server with its embedded worker --------------------------------------------
TENANT = "hooks-tenant"


def _admin() -> dict[str, str]:
    # Minted when used: a token made at import could expire before a long gate reaches here.
    return bearer("admin", TENANT, "admin-1")


def _sme() -> dict[str, str]:
    return bearer("sme", TENANT, "sme-1")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data.db'}",
        "JWT_SECRET": TEST_SECRET,
        "WEBHOOK_ALLOW_INSECURE_LOOPBACK": "true",
        "WEBHOOK_TIMEOUT_MS": "400",
        "WEBHOOK_MAX_RETRIES": "2",
        # Long enough for a scrape to see a delivery waiting for its retry.
        "WEBHOOK_BASE_DELAY": "400",
        "WEBHOOK_MAX_DELAY": "800",
        "WORKER_POLL_INTERVAL_MS": "50",
        "RATE_LIMIT_ENABLED": "false",
    }
    process = ServerProcess(env, cwd=tmp_path)
    try:
        process.wait_for_event("listening")
        yield process
    finally:
        process.stop()


def _metrics(base: str) -> dict[tuple[str, str], float]:
    values: dict[tuple[str, str], float] = {}
    for line in httpx.get(base + "/metrics").text.splitlines():
        if line.startswith("liquifact_") and 'type="webhook_delivery"' in line:
            name = line.split("{", 1)[0]
            values[(name, "webhook_delivery")] = float(line.rsplit(" ", 1)[1])
    return values


def _jobs(base: str, **params: str) -> list[dict[str, object]]:
    answer = httpx.get(base + "/v1/admin/jobs", params={"limit": "100", **params}, headers=_admin())
    assert answer.status_code == 200, answer.text
    data: list[dict[str, object]] = answer.json()["data"]
    return data


def _new_invoice(base: str) -> str:
    created = httpx.post(base + "/v1/invoices", json=invoice_payload(), headers=_sme())
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_make_run_delivers_retries_dead_letters_and_replays(server: ServerProcess) -> None:
    base = server.base
    with WebhookReceiver() as receiver:
        put = httpx.put(base + "/v1/admin/webhook", json={"url": receiver.url}, headers=_admin())
        assert put.status_code == 201, put.text
        receiver.secret = put.json()["secret"]
        assert receiver.secret not in "\n".join(server.lines)  # never logged

        # 500 then 200: delivered on the retry.
        receiver.script(500, 200)
        invoice_id = _new_invoice(base)
        first, retry = receiver.wait_for(2)
        assert (first.delivery_id, first.verified) == (retry.delivery_id, True)
        assert retry.json == {**retry.json, "event": "invoice.created", "invoiceId": invoice_id}

        # 400: one attempt, then a dead letter.
        receiver.script(400)
        approved = httpx.post(f"{base}/v1/invoices/{invoice_id}/approve", json={}, headers=_admin())
        assert approved.status_code == 200, approved.text
        receiver.wait_for(3)
        wait_for(lambda: len(_jobs(base, status="dead")) == 1, 20, "the 400 to be dead")
        (rejected,) = _jobs(base, status="dead")
        assert (rejected["attempts"], rejected["lastError"]) == (
            1,
            "The endpoint answered: HTTP 400.",
        )

        # Never answering: the gauges show it in flight, then it is dead after 3 attempts.
        receiver.script(HANG, HANG, HANG)
        held = httpx.post(base + "/v1/admin/webhook/test", headers=_admin())
        assert held.status_code == 202, held.text
        test_job = held.json()["id"]
        receiver.wait_for(4)
        wait_for(
            lambda: (
                _metrics(base).get(("liquifact_worker_inflight_count", "webhook_delivery")) == 1
            ),
            20,
            "the held delivery to show in flight",
        )
        wait_for(
            lambda: _metrics(base).get(("liquifact_job_retry_queue_size", "webhook_delivery")) == 1,
            20,
            "the timed-out delivery to wait for its retry",
        )
        wait_for(lambda: len(_jobs(base, status="dead")) == 2, 30, "the test event to be dead")
        dead = next(job for job in _jobs(base, status="dead") if job["id"] == test_job)
        assert (dead["attempts"], dead["lastError"]) == (3, TIMED_OUT)
        after = _metrics(base)
        assert after[("liquifact_worker_inflight_count", "webhook_delivery")] == 0
        assert after[("liquifact_job_dead_letters_total", "webhook_delivery")] == 2
        assert after[("liquifact_job_retries_total", "webhook_delivery")] == 3

        # An admin replays the dead letter; the receiver answers now.
        replay = httpx.post(f"{base}/v1/admin/jobs/{test_job}/replay", headers=_admin())
        assert replay.status_code == 200, replay.text
        arrived = receiver.wait_for(7)
        wait_for(
            lambda: (
                httpx.get(f"{base}/v1/admin/jobs/{test_job}", headers=_admin()).json()["status"]
                == "succeeded"
            ),
            20,
            "the replayed delivery to succeed",
        )
        assert arrived[-1].verified and arrived[-1].json["event"] == "webhook.test"
    assert _metrics(base)[("liquifact_job_queue_depth", "webhook_delivery")] == 0
    assert _metrics(base)[("liquifact_job_successes_total", "webhook_delivery")] == 2
    logged = "\n".join(server.lines)
    assert "s3cr3t-query" not in logged and "/hooks" not in logged
    history = [json.loads(line) for line in server.lines if line.startswith("{")]
    assert any(record.get("event") == "job_settled" for record in history)
