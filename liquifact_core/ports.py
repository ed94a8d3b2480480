"""Ports: what the core needs from the outside world, as Protocols adapters implement."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import BinaryIO, Protocol, Self

import attrs

from liquifact_core.audit import AuditEvent
from liquifact_core.audit_export import AuditRecord
from liquifact_core.changes import Change
from liquifact_core.commitments import (
    Commitment,
    CommitmentListing,
    CommitmentPage,
    CommitmentQuery,
    LockPage,
)
from liquifact_core.documents import InvoiceFile
from liquifact_core.idempotency import IdempotencyRecord, RecordedOutcome
from liquifact_core.indexing import EscrowProjection, IndexerCursor, IndexerProgress, LinkedEscrow
from liquifact_core.invoices import Invoice, Transition
from liquifact_core.jobs import Backoff, Job, JobCounts, JobFailure, JobPage, JobQuery
from liquifact_core.kyc import KycChange, KycRecord, KycRole, KycStatus, ProviderAnswer
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.marketplace import MarketplacePage, MarketplaceQuery
from liquifact_core.profiles import SmeProfile
from liquifact_core.reconciliation import ReconciliationRun, RunPage
from liquifact_core.reminders import (
    Contact,
    DueInvoice,
    MailMessage,
    MaturityReminder,
    ReminderContent,
    ReminderDeadLetter,
    RenderedMail,
)
from liquifact_core.retention import (
    ClosedInvoice,
    HoldPage,
    HoldsQuery,
    LegalHold,
    PolicyPage,
    RetentionPolicy,
)
from liquifact_core.wallets import WalletBinding, WalletPage
from liquifact_core.webhook_endpoints import WebhookEndpoint, WebhookUrl


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdGenerator(Protocol):
    def new_id(self, prefix: str) -> str:
        """A new unique, time-sortable id starting with ``prefix``."""
        ...


@attrs.frozen
class InvoiceQuery:
    """A tenant-scoped listing of invoices, newest first."""

    tenant_id: str
    statuses: frozenset[InvoiceStatus] = frozenset()
    sme_id: str | None = None
    limit: int = 20
    offset: int = 0


@attrs.frozen
class Page:
    items: Sequence[Invoice]
    total: int


@attrs.frozen
class StatusTotals:
    """Live invoices of one status and currency: how many, and their summed amounts."""

    status: InvoiceStatus
    currency: str
    count: int
    amount: Decimal  # exact sum of the invoice amounts, in ``currency``
    funding_target_stroops: int  # sum over linked invoices
    funded_stroops: int


class InvoiceRepository(Protocol):
    def add(self, invoice: Invoice) -> None:
        """Store a new invoice; Conflict (DUPLICATE_INVOICE_NUMBER) if the same SME of the tenant
        has a live invoice whose number has the same canonical form
        (``invoice_numbers.canonical_invoice_number``); other SMEs' numbers never clash.
        Conflict (ESCROW_ALREADY_LINKED, ``errors.escrow_already_linked``) if its escrow
        address is already any other stored invoice's, in any tenant."""
        ...

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        """The live (not deleted) invoice of this tenant, or None."""
        ...

    def update(self, invoice: Invoice, expected_version: int) -> None:
        """Replace the stored invoice if still at ``expected_version``; else StaleVersion. A
        changed number or escrow address follows the rules of ``add`` (Conflict
        DUPLICATE_INVOICE_NUMBER, ESCROW_ALREADY_LINKED); nothing is written then."""
        ...

    def list(self, query: InvoiceQuery) -> Page:
        """Live invoices matching the query, newest first, with the total count."""
        ...

    def add_transition(self, step: Transition) -> None:
        """Append one step to the invoice's history."""
        ...

    def history(self, tenant_id: str, invoice_id: str) -> Sequence[Transition]:
        """The invoice's transitions in the order they happened."""
        ...

    def marketplace(self, query: MarketplaceQuery) -> MarketplacePage:
        """Live investable invoices matching the filters, ordered by (sort value, id) in the
        query's order, strictly after ``query.after`` if set, skipping ``query.offset`` rows;
        at most ``query.limit`` items, ``has_more`` when another row follows, and the count of
        every matching row if ``query.with_total``. Each item carries the invoice's issuer
        (the SME profile of its ``sme_id``, or None), read in the same query; a ``search``
        filter compares the stored folded keys of buyer names and display names.
        ``marketplace.page_in_memory`` is the reference semantics."""
        ...

    def status_totals(self, tenant_id: str, sme_id: str | None) -> Sequence[StatusTotals]:
        """Counts and exact sums of live invoices per (status, currency); one SME's if
        ``sme_id`` is set, else the whole tenant's. Groups with no invoice are left out."""
        ...


