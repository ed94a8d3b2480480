"""A transition whose transaction rolls back enqueues no webhook (issue 11, "Done when"),
with real processes: ``liquifact serve`` with its embedded worker on SQLite and on
PostgreSQL, and a real receiver. A database trigger makes the reject's audit insert fail, which
happens after the step and its delivery job were written in the same transaction: the request
fails, nothing of it stays, and the receiver never hears of it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest

from liquifact_adapters.postgres import migrate
from tests.auth_helpers import TEST_SECRET, bearer
from tests.factories import invoice_payload
from tests.integration.server import ServerProcess
from tests.pg import fresh_database
from tests.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.slow]
TENANT = "rollback-tenant"
FAIL_REJECT_SQLITE = """
CREATE TRIGGER fail_reject_audit BEFORE INSERT ON audit_log_events
WHEN NEW.action = 'invoice.pending_to_rejected'
BEGIN SELECT RAISE(ABORT, 'audit store refused the event'); END
"""
FAIL_REJECT_POSTGRES = """
CREATE FUNCTION fail_reject_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.action = 'invoice.pending_to_rejected' THEN
        RAISE EXCEPTION 'audit store refused the event';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fail_reject_audit BEFORE INSERT ON audit_log_events
    FOR EACH ROW EXECUTE FUNCTION fail_reject_audit();
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(DATABASE_URL, how to read the jobs) of a store whose reject audit insert fails."""
    if request.param == "sqlite":
        path = tmp_path / "data.db"
        yield f"sqlite:///{path}", "sqlite"
        return
    with fresh_database() as url:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(FAIL_REJECT_POSTGRES)
        yield url, "postgres"


def _job_events(url: str, kind: str) -> list[str]:
    query = "SELECT payload FROM jobs WHERE type = 'webhook_delivery' ORDER BY id"
    if kind == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            rows = connection.execute(query).fetchall()
        import json

        return [json.loads(row[0])["event"] for row in rows]
    with psycopg.connect(url) as connection:  # the superuser: row-level security does not bind
        return [row[0]["event"] for row in connection.execute(query).fetchall()]


def test_a_rolled_back_transition_sends_nothing(store: tuple[str, str], tmp_path: Path) -> None:
    url, kind = store
    env = {
        "DATABASE_URL": url,
        "JWT_SECRET": TEST_SECRET,
        "EMBEDDED_WORKER": "true",
        "WEBHOOK_ALLOW_INSECURE_LOOPBACK": "true",
        "WORKER_POLL_INTERVAL_MS": "50",
        "RATE_LIMIT_ENABLED": "false",
    }
    # Minted here, not at import: a long gate could outlive an earlier token.
    admin, sme = bearer("admin", TENANT, "admin-1"), bearer("sme", TENANT, "sme-1")
    server = ServerProcess(env, cwd=tmp_path)
    try:
        server.wait_for_event("listening")
        base = server.base
        if kind == "sqlite":  # the server created and migrated the file
            with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
                connection.execute(FAIL_REJECT_SQLITE)
        with WebhookReceiver() as receiver:
            put = httpx.put(base + "/v1/admin/webhook", json={"url": receiver.url}, headers=admin)
            assert put.status_code == 201, put.text
            receiver.secret = put.json()["secret"]
            created = httpx.post(base + "/v1/invoices", json=invoice_payload(), headers=sme)
            assert created.status_code == 201, created.text
            invoice = created.json()["id"]

            rejected = httpx.post(
                f"{base}/v1/invoices/{invoice}/reject", json={"reason": "no"}, headers=admin
            )
            assert rejected.status_code >= 500, rejected.text
            assert "audit store refused" not in rejected.text
            state = httpx.get(f"{base}/v1/invoices/{invoice}", headers=admin).json()
            assert state["status"] == "pending"

            approved = httpx.post(f"{base}/v1/invoices/{invoice}/approve", json={}, headers=admin)
            assert approved.status_code == 200, approved.text
            received = receiver.wait_for(2)
        assert [item.json["event"] for item in received] == [
            "invoice.created",
            "invoice.pending_to_approved",
        ]
        assert all(item.verified for item in received)
        assert _job_events(url, kind) == ["invoice.created", "invoice.pending_to_approved"]
    finally:
        server.stop()
