"""A dict-backed store with real unit-of-work semantics (all or nothing, isolated)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Self

import attrs

from liquifact_core import errors
from liquifact_core import jobs as job_rules
from liquifact_core.audit import AuditEvent, redacted
from liquifact_core.audit_export import AuditRecord
from liquifact_core.commitments import (
    Commitment,
    CommitmentListing,
    CommitmentPage,
    CommitmentQuery,
    CommitmentStatus,
    InvestorLock,
    LockPage,
    list_in_memory,
)
from liquifact_core.documents import FileStatus, InvoiceFile
from liquifact_core.idempotency import (
    IdempotencyRecord,
    IdempotencyState,
    RecordedOutcome,
    claim_lost,
)
from liquifact_core.indexing import (
    INDEXED_STATES,
    EscrowProjection,
    IndexerCursor,
    IndexerProgress,
    LinkedEscrow,
)
from liquifact_core.invoice_numbers import canonical_invoice_number
from liquifact_core.invoices import Invoice, Transition
from liquifact_core.jobs import Backoff, Job, JobCounts, JobFailure, JobPage, JobQuery
from liquifact_core.kyc import KycChange, KycRecord, kyc_record_exists
from liquifact_core.lifecycle import INVESTABLE, TERMINAL, InvoiceStatus
from liquifact_core.marketplace import (
    MarketplacePage,
    MarketplaceQuery,
    maintained_statuses,
    page_in_memory,
)
from liquifact_core.ports import (
    AuditLog,
    CommitmentRepository,
    ContactRepository,
    EscrowProjectionRepository,
    IdempotencyRepository,
    InvoiceFileRepository,
    InvoiceQuery,
    InvoiceRepository,
    JobRepository,
    KycRepository,
    Page,
    ProfileRepository,
    ReconciliationRepository,
    ReminderRepository,
    RetentionRepository,
    StatusTotals,
    WalletRepository,
    WebhookRepository,
)
from liquifact_core.profiles import SmeProfile
from liquifact_core.reconciliation import RECONCILED_STATUSES, ReconciliationRun, RunPage
from liquifact_core.reminders import (
    REMINDED_STATES,
    Contact,
    DueInvoice,
    MaturityReminder,
    ReminderDeadLetter,
)
from liquifact_core.retention import (
    ClosedInvoice,
    HoldPage,
    HoldsQuery,
    LegalHold,
    PolicyPage,
    RetentionPolicy,
    hold_already_active,
    hold_already_released,
    policy_name_taken,
    present_fields,
)
from liquifact_core.totals import FilteredTotals
from liquifact_core.wallets import WalletBinding, WalletPage, wallet_already_bound
from liquifact_core.webhook_endpoints import WebhookEndpoint


@attrs.define
class _State:
    invoices: dict[tuple[str, str], Invoice] = attrs.field(factory=dict)
    transitions: dict[tuple[str, str], tuple[Transition, ...]] = attrs.field(factory=dict)
    audit: tuple[AuditEvent, ...] = ()
    commitments: dict[tuple[str, str], Commitment] = attrs.field(factory=dict)
    idempotency: dict[tuple[str, str], IdempotencyRecord] = attrs.field(factory=dict)
    # By address across tenants: an address is bound at most once, in any tenant.
    wallets: dict[str, WalletBinding] = attrs.field(factory=dict)
    # By id across tenants (ids are unique), as the workers see them.
    jobs: dict[str, Job] = attrs.field(factory=dict)
    profiles: dict[tuple[str, str], SmeProfile] = attrs.field(factory=dict)
    webhooks: dict[str, WebhookEndpoint] = attrs.field(factory=dict)
    # By run id across tenants (ids are unique).
    reconciliations: dict[str, ReconciliationRun] = attrs.field(factory=dict)
    projections: dict[tuple[str, str], EscrowProjection] = attrs.field(factory=dict)
    cursors: dict[str, IndexerCursor] = attrs.field(factory=dict)
    kyc_records: dict[tuple[str, str], KycRecord] = attrs.field(factory=dict)
    kyc_history: dict[tuple[str, str], tuple[KycChange, ...]] = attrs.field(factory=dict)
    # Provider webhook event ids (-> expiry), across tenants, as the SQL stores keep them.
    kyc_events: dict[str, datetime] = attrs.field(factory=dict)
    reminders: dict[tuple[str, str, str], MaturityReminder] = attrs.field(factory=dict)
    dead_letters: tuple[ReminderDeadLetter, ...] = ()
    contacts: dict[tuple[str, str], Contact] = attrs.field(factory=dict)
    # Invoice documents by (tenant, file id).
    files: dict[tuple[str, str], InvoiceFile] = attrs.field(factory=dict)
    policies: dict[tuple[str, str], RetentionPolicy] = attrs.field(factory=dict)
    holds: dict[tuple[str, str], LegalHold] = attrs.field(factory=dict)
    # Maintained totals, as migration 0016's triggers keep them in the SQL stores: live
    # invoices per (tenant, status) and per (tenant, SME, status), and per tenant a generation
    # that moves on with every change to its investable live invoices or its profiles. Only
    # ``put_invoice`` and ``put_profile`` write invoices and profiles, so they stay exact.
    tenant_counts: dict[tuple[str, InvoiceStatus], int] = attrs.field(factory=dict)
    sme_counts: dict[tuple[str, str, InvoiceStatus], int] = attrs.field(factory=dict)
    market_generations: dict[str, int] = attrs.field(factory=dict)

    def put_invoice(self, invoice: Invoice) -> None:
        """Store ``invoice`` (new or replacing its row) and move the maintained totals."""
        key = (invoice.tenant_id, invoice.id)
        before = self.invoices.get(key)
        self.invoices[key] = invoice
        for row, delta in ((before, -1), (invoice, 1)):
            if row is None or row.deleted_at is not None:
                continue
            tenant_key = (row.tenant_id, row.status)
            self.tenant_counts[tenant_key] = self.tenant_counts.get(tenant_key, 0) + delta
            sme_key = (row.tenant_id, row.sme_id, row.status)
            self.sme_counts[sme_key] = self.sme_counts.get(sme_key, 0) + delta
        if _investable_live(before) or _investable_live(invoice):
            self.bump_generation(invoice.tenant_id)

    def put_profile(self, profile: SmeProfile) -> None:
        """Store ``profile``; the marketplace's name search reads it."""
        self.profiles[(profile.tenant_id, profile.subject)] = profile
        self.bump_generation(profile.tenant_id)

    def bump_generation(self, tenant_id: str) -> None:
        self.market_generations[tenant_id] = self.market_generations.get(tenant_id, 0) + 1

    def live_total(
        self, tenant_id: str, sme_id: str | None, statuses: Collection[InvoiceStatus]
    ) -> int:
        """Live invoices of the tenant (one SME's if set) in ``statuses`` (empty: any)."""
        wanted = statuses or list(InvoiceStatus)
        if sme_id is None:
            return sum(self.tenant_counts.get((tenant_id, status), 0) for status in wanted)
        return sum(self.sme_counts.get((tenant_id, sme_id, status), 0) for status in wanted)

    def copy(self) -> _State:
        # Values are frozen, so copying the containers is enough for isolation.
        return _State(
            dict(self.invoices),
            dict(self.transitions),
            self.audit,
            dict(self.commitments),
            dict(self.idempotency),
            dict(self.wallets),
            dict(self.jobs),
            dict(self.profiles),
            dict(self.webhooks),
            dict(self.reconciliations),
            dict(self.projections),
            dict(self.cursors),
            kyc_records=dict(self.kyc_records),
            kyc_history=dict(self.kyc_history),
            kyc_events=dict(self.kyc_events),
            reminders=dict(self.reminders),
            dead_letters=self.dead_letters,
            contacts=dict(self.contacts),
            files=dict(self.files),
            policies=dict(self.policies),
            holds=dict(self.holds),
            tenant_counts=dict(self.tenant_counts),
            sme_counts=dict(self.sme_counts),
            market_generations=dict(self.market_generations),
        )