class CommitmentRepository(Protocol):
    def add(self, commitment: Commitment) -> None:
        """Store a new commitment; Conflict (DUPLICATE_COMMITMENT) if its id is taken."""
        ...

    def get(self, tenant_id: str, commitment_id: str) -> Commitment | None:
        """One commitment of this tenant, or None."""
        ...

    def update(self, commitment: Commitment) -> None:
        """Write status, submission status, tx hash and updated_at; the amount, investor and
        invoice are never rewritten. NotFound if the commitment does not exist."""
        ...

    def pending_total_for_update(self, tenant_id: str, invoice_id: str) -> int:
        """The summed amount of the invoice's pending commitments. Serialises: until this unit
        ends, no other unit can add a commitment to the invoice or change its funding (SQLite:
        BEGIN IMMEDIATE already; PostgreSQL: lock the invoice row FOR UPDATE first)."""
        ...

    def release_pending(
        self, tenant_id: str, invoice_id: str, at: datetime
    ) -> Sequence[Commitment]:
        """Mark every pending commitment of the invoice ``released`` (``updated_at`` = ``at``)
        and return them as now stored, ordered by id; serialised with funding as
        ``pending_total_for_update`` is. For an invoice reaching a terminal state."""
        ...

    def list(self, listing: CommitmentListing) -> CommitmentPage:
        """The tenant's commitments matching the listing's investor, invoice and statuses,
        newest first (``created_at`` descending, then id descending in code point order),
        skipping ``offset`` and at most ``limit``; with the count of every match.
        ``commitments.list_in_memory`` is the reference semantics."""
        ...

    def locks(self, query: CommitmentQuery) -> LockPage:
        """Pending and confirmed commitments grouped per (invoice, investor), joined with the
        invoice's yield and maturity, ordered by invoice id then investor; with the total
        number of groups."""
        ...


