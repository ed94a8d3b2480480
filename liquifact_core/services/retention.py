"""Retention policies, legal holds and the purge (issue 16), for a tenant's admins and the
daily schedule slot (``liquifact_core.schedules.RETENTION_PURGE``).

Every change is audited in the unit of work that makes it, with ``before`` and ``after``
snapshots (``audit.snapshots``): a policy created (before null) or replaced, a hold placed
(before null) or released, an invoice's personal data erased (which fields held data before,
and what they read after: never the erased values).

A purge reads candidates in batches from read snapshots, then erases each invoice in a unit
of its own that locks the invoice row first and checks again, inside that unit, that no legal
hold is active (``RetentionRepository.lock_invoice``): placing a hold locks the same row, so a
hold placed while a purge runs is either seen by it or placed after the erase, never missed.
A dry run (the default of the schedule, RETENTION_PURGE_DRY_RUN) decides the same way and
writes nothing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import attrs

from liquifact_core.audit import AuditEvent, snapshots
from liquifact_core.changes import InvoiceChanged
from liquifact_core.errors import Forbidden, invoice_not_found
from liquifact_core.indexing import EscrowProjection
from liquifact_core.invoices import Actor, Invoice
from liquifact_core.lifecycle import Role
from liquifact_core.ports import ChangeListener, Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory
from liquifact_core.retention import (
    HOLD_ID_PREFIX,
    POLICY_ID_PREFIX,
    ClosedInvoice,
    HoldPage,
    HoldRelease,
    HoldRequest,
    HoldsQuery,
    LegalHold,
    PoliciesQuery,
    PolicyDraft,
    PolicyPage,
    PreviewCursorCodec,
    PreviewQuery,
    PurgeDecision,
    RetentionPolicy,
    Verdict,
    closed_before,
    decide,
    erase,
    field_presence,
    hold_not_found,
    holds_by_invoice,
    new_policy,
    parse_hold_id,
    parse_policy_id,
    policy_not_found,
)
from liquifact_core.services.invoices import visible_invoice

log = logging.getLogger("liquifact.retention")

# Who erases data on the schedule's behalf.
PURGE_ACTOR = Actor(id="retention-purge", role=Role.SERVICE)
POLICY_RESOURCE = "retention_policy"
# Candidates read per statement while a purge or a preview walks a tenant's closed invoices.
PURGE_BATCH = 200
# Held invoices named in a run's summary event (the count is always exact).
SUMMARY_HELD_MAX = 100


@attrs.frozen
class EscrowHold:
    """The escrow contract's own legal hold, as the indexer last read it (ledger, when)."""

    legal_hold: bool
    ledger: int
    checked_at: datetime


@attrs.frozen
class InvoiceHolds:
    """The two legal holds of one invoice, side by side: LiquiFact's (``hold``: the active
    one, or None) stops retention purges; the escrow's (``escrow``: None when its contract
    has not been indexed) blocks funding and payouts on chain. Neither affects the other."""

    invoice_id: str
    hold: LegalHold | None
    escrow: EscrowHold | None


@attrs.frozen
class PurgePreview:
    """One page of what a purge at ``as_of`` would do, by invoice id: ``total`` decisions in
    all, ``next_cursor`` None on the last page."""

    as_of: datetime
    decisions: Sequence[PurgeDecision]
    total: int
    limit: int
    next_cursor: str | None


@attrs.frozen
class PurgeReport:
    """What one tenant's purge did (or, ``dry_run``, would do)."""

    tenant_id: str
    as_of: datetime
    dry_run: bool
    purged: int
    held: int
    held_invoices: tuple[str, ...]


