"""WebhookRepository (migration 0009) and the webhook outbox on every store: an endpoint is
stored, replaced and removed per tenant and no other tenant sees it (on PostgreSQL not even a
raw query as the application role); the ``webhook_dead_letters`` view lists exactly the
tenant's dead ``webhook_delivery`` jobs; a transition whose unit rolls back leaves no delivery
job; a job listing's ``total`` counts every filtered job, whatever the cursor."""

from __future__ import annotations

import itertools
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, cast
from uuid import uuid4

import attrs
import pytest

from liquifact_adapters.memory import FixedClock
from liquifact_adapters.postgres import PostgresStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_adapters.system import RandomIdGenerator
from liquifact_adapters.system.backoff import ExponentialBackoff
from liquifact_core.audit import AuditEvent
from liquifact_core.changes import IgnoreChanges
from liquifact_core.invoices import Actor
from liquifact_core.jobs import (
    WEBHOOK_DELIVERY,
    Job,
    JobFailure,
    JobQuery,
    JobStatus,
    new_job,
    page_in_memory,
)
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.ports import Store, UnitOfWork, UnitOfWorkFactory
from liquifact_core.services import Services
from liquifact_core.services.invoices import InvoiceService
from liquifact_core.services.webhooks import WebhookOutbox
from liquifact_core.webhook_endpoints import WebhookEndpoint, delivery_job, delivery_payload
from tests.factories import invoice_draft

from .contract_support import T0, invoice, new_tenant, transition

LEASE = timedelta(seconds=30)
SME = Actor("sme-1", Role.SME)
ADMIN = Actor("admin-1", Role.ADMIN)
# Jobs these tests make dead are due long before any other test's jobs, each batch earlier
# than the last: a claim at a batch's time takes that batch alone, even on the PostgreSQL
# database the whole session shares (workers claim across tenants).
_BATCHES = itertools.count()


def long_ago() -> datetime:
    """A due time no other test uses; each call an hour earlier than the previous one."""
    return datetime(2001, 1, 1, tzinfo=UTC) - timedelta(hours=next(_BATCHES))


def an_endpoint(tenant: str, **changes: Any) -> WebhookEndpoint:
    values: dict[str, Any] = {
        "tenant_id": tenant,
        "url": "https://8.8.8.8/hooks/liquifact?token=path-secret",
        "host": "8.8.8.8",
        "updated_at": T0,
        "sealed_secret": f"sealed-{uuid4().hex}",
        "secret_rotated_at": T0,
    }
    values.update(changes)
    return WebhookEndpoint(**values)


def put(store: Store, endpoint: WebhookEndpoint) -> None:
    with store.unit_of_work(endpoint.tenant_id) as uow:
        uow.webhooks.put(endpoint)
        uow.commit()


def read(store: Store, tenant: str) -> WebhookEndpoint | None:
    with store.read_unit(tenant) as uow:
        return uow.webhooks.get(tenant)


def jobs_of(store: Store, tenant: str, **query: Any) -> list[Job]:
    with store.read_unit(tenant) as uow:
        return list(uow.jobs.list(JobQuery(tenant, limit=100, **query)).items)


def settled_delivery(store: Store, tenant: str, *, dead: bool = True, job_type: str = "") -> Job:
    """A job of ``tenant`` (a webhook delivery unless ``job_type`` names another type) taken
    through the store's job queue: claimed, then failed without retry (dead) or completed."""
    at = long_ago()
    kind = job_type or WEBHOOK_DELIVERY
    payload = {"event": "webhook.test", "tenantId": tenant}
    job = (
        delivery_job(f"job_{uuid4().hex}", tenant, payload, at, 2)
        if kind == WEBHOOK_DELIVERY
        else new_job(
            job_id=f"job_{uuid4().hex}", tenant_id=tenant, job_type=kind, payload=payload, now=at
        )
    )
    with store.unit_of_work(tenant) as uow:
        uow.jobs.enqueue(job)
        uow.commit()
    [claimed] = store.job_queue.claim("contract-worker", [kind], 1, at, LEASE)
    assert claimed.id == job.id
    if dead:
        failure = JobFailure("HTTP 410 from 8.8.8.8", retryable=False)
        settled = store.job_queue.fail(claimed, failure, at, ExponentialBackoff())
    else:
        settled = store.job_queue.complete(claimed, at)
    assert settled is not None
    assert settled.status is (JobStatus.DEAD if dead else JobStatus.SUCCEEDED)
    return settled


