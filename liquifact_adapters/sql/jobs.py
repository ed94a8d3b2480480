"""The job queue over SQL, written once for SQLite and PostgreSQL (migration 0008).

``SqlJobRepository`` is the tenant's outbox inside a unit of work (``ports.JobRepository``).
``SqlJobQueue`` is the workers' side (``ports.JobQueue``): each call is one short transaction
of its own, outside any tenant's unit. Claiming selects due rows and locks them (the dialect
decides how: SQLite's write lock, PostgreSQL's FOR UPDATE SKIP LOCKED), applies the core rules
(``liquifact_core.jobs``) to each in Python, and writes the results with a guarded UPDATE, so
the rules live in one place for every store.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from liquifact_adapters.sql.repositories import ConstraintViolation, Session
from liquifact_adapters.sql.rows import Params, Row, RowConverter
from liquifact_core import jobs as rules
from liquifact_core.errors import concurrent_update
from liquifact_core.jobs import (
    Backoff,
    Job,
    JobCounts,
    JobFailure,
    JobPage,
    JobQuery,
    JobStatus,
)

JOB_COLUMNS = (
    "id, tenant_id, type, payload, status, attempts, max_attempts, run_after, lease_owner, "
    "lease_expires_at, last_error, created_at, updated_at"
)
INSERT_JOB = (
    "INSERT INTO jobs (" + JOB_COLUMNS + ")"
    """
VALUES (:id, :tenant_id, :type, :payload, :status, :attempts, :max_attempts, :run_after,
    :lease_owner, :lease_expires_at, :last_error, :created_at, :updated_at)
"""
)
SELECT_JOB = f"SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = :tenant_id AND id = :id"  # noqa: S608 - constant column names
# The guarded write of a rule's result: only if the row is still the job the rule was applied
# to (same status, attempt and lease owner; Job.guard). The dialect supplies the null-safe
# comparison of the owner.
_WRITE_STATE = """
UPDATE jobs SET status = :status, attempts = :attempts, run_after = :run_after,
    lease_owner = :lease_owner, lease_expires_at = :lease_expires_at,
    last_error = :last_error, updated_at = :updated_at
WHERE id = :id AND status = :expected_status AND attempts = :expected_attempts
    AND {owner_matches}
"""


def write_state(owner_matches: str) -> str:
    """The guarded UPDATE, with the dialect's null-safe test of ``lease_owner``."""
    return _WRITE_STATE.format(owner_matches=owner_matches)


def job_params(job: Job, rows: RowConverter) -> Params:
    """The columns of one job."""
    return {
        "id": job.id,
        "tenant_id": job.tenant_id,
        "type": job.type,
        "payload": rows.json_to_sql(job.payload),
        "status": job.status.value,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "run_after": rows.timestamp_to_sql(job.run_after),
        "lease_owner": job.lease_owner,
        "lease_expires_at": _optional_time(job.lease_expires_at, rows),
        "last_error": job.last_error,
        "created_at": rows.timestamp_to_sql(job.created_at),
        "updated_at": rows.timestamp_to_sql(job.updated_at),
    }


def guarded_params(before: Job, after: Job, rows: RowConverter) -> Params:
    """Parameters of the guarded write that turns ``before`` into ``after``."""
    guard = before.guard
    return {
        **job_params(after, rows),
        "expected_status": guard.status.value,
        "expected_attempts": guard.attempts,
        "expected_owner": guard.lease_owner,
    }


def _optional_time(moment: datetime | None, rows: RowConverter) -> Any:
    return None if moment is None else rows.timestamp_to_sql(moment)


def job_from_row(row: Row | Mapping[str, Any], rows: RowConverter) -> Job:
    """One stored job."""
    lease_expires_at = row["lease_expires_at"]
    return Job(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        type=str(row["type"]),
        payload=rows.json_from_sql(row["payload"]),
        status=JobStatus(row["status"]),
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        run_after=rows.timestamp_from_sql(row["run_after"]),
        lease_owner=None if row["lease_owner"] is None else str(row["lease_owner"]),
        lease_expires_at=(
            None if lease_expires_at is None else rows.timestamp_from_sql(lease_expires_at)
        ),
        last_error=None if row["last_error"] is None else str(row["last_error"]),
        created_at=rows.timestamp_from_sql(row["created_at"]),
        updated_at=rows.timestamp_from_sql(row["updated_at"]),
    )


