"""Funding in the spec's signing modes over real processes (issue 12, "done when"):
``liquifact serve`` on SQLite with its embedded worker, talking over HTTP to the Soroban peer
running as its own process (``tests.soroban_peer.peer_process``), with ``liquifact index-once``
and ``liquifact reconcile`` as separate processes on the same database. Wallets sign with
stellar-sdk; every step goes through the HTTP API or the CLI.

Waits poll with a deadline (the worker runs jobs when it polls); nothing asserts a duration.
The library-level counterparts are test_signing_modes.py and test_chain_flow.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import attrs
import httpx2 as httpx
import pytest
from stellar_sdk import Keypair, TransactionEnvelope

from tests.auth_helpers import TEST_SECRET, bearer
from tests.factories import invoice_payload, new_tenant
from tests.integration.server import LIQUIFACT, ServerProcess
from tests.soroban_peer import PASSPHRASE, PeerProcess, peer_process

pytestmark = pytest.mark.slow

UNIT = 10**7
TARGET = 1_250 * UNIT  # invoice_payload's 1250.00, in stroops
DEADLINE_SECONDS = 60.0  # generous: the machine may be loaded; no assertion is about time
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None]) -> T:
    """``probe()``'s first truthy answer, polled until a deadline (then AssertionError)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def signed(envelope: str, signer: Keypair) -> str:
    transaction = TransactionEnvelope.from_xdr(envelope, PASSPHRASE)
    transaction.sign(signer)
    return transaction.to_xdr()