# ---- the endpoint --------------------------------------------------------------------------


def test_an_endpoint_is_stored_replaced_and_removed(store: Store, tenant: str) -> None:
    assert read(store, tenant) is None
    first = an_endpoint(tenant, sealed_secret=None, secret_rotated_at=None)
    put(store, first)
    assert read(store, tenant) == first
    assert read(store, tenant).active is False  # type: ignore[union-attr]

    replaced = an_endpoint(
        tenant,
        url="https://[2001:4860:4860::8888]:8443/other",
        host="2001:4860:4860::8888",
        updated_at=T0 + timedelta(hours=1, microseconds=7),
        secret_rotated_at=T0 + timedelta(minutes=5),
    )
    put(store, replaced)
    found = read(store, tenant)
    assert found == replaced
    assert found is not None and found.active
    assert found.sealed_secret == replaced.sealed_secret

    with store.unit_of_work(tenant) as uow:
        assert uow.webhooks.remove(tenant) is True
        uow.commit()
    assert read(store, tenant) is None
    with store.unit_of_work(tenant) as uow:
        assert uow.webhooks.remove(tenant) is False


def test_an_uncommitted_endpoint_is_not_stored(store: Store, tenant: str) -> None:
    with store.unit_of_work(tenant) as uow:
        uow.webhooks.put(an_endpoint(tenant))
    assert read(store, tenant) is None

    kept = an_endpoint(tenant)
    put(store, kept)
    with store.unit_of_work(tenant) as uow:
        uow.webhooks.remove(tenant)  # left without commit
    assert read(store, tenant) == kept


def test_an_endpoint_belongs_to_one_tenant(store: Store, tenant: str) -> None:
    theirs = new_tenant()
    put(store, an_endpoint(theirs))

    assert read(store, tenant) is None
    with store.unit_of_work(tenant) as uow:
        with pytest.raises(PermissionError):
            uow.webhooks.get(theirs)
        with pytest.raises(PermissionError):
            uow.webhooks.put(an_endpoint(theirs, url="https://1.1.1.1/hijack", host="1.1.1.1"))
        with pytest.raises(PermissionError):
            uow.webhooks.remove(theirs)
    assert read(store, theirs) is not None
    assert read(store, theirs).host == "8.8.8.8"  # type: ignore[union-attr]


@pytest.mark.postgres
def test_row_level_security_hides_another_tenants_endpoint(pg_store: PostgresStore) -> None:
    mine, theirs = new_tenant(), new_tenant()
    put(pg_store, an_endpoint(mine))
    put(pg_store, an_endpoint(theirs))

    with pg_store.unit_of_work(mine) as uow:
        # Deliberately unfiltered: only the database's policy stands between tenants here.
        rows = uow.execute_unfiltered("SELECT tenant_id FROM tenant_webhooks")
        changed = uow.execute_unfiltered(
            f"UPDATE tenant_webhooks SET url = 'https://1.1.1.1/x' WHERE tenant_id = '{theirs}'"
            " RETURNING tenant_id"
        )
        removed = uow.execute_unfiltered(
            f"DELETE FROM tenant_webhooks WHERE tenant_id = '{theirs}' RETURNING tenant_id"
        )
        uow.commit()

    assert {row["tenant_id"] for row in rows} == {mine}
    assert changed == [] and removed == []
    kept = read(pg_store, theirs)
    assert kept is not None and kept.url == an_endpoint(theirs).url


# ---- webhook_dead_letters ------------------------------------------------------------------


