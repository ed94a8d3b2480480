"""Reconciliation: our books against the escrow contracts (issue 12, item 8).

For one tenant: read the invoices in scope and their funded totals (one read unit), read each
escrow's ``funded_amount`` through the ``EscrowLedger`` (no transaction open during those
calls), decide each invoice with the pure rules of ``liquifact_core.reconciliation``, then
record the run, its per-invoice results and an audit event in one unit of work. The nightly
schedule slot runs it for every tenant the store lists (``Store.reconciliation_tenants``);
``liquifact reconcile`` runs it now. What a run means for metrics and logs is the
``ReconciliationObserver``'s business (the HTTP shell counts the spec's four metrics and logs
the drift alert).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import attrs

from liquifact_core.audit import AuditEvent
from liquifact_core.chain import EscrowLedger
from liquifact_core.errors import FieldError, Forbidden, Unavailable, ValidationError
from liquifact_core.invoices import LIST_LIMIT_MAX, LIST_PAGE_MAX, Actor, Invoice
from liquifact_core.lifecycle import Role
from liquifact_core.ports import Clock, IdGenerator, InvoiceQuery, UnitOfWorkFactory
from liquifact_core.reconciliation import (
    DEFAULT_DRIFT_THRESHOLD,
    DRIFT_THRESHOLD_MAX,
    RECONCILED_STATUSES,
    RUN_ID_PREFIX,
    ReadFailure,
    ReconciliationRun,
    RunPage,
    RunResult,
    compare,
    failed,
    read_failure,
    run_not_found,
)
from liquifact_core.rules import Checked, QueryInteger, query_error, rule_field

# Who records a run: the chain-side process (the lifecycle's chain role), never a client.
RECONCILIATION_ACTOR = Actor(id="reconciliation", role=Role.CHAIN)
RUN_RESOURCE = "reconciliation_run"
RUN_RECORDED = "reconciliation.run_recorded"
# Invoices read per statement while collecting a tenant's scope (all in one snapshot).
_SCOPE_BATCH = 500


class ReconciliationObserver(Protocol):
    """Hears what reconciliation recorded (metrics, logs). Must not raise."""

    def run_recorded(self, run: ReconciliationRun) -> None:
        """One tenant's run was committed (``run.alerted``: it reached the threshold)."""
        ...

    def sweep_finished(self, runs: Sequence[ReconciliationRun]) -> None:
        """A call of ``reconcile_all`` (or ``reconcile``) ended with these runs recorded."""
        ...


class IgnoreRuns:
    """The observer of a deployment that watches nothing."""

    def run_recorded(self, run: ReconciliationRun) -> None:
        return None

    def sweep_finished(self, runs: Sequence[ReconciliationRun]) -> None:
        return None


@attrs.frozen
class RunsQuery(Checked):
    """A page of a tenant's runs (``GET /v1/admin/reconciliation/runs``), newest first: the
    spec's ``page`` (from 1) and ``limit`` (1-100, default 20)."""

    page: int = rule_field(QueryInteger(1, LIST_PAGE_MAX), default=1)
    limit: int = rule_field(QueryInteger(1, LIST_LIMIT_MAX), default=20)

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The reconciliation runs query has invalid parameters.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def reconciliation_unavailable() -> Unavailable:
    """No escrow ledger is configured: nothing can be compared."""
    return Unavailable(
        "Reconciliation needs the Soroban RPC, which is not configured on this server.",
        code="RECONCILIATION_UNAVAILABLE",
        retryable=False,
    )


def check_drift_threshold(value: int) -> int:
    """RECONCILIATION_DRIFT_THRESHOLD as a number: 1 to 1,000,000 mismatches per run."""
    if type(value) is not int or not 1 <= value <= DRIFT_THRESHOLD_MAX:
        raise ValueError(f"the drift threshold must be an integer from 1 to {DRIFT_THRESHOLD_MAX}")
    return value