class SqlJobRepository(ABC):
    """``JobRepository`` over a SQL session (row-level security confines PostgreSQL's)."""

    rows: ClassVar[RowConverter]
    INSERT: ClassVar[str]
    SELECT: ClassVar[str]
    SELECT_FOR_WRITE: ClassVar[str]
    LIST: ClassVar[str]
    COUNT: ClassVar[str]  # the LIST filters without the cursor: the page's total
    WRITE_STATE: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self._session = session

    def enqueue(self, job: Job) -> None:
        self._session.check_tenant(job.tenant_id)
        try:
            self._session.write(self.INSERT, job_params(job, self.rows))
        except ConstraintViolation as violation:
            if violation.kind == "primary_key":
                raise rules.duplicate_job(job.id) from None
            raise

    def get(self, tenant_id: str, job_id: str) -> Job | None:
        return self._get(tenant_id, job_id, self.SELECT)

    def _get(self, tenant_id: str, job_id: str, statement: str) -> Job | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(statement, {"tenant_id": tenant_id, "id": job_id})
        return job_from_row(found[0], self.rows) if found else None

    def list(self, query: JobQuery) -> JobPage:
        self._session.check_tenant(query.tenant_id)
        statuses = tuple(sorted(status.value for status in query.statuses))
        params: Params = {
            "tenant_id": query.tenant_id,
            "any_status": not statuses,
            "statuses": self.status_set(statuses),
            "job_type": query.job_type,
            "after": query.after,
            "limit": query.limit + 1,  # one more tells whether another page follows
        }
        found = [job_from_row(row, self.rows) for row in self._session.fetch_all(self.LIST, params)]
        items = found[: query.limit]
        total = int(self._session.fetch_all(self.COUNT, params)[0]["total"])
        return JobPage(items, items[-1].id if len(found) > query.limit else None, total)

    @abstractmethod
    def status_set(self, statuses: tuple[str, ...]) -> object:
        """A set of statuses as the dialect's LIST binds it."""

    def requeue(self, tenant_id: str, job_id: str, now: datetime) -> Job:
        current = self._get(tenant_id, job_id, self.SELECT_FOR_WRITE)
        if current is None:
            raise rules.job_not_found(job_id)
        requeued = rules.requeue(current, now)
        if self._session.write(self.WRITE_STATE, guarded_params(current, requeued, self.rows)) != 1:
            raise concurrent_update()  # a worker changed it between the read and the write
        return requeued


class WorkerSession(Protocol):
    """One transaction of the workers' side, outside any tenant."""

    def fetch_all(self, sql: str, params: Params) -> list[Row]: ...


class SqlJobQueue(ABC):
    """``JobQueue`` over SQL; a dialect supplies its transactions and statements."""

    rows: ClassVar[RowConverter]
    DUE: ClassVar[str]  # params: now, types, limit; locks what it returns
    WRITE: ClassVar[str]  # the guarded write (guarded_params); returns the id if it wrote
    COUNTS: ClassVar[str]  # params: now; rows: job_type, queue_depth, retry_queue, ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[WorkerSession]:
        """A transaction that commits when the block ends normally."""

    @abstractmethod
    def type_set(self, job_types: tuple[str, ...]) -> object:
        """A set of job types as the dialect's DUE binds it."""

    def claim(
        self,
        worker_id: str,
        job_types: Collection[str],
        limit: int,
        now: datetime,
        lease: timedelta,
    ) -> list[Job]:
        rules.check_worker_id(worker_id)
        types = tuple(sorted(set(job_types)))
        if not types or limit <= 0:
            return []
        params: Params = {
            "now": self.rows.timestamp_to_sql(now),
            "types": self.type_set(types),
            "limit": limit,
        }
        claimed = []
        with self.transaction() as session:
            for row in session.fetch_all(self.DUE, params):
                before = job_from_row(row, self.rows)
                after = rules.claim(before, worker_id, now, lease)
                if self._write(session, before, after) and after.status is JobStatus.RUNNING:
                    claimed.append(after)
        return claimed

    def complete(self, job: Job, now: datetime) -> Job | None:
        return self._settle(job, rules.complete(job, now))

    def fail(
        self,
        job: Job,
        failure: JobFailure,
        now: datetime,
        backoff: Backoff,
        secrets: Iterable[str] = (),
    ) -> Job | None:
        return self._settle(job, rules.fail(job, failure, now, backoff, secrets))

    def counts(self, now: datetime) -> dict[str, JobCounts]:
        with self.transaction() as session:
            found = session.fetch_all(self.COUNTS, {"now": self.rows.timestamp_to_sql(now)})
        return {
            str(row["job_type"]): JobCounts(
                queue_depth=int(row["queue_depth"]),
                retry_queue=int(row["retry_queue"]),
                inflight=int(row["inflight"]),
                dead=int(row["dead"]),
            )
            for row in sorted(found, key=lambda row: str(row["job_type"]))
        }

    def _settle(self, before: Job, after: Job) -> Job | None:
        with self.transaction() as session:
            return after if self._write(session, before, after) else None

    def _write(self, session: WorkerSession, before: Job, after: Job) -> bool:
        return len(session.fetch_all(self.WRITE, guarded_params(before, after, self.rows))) == 1