def dead_letter_rows(store: Store, tenant: str) -> list[dict[str, Any]]:
    """The tenant's dead letters: the rows of the ``webhook_dead_letters`` view, read with
    plain SQL; on the in-memory store (no SQL), what the admin listing with the view's filter
    (dead ``webhook_delivery`` jobs) gives, in the view's columns."""
    columns = "id, tenant_id, attempts, max_attempts, last_error, dead_at"
    if isinstance(store, SqliteStore):
        with closing(sqlite3.connect(store.path)) as connection:
            connection.row_factory = sqlite3.Row
            found = connection.execute(
                f"SELECT {columns} FROM webhook_dead_letters WHERE tenant_id = ?",
                (tenant,),
            ).fetchall()
            return [dict(row) for row in found]
    if isinstance(store, PostgresStore):
        with store.read_unit(tenant) as uow:
            # No tenant filter: the jobs table's row-level security applies through the view.
            return [dict(row) for row in uow.execute_unfiltered(
                f"SELECT {columns} FROM webhook_dead_letters")]  # fmt: skip
    with store.read_unit(tenant) as uow:
        page = uow.jobs.list(JobQuery(tenant, frozenset({JobStatus.DEAD}), WEBHOOK_DELIVERY))
    return [
        {
            "id": job.id,
            "tenant_id": job.tenant_id,
            "attempts": job.attempts,
            "max_attempts": job.max_attempts,
            "last_error": job.last_error,
            "dead_at": job.updated_at,
        }
        for job in page.items
    ]


def test_the_dead_letter_view_lists_exactly_the_tenants_dead_deliveries(
    store: Store, tenant: str
) -> None:
    dead = settled_delivery(store, tenant)
    settled_delivery(store, tenant, dead=False)  # delivered: not a dead letter
    settled_delivery(store, tenant, job_type=f"test.{uuid4().hex[:12]}")  # dead, not a delivery
    pending = delivery_job(f"job_{uuid4().hex}", tenant, {"event": "x"}, T0, 3)
    with store.unit_of_work(tenant) as uow:
        uow.jobs.enqueue(pending)
        uow.commit()
    other = new_tenant()
    theirs = settled_delivery(store, other)

    rows = dead_letter_rows(store, tenant)

    assert [row["id"] for row in rows] == [dead.id]
    [row] = rows
    assert row["tenant_id"] == tenant
    assert (row["attempts"], row["max_attempts"]) == (1, 3)
    assert row["last_error"] == "HTTP 410 from 8.8.8.8"
    assert row["dead_at"] is not None
    assert [row["id"] for row in dead_letter_rows(store, other)] == [theirs.id]

    # A replayed dead letter leaves the view.
    with store.unit_of_work(tenant) as uow:
        uow.jobs.requeue(tenant, dead.id, T0)
        uow.commit()
    assert dead_letter_rows(store, tenant) == []


# ---- the outbox rolls back with its transition ----------------------------------------------


def test_a_rolled_back_transition_leaves_no_delivery_job(store: Store, tenant: str) -> None:
    put(store, an_endpoint(tenant))
    outbox = WebhookOutbox(RandomIdGenerator())
    subject = invoice(tenant)
    written: list[Job | None] = []

    def transition_then_fail() -> None:
        with store.unit_of_work(tenant) as uow:
            uow.invoices.add(subject)
            step = transition(subject, 1, from_status=None, to_status=InvoiceStatus.PENDING)
            uow.invoices.add_transition(step)
            written.append(outbox.record(uow, step))
            raise RuntimeError("the transition failed after its step was recorded")

    with pytest.raises(RuntimeError, match="step was recorded"):
        transition_then_fail()

    [job] = written
    assert job is not None  # the outbox did write it, in the unit that rolled back
    with store.read_unit(tenant) as uow:
        assert uow.jobs.get(tenant, job.id) is None
        assert uow.invoices.get(tenant, subject.id) is None
    assert jobs_of(store, tenant) == []


class _AuditDown:
    """An audit log whose writes fail (the database refused the row)."""

    def append(self, event: AuditEvent) -> None:
        raise RuntimeError("the audit log refused the event")

    def for_resource(self, tenant_id: str, resource_type: str, resource_id: str) -> list[Any]:
        return []


class _UnitWithAuditDown:
    """A store's real unit of work, but its audit appends fail: the unit rolls back."""

    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner
        self.audit = _AuditDown()

    def __enter__(self) -> _UnitWithAuditDown:
        self._inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def audit_down(store: Store) -> UnitOfWorkFactory:
    """``store``'s units of work, each with its audit log down."""

    def unit_of_work(tenant_id: str) -> UnitOfWork:
        return cast(UnitOfWork, _UnitWithAuditDown(store.unit_of_work(tenant_id)))

    return unit_of_work