def _investable_live(invoice: Invoice | None) -> bool:
    return invoice is not None and invoice.deleted_at is None and invoice.status in INVESTABLE


class InMemoryStore:
    """Units of work run one at a time; each works on a copy that ``commit`` publishes."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.RLock()
        # Filled and read by read units only: they see committed states, whose generations
        # never repeat (a unit of work's own changes are in no committed generation).
        self.totals = FilteredTotals()
        # Redeemed sign-in challenges (digest -> expiry): store-wide, never part of a unit.
        self._challenges: dict[str, datetime] = {}
        self.job_queue = InMemoryJobQueue(self)

    def unit_of_work(self, tenant_id: str) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self, tenant_id)

    def read_unit(self, tenant_id: str) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self, tenant_id, read_only=True)

    def ping(self) -> None:
        return None

    def purge_expired_idempotency(self, now: datetime, limit: int) -> int:
        with self._lock:
            expired = [
                key for key, record in self._state.idempotency.items() if record.expires_at <= now
            ][:limit]
            for key in expired:
                del self._state.idempotency[key]
            return len(expired)

    def wallet_binding(self, address: str) -> WalletBinding | None:
        with self._lock:
            return self._state.wallets.get(address)

    def redeem_challenge(self, digest: str, expires_at: datetime) -> bool:
        with self._lock:
            if digest in self._challenges:
                return False
            self._challenges[digest] = expires_at
            return True

    def purge_expired_challenges(self, now: datetime, limit: int) -> int:
        with self._lock:
            expired = [key for key, at in self._challenges.items() if at <= now][:limit]
            for key in expired:
                del self._challenges[key]
            return len(expired)

    def reconciliation_tenants(self) -> Sequence[str]:
        with self._lock:
            return sorted(
                {
                    tenant
                    for (tenant, _), invoice in self._state.invoices.items()
                    if invoice.deleted_at is None and invoice.status in RECONCILED_STATUSES
                }
            )

    def linked_escrows(self) -> list[LinkedEscrow]:
        with self._lock:
            found = [
                LinkedEscrow(invoice.tenant_id, invoice.id, invoice.escrow_address)
                for invoice in self._state.invoices.values()
                if invoice.escrow_address is not None
                and invoice.deleted_at is None
                and invoice.status in INDEXED_STATES
            ]
        return sorted(found, key=lambda e: (e.tenant_id, e.invoice_id))

    def indexer_progress(self) -> IndexerProgress:
        with self._lock:
            cursors = list(self._state.cursors.values())
        if not cursors:
            return IndexerProgress(None, None)
        return IndexerProgress(
            min(c.ledger for c in cursors),
            min(c.updated_at for c in cursors),
            max(c.ledger for c in cursors),
        )

    def kyc_subject(self, reference: str) -> tuple[str, str] | None:
        with self._lock:
            for (tenant, subject), record in self._state.kyc_records.items():
                if record.reference == reference:
                    return tenant, subject
        return None

    def purge_kyc_events(self, now: datetime, limit: int) -> int:
        with self._lock:
            expired = [key for key, at in self._state.kyc_events.items() if at <= now][:limit]
            for key in expired:
                del self._state.kyc_events[key]
            return len(expired)

    def reminder_tenants(self, start: date, end: date) -> list[str]:
        with self._lock:
            return sorted(
                {
                    tenant
                    for (tenant, _), invoice in self._state.invoices.items()
                    if invoice.deleted_at is None
                    and invoice.status in REMINDED_STATES
                    and start <= invoice.draft.due_date <= end
                }
            )

    def retention_tenants(self) -> Sequence[str]:
        with self._lock:
            return sorted(
                {tenant for (tenant, _), policy in self._state.policies.items() if policy.active}
            )

    def close(self) -> None:
        return None


class InMemoryUnitOfWork:
    invoices: InvoiceRepository
    audit: AuditLog
    commitments: CommitmentRepository
    idempotency: IdempotencyRepository
    wallets: WalletRepository
    jobs: JobRepository
    profiles: ProfileRepository
    webhooks: WebhookRepository
    reconciliations: ReconciliationRepository
    escrows: EscrowProjectionRepository
    kyc: KycRepository
    reminders: ReminderRepository
    contacts: ContactRepository
    files: InvoiceFileRepository
    retention: RetentionRepository

    def __init__(self, store: InMemoryStore, tenant_id: str, *, read_only: bool = False) -> None:
        self._store = store
        self._tenant_id = tenant_id
        self._read_only = read_only
        self._work = _State()
        self._base = self._work
        self.invoices = _InvoiceRepository(self)
        self.audit = _AuditLog(self)
        self.commitments = _CommitmentRepository(self)
        self.idempotency = _IdempotencyRepository(self)
        self.wallets = _WalletRepository(self)
        self.jobs = _JobRepository(self)
        self.profiles = _ProfileRepository(self)
        self.webhooks = _WebhookRepository(self)
        self.reconciliations = _ReconciliationRepository(self)
        self.escrows = _EscrowProjectionRepository(self)
        self.kyc = _KycRepository(self)
        self.reminders = _ReminderRepository(self)
        self.contacts = _ContactRepository(self)
        self.files = _InvoiceFileRepository(self)
        self.retention = _RetentionRepository(self)

    def __enter__(self) -> Self:
        if self._read_only:
            # A read unit works on a snapshot taken under the lock and holds no lock after
            # that, as the real stores' read units neither wait for nor block writers. (It
            # may then end on another thread than the one that began it: a streamed export.)
            with self._store._lock:
                self._base = self._store._state.copy()
            self._work = self._base.copy()
            return self
        self._store._lock.acquire()
        self._work = self._store._state.copy()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        """Drop what was not committed and let the next unit in (whatever ended the block:
        the exception, if any, goes on)."""
        self._work = _State()
        if not self._read_only:
            self._store._lock.release()

    def commit(self) -> None:
        if self._read_only:
            # The real stores refuse writes in a read unit; publishing nothing is the same
            # unless something was written, which the fake reports as the bug it is.
            if self._work != self._base:
                raise PermissionError("a read-only unit of work tried to write")
            return
        self._store._state = self._work.copy()

    def state(self) -> _State:
        return self._work

    def filtered_totals(self) -> FilteredTotals | None:
        """The store's filtered totals for a read unit; None for a unit of work."""
        return self._store.totals if self._read_only else None

    def check_tenant(self, tenant_id: str) -> None:
        # The real stores refuse cross-tenant access in the database; the fake must agree.
        if tenant_id != self._tenant_id:
            raise PermissionError("unit of work used for another tenant")