class RetentionService:
    """Policies, holds and purges of a tenant. Admin operations raise Forbidden for anyone
    else; ``purge``/``purge_all`` are the schedule's (no caller). ``tenants`` lists the
    tenants with an active policy (``Store.retention_tenants``); ``dry_run`` is
    RETENTION_PURGE_DRY_RUN, the default of ``purge_all``."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        read_unit: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        changes: ChangeListener,
        tenants: Callable[[], Sequence[str]],
        *,
        dry_run: bool = True,
        cursor_secret: str | None = None,
    ) -> None:
        self._cursors = PreviewCursorCodec(
            (cursor_secret or secrets.token_urlsafe(32)).encode("utf-8")
        )
        self._uow = unit_of_work
        self._read = read_unit
        self._clock = clock
        self._ids = ids
        self._changes = changes
        self._tenants = tenants
        self.dry_run = dry_run

    # ---- policies -------------------------------------------------------------------------
    def create_policy(self, tenant_id: str, actor: Actor, draft: PolicyDraft) -> RetentionPolicy:
        """A new policy (Conflict RETENTION_POLICY_NAME_TAKEN for a name in use)."""
        _admin(actor)
        now = self._clock.now()
        policy = new_policy(self._ids.new_id(POLICY_ID_PREFIX), tenant_id, draft, actor.id, now)
        with self._uow(tenant_id) as uow:
            uow.retention.add_policy(policy)
            self._audit(
                uow,
                actor,
                tenant_id,
                "retention.policy_created",
                (POLICY_RESOURCE, policy.id),
                snapshots(None, policy.snapshot()),
            )
            uow.commit()
        return policy

    def update_policy(
        self, tenant_id: str, actor: Actor, policy_id: str, draft: PolicyDraft
    ) -> RetentionPolicy:
        """Replace a policy's fields with ``draft`` (NotFound RETENTION_POLICY_NOT_FOUND)."""
        _admin(actor)
        parse_policy_id(policy_id)
        now = self._clock.now()
        with self._uow(tenant_id) as uow:
            current = uow.retention.get_policy(tenant_id, policy_id)
            if current is None:
                raise policy_not_found(policy_id)
            updated = current.replaced(draft, actor.id, now)
            uow.retention.update_policy(updated, current.version)
            self._audit(
                uow,
                actor,
                tenant_id,
                "retention.policy_updated",
                (POLICY_RESOURCE, policy_id),
                snapshots(current.snapshot(), updated.snapshot()),
            )
            uow.commit()
        return updated

    def policies(self, tenant_id: str, actor: Actor, query: PoliciesQuery) -> PolicyPage:
        _admin(actor)
        with self._read(tenant_id) as uow:
            return uow.retention.policies(tenant_id, query.limit, query.offset)

    def policy(self, tenant_id: str, actor: Actor, policy_id: str) -> RetentionPolicy:
        _admin(actor)
        parse_policy_id(policy_id)
        with self._read(tenant_id) as uow:
            found = uow.retention.get_policy(tenant_id, policy_id)
        if found is None:
            raise policy_not_found(policy_id)
        return found

    # ---- legal holds ----------------------------------------------------------------------
    def place_hold(self, tenant_id: str, actor: Actor, request: HoldRequest) -> LegalHold:
        """Place a hold on an invoice (live or soft-deleted; NotFound otherwise); Conflict
        LEGAL_HOLD_ACTIVE when it has one already. The invoice row is locked first, so a
        purge running at the same time either sees the hold or finished before it."""
        _admin(actor)
        now = self._clock.now()
        with self._uow(tenant_id) as uow:
            invoice = uow.retention.lock_invoice(tenant_id, request.invoice_id)
            if invoice is None:
                raise invoice_not_found(request.invoice_id)
            hold = LegalHold(
                id=self._ids.new_id(HOLD_ID_PREFIX),
                tenant_id=tenant_id,
                invoice_id=request.invoice_id,
                type=request.type,
                reason=request.reason,
                placed_by=actor.id,
                placed_at=now,
            )
            uow.retention.add_hold(hold)
            self._audit(
                uow,
                actor,
                tenant_id,
                "retention.legal_hold_placed",
                ("invoice", hold.invoice_id),
                {"holdId": hold.id, **snapshots(None, hold.snapshot())},
            )
            uow.commit()
        return hold

    def release_hold(
        self, tenant_id: str, actor: Actor, hold_id: str, release: HoldRelease
    ) -> LegalHold:
        """Release an active hold (NotFound LEGAL_HOLD_NOT_FOUND; Conflict
        LEGAL_HOLD_RELEASED if it was released already)."""
        _admin(actor)
        parse_hold_id(hold_id)
        now = self._clock.now()
        with self._uow(tenant_id) as uow:
            current = uow.retention.get_hold(tenant_id, hold_id)
            if current is None:
                raise hold_not_found(hold_id)
            uow.retention.lock_invoice(tenant_id, current.invoice_id)
            released = current.release(actor.id, now, release.reason)
            uow.retention.release_hold(released)
            self._audit(
                uow,
                actor,
                tenant_id,
                "retention.legal_hold_released",
                ("invoice", current.invoice_id),
                {"holdId": hold_id, **snapshots(current.snapshot(), released.snapshot())},
            )
            uow.commit()
        return released

    def holds(self, tenant_id: str, actor: Actor, query: HoldsQuery) -> HoldPage:
        _admin(actor)
        with self._read(tenant_id) as uow:
            return uow.retention.holds(query, tenant_id)

    def hold(self, tenant_id: str, actor: Actor, hold_id: str) -> LegalHold:
        _admin(actor)
        parse_hold_id(hold_id)
        with self._read(tenant_id) as uow:
            found = uow.retention.get_hold(tenant_id, hold_id)
        if found is None:
            raise hold_not_found(hold_id)
        return found

    def invoice_holds(self, tenant_id: str, actor: Actor, invoice_id: str) -> InvoiceHolds:
        """LiquiFact's active hold and the escrow's on-chain hold of one invoice, side by
        side (NotFound for an invoice the caller cannot see)."""
        _admin(actor)
        with self._read(tenant_id) as uow:
            invoice = visible_invoice(uow, tenant_id, actor, invoice_id)
            hold = _first(uow.retention.active_holds(tenant_id, [invoice.id]))
            projection = uow.escrows.get(tenant_id, invoice.id)
        return InvoiceHolds(invoice.id, hold, _escrow_hold(invoice, projection))

    # ---- purging --------------------------------------------------------------------------
    def preview(self, tenant_id: str, actor: Actor, query: PreviewQuery) -> PurgePreview:
        """What a purge now would do, a page at a time by invoice id (``query.cursor``
        continues after the page that returned it): invoices whose fields would be erased,
        and those a legal hold keeps, with the total of both. Writes nothing. The total walks
        every candidate, so each page costs one walk of the tenant's closed invoices."""
        _admin(actor)
        after = None if query.cursor is None else self._cursors.decode(tenant_id, query.cursor)
        now = self._clock.now()
        page: list[PurgeDecision] = []
        total, more = 0, False
        for decision in self._decisions(tenant_id, now, None):
            total += 1
            if after is not None and decision.invoice_id <= after:
                continue
            if len(page) < query.limit:
                page.append(decision)
            else:
                more = True
        next_cursor = self._cursors.encode(tenant_id, page[-1].invoice_id) if more else None
        return PurgePreview(now, page, total, query.limit, next_cursor)

    def purge(self, tenant_id: str, *, dry_run: bool) -> PurgeReport:
        """One tenant's purge now. ``dry_run``: decide only, write nothing. Otherwise each
        invoice due and not held is erased in a unit of its own (re-checked there), with
        its audit event; a summary event records the run."""
        now = self._clock.now()
        purged, held = 0, []
        for decision in self._decisions(tenant_id, now, None):
            if decision.verdict is Verdict.HELD:
                held.append(decision.invoice_id)
                continue
            if dry_run:
                purged += 1
                continue
            outcome = self._erase_one(tenant_id, decision, now)
            if outcome is Verdict.PURGE:
                purged += 1
            elif outcome is Verdict.HELD:
                held.append(decision.invoice_id)
        report = PurgeReport(
            tenant_id, now, dry_run, purged, len(held), tuple(held[:SUMMARY_HELD_MAX])
        )
        if not dry_run and (purged or held):
            with self._uow(tenant_id) as uow:
                self._audit(
                    uow,
                    PURGE_ACTOR,
                    tenant_id,
                    "retention.purge_run",
                    ("tenant", tenant_id),
                    {
                        "asOf": now.isoformat(),
                        "purged": purged,
                        "held": len(held),
                        "heldInvoiceIds": list(report.held_invoices),
                    },
                )
                uow.commit()
        log.info(
            "retention_purge",
            extra={
                "tenant_id": tenant_id,
                "dry_run": dry_run,
                "purged": purged,
                "held": len(held),
            },
        )
        return report

    def purge_all(self, *, dry_run: bool | None = None) -> list[PurgeReport]:
        """Every tenant with an active policy (the daily slot); ``dry_run`` defaults to
        RETENTION_PURGE_DRY_RUN. A tenant whose purge fails does not stop the others; the
        first failure is raised at the end (the job is retried; a purge is idempotent)."""
        dry = self.dry_run if dry_run is None else dry_run
        reports: list[PurgeReport] = []
        failure: Exception | None = None
        for tenant_id in self._tenants():
            try:
                reports.append(self.purge(tenant_id, dry_run=dry))
            except Exception as error:  # one tenant must not stop the rest
                log.warning(
                    "retention_purge_failed",
                    extra={"tenant_id": tenant_id, "error_type": type(error).__name__},
                )
                failure = failure or error
        if failure is not None:
            raise failure
        return reports

    def _decisions(
        self, tenant_id: str, now: datetime, after: str | None
    ) -> Iterator[PurgeDecision]:
        """The purge decisions at ``now`` in invoice id order, strictly after ``after``."""
        with self._read(tenant_id) as uow:
            policies = list(uow.retention.active_policies(tenant_id))
        cutoff = closed_before(policies, now)
        if cutoff is None:
            return
        while True:
            with self._read(tenant_id) as uow:
                batch = list(uow.retention.closed_invoices(tenant_id, cutoff, after, PURGE_BATCH))
                ids = [candidate.invoice.id for candidate in batch]
                holds = holds_by_invoice(uow.retention.active_holds(tenant_id, ids))
            for candidate in batch:
                decision = decide(candidate, policies, holds.get(candidate.invoice.id), now)
                if decision is not None:
                    yield decision
            if len(batch) < PURGE_BATCH:
                return
            after = batch[-1].invoice.id

    def _erase_one(self, tenant_id: str, planned: PurgeDecision, now: datetime) -> Verdict | None:
        """Erase one invoice as ``planned``, deciding again inside the unit (the invoice row
        locked, holds and policies as they are now). The verdict carried out: PURGE, HELD
        (a hold was placed meanwhile: nothing written) or None (nothing due any more)."""
        with self._uow(tenant_id) as uow:
            invoice = uow.retention.lock_invoice(tenant_id, planned.invoice_id)
            if invoice is None:
                return None
            policies = uow.retention.active_policies(tenant_id)
            hold = _first(uow.retention.active_holds(tenant_id, [invoice.id]))
            decision = decide(ClosedInvoice(invoice, planned.closed_at), policies, hold, now)
            if decision is None or decision.verdict is Verdict.HELD:
                return None if decision is None else Verdict.HELD
            erased = erase(invoice, decision.fields, now)
            uow.retention.erase_pii(erased, invoice.version)
            self._audit(
                uow,
                PURGE_ACTOR,
                tenant_id,
                "retention.pii_purged",
                ("invoice", invoice.id),
                {
                    "fields": sorted(field.value for field in decision.fields),
                    "policyIds": list(decision.policy_ids),
                    "closedAt": planned.closed_at.isoformat(),
                    **snapshots(
                        {"version": invoice.version, **field_presence(invoice, decision.fields)},
                        {"version": erased.version, **field_presence(erased, decision.fields)},
                    ),
                },
            )
            uow.commit()
        self._changes.changed(InvoiceChanged(tenant_id, invoice.id, invoice.status, invoice.status))
        return Verdict.PURGE

    def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        tenant_id: str,
        action: str,
        resource: tuple[str, str],
        metadata: dict[str, Any],
    ) -> None:
        uow.audit.append(
            AuditEvent.by(
                actor,
                event_id=self._ids.new_id("aud_"),
                tenant_id=tenant_id,
                action=action,
                resource=resource,
                at=self._clock.now(),
                metadata=metadata,
            )
        )


def _escrow_hold(invoice: Invoice, projection: EscrowProjection | None) -> EscrowHold | None:
    if projection is None or projection.contract != invoice.escrow_address:
        return None
    return EscrowHold(projection.reading.legal_hold, projection.ledger, projection.updated_at)


def _first(holds: Sequence[LegalHold]) -> LegalHold | None:
    return holds[0] if holds else None


def _admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("Only a tenant admin may manage retention and legal holds.")