def test_a_transition_whose_audit_fails_writes_no_delivery_job(store: Store, tenant: str) -> None:
    ids = RandomIdGenerator()  # the PostgreSQL database is shared: ids unique across it
    services = Services.from_ports(store, FixedClock(T0), ids)
    put(store, an_endpoint(tenant))
    submitted = services.invoices.submit(tenant, SME, invoice_draft())
    [created] = jobs_of(store, tenant)
    assert created.payload["event"] == "invoice.created"

    failing = InvoiceService(audit_down(store), FixedClock(T0), ids, IgnoreChanges())
    with pytest.raises(RuntimeError, match="audit log refused"):
        failing.approve(tenant, ADMIN, submitted.id)

    assert jobs_of(store, tenant) == [created]
    assert services.invoices.get(tenant, ADMIN, submitted.id).status is InvoiceStatus.PENDING

    # The same transition, committed, writes its job (the outbox is not simply idle).
    services.invoices.approve(tenant, ADMIN, submitted.id)
    newest, oldest = jobs_of(store, tenant)
    assert oldest == created
    assert newest.payload["event"] == "invoice.pending_to_approved"
    with store.read_unit(tenant) as uow:
        [_, approval] = uow.invoices.history(tenant, submitted.id)
    assert newest.payload == delivery_payload(approval)


def test_without_an_active_endpoint_a_transition_writes_no_job(store: Store, tenant: str) -> None:
    services = Services.from_ports(store, FixedClock(T0), RandomIdGenerator())
    put(store, an_endpoint(tenant, sealed_secret=None, secret_rotated_at=None))
    submitted = services.invoices.submit(tenant, SME, invoice_draft())
    services.invoices.approve(tenant, ADMIN, submitted.id)
    assert jobs_of(store, tenant) == []


# ---- the listing's total -------------------------------------------------------------------


def test_the_total_counts_every_filtered_job_whatever_the_cursor(store: Store, tenant: str) -> None:
    kind = f"test.{uuid4().hex[:12]}"
    deliveries = [
        delivery_job(f"job_{i:02d}_{uuid4().hex[:8]}", tenant, {"n": i}, T0, 3) for i in range(5)
    ]
    others = [
        new_job(
            job_id=f"job_{i:02d}_{uuid4().hex[:8]}",
            tenant_id=tenant,
            job_type=kind,
            payload={"n": i},
            now=T0,
        )
        for i in range(5, 8)
    ]
    with store.unit_of_work(tenant) as uow:
        for job in deliveries + others:
            uow.jobs.enqueue(job)
        uow.commit()
    stranger = new_tenant()
    with store.unit_of_work(stranger) as uow:  # another tenant's: never counted
        uow.jobs.enqueue(delivery_job(f"job_{uuid4().hex}", stranger, {"n": -1}, T0, 3))
        uow.commit()
    dead = settled_delivery(store, tenant)
    everything = [*deliveries, *others, dead]

    queries = [
        JobQuery(tenant, limit=2),
        JobQuery(tenant, job_type=WEBHOOK_DELIVERY, limit=2),
        JobQuery(tenant, job_type=kind, limit=1),
        JobQuery(tenant, statuses=frozenset({JobStatus.DEAD}), limit=1),
        JobQuery(tenant, statuses=frozenset({JobStatus.PENDING}), job_type=kind, limit=2),
        JobQuery(tenant, statuses=frozenset({JobStatus.RUNNING}), limit=3),
    ]
    for query in queries:
        expected_total = page_in_memory(everything, attrs.evolve(query, limit=100)).total
        seen: list[str] = []
        page_query = query
        while True:
            with store.read_unit(tenant) as uow:
                page = uow.jobs.list(page_query)
            assert page.total == expected_total, page_query
            assert page == page_in_memory(everything, page_query)
            seen += [job.id for job in page.items]
            if page.next_after is None:
                break
            page_query = attrs.evolve(query, after=page.next_after)
        assert len(seen) == expected_total
    assert page_in_memory(everything, JobQuery(tenant, limit=100)).total == 9