class _InvoiceRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def add(self, invoice: Invoice) -> None:
        self._uow.check_tenant(invoice.tenant_id)
        state = self._uow.state()
        if (invoice.tenant_id, invoice.id) in state.invoices:
            raise errors.duplicate_invoice_id(invoice.id)
        self._check_number_free(invoice)
        self._check_escrow_free(invoice)
        state.put_invoice(invoice)

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        self._uow.check_tenant(tenant_id)
        invoice = self._uow.state().invoices.get((tenant_id, invoice_id))
        return invoice if invoice is not None and invoice.deleted_at is None else None

    def update(self, invoice: Invoice, expected_version: int) -> None:
        self._uow.check_tenant(invoice.tenant_id)
        state = self._uow.state()
        current = state.invoices.get((invoice.tenant_id, invoice.id))
        if current is None or current.deleted_at is not None or current.version != expected_version:
            raise errors.stale_invoice()
        self._check_number_free(invoice)
        self._check_escrow_free(invoice)
        state.put_invoice(invoice)

    def list(self, query: InvoiceQuery) -> Page:
        self._uow.check_tenant(query.tenant_id)
        state = self._uow.state()
        matching = [
            invoice
            for (tenant, _), invoice in state.invoices.items()
            if tenant == query.tenant_id
            and invoice.deleted_at is None
            and (not query.statuses or invoice.status in query.statuses)
            and (query.sme_id is None or invoice.sme_id == query.sme_id)
        ]
        matching.sort(key=lambda invoice: (invoice.created_at, invoice.id), reverse=True)
        total = state.live_total(query.tenant_id, query.sme_id, query.statuses)
        return Page(matching[query.offset : query.offset + query.limit], total)

    def add_transition(self, step: Transition) -> None:
        self._uow.check_tenant(step.tenant_id)
        key = (step.tenant_id, step.invoice_id)
        if key not in self._uow.state().invoices:
            raise errors.invoice_not_found(step.invoice_id)
        transitions = self._uow.state().transitions
        if any(t.sequence == step.sequence for t in transitions.get(key, ())):
            raise errors.duplicate_history_step()
        transitions[key] = (*transitions.get(key, ()), step)

    def history(self, tenant_id: str, invoice_id: str) -> Sequence[Transition]:
        self._uow.check_tenant(tenant_id)
        steps = self._uow.state().transitions.get((tenant_id, invoice_id), ())
        return sorted(steps, key=lambda step: step.sequence)

    def marketplace(self, query: MarketplaceQuery) -> MarketplacePage:
        """``page_in_memory``, with the total as the SQL stores find it: statuses alone from
        the maintained counts; other filters counted once per generation in a read unit
        (``InMemoryStore.totals``), counted every time in a unit of work."""
        self._uow.check_tenant(query.tenant_id)
        state = self._uow.state()
        invoices = list(state.invoices.values())
        page = page_in_memory(
            invoices, attrs.evolve(query, with_total=False), state.profiles.values()
        )
        if not query.with_total:
            return page
        statuses = maintained_statuses(query.filters)
        if statuses is not None:
            maintained = state.live_total(query.tenant_id, None, statuses) if statuses else 0
            return attrs.evolve(page, total=maintained)
        totals = self._uow.filtered_totals()
        generation = state.market_generations.get(query.tenant_id, 0)
        filters = query.filters.canonical()
        found = None if totals is None else totals.get(query.tenant_id, filters, generation)
        if found is None:
            found = page_in_memory(invoices, query, state.profiles.values()).total
            if totals is not None and found is not None:
                totals.put(query.tenant_id, filters, generation, found)
        return attrs.evolve(page, total=found)

    def status_totals(self, tenant_id: str, sme_id: str | None) -> Sequence[StatusTotals]:
        self._uow.check_tenant(tenant_id)
        groups: dict[tuple[InvoiceStatus, str], list[Invoice]] = defaultdict(list)
        for (tenant, _), invoice in self._uow.state().invoices.items():
            if tenant != tenant_id or invoice.deleted_at is not None:
                continue
            if sme_id is not None and invoice.sme_id != sme_id:
                continue
            groups[(invoice.status, invoice.draft.amount.currency)].append(invoice)
        return [
            StatusTotals(
                status=status,
                currency=currency,
                count=len(members),
                amount=sum((m.draft.amount.amount for m in members), Decimal(0)),
                funding_target_stroops=sum(m.funding_target_stroops or 0 for m in members),
                funded_stroops=sum(m.funded_stroops for m in members),
            )
            for (status, currency), members in sorted(groups.items())
        ]

    def _check_number_free(self, invoice: Invoice) -> None:
        # Unique per (tenant, SME) among live invoices, in canonical form (migration 0003).
        key = canonical_invoice_number(invoice.draft.invoice_number)
        for (tenant, invoice_id), other in self._uow.state().invoices.items():
            if (
                tenant == invoice.tenant_id
                and invoice_id != invoice.id
                and other.sme_id == invoice.sme_id
                and other.deleted_at is None
                and canonical_invoice_number(other.draft.invoice_number) == key
            ):
                raise errors.duplicate_invoice_number(invoice.draft.invoice_number)

    def _check_escrow_free(self, invoice: Invoice) -> None:
        # One escrow contract per invoice, across every tenant, deleted rows included, as the
        # SQL stores' unique index of migration 0005 holds it.
        if invoice.escrow_address is None:
            return
        for key, other in self._uow.state().invoices.items():
            if (
                key != (invoice.tenant_id, invoice.id)
                and other.escrow_address == invoice.escrow_address
            ):
                raise errors.escrow_already_linked()


