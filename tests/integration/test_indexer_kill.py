"""The escrow indexer as real processes, killed with SIGKILL and restarted, or run twice at
once, applies each chain event exactly once (issue 12, "Done when"), on SQLite and on
PostgreSQL: the Soroban peer (``python -m tests.soroban_peer``), ``liquifact index-once``
processes, and real ``fund`` transactions signed by investors with stellar-sdk.

Each tenant has a linked invoice and three investors with pending commitments (400 + 350 + 250
of a 1,000 target); the first deposit is indexed (``partially_funded``) before the test acts.

* Killed and restarted: an indexer is killed after reading the events, while it waits for the
  contract re-read they call for (nothing of either tenant changed); on PostgreSQL, one is
  killed inside the first tenant's unit of work, its writes made and not committed (rolled
  back); one is killed after the first tenant's unit committed, while it waits for the second
  tenant's events. The restart applies nothing new to the first tenant and the two deposits to
  the second; one more pass changes nothing.
* Two passes at once: a pass that read the events before another pass committed them must not
  put its older cursor back (both stores), nor confirm a commitment again when the two units
  overlap (PostgreSQL, where they can).

At the end each invoice took each chain step once (history, audit, webhook jobs), each
commitment was confirmed once, the projection holds the peer's funded amount and latest
ledger, and the stored cursor is past every event (the peer returns none after it).

The peer holds a chosen answer (a ``timeout`` fault, the process's RPC timeout raised above
the hold) and lists the fault as taken once the call arrived (``pending_faults``), or the test
holds a database row lock and sees the process wait for it in ``pg_stat_activity``: the test
knows where each process stands without sleeping, and asserts nothing about time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from stellar_sdk import Keypair

from liquifact_adapters import open_services
from liquifact_adapters.composition import ServicesConfig
from liquifact_adapters.webhooks import generate_key
from liquifact_core.commitments import Commitment
from liquifact_core.invoices import Actor
from liquifact_core.jobs import WEBHOOK_DELIVERY, JobQuery
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.services import Services
from tests.contract.test_escrow_ledger_contract import PeerWorld
from tests.factories import funding_of, invoice_draft, link_of, new_tenant
from tests.integration.server import LIQUIFACT
from tests.integration.test_worker_processes import database_url  # noqa: F401 - fixture
from tests.soroban_peer import PASSPHRASE, PeerProcess, peer_process

pytestmark = [pytest.mark.slow]

S = InvoiceStatus
UNIT = 10**7
TARGET = 1_000 * UNIT  # stroops
SHARES = (400 * UNIT, 350 * UNIT, 250 * UNIT)  # three deposits: partially funded, then funded
ADMIN = Actor("admin-1", Role.ADMIN)
SME = Actor("sme-1", Role.SME)
# A held answer outlasts the test: the process waiting for it is killed or released first.
HOLD_SECONDS = 90
WAIT_SECONDS = 30  # bound on waiting for a process to reach a held call (a hang fails)
WEBHOOK_KEY = generate_key()
SUMMARY_LINE = re.compile(
    r"^(\S+): (\d+) events, \d+ contracts read, \d+ projections, (\d+) invoices moved, "
    r"(\d+) commitments confirmed(, failed: (\S+) \(cursor kept\))?$",
    re.MULTILINE,
)


@attrs.define
class Books:
    """One tenant's linked invoice, its escrow on the peer and its investors' commitments."""

    tenant: str
    invoice_id: str
    contract: str
    investors: list[Keypair]
    commitments: list[Commitment]


@attrs.define
class World:
    """The peer process, the store (read and set up in this process) and the indexer's
    environment."""

    url: str
    peer: PeerProcess
    chain: PeerWorld
    services: Services
    cwd: Path

    @property
    def postgres(self) -> bool:
        return self.url.startswith("postgresql")

    def books(self) -> Books:
        """An approved invoice linked to a new escrow, a webhook endpoint (each transition
        queues a delivery job), and one pending commitment per investor and share."""
        services, tenant = self.services, new_tenant()
        services.webhooks.configure(tenant, ADMIN, "http://127.0.0.1:9/hooks")
        invoice = services.invoices.submit(tenant, SME, invoice_draft())
        services.invoices.approve(tenant, ADMIN, invoice.id)
        contract = self.chain.create_escrow(invoice.id, TARGET)
        services.invoices.link_escrow(tenant, ADMIN, invoice.id, link_of(contract, str(TARGET)))
        investors = [Keypair.random() for _ in SHARES]
        commitments = []
        for number, (investor, amount) in enumerate(zip(investors, SHARES, strict=True)):
            actor = Actor(f"investor-{number}", Role.INVESTOR, investor.public_key)
            body = {
                "invoiceId": invoice.id,
                "investorAddress": investor.public_key,
                "amountStroops": str(amount),
            }
            outcome = services.funding.fund_invoice(
                tenant, actor, funding_of(body), f"key-{tenant}-{number}"
            )
            commitments.append(outcome.commitment)
        return Books(tenant, invoice.id, contract, investors, commitments)

    def deposit(self, books: Books, number: int) -> None:
        """Investor ``number``'s real ``fund`` transaction for their committed share."""
        self.chain.fund(books.contract, SHARES[number], books.investors[number])

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.url,
            "STELLAR_NETWORK": "STANDALONE",
            "SOROBAN_RPC_URL": self.peer.url,
            # Longer than any hold: a held read is waited for, never timed out and retried.
            "SOROBAN_RPC_TIMEOUT_MS": str((HOLD_SECONDS + 30) * 1000),
            "WEBHOOK_SECRETS_KEY": WEBHOOK_KEY,
        }

    def index_once(self) -> dict[str, tuple[int | str, ...]]:
        """Run ``liquifact index-once`` to its end; per tenant (events, moved, confirmed)."""
        done = subprocess.run(
            [LIQUIFACT, "index-once"],
            env=self.env(),
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return _summary(done.stdout)

    @contextmanager
    def indexer(self) -> Iterator[subprocess.Popen[str]]:
        """A ``liquifact index-once`` process for the caller to kill or wait for (killed
        here if it still runs)."""
        process = subprocess.Popen(
            [LIQUIFACT, "index-once"],
            env=self.env(),
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)

    def hold(self, method: str, *, pass_first: int = 0) -> None:
        """Let ``pass_first`` calls of ``method`` through, then hold the next one's answer."""
        if pass_first:
            self.peer.control.fail("timeout", count=pass_first, hold_seconds=0, methods=[method])
        self.peer.control.fail("timeout", hold_seconds=HOLD_SECONDS, methods=[method])

    def wait_until_held(self, process: subprocess.Popen[str], method: str) -> None:
        """Until the held call has arrived (the fault is taken): the process waits for it."""
        _wait_for(lambda: not self.peer.control.pending_faults(), f"a held {method}", process)

    def state(self, books: Books) -> dict[str, Any]:
        """Everything the indexer writes for one tenant (the cursor without its timestamp)."""
        tenant, invoice_id = books.tenant, books.invoice_id
        with self.services.store.read_unit(tenant) as uow:
            invoice = uow.invoices.get(tenant, invoice_id)
            assert invoice is not None
            projection = uow.escrows.get(tenant, invoice_id)
            cursor = uow.escrows.cursor(tenant)
            actions = [e.action for e in uow.audit.for_resource(tenant, "invoice", invoice_id)]
            confirmed: dict[str, int] = {}
            statuses = {}
            for commitment in books.commitments:
                events = uow.audit.for_resource(tenant, "commitment", commitment.id)
                confirmed[commitment.id] = sum(e.action == "commitment.confirmed" for e in events)
                stored = uow.commitments.get(tenant, commitment.id)
                assert stored is not None
                statuses[commitment.id] = stored.status.value
            jobs = uow.jobs.list(JobQuery(tenant, job_type=WEBHOOK_DELIVERY, limit=100)).items
            return {
                "status": invoice.status,
                "funded": invoice.funded_stroops,
                "version": invoice.version,
                "history": [step.to_status for step in uow.invoices.history(tenant, invoice_id)],
                "audit": Counter(actions),
                "confirmations": confirmed,
                "commitments": statuses,
                "webhook_jobs": Counter(
                    (j.payload["transition"]["from"], j.payload["transition"]["to"])
                    for j in jobs
                    if "transition" in j.payload
                ),
                "projection": None
                if projection is None
                else (projection.funded_amount, projection.status, projection.ledger),
                "cursor": None if cursor is None else (cursor.cursor, cursor.ledger),
            }

    def assert_applied_once(self, books: Books) -> dict[str, Any]:
        """The tenant's invoice took each chain step once and agrees with the peer; its
        state."""
        state = self.state(books)
        assert state["status"] is S.FUNDED
        assert state["funded"] == TARGET
        assert state["history"] == [
            S.PENDING,
            S.APPROVED,
            S.LINKED_ESCROW,
            S.PARTIALLY_FUNDED,
            S.FUNDED,
        ]
        assert state["audit"]["invoice.linked_escrow_to_partially_funded"] == 1
        assert state["audit"]["invoice.partially_funded_to_funded"] == 1
        jobs = state["webhook_jobs"]
        assert jobs[("linked_escrow", "partially_funded")] == 1
        assert jobs[("partially_funded", "funded")] == 1
        assert list(state["confirmations"].values()) == [1, 1, 1]
        assert set(state["commitments"].values()) == {"confirmed"}
        latest = self.peer.control.ledger()["sequence"]
        funded_on_chain = self.peer.control.escrow(books.contract)["funded_amount"]
        assert state["projection"][0] == funded_on_chain == TARGET
        assert state["projection"][2] == latest
        cursor, cursor_ledger = state["cursor"]
        assert cursor_ledger == latest
        after = self.chain.ledger.contract_events([books.contract], cursor=cursor)
        assert list(after.events) == []  # the cursor is past every event
        return state


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:  # noqa: F811 - the fixture
    with peer_process() as peer:
        chain = PeerWorld(peer)
        services = open_services(
            ServicesConfig(
                database_url=database_url,
                soroban_rpc_url=peer.url,
                network_passphrase=PASSPHRASE,
                webhook_secrets_key=WEBHOOK_KEY,
                webhook_allow_insecure_loopback=True,
            )
        )
        try:
            yield World(database_url, peer, chain, services, tmp_path)
        finally:
            services.close()
            chain.ledger.close()
            chain.rpc.close()


def _summary(stdout: str) -> dict[str, tuple[int | str, ...]]:
    """Per tenant of an ``index-once`` summary: (events, moved, confirmed), plus the error
    code when the tenant's pass failed."""
    return {
        tenant: (int(events), int(moved), int(confirmed), *((error,) if error else ()))
        for tenant, events, moved, confirmed, _, error in SUMMARY_LINE.findall(stdout)
    }


def _wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the indexer ended before {what}: {out}{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL
    assert process.stdout is not None
    assert process.stdout.read() == ""  # it never printed its summary: the pass did not end


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out + err


@attrs.define
class RowLock:
    """The test's lock on one tenant's cursor row, and a connection to watch the others."""

    locker: psycopg.Connection[Any]
    watcher: psycopg.Connection[Any]

    def release(self) -> None:
        self.locker.rollback()

    def waiting(self, query_like: str) -> list[int]:
        """The backends of this database waiting for a lock, running a query like this."""
        return [
            row[0]
            for row in self.watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE %s",
                (query_like,),
            )
        ]

    def written_tables(self, pid: int) -> set[str]:
        """The tables backend ``pid``'s open transaction has written."""
        return {
            row[0]
            for row in self.watcher.execute(
                "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE l.pid = %s AND l.mode = 'RowExclusiveLock' AND c.relkind = 'r'",
                (pid,),
            )
        }


@contextmanager
def _cursor_row_locked(url: str, tenant: str) -> Iterator[RowLock]:
    """PostgreSQL: ``tenant``'s cursor row locked by the test until ``release()`` or the end
    of the block, so an indexer's unit of work waits on its last write, the cursor."""
    with psycopg.connect(url) as locker, psycopg.connect(url, autocommit=True) as watcher:
        # The test connects as the superuser, which row-level security does not bind.
        locked = locker.execute(
            "SELECT tenant_id FROM escrow_indexer_cursors WHERE tenant_id = %s FOR UPDATE",
            (tenant,),
        ).fetchall()
        assert locked == [(tenant,)]
        lock = RowLock(locker, watcher)
        try:
            yield lock
        finally:
            lock.release()


CURSOR_WRITE = "%escrow_indexer_cursors%"
# What the unit writes before its cursor: the invoice, its history, audit and webhook job, the
# confirmed commitments, the projection.
UNIT_TABLES = {
    "invoices",
    "invoice_transitions",
    "audit_log_events",
    "jobs",
    "investor_commitments",
    "escrow_projections",
}


def _two_tenants_part_funded(world: World) -> tuple[Books, Books, dict[str, Any]]:
    """Two tenants (in the order a pass takes them), the first deposit of each indexed and
    the other two landed; the state of both before any of those two is indexed."""
    one, two = sorted((world.books() for _ in range(2)), key=lambda b: b.tenant)
    for books in (one, two):
        world.deposit(books, 0)
    assert world.index_once() == {one.tenant: (2, 1, 1), two.tenant: (2, 1, 1)}  # init, fund
    for books in (one, two):
        world.deposit(books, 1)
        world.deposit(books, 2)
    before = {b.tenant: world.state(b) for b in (one, two)}
    assert before[one.tenant]["status"] is S.PARTIALLY_FUNDED
    assert before[one.tenant]["funded"] == SHARES[0]
    return one, two, before


def test_an_indexer_killed_and_restarted_applies_each_event_once(world: World) -> None:
    one, two, before = _two_tenants_part_funded(world)

    def unchanged() -> bool:
        return {b.tenant: world.state(b) for b in (one, two)} == before

    # 1. Killed between reading the events and re-reading the contracts they name.
    world.hold("simulateTransaction")
    with world.indexer() as process:
        world.wait_until_held(process, "simulateTransaction")
        _kill(process)
    assert unchanged()

    # 2. Killed inside the first tenant's unit, its writes made and not committed.
    if world.postgres:
        with _cursor_row_locked(world.url, one.tenant) as lock, world.indexer() as process:
            _wait_for(lambda: bool(lock.waiting(CURSOR_WRITE)), "the cursor write", process)
            (waiting,) = lock.waiting(CURSOR_WRITE)
            assert lock.written_tables(waiting) >= UNIT_TABLES
            _kill(process)
        assert unchanged()

    # 3. Killed after the first tenant's unit committed, before the second's.
    world.hold("getEvents", pass_first=1)
    with world.indexer() as process:
        world.wait_until_held(process, "getEvents")
        _kill(process)
    committed = world.assert_applied_once(one)
    assert world.state(two) == before[two.tenant]

    # 4. The restart: the first tenant's events are behind its cursor; the second's are
    # applied, once.
    assert world.index_once() == {one.tenant: (0, 0, 0), two.tenant: (2, 1, 2)}
    assert world.state(one) == committed
    final = {b.tenant: world.assert_applied_once(b) for b in (one, two)}

    # 5. One more pass reads no event and changes nothing.
    assert world.index_once() == {one.tenant: (0, 0, 0), two.tenant: (0, 0, 0)}
    assert {b.tenant: world.state(b) for b in (one, two)} == final


def test_a_pass_that_read_before_another_committed_does_not_undo_it(world: World) -> None:
    books = world.books()
    world.deposit(books, 0)
    assert world.index_once() == {books.tenant: (2, 1, 1)}
    world.deposit(books, 1)

    # The slow pass has read the second deposit's event and waits for the contract read.
    world.hold("simulateTransaction")
    with world.indexer() as slow:
        world.wait_until_held(slow, "simulateTransaction")
        world.deposit(books, 2)
        # A pass started later reads both deposits and commits them first.
        assert world.index_once() == {books.tenant: (2, 1, 2)}
        done = world.assert_applied_once(books)
        world.peer.control.release_held()
        code, output = _finish(slow)

    # The slow pass must not put its older cursor back: its unit is refused, nothing moves.
    assert code == 1, output
    assert _summary(output)[books.tenant][-1] == "CONCURRENT_UPDATE"
    assert world.state(books) == done
    assert world.index_once() == {books.tenant: (0, 0, 0)}
    assert world.state(books) == done


# SQLite runs one write unit at a time: units cannot overlap there.
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_two_overlapping_units_confirm_each_commitment_once(world: World) -> None:
    books = world.books()
    world.deposit(books, 0)
    assert world.index_once() == {books.tenant: (2, 1, 1)}
    world.deposit(books, 1)
    world.deposit(books, 2)

    with _cursor_row_locked(world.url, books.tenant) as lock, world.indexer() as first:
        # The first unit has confirmed the commitments and waits on its cursor write.
        _wait_for(lambda: bool(lock.waiting(CURSOR_WRITE)), "the first unit", first)
        with world.indexer() as second:
            # The second read the same events and waits on a row the first one wrote.
            _wait_for(lambda: len(lock.waiting("%")) == 2, "the second unit", second)
            lock.release()
            outcomes = sorted([_finish(first), _finish(second)])

    # One unit committed; the other, which overlapped it, was refused as a whole.
    assert [code for code, _ in outcomes] == [0, 1], outcomes
    assert _summary(outcomes[1][1])[books.tenant][-1] == "CONCURRENT_UPDATE"
    world.assert_applied_once(books)
    assert world.index_once() == {books.tenant: (0, 0, 0)}
    world.assert_applied_once(books)