@attrs.define
class Deployment:
    """The peer process, a ``liquifact serve`` process on a SQLite file beside it, and their
    env (also the env of the CLI processes run on the same database and chain)."""

    peer: PeerProcess
    env: dict[str, str]
    cwd: Path
    tenant: str = attrs.field(factory=new_tenant)
    server: ServerProcess | None = None

    def start(self) -> None:
        self.server = ServerProcess(self.env, cwd=self.cwd)
        self.server.wait_for_event("listening")

    def stop(self) -> None:
        """SIGTERM and wait (the store is closed cleanly); then check that no request was
        answered 500 and no exception escaped a handler."""
        server, self.server = self.server, None
        if server is None:
            return
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        finally:
            server.stop()
        records = [json.loads(line) for line in server.lines if line.startswith("{")]
        assert any(r.get("event") == "request" for r in records)  # the log was read
        assert [r for r in records if r.get("event") == "unhandled_exception"] == []
        assert [r for r in records if r.get("event") == "request" and r["status"] == 500] == []

    @property
    def base(self) -> str:
        assert self.server is not None, "the server is not running"
        return self.server.base

    @property
    def admin(self) -> dict[str, str]:
        return bearer("admin", self.tenant, "funding-admin")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``liquifact <args>`` as its own process, on the server's database and chain."""
        return subprocess.run(
            [LIQUIFACT, *args],
            env={**os.environ, "LOG_FORMAT": "json", **self.env},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def index_once(self) -> str:
        done = self.cli("index-once")
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def approved_invoice(self) -> str:
        created = httpx.post(self.base + "/v1/invoices", json=invoice_payload(), headers=self.admin)
        assert created.status_code == 201, created.text
        invoice_id: str = created.json()["id"]
        approved = httpx.post(self.base + f"/v1/invoices/{invoice_id}/approve", headers=self.admin)
        assert approved.status_code == 200, approved.text
        return invoice_id

    def escrow_of(self, invoice_id: str) -> tuple[str, str]:
        """A new escrow on the peer for ``invoice_id``: (contract, funding token)."""
        escrow = self.peer.control.create_escrow(invoice_id, Keypair.random().public_key, TARGET)
        return escrow["address"], escrow["funding_token"]

    def link(self, invoice_id: str, contract: str) -> httpx.Response:
        return httpx.post(
            self.base + f"/v1/invoices/{invoice_id}/link-escrow",
            json={"escrowAddress": contract, "fundingTargetStroops": str(TARGET)},
            headers=self.admin,
        )

    def linked_invoice(self) -> tuple[str, str, str]:
        """An approved invoice linked to a new escrow: (invoice id, contract, token)."""
        invoice_id = self.approved_invoice()
        contract, token = self.escrow_of(invoice_id)
        linked = self.link(invoice_id, contract)
        assert linked.status_code == 200, linked.text
        assert linked.json()["status"] == "linked_escrow"
        return invoice_id, contract, token

    def investor(self, token: str, balance: int, keypair: Keypair | None = None) -> Keypair:
        """An account on the peer holding ``balance`` of ``token``."""
        keypair = keypair or Keypair.random()
        self.peer.control.create_account(keypair.public_key)
        self.peer.control.mint(token, keypair.public_key, balance)
        return keypair

    def as_investor(self, wallet: Keypair) -> dict[str, str]:
        subject = f"investor-{wallet.public_key[:8]}"
        return bearer("investor", self.tenant, subject, wallet=wallet.public_key)

    def fund(self, invoice_id: str, wallet: Keypair, amount: int) -> httpx.Response:
        return httpx.post(
            self.base + "/v1/invest/fund-invoice",
            json={
                "invoiceId": invoice_id,
                "investorAddress": wallet.public_key,
                "amountStroops": str(amount),
            },
            headers={**self.as_investor(wallet), "Idempotency-Key": f"fund-{uuid4().hex}"},
            timeout=30,
        )

    def submit(self, commitment_id: str, envelope: str, wallet: Keypair) -> httpx.Response:
        return httpx.post(
            self.base + f"/v1/invest/commitments/{commitment_id}/submit",
            json={"signedTransactionXdr": envelope},
            headers=self.as_investor(wallet),
        )

    def commitment(self, commitment_id: str, wallet: Keypair) -> dict[str, Any]:
        """The commitment as its investor lists it (``GET /v1/investor/commitments``)."""
        listed = httpx.get(self.base + "/v1/investor/commitments", headers=self.as_investor(wallet))
        assert listed.status_code == 200, listed.text
        [found] = [item for item in listed.json()["data"] if item["id"] == commitment_id]
        return dict(found)

    def until_submission(self, commitment_id: str, wallet: Keypair, status: str) -> dict[str, Any]:
        """The commitment once its submission reached ``status`` (the embedded worker's
        escrow_submission job moves it)."""

        def reached() -> dict[str, Any] | None:
            item = self.commitment(commitment_id, wallet)
            return item if item["submission"]["status"] == status else None

        return wait_for(f"submission {status}", reached)

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        got = httpx.get(self.base + f"/v1/invoices/{invoice_id}", headers=self.admin)
        assert got.status_code == 200, got.text
        return dict(got.json())

    def metric(self, name: str) -> float | None:
        """A sample of the server's ``/metrics`` (from loopback: no token needed); None
        when absent."""
        text = httpx.get(self.base + "/metrics").text
        for line in text.splitlines():
            if line.startswith((name + " ", name + "{")):
                return float(line.rsplit(" ", 1)[1])
        return None

    def funded_on_chain(self, contract: str) -> int:
        return int(self.peer.control.escrow(contract)["funded_amount"])

    def reconcile(self) -> tuple[str, list[dict[str, Any]]]:
        """``liquifact reconcile --tenant``: its summary line and its JSON log records."""
        done = self.cli("reconcile", "--tenant", self.tenant)
        assert done.returncode == 0, done.stdout + done.stderr
        [line] = [text for text in done.stdout.splitlines() if text.startswith(self.tenant)]
        records = [json.loads(text) for text in done.stderr.splitlines() if text.startswith("{")]
        return line, records


@contextmanager
def deployment(tmp_path: Path, **extra: str) -> Iterator[Deployment]:
    """The peer process and a server on it (SQLite, embedded worker, STANDALONE), with a
    worker that polls and retries soon."""
    with peer_process() as peer:
        env = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'funding.db'}",
            "JWT_SECRET": TEST_SECRET,
            "STELLAR_NETWORK": "STANDALONE",
            "SOROBAN_RPC_URL": peer.url,
            "WORKER_POLL_INTERVAL_MS": "100",
            "JOB_RETRY_BASE_DELAY_MS": "100",
            "JOB_RETRY_MAX_DELAY_MS": "500",
            **extra,
        }
        world = Deployment(peer, env, tmp_path)
        world.start()
        try:
            yield world
        finally:
            world.stop()