class ReconciliationService:
    """Runs reconciliation and shows its runs to the tenant's admins.

    ``ledger``: the chain reads (None: ``reconcile`` raises Unavailable
    RECONCILIATION_UNAVAILABLE and the schedule does not run the slot); ``tenants``: the
    store's maintenance listing of tenants in scope; ``threshold``:
    RECONCILIATION_DRIFT_THRESHOLD (mismatches per run that alert, default 1)."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        read_unit: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        ledger: EscrowLedger | None,
        tenants: Callable[[], Sequence[str]],
        *,
        threshold: int = DEFAULT_DRIFT_THRESHOLD,
        observer: ReconciliationObserver | None = None,
    ) -> None:
        self._uow = unit_of_work
        self._read = read_unit
        self._clock = clock
        self._ids = ids
        self._ledger = ledger
        self._tenants = tenants
        self.threshold = check_drift_threshold(threshold)
        self._observer = observer or IgnoreRuns()

    @property
    def available(self) -> bool:
        """Whether a ledger is configured, so runs can compare anything."""
        return self._ledger is not None

    # ---- running ---------------------------------------------------------------------------
    def reconcile(self, tenant_id: str, *, trigger: str = "manual") -> ReconciliationRun:
        """Compare every invoice of ``tenant_id`` in scope with its escrow and record the run
        (``trigger`` goes in the audit event: ``schedule``, ``cli`` ...). A chain read that
        fails makes that invoice an error and the run goes on. Unavailable
        (RECONCILIATION_UNAVAILABLE) without a ledger; store errors propagate (nothing is
        recorded then)."""
        run = self._run(tenant_id, trigger)
        self._observer.sweep_finished([run])
        return run

    def reconcile_all(self, *, trigger: str = "schedule") -> list[ReconciliationRun]:
        """``reconcile`` for every tenant the store lists as having invoices in scope, in
        tenant order; the runs recorded. A store error stops the sweep (the runs already
        recorded stay; the job's retry runs every tenant again)."""
        self._need_ledger()
        runs: list[ReconciliationRun] = []
        try:
            for tenant_id in self._tenants():
                runs.append(self._run(tenant_id, trigger))
        finally:
            self._observer.sweep_finished(runs)
        return runs

    def _run(self, tenant_id: str, trigger: str) -> ReconciliationRun:
        ledger = self._need_ledger()
        started = self._clock.now()
        invoices = self._scope(tenant_id)
        results = [_check(ledger, invoice) for invoice in invoices]  # no transaction open
        run = ReconciliationRun.of(
            self._ids.new_id(RUN_ID_PREFIX),
            tenant_id,
            started,
            self._clock.now(),
            results,
            self.threshold,
        )
        summary = run.summary
        with self._uow(tenant_id) as uow:
            uow.reconciliations.add(run)
            uow.audit.append(
                AuditEvent.by(
                    RECONCILIATION_ACTOR,
                    event_id=self._ids.new_id("aud_"),
                    tenant_id=tenant_id,
                    action=RUN_RECORDED,
                    resource=(RUN_RESOURCE, run.id),
                    at=run.finished_at,
                    metadata={
                        "trigger": trigger,
                        "total": summary.total,
                        "matches": summary.matches,
                        "mismatches": summary.mismatches,
                        "errors": summary.errors,
                        "totalDriftStroops": str(summary.total_drift),
                        "threshold": summary.threshold,
                        "alerted": run.alerted,
                    },
                )
            )
            uow.commit()
        self._observer.run_recorded(run)
        return run

    def _need_ledger(self) -> EscrowLedger:
        if self._ledger is None:
            raise reconciliation_unavailable()
        return self._ledger

    def _scope(self, tenant_id: str) -> list[Invoice]:
        """The tenant's live invoices in a reconciled status, from one snapshot."""
        found: list[Invoice] = []
        with self._read(tenant_id) as uow:
            while True:
                page = uow.invoices.list(
                    InvoiceQuery(
                        tenant_id, RECONCILED_STATUSES, limit=_SCOPE_BATCH, offset=len(found)
                    )
                )
                found.extend(page.items)
                if not page.items or len(found) >= page.total:
                    return found

    # ---- reading (admins) ------------------------------------------------------------------
    def runs(self, tenant_id: str, actor: Actor, query: RunsQuery) -> RunPage:
        """One page of the tenant's runs (summaries), newest first."""
        _admin(actor)
        with self._read(tenant_id) as uow:
            return uow.reconciliations.list(tenant_id, query.limit, query.offset)

    def run(self, tenant_id: str, actor: Actor, run_id: str) -> ReconciliationRun:
        """One run of the tenant with its per-invoice results; NotFound
        (RECONCILIATION_RUN_NOT_FOUND) otherwise."""
        _admin(actor)
        with self._read(tenant_id) as uow:
            run = uow.reconciliations.get(tenant_id, run_id)
        if run is None:
            raise run_not_found()
        return run


def _check(ledger: EscrowLedger, invoice: Invoice) -> RunResult:
    address = invoice.escrow_address
    if address is None:
        return RunResult(
            None, failed(invoice.id, invoice.funded_stroops, ReadFailure.NO_ESCROW_ADDRESS)
        )
    try:
        reading = ledger.read_escrow(address)
    except Exception as error:
        reason, number = read_failure(error)
        return RunResult(address, failed(invoice.id, invoice.funded_stroops, reason, number))
    try:
        check = compare(invoice.id, invoice.funded_stroops, reading.escrow.funded_amount)
    except (ValueError, TypeError):
        check = failed(invoice.id, invoice.funded_stroops, ReadFailure.UNREADABLE_ANSWER)
    return RunResult(address, check)


def _admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("Only a tenant admin may read reconciliation runs.")