class _AuditLog:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def append(self, event: AuditEvent) -> None:
        self._uow.check_tenant(event.tenant_id)
        event = redacted(event)
        state = self._uow.state()
        if any(existing.id == event.id for existing in state.audit):
            raise errors.duplicate_audit_event(event.id)
        state.audit = (*state.audit, event)

    def for_resource(
        self, tenant_id: str, resource_type: str, resource_id: str
    ) -> Sequence[AuditEvent]:
        self._uow.check_tenant(tenant_id)
        # Oldest first by time, then in the order appended (sorted() is stable), as the stores do.
        return sorted(
            (
                event
                for event in self._uow.state().audit
                if event.tenant_id == tenant_id
                and event.resource_type == resource_type
                and event.resource_id == resource_id
            ),
            key=lambda event: event.at,
        )

    def invoice_trail(
        self, tenant_id: str, invoice_id: str, after: int | None, limit: int
    ) -> Sequence[AuditRecord]:
        self._uow.check_tenant(tenant_id)
        start = -1 if after is None else after
        return [r for r in self._trail(tenant_id, invoice_id) if r.position > start][:limit]

    def count_invoice_trail(self, tenant_id: str, invoice_id: str) -> int:
        self._uow.check_tenant(tenant_id)
        return len(self._trail(tenant_id, invoice_id))

    def stream_invoice_trail(
        self, tenant_id: str, invoice_id: str, chunk_size: int
    ) -> Iterator[Sequence[AuditRecord]]:
        self._uow.check_tenant(tenant_id)
        records = self._trail(tenant_id, invoice_id)
        for start in range(0, len(records), chunk_size):
            yield records[start : start + chunk_size]

    def _trail(self, tenant_id: str, invoice_id: str) -> list[AuditRecord]:
        # A position is the event's place in the log, from 1: the append order.
        return [
            AuditRecord(position, event)
            for position, event in enumerate(self._uow.state().audit, start=1)
            if event.tenant_id == tenant_id and event.invoice_id == invoice_id
        ]