# ---- delegated ---------------------------------------------------------------------------------


def test_delegated_funding_over_processes_links_signs_indexes_and_reconciles(
    tmp_path: Path,
) -> None:
    with deployment(tmp_path, ESCROW_SIGNING_MODE="delegated") as world:
        # A contract made for another invoice is refused; the invoice's own is linked.
        invoice_id = world.approved_invoice()
        foreign, _ = world.escrow_of("inv_not_ours")
        refused = world.link(invoice_id, foreign)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "ESCROW_INVOICE_MISMATCH"
        contract, token = world.escrow_of(invoice_id)
        linked = world.link(invoice_id, contract)
        assert linked.status_code == 200, linked.text
        assert linked.json()["status"] == "linked_escrow"
        first, second = world.investor(token, 400 * UNIT), world.investor(token, 850 * UNIT)

        # Delegated: the server prepares the wallet's own transaction and sends nothing.
        funded = world.fund(invoice_id, first, 400 * UNIT)
        assert funded.status_code == 201, funded.text
        commitment = funded.json()
        submission = commitment["submission"]
        assert submission["status"] == "requires_signature"
        prepared = TransactionEnvelope.from_xdr(submission["transactionXdr"], PASSPHRASE)
        assert prepared.transaction.source.account_id == first.public_key
        assert prepared.hash_hex() == submission["txHash"]
        assert not prepared.signatures
        assert submission["expiresAt"] is not None and submission["errorCode"] is None
        assert world.funded_on_chain(contract) == 0

        # The wallet signs; the server queues it (202) and its worker sends and follows it.
        envelope = signed(submission["transactionXdr"], first)
        taken = world.submit(commitment["id"], envelope, first)
        assert taken.status_code == 202, taken.text
        assert taken.json()["submission"]["status"] == "submitted"
        world.until_submission(commitment["id"], first, "confirmed")
        assert world.funded_on_chain(contract) == 400 * UNIT
        assert world.peer.control.balance(token, first.public_key) == 0

        # The indexer (a pass of its own process; the worker's minute slot may also run one)
        # sees the deposit event: the invoice moves, and the commitment is confirmed.
        world.index_once()
        invoice = world.invoice(invoice_id)
        assert (invoice["status"], invoice["fundedStroops"]) == (
            "partially_funded",
            str(400 * UNIT),
        )
        assert world.commitment(commitment["id"], first)["status"] == "confirmed"

        # The rest, from a second investor's wallet.
        rest = world.fund(invoice_id, second, 850 * UNIT)
        assert rest.status_code == 201, rest.text
        envelope = signed(rest.json()["submission"]["transactionXdr"], second)
        assert world.submit(rest.json()["id"], envelope, second).status_code == 202
        world.until_submission(rest.json()["id"], second, "confirmed")
        world.index_once()
        invoice = world.invoice(invoice_id)
        assert (invoice["status"], invoice["fundedStroops"]) == ("funded", str(TARGET))
        assert world.commitment(rest.json()["id"], second)["status"] == "confirmed"

        escrow = httpx.get(world.base + f"/v1/escrow/{invoice_id}", headers=world.admin)
        assert escrow.status_code == 200, escrow.text
        assert escrow.headers["X-Escrow-Address"] == contract
        view = escrow.json()
        assert view["invoiceStatus"] == "funded"
        assert view["fundedAmountStroops"] == view["fundingTargetStroops"] == str(TARGET)
        assert (view["remainingCapacityStroops"], view["fundedPercent"]) == ("0", "100.00")

        # Reconciliation, in its own process: our books agree with the contract.
        line, records = world.reconcile()
        assert "total 1, matches 1, mismatches 0, errors 0, total drift 0 stroops" in line
        assert "ALERT" not in line
        events = [r["event"] for r in records]
        assert "reconciliation_run" in events and "reconciliation_drift_alert" not in events

        # The contract's books diverge (no event): the next run reports the drift and alerts.
        world.peer.control.set_fields(contract, funded_amount=TARGET + 5)
        line, records = world.reconcile()
        assert "matches 0, mismatches 1, errors 0, total drift 5 stroops" in line
        assert line.endswith(", ALERT")
        [alert] = [r for r in records if r["event"] == "reconciliation_drift_alert"]
        assert (alert["level"], alert["mismatches"], alert["threshold"]) == ("error", 1, 1)
        runs = httpx.get(world.base + "/v1/admin/reconciliation/runs", headers=world.admin)
        assert runs.status_code == 200, runs.text
        assert [(r["alerted"], r["totalDriftStroops"]) for r in runs.json()["data"]] == [
            (True, "5"),
            (False, "0"),
        ]

        # The alert metric is a process's own: `liquifact reconcile` counted into a registry
        # that ended with it, and the server's worker ran its nightly slot at start-up, with
        # nothing to compare yet. Start the server again as the next night finds the store
        # (that period's slot job not enqueued yet, the drift still there): its worker runs
        # the reconciliation, and its /metrics show the alert.
        assert world.metric("escrow_reconciliation_drift_alerts_total") == 0
        world.stop()
        with sqlite3.connect(tmp_path / "funding.db") as connection:
            connection.execute("DELETE FROM jobs WHERE id LIKE 'job_sched_reconciliation_%'")
        connection.close()
        world.start()
        alerts = wait_for(
            "the nightly run's alert in /metrics",
            lambda: world.metric("escrow_reconciliation_drift_alerts_total"),
        )
        assert alerts == 1
        assert world.metric("escrow_reconciliation_mismatched_invoices") == 1
        assert world.metric("escrow_reconciliation_drift_magnitude") == 5


