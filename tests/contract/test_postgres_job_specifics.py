"""PostgreSQL specifics of the job queue (migration 0008): row-level security confines the
application role to its tenant's jobs; the workers reach across tenants only through the
SECURITY DEFINER functions, and setting their switch by hand widens nothing; a claimer holding
its rows locked makes another claimer skip them, not wait for them (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from liquifact_adapters.postgres import PostgresStore

from .contract_support import T0, new_tenant
from .test_job_queue_contract import LEASE, a_job, enqueue, job_type

pytestmark = pytest.mark.postgres


def test_the_application_role_sees_only_its_tenants_jobs(pg_store: PostgresStore) -> None:
    mine, theirs = new_tenant(), new_tenant()
    kind = job_type()
    enqueue(pg_store, a_job(mine, kind))
    other = a_job(theirs, kind)
    enqueue(pg_store, other)

    with pg_store.unit_of_work(mine) as uow:
        rows = uow.execute_unfiltered(f"SELECT tenant_id FROM jobs WHERE type = '{kind}'")
        spoofed = uow.execute_unfiltered(
            "SELECT set_config('liquifact.job_worker', 'on', true) AS x, count(*) AS n "
            f"FROM jobs WHERE id = '{other.id}'"
        )
        changed = uow.execute_unfiltered(
            f"UPDATE jobs SET status = 'dead' WHERE id = '{other.id}' RETURNING id"
        )

    assert {row["tenant_id"] for row in rows} == {mine}
    assert spoofed[0]["n"] == 0
    assert changed == []


def test_the_worker_functions_are_not_executable_by_public(
    owner: psycopg.Connection[Any],
) -> None:
    for signature in (
        "due_jobs(timestamptz, text[], integer)",
        "write_job_state(text, text, integer, text, text, integer, timestamptz, text, "
        "timestamptz, text, timestamptz)",
        "job_counts(timestamptz)",
    ):
        [(allowed,)] = owner.execute(
            "SELECT has_function_privilege('public', %s, 'EXECUTE')", (signature,)
        ).fetchall()
        assert allowed is False, signature


def test_a_claimer_skips_rows_another_claimer_holds_instead_of_waiting(
    pg_store: PostgresStore, postgres_url: str
) -> None:
    tenant, kind = new_tenant(), job_type()
    enqueue(pg_store, *(a_job(tenant, kind) for _ in range(4)))
    second_store = PostgresStore(postgres_url)  # another process's pool
    holding = threading.Event()
    release = threading.Event()
    held: list[str] = []

    def hold_two() -> None:
        # A claim that has locked its rows and not yet committed (a slow worker).
        with pg_store.job_queue.transaction() as session:
            rows = session.fetch_all(
                "SELECT id FROM due_jobs(%(now)s, %(types)s, 2)", {"now": T0, "types": [kind]}
            )
            held.extend(str(row["id"]) for row in rows)
            holding.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold_two)
    holder.start()
    try:
        assert holding.wait(timeout=30)
        started = time.monotonic()
        claimed = second_store.job_queue.claim("w2", [kind], 10, T0, LEASE)
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(timeout=30)
        second_store.close()

    assert len(held) == 2
    assert len(claimed) == 2
    assert not {job.id for job in claimed} & set(held)
    assert waited < 2.0  # skipped, not blocked until the holder ended
