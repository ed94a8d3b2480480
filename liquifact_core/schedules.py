"""Recurring maintenance jobs ("schedule slots") with one run per period, whatever the number
of workers.

Every worker ticks the schedule; a tick enqueues, for each slot whose job type this worker
can run, the job of the slot's current period under a deterministic id
(``job_sched_<slot>_<period start>``). The jobs table's primary key makes the first insert win
and every other one a no-op (``DUPLICATE_JOB``), on every store; the job then runs once, like
any job (at-least-once: its handler is idempotent). No lock is held and no leader is elected,
so a worker that dies mid-period leaves nothing to recover but its lease.

Slots are maintenance across tenants, not a tenant's work: their jobs belong to
``SYSTEM_TENANT``, an id outside the tenant grammar (``liquifact_core.ids``), so no token,
API key or X-Tenant-Id header can ever name it and no tenant's admin sees these jobs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

import attrs

from liquifact_core.errors import Conflict
from liquifact_core.jobs import Job, new_job
from liquifact_core.ports import Clock, UnitOfWorkFactory

# Not matched by [A-Za-z0-9_-]{1,128}: never a caller's tenant.
SYSTEM_TENANT = "~system"
SCHEDULED_JOB_PREFIX = "job_sched_"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

IDEMPOTENCY_PURGE = "maintenance.idempotency_purge"
RECONCILIATION = "maintenance.reconciliation"
RETENTION_PURGE = "maintenance.retention_purge"
MATURITY_REMINDERS = "maintenance.maturity_reminders"
# One pass of the escrow indexer (liquifact_core.services.indexer), every minute.
CHAIN_INDEX = "chain.index"


@attrs.frozen
class Slot:
    """A recurring job: ``job_type`` once per ``period``; periods start at the Unix epoch plus
    ``offset`` plus whole periods (UTC), e.g. daily at 02:00 UTC: period 1 day, offset 2 h."""

    name: str
    job_type: str
    period: timedelta
    offset: timedelta = timedelta(0)

    def __attrs_post_init__(self) -> None:
        if self.period < timedelta(minutes=1) or not timedelta(0) <= self.offset < self.period:
            raise ValueError("A slot's period is at least a minute; 0 <= offset < period.")

    def period_start(self, now: datetime) -> datetime:
        """The start of the period ``now`` (timezone-aware) falls in."""
        elapsed = now.astimezone(UTC) - _EPOCH - self.offset
        return _EPOCH + self.offset + (elapsed // self.period) * self.period

    def job_id(self, period_start: datetime) -> str:
        """The one job id of this slot in the period starting at ``period_start``."""
        return f"{SCHEDULED_JOB_PREFIX}{self.name}_{period_start.astimezone(UTC):%Y%m%dT%H%MZ}"

    def job(self, now: datetime) -> Job:
        """The pending job of the current period, due at once."""
        start = self.period_start(now)
        return new_job(
            job_id=self.job_id(start),
            tenant_id=SYSTEM_TENANT,
            job_type=self.job_type,
            payload={"slot": self.name, "periodStart": start.isoformat()},
            now=now,
        )


# Every slot of the platform. A slot runs only where a handler for its job type is registered
# (liquifact_adapters.composition.job_handlers): reconciliation where an escrow ledger is
# configured; the retention purge everywhere (a dry run unless RETENTION_PURGE_DRY_RUN is
# false); maturity reminders (daily at 08:00 UTC) wherever mail can be sent or logged.
SLOTS: tuple[Slot, ...] = (
    Slot("idempotency_purge", IDEMPOTENCY_PURGE, timedelta(hours=1)),
    Slot("reconciliation", RECONCILIATION, timedelta(days=1), offset=timedelta(hours=2)),
    Slot("retention_purge", RETENTION_PURGE, timedelta(days=1), offset=timedelta(hours=3)),
    Slot("maturity_reminders", MATURITY_REMINDERS, timedelta(days=1), offset=timedelta(hours=8)),
    # The shortest period a slot may have; the pass is idempotent, so a late or repeated run
    # only re-reads the chain.
    Slot("escrow_index", CHAIN_INDEX, timedelta(minutes=1)),
)


class Scheduler:
    """Enqueues each active slot's job once per period (see the module docstring).

    ``job_types``: the types this worker has handlers for; slots of other types are inactive.
    A tick remembers the periods it already saw enqueued, so a worker inserts at most once per
    slot and period; a duplicate id (another worker was first) counts as enqueued.
    """

    def __init__(
        self,
        units: UnitOfWorkFactory,
        clock: Clock,
        job_types: Collection[str],
        slots: Sequence[Slot] = SLOTS,
    ) -> None:
        self._units = units
        self._clock = clock
        self.slots = tuple(slot for slot in slots if slot.job_type in job_types)
        self._done: dict[str, datetime] = {}

    def tick(self) -> list[str]:
        """Make sure every active slot's current period has its job; the ids this call
        enqueued (not those another worker enqueued first). Store errors propagate (the next
        tick tries again)."""
        now = self._clock.now()
        enqueued = []
        for slot in self.slots:
            start = slot.period_start(now)
            if self._done.get(slot.name) == start:
                continue
            job = slot.job(now)
            try:
                with self._units(SYSTEM_TENANT) as unit:
                    unit.jobs.enqueue(job)
                    unit.commit()
                enqueued.append(job.id)
            except Conflict as conflict:
                if conflict.code != "DUPLICATE_JOB":
                    raise
            self._done[slot.name] = start
        return enqueued