# ---- custodial ---------------------------------------------------------------------------------

CUSTODIED = Keypair.random()


def test_custodial_funding_over_processes_is_signed_by_the_platform_and_lands(
    tmp_path: Path,
) -> None:
    with deployment(
        tmp_path, ESCROW_SIGNING_MODE="custodial", ESCROW_PLATFORM_SECRET=CUSTODIED.secret
    ) as world:
        invoice_id, contract, token = world.linked_invoice()
        wallet = world.investor(token, TARGET, CUSTODIED)  # the token's wallet is custodied

        # A wallet the platform holds no key of is refused, and nothing is recorded.
        stranger = world.investor(token, TARGET)
        refused = world.fund(invoice_id, stranger, UNIT)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "WALLET_NOT_CUSTODIED"
        none = httpx.get(
            world.base + "/v1/investor/commitments", headers=world.as_investor(stranger)
        )
        assert none.json()["data"] == []

        funded = world.fund(invoice_id, wallet, TARGET)
        assert funded.status_code == 201, funded.text
        commitment = funded.json()
        submission = commitment["submission"]
        assert submission["status"] == "submitted"  # signed by the platform, no wallet step
        assert submission["transactionXdr"] is None and submission["txHash"]

        world.until_submission(commitment["id"], wallet, "confirmed")
        assert world.funded_on_chain(contract) == TARGET
        assert world.peer.control.balance(token, wallet.public_key) == 0

        world.index_once()
        invoice = world.invoice(invoice_id)
        assert (invoice["status"], invoice["fundedStroops"]) == ("funded", str(TARGET))
        assert world.commitment(commitment["id"], wallet)["status"] == "confirmed"
        view = httpx.get(world.base + f"/v1/escrow/{invoice_id}", headers=world.admin).json()
        assert (view["invoiceStatus"], view["fundedAmountStroops"]) == ("funded", str(TARGET))
        line, _ = world.reconcile()
        assert "total 1, matches 1, mismatches 0, errors 0, total drift 0 stroops" in line