class IdempotencyRepository(Protocol):
    def claim(self, record: IdempotencyRecord, now: datetime) -> IdempotencyRecord | None:
        """Insert ``record`` (in progress) unless a live record holds its (tenant, key): then
        return that record and change nothing. A record expired at ``now``, or an in-progress
        one whose ``locked_until`` passed (its holder died), is replaced."""
        ...

    def complete(self, tenant_id: str, key: str, claim_id: str, outcome: RecordedOutcome) -> None:
        """Store ``outcome`` on the in-progress claim ``claim_id`` and mark it completed;
        Conflict (IDEMPOTENCY_REQUEST_IN_PROGRESS) if that claim no longer exists. ``get``
        and ``claim`` return the outcome equal to the one stored."""
        ...

    def release(self, tenant_id: str, key: str, claim_id: str) -> None:
        """Delete the in-progress claim ``claim_id`` (the request failed unexpectedly)."""
        ...

    def get(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        """The record under (tenant, key), expired or not, or None."""
        ...


class AuditLog(Protocol):
    def append(self, event: AuditEvent) -> None:
        """Record an event; events are never changed or removed."""
        ...

    def for_resource(
        self, tenant_id: str, resource_type: str, resource_id: str
    ) -> Sequence[AuditEvent]:
        """The events about one resource, oldest first."""
        ...

    def invoice_trail(
        self, tenant_id: str, invoice_id: str, after: int | None, limit: int
    ) -> Sequence[AuditRecord]:
        """The events about one invoice (``AuditEvent.invoice_id``) in append order (position
        ascending), strictly after position ``after`` if set, at most ``limit``."""
        ...

    def count_invoice_trail(self, tenant_id: str, invoice_id: str) -> int:
        """How many events are about the invoice."""
        ...

    def stream_invoice_trail(
        self, tenant_id: str, invoice_id: str, chunk_size: int
    ) -> Iterator[Sequence[AuditRecord]]:
        """Every event about the invoice in append order, as chunks of at most ``chunk_size``
        records read from one database cursor as they are consumed (PostgreSQL: a server-side
        cursor; SQLite: fetchmany), never all rows at once. Valid while this unit is open;
        the tenant filter is in the query, so no other tenant's row is read."""
        ...


class RetentionRepository(Protocol):
    """A tenant's retention policies and legal holds (``liquifact_core.retention``), and the
    retention side of its invoices: which closed invoices still hold personal data, and
    erasing it."""

    def add_policy(self, policy: RetentionPolicy) -> None:
        """Store a new policy; Conflict RETENTION_POLICY_NAME_TAKEN if the tenant has a policy
        of that name."""
        ...

    def get_policy(self, tenant_id: str, policy_id: str) -> RetentionPolicy | None:
        """One policy of this tenant, or None."""
        ...

    def update_policy(self, policy: RetentionPolicy, expected_version: int) -> None:
        """Replace the stored policy if still at ``expected_version`` (else Conflict
        CONCURRENT_UPDATE, retryable); RETENTION_POLICY_NAME_TAKEN as ``add_policy``."""
        ...

    def policies(self, tenant_id: str, limit: int, offset: int) -> PolicyPage:
        """The tenant's policies, newest first (created_at, then id, descending), with their
        total."""
        ...

    def active_policies(self, tenant_id: str) -> Sequence[RetentionPolicy]:
        """The tenant's active policies, by id."""
        ...

    def add_hold(self, hold: LegalHold) -> None:
        """Store a new active hold; Conflict LEGAL_HOLD_ACTIVE if the invoice has one (a
        unique index decides, so of two placed at once exactly one is stored)."""
        ...

    def get_hold(self, tenant_id: str, hold_id: str) -> LegalHold | None:
        """One hold of this tenant, or None."""
        ...

    def release_hold(self, hold: LegalHold) -> None:
        """Store the release of an active hold (only the release fields are written);
        Conflict LEGAL_HOLD_RELEASED if it was released meanwhile."""
        ...

    def active_holds(self, tenant_id: str, invoice_ids: Collection[str]) -> Sequence[LegalHold]:
        """The active holds of these invoices."""
        ...

    def holds(self, query: HoldsQuery, tenant_id: str) -> HoldPage:
        """The tenant's holds (of ``query.invoice_id`` if set), newest first (placed_at, then
        id, descending), with their total."""
        ...

    def lock_invoice(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        """The invoice, live or soft-deleted, or None; in a unit of work its row is locked
        until the unit ends (PostgreSQL: FOR UPDATE), so placing a hold and purging the
        invoice run one after the other."""
        ...

    def closed_invoices(
        self, tenant_id: str, closed_before: datetime, after_id: str | None, limit: int
    ) -> Sequence[ClosedInvoice]:
        """Closed invoices (soft-deleted, or in a terminal status) that closed at or before
        ``closed_before`` and still hold a buyer e-mail, tax id or a name that is not the
        purge marker; ordered by id (code point order), strictly after ``after_id`` if set,
        at most ``limit``. ``closed_at``: ``deleted_at``, else the terminal transition's time."""
        ...

    def erase_pii(self, invoice: Invoice, expected_version: int) -> None:
        """Write the buyer fields, version and updated_at of ``invoice`` (``retention.erase``)
        over the stored row if still at ``expected_version``, live or soft-deleted; else
        StaleVersion."""
        ...


class WalletRepository(Protocol):
    """The wallet directory of one tenant (``liquifact_core.wallets``)."""

    def add(self, binding: WalletBinding) -> None:
        """Bind a wallet; Conflict (WALLET_ALREADY_BOUND) if its address is bound already, in
        this tenant or any other (an address names at most one principal)."""
        ...

    def get(self, tenant_id: str, address: str) -> WalletBinding | None:
        """The binding of ``address`` in this tenant, or None."""
        ...

    def list(self, tenant_id: str, limit: int, offset: int) -> WalletPage:
        """The tenant's bindings ordered by address, with their total count."""
        ...

    def remove(self, tenant_id: str, address: str) -> bool:
        """Unbind ``address`` in this tenant; False if it was not bound here."""
        ...


class JobRepository(Protocol):
    """The outbox side of the job queue (``liquifact_core.jobs``): a tenant's jobs, written in
    the same transaction as the change that causes them, and read or requeued by its admins."""

    def enqueue(self, job: Job) -> None:
        """Store a new job (``jobs.new_job``); it becomes visible to workers when, and only
        if, this unit commits. Conflict (DUPLICATE_JOB) if its id is taken."""
        ...

    def get(self, tenant_id: str, job_id: str) -> Job | None:
        """One job of this tenant, or None."""
        ...

    def list(self, query: JobQuery) -> JobPage:
        """The tenant's jobs matching the query, newest first, keyset-paged by id
        (``jobs.page_in_memory`` is the reference semantics)."""
        ...

    def requeue(self, tenant_id: str, job_id: str, now: datetime) -> Job:
        """Give a dead letter a fresh set of attempts, due at ``now`` (``jobs.requeue``); the
        job as now stored. NotFound (JOB_NOT_FOUND) if the tenant has no such job, Conflict
        (JOB_NOT_DEAD) if it is not dead."""
        ...


class JobQueue(Protocol):
    """The worker side of the job queue, across tenants (a worker serves every tenant).

    Every state change is one of ``liquifact_core.jobs``'s rules, written only if the stored
    job still matches the one the rule was applied to (``Job.guard``): a worker that lost its
    lease (it expired and another worker claimed the job) changes nothing.
    """

    def claim(
        self,
        worker_id: str,
        job_types: Collection[str],
        limit: int,
        now: datetime,
        lease: timedelta,
    ) -> Sequence[Job]:
        """Lease up to ``limit`` due jobs of the given types to ``worker_id`` until
        ``now + lease`` (``jobs.claim``), oldest due first, and return them running. Due:
        pending with ``run_after <= now``, or running with an expired lease. A job whose lease
        expired after its last attempt is dead-lettered instead (and not returned). Concurrent
        claimers never get the same job (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: the
        write lock; memory: a lock)."""
        ...

    def complete(self, job: Job, now: datetime) -> Job | None:
        """Mark the claimed ``job`` succeeded (``jobs.complete``); the job as stored, or None
        if this worker no longer holds it."""
        ...

    def fail(
        self,
        job: Job,
        failure: JobFailure,
        now: datetime,
        backoff: Backoff,
        secrets: Iterable[str] = (),
    ) -> Job | None:
        """Record a failed attempt of the claimed ``job`` (``jobs.fail``: retry after a backoff
        or dead-letter); the job as stored, or None if this worker no longer holds it."""
        ...

    def counts(self, now: datetime) -> Mapping[str, JobCounts]:
        """The gauges per job type at ``now`` (``jobs.count_jobs`` is the reference), for the
        types that have jobs."""


class ProfileRepository(Protocol):
    """The SME profiles of one tenant (``liquifact_core.profiles``)."""

    def get(self, tenant_id: str, subject: str) -> SmeProfile | None:
        """The profile of the SME ``subject`` of this tenant, or None."""
        ...

    def upsert(self, profile: SmeProfile) -> None:
        """Store ``profile``, replacing the SME's earlier one if any; the folded display name
        (``SmeProfile.display_name_key``) is stored with it for marketplace searches."""
        ...


class WebhookRepository(Protocol):
    """Each tenant's webhook endpoint (``liquifact_core.webhook_endpoints``): at most one."""

    def get(self, tenant_id: str) -> WebhookEndpoint | None:
        """The tenant's endpoint, or None."""
        ...

    def lock(self, tenant_id: str) -> WebhookEndpoint | None:
        """The tenant's endpoint, or None, its row locked until this unit ends, so two
        units changing it (a URL change and a secret rotation) run one after the other
        (PostgreSQL: FOR UPDATE; SQLite and in-memory units are serialised already)."""
        ...

    def add(self, endpoint: WebhookEndpoint) -> None:
        """Store the tenant's first endpoint; Conflict (CONCURRENT_UPDATE, retryable) if one
        was stored meanwhile (two first-time creations at once: one wins)."""
        ...

    def put(self, endpoint: WebhookEndpoint) -> None:
        """Store ``endpoint``, replacing the tenant's earlier one."""
        ...

    def remove(self, tenant_id: str) -> bool:
        """Delete the tenant's endpoint; False if it had none."""
        ...


class ReconciliationRepository(Protocol):
    """A tenant's reconciliation runs and their per-invoice results
    (``liquifact_core.reconciliation``), kept server-side for its admins."""

    def add(self, run: ReconciliationRun) -> None:
        """Store a run with its results; Conflict (DUPLICATE_RECONCILIATION_RUN) if its id is
        taken."""
        ...

    def get(self, tenant_id: str, run_id: str) -> ReconciliationRun | None:
        """One run of this tenant with its results (ordered by invoice id), or None."""
        ...

    def list(self, tenant_id: str, limit: int, offset: int) -> RunPage:
        """The tenant's runs without their results, newest first (``started_at`` descending,
        then id descending in code point order), skipping ``offset``, at most ``limit``; with
        the tenant's number of runs."""


class EscrowProjectionRepository(Protocol):
    """The escrow indexer's state of one tenant (``liquifact_core.indexing``): one projection
    per invoice and the tenant's indexer cursor, written in the unit that changes the
    invoices, so the cursor, the projections and the states commit together."""

    def get(self, tenant_id: str, invoice_id: str) -> EscrowProjection | None:
        """The invoice's projection, or None before its escrow was first read."""
        ...

    def put(self, projection: EscrowProjection) -> None:
        """Store ``projection``, replacing the invoice's earlier one."""
        ...

    def cursor(self, tenant_id: str) -> IndexerCursor | None:
        """The tenant's indexer cursor, or None before its first pass."""
        ...

    def put_cursor(self, cursor: IndexerCursor, *, replacing: IndexerCursor | None) -> None:
        """Store the tenant's cursor in place of ``replacing``, the cursor the caller read
        before it read the chain (None: the tenant had none). Conflict CONCURRENT_UPDATE
        (retryable) when the stored cursor is no longer that one, by position (``cursor``
        and ``ledger``): another pass committed in between, and this unit must not commit
        (its events may be older than the stored cursor, or already applied)."""
        ...


class KycRepository(Protocol):
    """The KYC records of one tenant's subjects and their history (``liquifact_core.kyc``),
    and the ledger of provider webhook events already applied (across tenants)."""

    def get(self, tenant_id: str, subject: str) -> KycRecord | None:
        """The subject's record, or None."""
        ...

    def add(self, record: KycRecord) -> None:
        """Store the subject's first record; Conflict (CONCURRENT_UPDATE, retryable) if one
        was stored meanwhile (``kyc.kyc_record_exists``)."""
        ...

    def update(self, record: KycRecord, expected_version: int) -> None:
        """Replace the stored record if it is still at ``expected_version``; else Conflict
        CONCURRENT_UPDATE (retryable). The reference and subject never change."""
        ...

    def add_change(self, change: KycChange) -> None:
        """Append one step to the subject's history (append-only); Conflict
        CONCURRENT_UPDATE if its sequence is taken."""
        ...

    def history(self, tenant_id: str, subject: str) -> Sequence[KycChange]:
        """The subject's history, oldest first (by sequence)."""
        ...

    def redeem_event(self, event_id: str, received_at: datetime, expires_at: datetime) -> bool:
        """Record that the provider event ``event_id`` was applied; False if it was recorded
        already (by any tenant's unit: event ids are the provider's, global). It is part of
        this unit: rolled back with it. The record may be purged after ``expires_at``."""
        ...


class ReminderRepository(Protocol):
    """A tenant's maturity reminders and their dead letters (``liquifact_core.reminders``)."""

    def due_invoices(self, tenant_id: str, start: date, end: date) -> Sequence[DueInvoice]:
        """The tenant's live invoices in ``reminders.REMINDED_STATES`` maturing from ``start``
        to ``end`` (inclusive), ordered by maturity date then id."""
        ...

    def investor_subjects(self, tenant_id: str, invoice_id: str) -> Sequence[str]:
        """The distinct subjects (``actor_id``) of the invoice's pending and confirmed
        commitments, sorted."""
        ...

    def add(self, reminder: MaturityReminder) -> bool:
        """Store a planned reminder; False (and nothing changes) when the (tenant, invoice,
        recipient) reminder exists already, whatever its status."""
        ...

    def get(self, tenant_id: str, invoice_id: str, recipient: str) -> MaturityReminder | None:
        """One reminder, or None."""
        ...

    def update(self, reminder: MaturityReminder) -> None:
        """Write the reminder's status, ``updated_at``, ``sent_at`` and ``dry_run``."""
        ...

    def add_dead_letter(self, letter: ReminderDeadLetter) -> None:
        """Append one row to ``maturity_reminder_dead_letters``."""
        ...

    def dead_letters(self, tenant_id: str, limit: int, offset: int) -> Sequence[ReminderDeadLetter]:
        """The tenant's dead letters, newest first (``created_at`` then id, descending)."""
        ...


class ContactRepository(Protocol):
    """Where a tenant's subjects receive notices (``reminders.Contact``)."""

    def get(self, tenant_id: str, subject: str) -> Contact | None:
        """The subject's contact, or None."""
        ...

    def put(self, contact: Contact) -> None:
        """Store the subject's contact, replacing an earlier one."""
        ...


class SecretBox(Protocol):
    """Seals webhook secrets for storage and opens them for signing (authenticated
    encryption: a changed or foreign token does not open)."""

    def seal(self, secret: str) -> str:
        """An opaque ASCII token of ``secret``, safe to store."""
        ...

    def open(self, token: str) -> str:
        """The secret ``seal`` sealed into ``token``; ValueError if it cannot be opened (a
        different key, or a damaged token). Never puts the secret in an error text."""
        ...


class AddressPolicy(Protocol):
    """Where a webhook may be sent: resolves a checked URL's host and refuses it unless every
    address is allowed (``webhook_endpoints.address_allowed``), at save time and again at
    delivery time (DNS rebinding)."""

    def check(self, url: WebhookUrl) -> None:
        """ValidationError WEBHOOK_URL_BLOCKED (an address is not public) or
        WEBHOOK_HOST_UNRESOLVED (the name does not resolve), on field ``url``."""
        ...


class InvoiceFileRepository(Protocol):
    """The documents of a tenant's invoices (``liquifact_core.documents``); the bytes live in
    the ``ObjectStore``, these rows say which objects count for which invoice."""

    def add(self, file: InvoiceFile) -> None:
        """Store a new file row; Conflict (DUPLICATE_FILE) if its id or object key is taken."""
        ...

    def get(self, tenant_id: str, invoice_id: str, file_id: str) -> InvoiceFile | None:
        """One file of this invoice of this tenant, pending or stored, or None."""
        ...

    def list(self, tenant_id: str, invoice_id: str) -> Sequence[InvoiceFile]:
        """Every file of the invoice, pending or stored, oldest first (``created_at``, then
        id)."""
        ...

    def mark_stored(self, file: InvoiceFile) -> bool:
        """Write ``file`` (now ``stored``: measured size and hash, ``stored_at``) over the
        row only if that row is still ``pending``; False (nothing written) otherwise."""
        ...

    def set_primary(self, tenant_id: str, invoice_id: str, file_id: str | None) -> None:
        """Make ``file_id`` the invoice's only primary file (None: no file is primary)."""
        ...

    def remove(self, tenant_id: str, invoice_id: str, file_id: str) -> InvoiceFile | None:
        """Delete one file row if it is still ``pending``; the row deleted, or None."""
        ...

    def remove_invoice(self, tenant_id: str, invoice_id: str) -> Sequence[InvoiceFile]:
        """Delete every file row of the invoice; the rows deleted."""
        ...


class ObjectReader(Protocol):
    """An object's bytes, read a chunk at a time."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; b"" at the end."""
        ...


class ObjectStore(Protocol):
    """Where invoice documents' bytes live, by object key (``documents.object_key``).

    Every call may block on disk or network: callers never hold a unit of work across one.
    Failures of the storage itself raise Unavailable (retryable) whose message names no
    bucket, host, key id or secret; the driver's error is only the ``__cause__``.
    """

    def put(self, key: str, source: BinaryIO, size: int, content_type: str) -> None:
        """Store the ``size`` bytes ``source`` holds from its current position under ``key``
        (replacing any object there), reading them in chunks: never the whole file at once."""
        ...

    def open(self, key: str) -> AbstractContextManager[ObjectReader]:
        """The object's bytes, to read in chunks inside the ``with`` block; NotFound
        (OBJECT_NOT_FOUND) when no object has this key."""
        ...

    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object if it exists (idempotent)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix`` (idempotent); how many."""
        ...

    def upload_url(self, key: str, content_type: str, size: int, expires_at: datetime) -> str:
        """A URL that accepts one ``PUT`` of exactly ``size`` bytes of ``content_type`` to
        ``key`` until ``expires_at``, needing no other credential. It may be relative
        (``/v1/objects/...``: served by this API) or absolute (an S3 presigned URL)."""
        ...

    def download_url(self, key: str, filename: str, content_type: str, expires_at: datetime) -> str:
        """A URL that answers ``GET`` with the object (as an attachment named ``filename``)
        until ``expires_at``; relative or absolute as ``upload_url``."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``with`` block without ``commit()`` rolls back."""

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

    def __enter__(self) -> Self:
        """Begin the transaction."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed, and release the connection."""
        ...

    def commit(self) -> None:
        """Make every change of this unit durable at once."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, tenant_id: str) -> UnitOfWork:
        """A new unit of work acting for one tenant."""
        ...


class ChangeListener(Protocol):
    """Hears what the use cases changed, after each commit (``liquifact_core.changes``)."""

    def changed(self, change: Change) -> None:
        """React to one committed change. Must not raise: the change is already durable, so
        a failure here cannot undo it (report it and carry on)."""
        ...


class Cache(Protocol):
    """A shared response/read cache. Errors must never fail the caller: adapters swallow them."""

    def get(self, key: str) -> bytes | None:
        """The fresh value under ``key``, or None."""
        ...

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_seconds``."""
        ...

    def invalidate_prefix(self, prefix: str) -> None:
        """Drop every entry whose key starts with ``prefix``."""
        ...

    def close(self) -> None:
        """Release connections (``Services.close`` calls it); safe to call twice."""
        ...


class Store(Protocol):
    """A persistence backend as a whole: units of work plus its own health and lifecycle."""

    @property
    def job_queue(self) -> JobQueue:
        """The workers' side of the job queue (``JobQueue``), across tenants."""
        ...

    def unit_of_work(self, tenant_id: str) -> UnitOfWork:
        """A new unit of work acting for one tenant."""
        ...

    def read_unit(self, tenant_id: str) -> UnitOfWork:
        """A unit of work for reads only: one consistent snapshot that neither waits for nor
        blocks writers and other readers (SQLite: a deferred transaction in WAL mode;
        PostgreSQL: READ ONLY). Writes through it fail."""
        ...

    def ping(self) -> None:
        """Raise Unavailable unless a unit of work could start now, within a short timeout:
        the store answers, its schema is current, and (SQLite) its write lock can be taken.
        A readiness probe calls it, so it must not wait as long as a unit of work does."""
        ...

    def purge_expired_idempotency(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` idempotency records of any tenant that expired at or before
        ``now``; returns how many. A maintenance operation, outside any tenant's unit."""
        ...

    def wallet_binding(self, address: str) -> WalletBinding | None:
        """The binding of ``address`` in whichever tenant holds it, or None: what a wallet that
        proved control of its account signs in as. Outside any tenant's unit (PostgreSQL: a
        SECURITY DEFINER function that returns that one row)."""
        ...

    def redeem_challenge(self, digest: str, expires_at: datetime) -> bool:
        """Record that the sign-in challenge ``digest`` (its transaction hash, hex) was used;
        False if it was recorded already. A unique key decides, so of two concurrent
        redemptions exactly one gets True. The record may be purged after ``expires_at``."""
        ...

    def purge_expired_challenges(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` challenge records whose ``expires_at`` is at or before
        ``now`` (their challenges are refused by their time bounds anyway); how many."""
        ...

    def reconciliation_tenants(self) -> Sequence[str]:
        """The tenants that have a live invoice in a status reconciliation compares
        (``reconciliation.RECONCILED_STATUSES``), sorted: what the nightly run visits. Tenant
        ids only; a maintenance operation outside any tenant's unit (PostgreSQL: a SECURITY
        DEFINER function that returns nothing else)."""

    def linked_escrows(self) -> Sequence[LinkedEscrow]:
        """Every live invoice of any tenant in ``indexing.INDEXED_STATES`` with an escrow
        address, ordered by tenant then invoice id: what the indexer reads. A maintenance
        operation outside any tenant's unit (PostgreSQL: a SECURITY DEFINER function that
        returns these three columns only)."""
        ...

    def indexer_progress(self) -> IndexerProgress:
        """The oldest ledger and the oldest pass time over every tenant's indexer cursor
        (numbers only, across tenants; PostgreSQL: a SECURITY DEFINER function)."""
        ...

    def kyc_subject(self, reference: str) -> tuple[str, str] | None:
        """The (tenant, subject) of the KYC record with this reference, in whichever tenant
        holds it, or None: what a provider's webhook event names. Outside any tenant's unit
        (PostgreSQL: a SECURITY DEFINER function that returns those two columns only)."""
        ...

    def purge_kyc_events(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` remembered KYC webhook events that expired at or before
        ``now`` (their signatures are refused by their timestamps anyway); how many."""
        ...

    def reminder_tenants(self, start: date, end: date) -> Sequence[str]:
        """The tenants with a live invoice in ``reminders.REMINDED_STATES`` maturing from
        ``start`` to ``end``, sorted: what the daily reminder run visits. Tenant ids only
        (PostgreSQL: a SECURITY DEFINER function that returns nothing else)."""
        ...

    def retention_tenants(self) -> Sequence[str]:
        """The tenants that have an active retention policy, sorted: what the daily purge
        visits. Tenant ids only; a maintenance operation outside any tenant's unit
        (PostgreSQL: a SECURITY DEFINER function that returns nothing else)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


class Mailer(Protocol):
    """Sends e-mail (``liquifact_adapters.mail``). ``dry_run``: messages are logged, not
    sent (no SMTP_HOST)."""

    dry_run: bool

    def send(self, message: MailMessage) -> None:
        """Hand ``message`` to the mail server; return once it was accepted. Raises
        ``reminders.MailFailure`` (``permanent`` or not) when it was not; never a credential
        in the error text."""
        ...


class ReminderTemplates(Protocol):
    """Renders a maturity reminder from its templates (plain text and HTML)."""

    def render(self, content: ReminderContent) -> RenderedMail:
        """The subject line and both bodies of ``content`` (values escaped for HTML)."""
        ...


class KycProvider(Protocol):
    """An identity verification provider (``liquifact_adapters.kyc``). ``name``: ``mock`` for
    the in-memory mock (no provider configured), else the adapter's name. ``assumed_status``:
    the status of a subject without a KYC record (None: not started, they must be verified;
    the mock: its default policy)."""

    name: str
    assumed_status: KycStatus | None

    def submit(self, reference: str, subject: str, role: KycRole | None) -> ProviderAnswer:
        """Ask the provider to verify ``subject``, identified to it by our ``reference``
        (echoed in its events). Unavailable (retryable) when it cannot be asked now;
        ValidationError-free: a refusal by the provider is ``Unprocessable``."""
        ...

    def check(self) -> None:
        """Raise Unavailable unless the provider answers (readiness)."""
        ...
