"""Durable background jobs: the job record and the pure rules of its life.

A job is written by the unit of work that causes it (a transactional outbox), so it exists
exactly when its cause committed. Workers claim due jobs with a lease; a worker that dies
leaves its lease to expire, and the job is claimed again (at-least-once delivery, so handlers
must be idempotent). Every state change goes through one function here; the stores only
select candidates and write what these functions return, guarded by ``Job.guard``.

Life of a job::

    pending --claim--> running --complete--> succeeded
       ^                  |
       |  retryable, attempts left (run_after = now + backoff)
       +------------------+--fail-------------> dead (max attempts, or not retryable)
    dead --requeue--> pending (attempts 0)

``attempts`` counts attempts started: ``claim`` increments it, so a worker crashing in the
middle of a job uses up that attempt too, and a job that crashes every worker ends dead
instead of running forever. A job is never claimed once ``attempts == max_attempts``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import attrs

from liquifact_core.errors import Conflict, NotFound, ValidationError

JOB_ID_PREFIX = "job_"
# The spec's defaults for the job queue (maxRetries default 3, hard max 10).
DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 10
# How long a stored payload may be once serialised (bytes of compact JSON, UTF-8).
MAX_PAYLOAD_BYTES = 64 * 1024
# last_error is for operators: short, one line, no secrets.
MAX_ERROR_LENGTH = 500
WEBHOOK_DELIVERY = "webhook_delivery"

JOB_TYPE_PATTERN = r"^[a-z][a-z0-9_.]{0,63}$"
JOB_ID_PATTERN = r"^job_[A-Za-z0-9_]{1,120}$"
_JOB_TYPE = re.compile(JOB_TYPE_PATTERN[1:-1])
_JOB_ID = re.compile(JOB_ID_PATTERN[1:-1])
_WORKER_ID = re.compile(r"[A-Za-z0-9_.:@/-]{1,128}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# What could carry a credential in an error text: URL user info, query strings, bearer or
# basic credentials and key=value pairs whose key names a secret.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")
_URL_QUERY = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s?#]*)\?[^\s#]*")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]+")
_SECRET_PAIR = re.compile(
    r"(?i)\b([a-z0-9_-]*(?:secret|password|passwd|token|api[_-]?key|signature|authorization)"
    r"[a-z0-9_-]*)(\"?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)
REDACTED = "[redacted]"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


@attrs.frozen
class Job:
    """One unit of background work of one tenant.

    ``payload`` is a JSON object (what the handler of ``type`` needs; never a secret: it is
    stored in clear and shown to the tenant's admins). Times are timezone-aware UTC.
    ``lease_owner``/``lease_expires_at`` are set exactly while ``status`` is running.
    """

    id: str
    tenant_id: str
    type: str
    payload: Mapping[str, Any] = attrs.field(eq=False, repr=False)
    status: JobStatus
    attempts: int
    max_attempts: int
    run_after: datetime
    created_at: datetime
    updated_at: datetime
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = None

    # Payloads compare by their JSON text (attrs compares Mappings by identity otherwise, and a
    # dict read back from a store is a new object).
    payload_text: str = attrs.field(init=False, repr=False)

    @payload_text.default
    def _payload_text(self) -> str:
        return canonical_json(self.payload)

    @property
    def guard(self) -> JobGuard:
        """What a store checks before writing a successor of this job: the row still is this
        job as read (same status, attempt and lease owner), so a worker whose lease expired
        and was taken over cannot overwrite the new owner's work."""
        return JobGuard(self.id, self.status, self.attempts, self.lease_owner)


@attrs.frozen
class JobGuard:
    """The optimistic-concurrency check of a job write (``Job.guard``)."""

    job_id: str
    status: JobStatus
    attempts: int
    lease_owner: str | None


@attrs.frozen
class JobFailure:
    """Why an attempt failed. ``retryable`` False (e.g. an HTTP 4xx answer) dead-letters the
    job at once; ``error`` is sanitised before it is stored (``sanitise_error``)."""

    error: str
    retryable: bool = True


class JobFailed(Exception):
    """Raised by a handler to fail the attempt with this failure (retryable or not).

    ``failure.error`` is sanitised (``sanitise_error``) before it is stored."""

    def __init__(self, failure: JobFailure) -> None:
        super().__init__(failure.error)
        self.failure = failure


class JobHandler(Protocol):
    """What a worker runs for one job type (``handlers: Mapping[str, JobHandler]``)."""

    # ``job`` is positional-only so that any one-argument callable (a function with another
    # parameter name, a lambda, a ``Callable[[Job], None]``) is a handler.
    def __call__(self, job: Job, /) -> None:
        """Do the job (at-least-once: must be idempotent). Return = success; raise JobFailed
        to fail the attempt; any other exception is a retryable failure whose message is
        sanitised before it is stored. A handler with a ``backoff`` attribute (a
        ``Backoff``) is retried on that schedule instead of the worker's."""
        ...


@runtime_checkable
class Backoff(Protocol):
    """How long to wait before the next attempt after ``attempt`` attempts failed (1 after
    the first failure). Implementations are bounded: base <= delay <= cap."""

    def delay(self, attempt: int) -> timedelta: ...


def canonical_json(value: Mapping[str, Any]) -> str:
    """Compact JSON with sorted keys; ValueError for anything JSON cannot hold (NaN, sets)."""
    return json.dumps(
        dict(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def check_job_type(raw: object, field: str = "type") -> str:
    """A job type: 1-64 of [a-z0-9_.], starting with a letter (``webhook_delivery``)."""
    if not isinstance(raw, str) or not _JOB_TYPE.fullmatch(raw):
        raise ValidationError.for_field(
            field, "must be 1-64 of [a-z0-9_.] starting with a letter", "INVALID_JOB_TYPE"
        )
    return raw


def parse_job_id(raw: object, field: str = "jobId") -> str:
    """A job id as clients send it: ``job_`` then 1-120 of [A-Za-z0-9_]; ValidationError
    (INVALID_JOB_ID) otherwise."""
    if not isinstance(raw, str) or not _JOB_ID.fullmatch(raw):
        raise ValidationError.for_field(
            field, "must be a job id: 'job_' then up to 120 of [A-Za-z0-9_]", "INVALID_JOB_ID"
        )
    return raw


def check_worker_id(raw: object) -> str:
    """A worker's name as it appears in ``lease_owner``: 1-128 of [A-Za-z0-9_.:@/-]."""
    if not isinstance(raw, str) or not _WORKER_ID.fullmatch(raw):
        raise ValueError("A worker id is 1-128 of [A-Za-z0-9_.:@/-].")
    return raw


def new_job(
    *,
    job_id: str,
    tenant_id: str,
    job_type: str,
    payload: Mapping[str, Any],
    now: datetime,
    run_after: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Job:
    """A pending job, due at ``run_after`` (default ``now``).

    ValidationError (INVALID_JOB_TYPE, INVALID_PAYLOAD, INVALID_MAX_ATTEMPTS) for a bad type,
    a payload that is not a JSON object of at most ``MAX_PAYLOAD_BYTES``, or ``max_attempts``
    outside 1..``MAX_ATTEMPTS_LIMIT``; ValueError for a naive time.
    """
    check_job_type(job_type)
    _check_payload(payload)
    if isinstance(max_attempts, bool) or not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise ValidationError.for_field(
            "maxAttempts", f"must be 1-{MAX_ATTEMPTS_LIMIT}", "INVALID_MAX_ATTEMPTS"
        )
    due = _aware(now if run_after is None else run_after)
    return Job(
        id=job_id,
        tenant_id=tenant_id,
        type=job_type,
        payload=json.loads(canonical_json(payload)),  # a private, plain copy
        status=JobStatus.PENDING,
        attempts=0,
        max_attempts=max_attempts,
        run_after=due,
        created_at=_aware(now),
        updated_at=_aware(now),
    )


def _check_payload(payload: object) -> None:
    if not isinstance(payload, Mapping) or not all(isinstance(k, str) for k in payload):
        raise ValidationError.for_field("payload", "must be a JSON object", "INVALID_PAYLOAD")
    try:
        size = len(canonical_json(payload).encode("utf-8"))
    except (TypeError, ValueError):
        raise ValidationError.for_field(
            "payload", "must hold only JSON values", "INVALID_PAYLOAD"
        ) from None
    if size > MAX_PAYLOAD_BYTES:
        raise ValidationError.for_field(
            "payload", f"must be at most {MAX_PAYLOAD_BYTES} bytes as JSON", "INVALID_PAYLOAD"
        )


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("Job times must be timezone-aware.")
    return moment


def lease_expired(job: Job, now: datetime) -> bool:
    """A running job whose worker stopped renewing: it may be claimed again (or buried)."""
    return (
        job.status is JobStatus.RUNNING
        and job.lease_expires_at is not None
        and job.lease_expires_at <= now
    )


def is_due(job: Job, now: datetime) -> bool:
    """What a claim picks up: pending and due, or running with an expired lease."""
    return (job.status is JobStatus.PENDING and job.run_after <= now) or lease_expired(job, now)


def claim(job: Job, worker_id: str, now: datetime, lease: timedelta) -> Job:
    """The job as claimed by ``worker_id`` at ``now``: running, one more attempt, leased until
    ``now + lease``. A job whose lease expired after its last allowed attempt is dead instead
    (its worker was lost mid-attempt, and no attempt is left). ValueError if not due."""
    check_worker_id(worker_id)
    if lease <= timedelta(0):
        raise ValueError("A lease must be positive.")
    if not is_due(job, now):
        raise ValueError("Only a due job can be claimed.")
    if job.attempts >= job.max_attempts:
        return _dead(job, now, "The worker running the last attempt stopped (lease expired).")
    return attrs.evolve(
        job,
        status=JobStatus.RUNNING,
        attempts=job.attempts + 1,
        lease_owner=worker_id,
        lease_expires_at=now + lease,
        updated_at=now,
    )


def complete(job: Job, now: datetime) -> Job:
    """The running job, done. ValueError unless running."""
    _require_running(job)
    return attrs.evolve(
        job, status=JobStatus.SUCCEEDED, lease_owner=None, lease_expires_at=None, updated_at=now
    )


def fail(
    job: Job,
    failure: JobFailure,
    now: datetime,
    backoff: Backoff,
    secrets: Iterable[str] = (),
) -> Job:
    """The running job after its attempt failed: pending again after ``backoff.delay(attempts)``
    while attempts are left and the failure is retryable, else dead. ``last_error`` is the
    failure's text, sanitised (``secrets`` are redacted too). ValueError unless running."""
    _require_running(job)
    error = sanitise_error(failure.error, secrets)
    if not failure.retryable or job.attempts >= job.max_attempts:
        return _dead(job, now, error)
    delay = backoff.delay(job.attempts)
    if delay < timedelta(0):
        raise ValueError("A backoff delay cannot be negative.")
    return attrs.evolve(
        job,
        status=JobStatus.PENDING,
        run_after=now + delay,
        lease_owner=None,
        lease_expires_at=None,
        last_error=error,
        updated_at=now,
    )


def requeue(job: Job, now: datetime) -> Job:
    """A dead letter given a fresh set of attempts, due at once; its last error stays for the
    record. Conflict (JOB_NOT_DEAD) for any job that is not dead."""
    if job.status is not JobStatus.DEAD:
        raise job_not_dead(job.id)
    return attrs.evolve(job, status=JobStatus.PENDING, attempts=0, run_after=now, updated_at=now)


def _dead(job: Job, now: datetime, error: str) -> Job:
    return attrs.evolve(
        job,
        status=JobStatus.DEAD,
        lease_owner=None,
        lease_expires_at=None,
        last_error=sanitise_error(error),
        updated_at=now,
    )


def _require_running(job: Job) -> None:
    if job.status is not JobStatus.RUNNING:
        raise ValueError("Only a running job can complete or fail.")


def sanitise_error(text: str, secrets: Iterable[str] = ()) -> str:
    """An error text fit to store and show to operators: the given ``secrets`` and anything
    that looks like a credential (URL user info and query strings, bearer/basic credentials,
    ``password=...``-style pairs) replaced by ``[redacted]``, control characters collapsed to
    spaces, at most ``MAX_ERROR_LENGTH`` characters."""
    cleaned = str(text)
    # Longest first, so a secret that contains another is redacted whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        cleaned = cleaned.replace(secret, REDACTED)
    cleaned = _URL_USERINFO.sub(rf"\1{REDACTED}@", cleaned)
    cleaned = _URL_QUERY.sub(rf"\1?{REDACTED}", cleaned)
    cleaned = _AUTH_SCHEME.sub(rf"\1 {REDACTED}", cleaned)
    cleaned = _SECRET_PAIR.sub(rf"\1\2{REDACTED}", cleaned)
    cleaned = _CONTROL.sub(" ", cleaned).strip()
    if len(cleaned) > MAX_ERROR_LENGTH:
        cleaned = cleaned[: MAX_ERROR_LENGTH - 1] + "\u2026"
    return cleaned or "(no error text)"


@attrs.frozen
class JobQuery:
    """A tenant's jobs, newest first (by id, which is time-sortable): those of the given
    statuses and type (empty/None: any), strictly older than the job ``after`` (a keyset
    cursor: the last id of the previous page), at most ``limit`` (1-100)."""

    tenant_id: str
    statuses: frozenset[JobStatus] = frozenset()
    job_type: str | None = None
    after: str | None = None
    limit: int = 20

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.limit <= 100:
            raise ValueError("A job page holds 1-100 jobs.")


@attrs.frozen
class JobPage:
    """One page of ``JobQuery``; ``next_after`` is the cursor of the next page, None on the
    last one; ``total``: every job matching the query's filters, on all pages."""

    items: Sequence[Job]
    next_after: str | None
    total: int = 0


@attrs.frozen
class JobCounts:
    """The gauges of one job type at one instant, across tenants.

    ``queue_depth``: pending and due; ``retry_queue``: pending after at least one failed
    attempt (due or not); ``inflight``: running under a live lease; ``dead``: dead letters.
    """

    queue_depth: int = 0
    retry_queue: int = 0
    inflight: int = 0
    dead: int = 0


def count_jobs(jobs: Iterable[Job], now: datetime) -> dict[str, JobCounts]:
    """``JobCounts`` per job type, for types with at least one job (the reference semantics of
    ``JobQueue.counts``)."""
    tallies: dict[str, list[int]] = {}
    for job in jobs:
        tally = tallies.setdefault(job.type, [0, 0, 0, 0])
        if job.status is JobStatus.PENDING:
            tally[0] += job.run_after <= now
            tally[1] += job.attempts > 0
        elif job.status is JobStatus.RUNNING:
            tally[2] += job.lease_expires_at is not None and job.lease_expires_at > now
        elif job.status is JobStatus.DEAD:
            tally[3] += 1
    return {job_type: JobCounts(*tally) for job_type, tally in sorted(tallies.items())}


def page_in_memory(jobs: Iterable[Job], query: JobQuery) -> JobPage:
    """The reference semantics of ``JobRepository.list``."""
    filtered = [
        job
        for job in jobs
        if job.tenant_id == query.tenant_id
        and (not query.statuses or job.status in query.statuses)
        and (query.job_type is None or job.type == query.job_type)
    ]
    matching = sorted(
        (job for job in filtered if query.after is None or job.id < query.after),
        key=lambda job: job.id,
        reverse=True,
    )
    items = matching[: query.limit]
    more = len(matching) > query.limit
    return JobPage(items, items[-1].id if more else None, len(filtered))


def job_not_found(job_id: str) -> NotFound:
    """The job does not exist for this tenant."""
    return NotFound(f"Job '{job_id}' was not found.", code="JOB_NOT_FOUND")


def duplicate_job(job_id: str) -> Conflict:
    """A job with this id is already stored (an id generator bug, never a client's)."""
    return Conflict(f"Job '{job_id}' already exists.", code="DUPLICATE_JOB")


def job_not_dead(job_id: str) -> Conflict:
    """Only a dead letter can be requeued."""
    return Conflict(f"Job '{job_id}' is not a dead letter.", code="JOB_NOT_DEAD")