# ---- a send that timed out is not sent twice --------------------------------------------------


def test_a_first_send_that_times_out_lands_once_after_the_jobs_retry(tmp_path: Path) -> None:
    with deployment(
        tmp_path, ESCROW_SIGNING_MODE="delegated", SOROBAN_RPC_TIMEOUT_MS="1500"
    ) as world:
        invoice_id, contract, token = world.linked_invoice()
        wallet = world.investor(token, TARGET)
        funded = world.fund(invoice_id, wallet, 300 * UNIT)
        assert funded.status_code == 201, funded.text
        commitment = funded.json()
        # The peer applies the next sendTransaction but holds its answer past the server's
        # RPC timeout: the job's first attempt cannot know the transaction landed.
        world.peer.control.fail("timeout", hold_seconds=4, methods=["sendTransaction"])

        envelope = signed(commitment["submission"]["transactionXdr"], wallet)
        assert world.submit(commitment["id"], envelope, wallet).status_code == 202
        world.until_submission(commitment["id"], wallet, "confirmed")

        # The retry asked the chain before sending again: one deposit, on both books.
        assert world.funded_on_chain(contract) == 300 * UNIT
        assert world.peer.control.balance(token, wallet.public_key) == TARGET - 300 * UNIT
        assert (world.metric('liquifact_job_retries_total{type="escrow_submission"}') or 0) >= 1
        world.index_once()
        invoice = world.invoice(invoice_id)
        assert (invoice["status"], invoice["fundedStroops"]) == (
            "partially_funded",
            str(300 * UNIT),
        )


# ---- the chain down ----------------------------------------------------------------------------


def test_the_rpc_down_answers_503_retryable_and_readiness_says_so(tmp_path: Path) -> None:
    with deployment(tmp_path, ESCROW_SIGNING_MODE="delegated") as world:
        invoice_id, _, token = world.linked_invoice()
        other_id = world.approved_invoice()
        other_contract, _ = world.escrow_of(other_id)
        wallet = world.investor(token, TARGET)
        prepared = world.fund(invoice_id, wallet, UNIT).json()  # before the chain goes away
        ready = httpx.get(world.base + "/readyz")
        assert ready.json()["checks"]["chain"]["status"] == "up"

        world.peer.process.terminate()
        world.peer.process.wait(timeout=10)

        down = world.fund(invoice_id, wallet, UNIT)
        assert down.status_code == 503, down.text
        assert (down.json()["code"], down.json()["retryable"]) == ("CHAIN_UNAVAILABLE", True)
        assert world.peer.url not in down.text
        listed = httpx.get(
            world.base + "/v1/investor/commitments", headers=world.as_investor(wallet)
        )
        assert [item["id"] for item in listed.json()["data"]] == [prepared["id"]]
        not_linked = world.link(other_id, other_contract)
        assert not_linked.status_code == 503, not_linked.text
        assert not_linked.json()["retryable"] is True
        # A signed transaction is still taken: the worker sends it when the chain is back.
        envelope = signed(prepared["submission"]["transactionXdr"], wallet)
        taken = world.submit(prepared["id"], envelope, wallet)
        assert taken.status_code == 202, taken.text
        # Its job's attempts fail and are retried; the funding is not failed for an outage.
        wait_for(
            "a retried submission attempt",
            lambda: world.metric('liquifact_job_retries_total{type="escrow_submission"}'),
        )
        still = world.commitment(prepared["id"], wallet)
        assert (still["status"], still["submission"]["status"]) == ("pending", "submitted")
        assert still["submission"]["errorCode"] is None
        readiness = httpx.get(world.base + "/readyz")
        assert readiness.status_code == 503, readiness.text
        assert readiness.json()["checks"]["chain"]["status"] == "down"
    # Leaving `deployment` checked the server's log: no 500, no exception out of a handler.
