"""The pure rules of a job's life (liquifact_core.jobs) and the tenacity-based backoff: claims
lease and count attempts, failures retry within the bounds or dead-letter, attempts never
exceed the maximum, expired leases make a job claimable again, errors are stored sanitised."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_adapters.system.backoff import ExponentialBackoff
from liquifact_core import jobs
from liquifact_core.errors import Conflict, ValidationError
from liquifact_core.jobs import Job, JobFailure, JobStatus

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def a_job(**changes: object) -> Job:
    values: dict[str, object] = {
        "job_id": "job_1",
        "tenant_id": "t1",
        "job_type": jobs.WEBHOOK_DELIVERY,
        "payload": {"invoiceId": "inv_1"},
        "now": T0,
    }
    values.update(changes)
    return jobs.new_job(**values)  # type: ignore[arg-type]


backoffs = st.builds(
    lambda base, extra, seed: ExponentialBackoff(base, base + extra, random.Random(seed)),
    st.integers(1, 5_000),
    st.integers(0, 60_000),
    st.integers(0, 2**32),
)


@given(backoffs, st.integers(1, 10_000))
def test_backoff_delays_stay_between_base_and_cap(backoff: ExponentialBackoff, n: int) -> None:
    delay = backoff.delay(n)
    assert backoff.base <= delay <= backoff.cap
    # The window for attempt n is [base, base * 2^(n-1)], capped.
    assert delay <= min(backoff.base * 2 ** min(n - 1, 40), backoff.cap)


def test_backoff_is_deterministic_for_a_seeded_random_source() -> None:
    first = [ExponentialBackoff(rng=random.Random(7)).delay(n) for n in range(1, 8)]
    again = [ExponentialBackoff(rng=random.Random(7)).delay(n) for n in range(1, 8)]
    assert first == again
    assert first[0] == timedelta(milliseconds=500)  # the spec's base delay, no jitter room
    assert max(first) <= timedelta(seconds=10)  # the spec's cap


def test_backoff_refuses_bad_bounds_and_attempts() -> None:
    with pytest.raises(ValueError, match="base"):
        ExponentialBackoff(0, 10)
    with pytest.raises(ValueError, match="base"):
        ExponentialBackoff(20, 10)
    with pytest.raises(ValueError, match="attempt"):
        ExponentialBackoff().delay(0)


outcomes = st.lists(
    st.sampled_from(["retryable", "permanent", "crash", "success"]), min_size=1, max_size=30
)


@given(st.integers(1, jobs.MAX_ATTEMPTS_LIMIT), outcomes, backoffs)
def test_a_job_never_exceeds_its_attempts_and_ends_dead_after_the_last(
    max_attempts: int, script: list[str], backoff: ExponentialBackoff
) -> None:
    job, now = a_job(max_attempts=max_attempts), T0
    for outcome in script:
        if job.status in (JobStatus.SUCCEEDED, JobStatus.DEAD):
            break
        now = max(now, job.run_after)
        assert jobs.is_due(job, now)
        job = jobs.claim(job, "w1", now, LEASE)
        if job.status is JobStatus.DEAD:  # a lost worker had used the last attempt
            break
        assert job.status is JobStatus.RUNNING and 1 <= job.attempts <= max_attempts
        if outcome == "success":
            job = jobs.complete(job, now)
        elif outcome == "crash":
            now = job.lease_expires_at or now  # the worker died; its lease runs out
            assert jobs.lease_expired(job, now) and jobs.is_due(job, now)
        else:
            before = job
            job = jobs.fail(job, JobFailure("boom", outcome == "retryable"), now, backoff)
            if job.status is JobStatus.PENDING:
                assert outcome == "retryable" and before.attempts < max_attempts
                assert backoff.base <= job.run_after - now <= backoff.cap
            else:
                assert job.status is JobStatus.DEAD
                assert outcome == "permanent" or before.attempts == max_attempts
        assert job.attempts <= max_attempts
        if job.status is not JobStatus.RUNNING:
            assert (job.lease_owner, job.lease_expires_at) == (None, None)


def test_a_live_lease_is_not_due_and_an_expired_one_is() -> None:
    running = jobs.claim(a_job(), "w1", T0, LEASE)
    assert not jobs.is_due(running, T0 + LEASE - timedelta(microseconds=1))
    assert jobs.lease_expired(running, T0 + LEASE)
    again = jobs.claim(running, "w2", T0 + LEASE, LEASE)
    assert (again.lease_owner, again.attempts) == ("w2", 2)
    assert running.guard != again.guard


def test_claiming_a_job_that_is_not_due_is_refused() -> None:
    with pytest.raises(ValueError, match="due"):
        jobs.claim(a_job(run_after=T0 + timedelta(seconds=1)), "w1", T0, LEASE)
    with pytest.raises(ValueError, match="lease"):
        jobs.claim(a_job(), "w1", T0, timedelta(0))
    with pytest.raises(ValueError, match="worker"):
        jobs.claim(a_job(), "bad worker", T0, LEASE)
    with pytest.raises(ValueError, match="running"):
        jobs.complete(a_job(), T0)


def test_requeue_is_for_dead_letters_only() -> None:
    running = jobs.claim(a_job(max_attempts=1), "w1", T0, LEASE)
    dead = jobs.fail(running, JobFailure("x"), T0, ExponentialBackoff())
    assert dead.status is JobStatus.DEAD

    later = T0 + timedelta(hours=1)
    requeued = jobs.requeue(dead, later)
    assert (requeued.status, requeued.attempts, requeued.run_after) == (
        JobStatus.PENDING,
        0,
        later,
    )
    with pytest.raises(Conflict) as refused:
        jobs.requeue(requeued, later)
    assert refused.value.code == "JOB_NOT_DEAD"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"job_type": "Webhook"}, "INVALID_JOB_TYPE"),
        ({"payload": ["not", "an", "object"]}, "INVALID_PAYLOAD"),
        ({"payload": {"x": float("nan")}}, "INVALID_PAYLOAD"),
        ({"payload": {"x": "y" * jobs.MAX_PAYLOAD_BYTES}}, "INVALID_PAYLOAD"),
        ({"max_attempts": 0}, "INVALID_MAX_ATTEMPTS"),
        ({"max_attempts": jobs.MAX_ATTEMPTS_LIMIT + 1}, "INVALID_MAX_ATTEMPTS"),
    ],
)
def test_a_new_job_is_checked(changes: dict[str, object], code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        a_job(**changes)
    assert refused.value.field_errors[0].code == code


def test_a_new_job_defaults_to_the_spec_attempts_and_copies_its_payload() -> None:
    payload = {"b": [1, 2], "a": "x"}
    job = a_job(payload=payload)
    payload["a"] = "changed"
    assert job.max_attempts == jobs.DEFAULT_MAX_ATTEMPTS == 3
    assert job.payload == {"a": "x", "b": [1, 2]}
    assert job == attrs.evolve(job, payload={"b": [1, 2], "a": "x"})
    assert job != attrs.evolve(job, payload={"a": "y", "b": [1, 2]})
    with pytest.raises(ValueError, match="aware"):
        a_job(now=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("connect to https://bob:hunter2@h.example/x failed", "https://[redacted]@h.example/x"),
        ("POST https://h.example/cb?token=abc answered 500", "https://h.example/cb?[redacted]"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: [redacted]"),
        ('{"webhook_secret": "s3cr3t"}', '"webhook_secret": [redacted]'),
        ("password=pw1; user=x", "password=[redacted]"),
    ],
)
def test_errors_are_stored_without_credentials(raw: str, expected: str) -> None:
    cleaned = jobs.sanitise_error(raw)
    assert expected in cleaned
    for secret in ("hunter2", "abc.def", "s3cr3t", "pw1", "token=abc"):
        assert secret not in cleaned


@given(st.text(max_size=2000), st.text(min_size=8, max_size=40))
def test_sanitised_errors_are_bounded_single_line_and_drop_given_secrets(
    text: str, secret: str
) -> None:
    cleaned = jobs.sanitise_error(f"{text} {secret} {text}", secrets=[secret])
    assert 0 < len(cleaned) <= jobs.MAX_ERROR_LENGTH
    assert not any(ord(char) < 32 or ord(char) == 127 for char in cleaned)
    if secret.strip() and secret not in text and secret not in jobs.REDACTED:
        assert secret not in cleaned


def test_counts_and_pages_follow_the_reference_rules() -> None:
    pending = a_job(job_id="job_1")
    retrying = attrs.evolve(a_job(job_id="job_2"), attempts=1)
    future = a_job(job_id="job_3", run_after=T0 + timedelta(hours=1))
    running = jobs.claim(a_job(job_id="job_4"), "w1", T0, LEASE)
    counts = jobs.count_jobs([pending, retrying, future, running], T0)
    assert counts == {
        jobs.WEBHOOK_DELIVERY: jobs.JobCounts(queue_depth=2, retry_queue=1, inflight=1)
    }

    page = jobs.page_in_memory([pending, retrying, future, running], jobs.JobQuery("t1", limit=3))
    assert [job.id for job in page.items] == ["job_4", "job_3", "job_2"]
    assert page.next_after == "job_2"
    with pytest.raises(ValueError, match="1-100"):
        jobs.JobQuery("t1", limit=0)