class _CommitmentRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def add(self, commitment: Commitment) -> None:
        self._uow.check_tenant(commitment.tenant_id)
        commitments = self._uow.state().commitments
        if (commitment.tenant_id, commitment.id) in commitments:
            raise errors.duplicate_commitment()
        if (commitment.tenant_id, commitment.invoice_id) not in self._uow.state().invoices:
            raise errors.invoice_not_found(commitment.invoice_id)
        commitments[(commitment.tenant_id, commitment.id)] = commitment

    def get(self, tenant_id: str, commitment_id: str) -> Commitment | None:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().commitments.get((tenant_id, commitment_id))

    def update(self, commitment: Commitment) -> None:
        self._uow.check_tenant(commitment.tenant_id)
        commitments = self._uow.state().commitments
        current = commitments.get((commitment.tenant_id, commitment.id))
        if current is None:
            raise errors.commitment_not_found(commitment.id)
        commitments[(commitment.tenant_id, commitment.id)] = attrs.evolve(
            current,
            status=commitment.status,
            submission_status=commitment.submission_status,
            tx_hash=commitment.tx_hash,
            updated_at=commitment.updated_at,
            transaction_xdr=commitment.transaction_xdr,
            transaction_expires_at=commitment.transaction_expires_at,
            submission_error=commitment.submission_error,
        )

    def pending_total_for_update(self, tenant_id: str, invoice_id: str) -> int:
        # Units of the fake run one at a time, which is the serialisation the port asks for.
        self._uow.check_tenant(tenant_id)
        return sum(
            commitment.amount_stroops
            for commitment in self._uow.state().commitments.values()
            if commitment.tenant_id == tenant_id
            and commitment.invoice_id == invoice_id
            and commitment.status is CommitmentStatus.PENDING
        )

    def release_pending(self, tenant_id: str, invoice_id: str, at: datetime) -> list[Commitment]:
        self._uow.check_tenant(tenant_id)
        commitments = self._uow.state().commitments
        released = [
            attrs.evolve(commitment, status=CommitmentStatus.RELEASED, updated_at=at)
            for commitment in commitments.values()
            if commitment.tenant_id == tenant_id
            and commitment.invoice_id == invoice_id
            and commitment.status is CommitmentStatus.PENDING
        ]
        for commitment in released:
            commitments[(tenant_id, commitment.id)] = commitment
        return sorted(released, key=lambda commitment: commitment.id)

    def list(self, listing: CommitmentListing) -> CommitmentPage:
        self._uow.check_tenant(listing.tenant_id)
        return list_in_memory(tuple(self._uow.state().commitments.values()), listing)

    def locks(self, query: CommitmentQuery) -> LockPage:
        self._uow.check_tenant(query.tenant_id)
        state = self._uow.state()
        groups: dict[tuple[str, str], list[Commitment]] = defaultdict(list)
        for commitment in state.commitments.values():
            if (
                commitment.tenant_id == query.tenant_id
                and commitment.status is not CommitmentStatus.RELEASED
                and query.investor_address in (None, commitment.investor_address)
                and query.invoice_id in (None, commitment.invoice_id)
            ):
                groups[(commitment.invoice_id, commitment.investor_address)].append(commitment)
        locks = []
        for (invoice_id, investor), members in sorted(groups.items()):
            invoice = state.invoices[(query.tenant_id, invoice_id)]
            locks.append(
                InvestorLock(
                    tenant_id=query.tenant_id,
                    invoice_id=invoice_id,
                    investor_address=investor,
                    amount_stroops=sum(m.amount_stroops for m in members),
                    commitment_count=len(members),
                    claim_not_before=invoice.draft.due_date,
                    investor_effective_yield_bps=invoice.draft.yield_bps,
                    updated_at=max(m.updated_at for m in members),
                )
            )
        return LockPage(locks[query.offset : query.offset + query.limit], len(locks))


class _IdempotencyRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def claim(self, record: IdempotencyRecord, now: datetime) -> IdempotencyRecord | None:
        self._uow.check_tenant(record.tenant_id)
        records = self._uow.state().idempotency
        current = records.get((record.tenant_id, record.key))
        if current is not None and not _replaceable(current, now):
            return current
        records[(record.tenant_id, record.key)] = record
        return None

    def complete(self, tenant_id: str, key: str, claim_id: str, outcome: RecordedOutcome) -> None:
        self._uow.check_tenant(tenant_id)
        records = self._uow.state().idempotency
        current = records.get((tenant_id, key))
        if (
            current is None
            or current.claim_id != claim_id
            or current.state is not IdempotencyState.IN_PROGRESS
        ):
            raise claim_lost()
        records[(tenant_id, key)] = attrs.evolve(
            current, state=IdempotencyState.COMPLETED, outcome=outcome
        )

    def release(self, tenant_id: str, key: str, claim_id: str) -> None:
        self._uow.check_tenant(tenant_id)
        records = self._uow.state().idempotency
        current = records.get((tenant_id, key))
        if (
            current is not None
            and current.claim_id == claim_id
            and current.state is IdempotencyState.IN_PROGRESS
        ):
            del records[(tenant_id, key)]

    def get(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().idempotency.get((tenant_id, key))


class _WalletRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def add(self, binding: WalletBinding) -> None:
        self._uow.check_tenant(binding.tenant_id)
        wallets = self._uow.state().wallets
        if binding.address in wallets:
            raise wallet_already_bound()
        wallets[binding.address] = binding

    def get(self, tenant_id: str, address: str) -> WalletBinding | None:
        self._uow.check_tenant(tenant_id)
        found = self._uow.state().wallets.get(address)
        return found if found is not None and found.tenant_id == tenant_id else None

    def list(self, tenant_id: str, limit: int, offset: int) -> WalletPage:
        self._uow.check_tenant(tenant_id)
        ours = sorted(
            (b for b in self._uow.state().wallets.values() if b.tenant_id == tenant_id),
            key=lambda binding: binding.address,
        )
        return WalletPage(ours[offset : offset + limit], len(ours))

    def remove(self, tenant_id: str, address: str) -> bool:
        if self.get(tenant_id, address) is None:
            return False
        del self._uow.state().wallets[address]
        return True


class _JobRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def enqueue(self, job: Job) -> None:
        self._uow.check_tenant(job.tenant_id)
        jobs = self._uow.state().jobs
        if job.id in jobs:
            raise job_rules.duplicate_job(job.id)
        jobs[job.id] = job

    def get(self, tenant_id: str, job_id: str) -> Job | None:
        self._uow.check_tenant(tenant_id)
        found = self._uow.state().jobs.get(job_id)
        return found if found is not None and found.tenant_id == tenant_id else None

    def list(self, query: JobQuery) -> JobPage:
        self._uow.check_tenant(query.tenant_id)
        return job_rules.page_in_memory(self._uow.state().jobs.values(), query)

    def requeue(self, tenant_id: str, job_id: str, now: datetime) -> Job:
        current = self.get(tenant_id, job_id)
        if current is None:
            raise job_rules.job_not_found(job_id)
        requeued = job_rules.requeue(current, now)
        self._uow.state().jobs[job_id] = requeued
        return requeued


class InMemoryJobQueue:
    """The workers' side of the fake: every operation is one step under the store's lock,
    outside any unit of work (as the SQL stores run it in a transaction of its own)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    def claim(
        self,
        worker_id: str,
        job_types: Collection[str],
        limit: int,
        now: datetime,
        lease: timedelta,
    ) -> list[Job]:
        wanted = set(job_types)
        with self._store._lock:
            jobs = self._store._state.jobs
            due = sorted(
                (j for j in jobs.values() if j.type in wanted and job_rules.is_due(j, now)),
                key=lambda job: (job.run_after, job.id),
            )[: max(limit, 0)]
            claimed = []
            for job in due:
                jobs[job.id] = job_rules.claim(job, worker_id, now, lease)
                if jobs[job.id].status is job_rules.JobStatus.RUNNING:
                    claimed.append(jobs[job.id])
            return claimed

    def complete(self, job: Job, now: datetime) -> Job | None:
        return self._replace(job, job_rules.complete(job, now))

    def fail(
        self,
        job: Job,
        failure: JobFailure,
        now: datetime,
        backoff: Backoff,
        secrets: Iterable[str] = (),
    ) -> Job | None:
        return self._replace(job, job_rules.fail(job, failure, now, backoff, secrets))

    def counts(self, now: datetime) -> Mapping[str, JobCounts]:
        with self._store._lock:
            return job_rules.count_jobs(list(self._store._state.jobs.values()), now)

    def _replace(self, before: Job, after: Job) -> Job | None:
        with self._store._lock:
            jobs = self._store._state.jobs
            current = jobs.get(before.id)
            if current is None or current.guard != before.guard:
                return None
            jobs[before.id] = after
            return after


class _ProfileRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def get(self, tenant_id: str, subject: str) -> SmeProfile | None:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().profiles.get((tenant_id, subject))

    def upsert(self, profile: SmeProfile) -> None:
        self._uow.check_tenant(profile.tenant_id)
        self._uow.state().put_profile(profile)


class _WebhookRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def get(self, tenant_id: str) -> WebhookEndpoint | None:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().webhooks.get(tenant_id)

    def lock(self, tenant_id: str) -> WebhookEndpoint | None:
        return self.get(tenant_id)  # units run one at a time

    def add(self, endpoint: WebhookEndpoint) -> None:
        if self.get(endpoint.tenant_id) is not None:
            raise errors.concurrent_update()
        self.put(endpoint)

    def put(self, endpoint: WebhookEndpoint) -> None:
        self._uow.check_tenant(endpoint.tenant_id)
        self._uow.state().webhooks[endpoint.tenant_id] = endpoint

    def remove(self, tenant_id: str) -> bool:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().webhooks.pop(tenant_id, None) is not None


class _ReconciliationRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def add(self, run: ReconciliationRun) -> None:
        self._uow.check_tenant(run.tenant_id)
        runs = self._uow.state().reconciliations
        if run.id in runs:
            raise errors.duplicate_reconciliation_run()
        runs[run.id] = run

    def get(self, tenant_id: str, run_id: str) -> ReconciliationRun | None:
        self._uow.check_tenant(tenant_id)
        run = self._uow.state().reconciliations.get(run_id)
        return run if run is not None and run.tenant_id == tenant_id else None

    def list(self, tenant_id: str, limit: int, offset: int) -> RunPage:
        self._uow.check_tenant(tenant_id)
        mine = [r for r in self._uow.state().reconciliations.values() if r.tenant_id == tenant_id]
        mine.sort(key=lambda run: (run.started_at, run.id), reverse=True)
        return RunPage(
            [attrs.evolve(run, results=()) for run in mine[offset : offset + limit]], len(mine)
        )


class _EscrowProjectionRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def get(self, tenant_id: str, invoice_id: str) -> EscrowProjection | None:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().projections.get((tenant_id, invoice_id))

    def put(self, projection: EscrowProjection) -> None:
        self._uow.check_tenant(projection.tenant_id)
        self._uow.state().projections[(projection.tenant_id, projection.invoice_id)] = projection

    def cursor(self, tenant_id: str) -> IndexerCursor | None:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().cursors.get(tenant_id)

    def put_cursor(self, cursor: IndexerCursor, *, replacing: IndexerCursor | None) -> None:
        self._uow.check_tenant(cursor.tenant_id)
        cursors = self._uow.state().cursors
        stored = cursors.get(cursor.tenant_id)
        position = None if stored is None else (stored.cursor, stored.ledger)
        if position != (None if replacing is None else (replacing.cursor, replacing.ledger)):
            raise errors.concurrent_update()  # another pass moved it since the caller read it
        cursors[cursor.tenant_id] = cursor


class _KycRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def get(self, tenant_id: str, subject: str) -> KycRecord | None:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().kyc_records.get((tenant_id, subject))

    def add(self, record: KycRecord) -> None:
        self._uow.check_tenant(record.tenant_id)
        records = self._uow.state().kyc_records
        if (record.tenant_id, record.subject) in records:
            raise kyc_record_exists()
        records[(record.tenant_id, record.subject)] = record

    def update(self, record: KycRecord, expected_version: int) -> None:
        self._uow.check_tenant(record.tenant_id)
        records = self._uow.state().kyc_records
        current = records.get((record.tenant_id, record.subject))
        if current is None or current.version != expected_version:
            raise errors.concurrent_update()
        records[(record.tenant_id, record.subject)] = attrs.evolve(
            record, reference=current.reference, created_at=current.created_at
        )

    def add_change(self, change: KycChange) -> None:
        self._uow.check_tenant(change.tenant_id)
        history = self._uow.state().kyc_history
        key = (change.tenant_id, change.subject)
        if any(step.sequence == change.sequence for step in history.get(key, ())):
            raise errors.concurrent_update()
        history[key] = (*history.get(key, ()), change)

    def history(self, tenant_id: str, subject: str) -> list[KycChange]:
        self._uow.check_tenant(tenant_id)
        steps = self._uow.state().kyc_history.get((tenant_id, subject), ())
        return sorted(steps, key=lambda step: step.sequence)

    def redeem_event(self, event_id: str, received_at: datetime, expires_at: datetime) -> bool:
        del received_at
        events = self._uow.state().kyc_events
        if event_id in events:
            return False
        events[event_id] = expires_at
        return True


class _ReminderRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def due_invoices(self, tenant_id: str, start: date, end: date) -> list[DueInvoice]:
        self._uow.check_tenant(tenant_id)
        due = [
            DueInvoice(tenant_id, invoice.id, invoice.sme_id, invoice.draft.due_date)
            for (tenant, _), invoice in self._uow.state().invoices.items()
            if tenant == tenant_id
            and invoice.deleted_at is None
            and invoice.status in REMINDED_STATES
            and start <= invoice.draft.due_date <= end
        ]
        return sorted(due, key=lambda item: (item.maturity_date, item.invoice_id))

    def investor_subjects(self, tenant_id: str, invoice_id: str) -> list[str]:
        self._uow.check_tenant(tenant_id)
        return sorted(
            {
                commitment.actor_id
                for commitment in self._uow.state().commitments.values()
                if commitment.tenant_id == tenant_id
                and commitment.invoice_id == invoice_id
                and commitment.status is not CommitmentStatus.RELEASED
            }
        )

    def add(self, reminder: MaturityReminder) -> bool:
        self._uow.check_tenant(reminder.tenant_id)
        reminders = self._uow.state().reminders
        key = (reminder.tenant_id, reminder.invoice_id, reminder.recipient)
        if key in reminders:
            return False
        reminders[key] = reminder
        return True

    def get(self, tenant_id: str, invoice_id: str, recipient: str) -> MaturityReminder | None:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().reminders.get((tenant_id, invoice_id, recipient))

    def update(self, reminder: MaturityReminder) -> None:
        self._uow.check_tenant(reminder.tenant_id)
        reminders = self._uow.state().reminders
        key = (reminder.tenant_id, reminder.invoice_id, reminder.recipient)
        current = reminders.get(key)
        if current is None:
            raise errors.concurrent_update()
        reminders[key] = attrs.evolve(
            current,
            status=reminder.status,
            updated_at=reminder.updated_at,
            sent_at=reminder.sent_at,
            dry_run=reminder.dry_run,
        )

    def add_dead_letter(self, letter: ReminderDeadLetter) -> None:
        self._uow.check_tenant(letter.tenant_id)
        state = self._uow.state()
        state.dead_letters = (*state.dead_letters, letter)

    def dead_letters(self, tenant_id: str, limit: int, offset: int) -> list[ReminderDeadLetter]:
        self._uow.check_tenant(tenant_id)
        mine = [
            letter for letter in self._uow.state().dead_letters if letter.tenant_id == tenant_id
        ]
        mine.sort(key=lambda letter: (letter.created_at, letter.id), reverse=True)
        return mine[offset : offset + limit]


class _ContactRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def get(self, tenant_id: str, subject: str) -> Contact | None:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().contacts.get((tenant_id, subject))

    def put(self, contact: Contact) -> None:
        self._uow.check_tenant(contact.tenant_id)
        self._uow.state().contacts[(contact.tenant_id, contact.subject)] = contact


class _InvoiceFileRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def add(self, file: InvoiceFile) -> None:
        self._uow.check_tenant(file.tenant_id)
        files = self._uow.state().files
        taken = {f.object_key for f in files.values()}
        if (file.tenant_id, file.id) in files or file.object_key in taken:
            raise errors.Conflict("This file was already recorded.", code="DUPLICATE_FILE")
        files[(file.tenant_id, file.id)] = file

    def get(self, tenant_id: str, invoice_id: str, file_id: str) -> InvoiceFile | None:
        self._uow.check_tenant(tenant_id)
        found = self._uow.state().files.get((tenant_id, file_id))
        return found if found is not None and found.invoice_id == invoice_id else None

    def list(self, tenant_id: str, invoice_id: str) -> Sequence[InvoiceFile]:
        self._uow.check_tenant(tenant_id)
        mine = [
            f
            for f in self._uow.state().files.values()
            if f.tenant_id == tenant_id and f.invoice_id == invoice_id
        ]
        return sorted(mine, key=lambda f: (f.created_at, f.id))

    def mark_stored(self, file: InvoiceFile) -> bool:
        current = self.get(file.tenant_id, file.invoice_id, file.id)
        if current is None or current.status is not FileStatus.PENDING:
            return False
        self._uow.state().files[(file.tenant_id, file.id)] = file
        return True

    def set_primary(self, tenant_id: str, invoice_id: str, file_id: str | None) -> None:
        files = self._uow.state().files
        for found in self.list(tenant_id, invoice_id):
            files[(tenant_id, found.id)] = attrs.evolve(found, primary=found.id == file_id)

    def remove(self, tenant_id: str, invoice_id: str, file_id: str) -> InvoiceFile | None:
        current = self.get(tenant_id, invoice_id, file_id)
        if current is None or current.status is not FileStatus.PENDING:
            return None
        del self._uow.state().files[(tenant_id, file_id)]
        return current

    def remove_invoice(self, tenant_id: str, invoice_id: str) -> Sequence[InvoiceFile]:
        removed = self.list(tenant_id, invoice_id)
        for found in removed:
            del self._uow.state().files[(tenant_id, found.id)]
        return removed


class _RetentionRepository:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def add_policy(self, policy: RetentionPolicy) -> None:
        self._uow.check_tenant(policy.tenant_id)
        policies = self._uow.state().policies
        if any(
            p.tenant_id == policy.tenant_id and p.name == policy.name for p in policies.values()
        ):
            raise policy_name_taken(policy.name)
        if (policy.tenant_id, policy.id) in policies:
            raise errors.concurrent_update()
        policies[(policy.tenant_id, policy.id)] = policy

    def get_policy(self, tenant_id: str, policy_id: str) -> RetentionPolicy | None:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().policies.get((tenant_id, policy_id))

    def update_policy(self, policy: RetentionPolicy, expected_version: int) -> None:
        self._uow.check_tenant(policy.tenant_id)
        policies = self._uow.state().policies
        current = policies.get((policy.tenant_id, policy.id))
        if current is None or current.version != expected_version:
            raise errors.concurrent_update()
        if any(
            p.tenant_id == policy.tenant_id and p.name == policy.name and p.id != policy.id
            for p in policies.values()
        ):
            raise policy_name_taken(policy.name)
        policies[(policy.tenant_id, policy.id)] = policy

    def policies(self, tenant_id: str, limit: int, offset: int) -> PolicyPage:
        self._uow.check_tenant(tenant_id)
        mine = [p for (t, _), p in self._uow.state().policies.items() if t == tenant_id]
        mine.sort(key=lambda policy: (policy.created_at, policy.id), reverse=True)
        return PolicyPage(mine[offset : offset + limit], len(mine))

    def active_policies(self, tenant_id: str) -> Sequence[RetentionPolicy]:
        self._uow.check_tenant(tenant_id)
        return sorted(
            (p for (t, _), p in self._uow.state().policies.items() if t == tenant_id and p.active),
            key=lambda policy: policy.id,
        )

    def add_hold(self, hold: LegalHold) -> None:
        self._uow.check_tenant(hold.tenant_id)
        state = self._uow.state()
        if (hold.tenant_id, hold.invoice_id) not in state.invoices:
            raise errors.invoice_not_found(hold.invoice_id)
        if any(
            h.tenant_id == hold.tenant_id and h.invoice_id == hold.invoice_id and h.active
            for h in state.holds.values()
        ):
            raise hold_already_active(hold.invoice_id)
        if (hold.tenant_id, hold.id) in state.holds:
            raise errors.concurrent_update()
        state.holds[(hold.tenant_id, hold.id)] = hold

    def get_hold(self, tenant_id: str, hold_id: str) -> LegalHold | None:
        self._uow.check_tenant(tenant_id)
        return self._uow.state().holds.get((tenant_id, hold_id))

    def release_hold(self, hold: LegalHold) -> None:
        self._uow.check_tenant(hold.tenant_id)
        holds = self._uow.state().holds
        current = holds.get((hold.tenant_id, hold.id))
        if current is None or not current.active:
            raise hold_already_released()
        holds[(hold.tenant_id, hold.id)] = attrs.evolve(
            current,
            released_at=hold.released_at,
            released_by=hold.released_by,
            release_reason=hold.release_reason,
        )

    def active_holds(self, tenant_id: str, invoice_ids: Collection[str]) -> Sequence[LegalHold]:
        self._uow.check_tenant(tenant_id)
        wanted = set(invoice_ids)
        return [
            h
            for (t, _), h in self._uow.state().holds.items()
            if t == tenant_id and h.active and h.invoice_id in wanted
        ]

    def holds(self, query: HoldsQuery, tenant_id: str) -> HoldPage:
        self._uow.check_tenant(tenant_id)
        mine = [
            h
            for (t, _), h in self._uow.state().holds.items()
            if t == tenant_id and query.invoice_id in (None, h.invoice_id)
        ]
        mine.sort(key=lambda hold: (hold.placed_at, hold.id), reverse=True)
        return HoldPage(mine[query.offset : query.offset + query.limit], len(mine))

    def lock_invoice(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        self._uow.check_tenant(tenant_id)  # units of the fake run one at a time
        return self._uow.state().invoices.get((tenant_id, invoice_id))

    def closed_invoices(
        self, tenant_id: str, closed_before: datetime, after_id: str | None, limit: int
    ) -> Sequence[ClosedInvoice]:
        self._uow.check_tenant(tenant_id)
        state = self._uow.state()
        found = []
        for (tenant, invoice_id), invoice in sorted(state.invoices.items()):
            if tenant != tenant_id or (after_id is not None and invoice_id <= after_id):
                continue
            if not present_fields(invoice):
                continue
            closed_at = invoice.deleted_at
            if closed_at is None and invoice.status in TERMINAL:
                steps = state.transitions.get((tenant, invoice_id), ())
                ends = [step.at for step in steps if step.to_status in TERMINAL]
                closed_at = max(ends) if ends else None
            if closed_at is not None and closed_at <= closed_before:
                found.append(ClosedInvoice(invoice, closed_at))
        return found[:limit]

    def erase_pii(self, invoice: Invoice, expected_version: int) -> None:
        self._uow.check_tenant(invoice.tenant_id)
        state = self._uow.state()
        current = state.invoices.get((invoice.tenant_id, invoice.id))
        if current is None or current.version != expected_version:
            raise errors.stale_invoice()
        state.put_invoice(
            attrs.evolve(
                current,
                draft=attrs.evolve(
                    current.draft,
                    buyer_name=invoice.draft.buyer_name,
                    buyer_email=invoice.draft.buyer_email,
                    buyer_tax_id=invoice.draft.buyer_tax_id,
                ),
                version=invoice.version,
                updated_at=invoice.updated_at,
            )
        )


def _replaceable(record: IdempotencyRecord, now: datetime) -> bool:
    abandoned = record.state is IdempotencyState.IN_PROGRESS and record.locked_until <= now
    return record.expires_at <= now or abandoned
