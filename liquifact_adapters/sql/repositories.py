"""Repository logic written once for both SQL dialects (abstract bases, as in
pyeventsourcing's SQLite and PostgreSQL recorders): each dialect subclass supplies its row
converter, its statements where the SQL differs, and the few queries that really differ.

Domain errors come from the factories in ``liquifact_core.errors``, so every store raises the
same code and message for the same fault (tests/contract checks both).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

from liquifact_adapters.sql.rows import Params, Row, RowConverter, marketplace_params
from liquifact_adapters.sql.statements import MarketplacePages
from liquifact_core import errors
from liquifact_core.audit import AuditEvent, redacted
from liquifact_core.audit_export import AuditRecord
from liquifact_core.commitments import (
    Commitment,
    CommitmentListing,
    CommitmentPage,
    CommitmentQuery,
    LockPage,
)
from liquifact_core.idempotency import IdempotencyRecord, RecordedOutcome, claim_lost
from liquifact_core.invoices import Invoice, Transition
from liquifact_core.marketplace import MarketplacePage, MarketplaceQuery, maintained_statuses
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
from liquifact_core.totals import FilteredTotals

# The per-table modules build on this module's Session (and ConstraintViolation), so they are
# imported for types only.
if TYPE_CHECKING:
    from liquifact_adapters.sql.escrows import SqlEscrowProjectionRepository
    from liquifact_adapters.sql.files import SqlInvoiceFileRepository
    from liquifact_adapters.sql.jobs import SqlJobRepository
    from liquifact_adapters.sql.kyc import SqlKycRepository
    from liquifact_adapters.sql.profiles import SqlProfileRepository
    from liquifact_adapters.sql.reconciliation import SqlReconciliationRepository
    from liquifact_adapters.sql.reminders import SqlContactRepository, SqlReminderRepository
    from liquifact_adapters.sql.retention import SqlRetentionRepository
    from liquifact_adapters.sql.wallets import SqlWalletRepository
    from liquifact_adapters.sql.webhooks import SqlWebhookRepository

ViolationKind = Literal["primary_key", "unique", "foreign_key", "other"]

# The unique index of migration 0005 (same name in both dialects): one escrow contract links
# to at most one invoice, across tenants.
ESCROW_ADDRESS_KEY = "invoices_escrow_address_key"


class ConstraintViolation(Exception):
    """A write the database refused for a constraint, in driver-neutral terms; the driver's
    error is the ``__cause__``. ``unique`` is any unique index but the primary key.
    ``constraint`` names the index when the dialect can tell which one it was and a caller
    needs to know (``ESCROW_ADDRESS_KEY``), else None."""

    def __init__(self, kind: ViolationKind, constraint: str | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.constraint = constraint


class Session(Protocol):
    """What repositories need from their unit of work."""

    @property
    def read_only(self) -> bool:
        """True for a read unit: no writes, no row locks."""
        ...

    @property
    def totals(self) -> FilteredTotals:
        """The store's filtered marketplace totals, shared by all its units."""
        ...

    def check_tenant(self, tenant_id: str) -> None:
        """PermissionError unless the unit acts for ``tenant_id``."""
        ...

    def fetch_all(self, sql: str, params: Params) -> list[Row]:
        """The rows of a statement, as mappings by column name; infrastructure failures
        arrive as core errors (Unavailable, retryable Conflict)."""
        ...

    def write(self, sql: str, params: Params) -> int:
        """Run a write and return its row count. A refused write raises ConstraintViolation
        and leaves the rest of the unit usable."""
        ...

    def stream(self, sql: str, params: Params, chunk_size: int) -> Generator[list[Row], None, None]:
        """The rows of a query as lists of at most ``chunk_size``, fetched from one database
        cursor as they are consumed (never all at once); closing the iterator closes the
        cursor. Valid while the unit is open."""
        ...


class _Repository:
    rows: ClassVar[RowConverter]

    def __init__(self, session: Session) -> None:
        self._session = session

    def _one(self, sql: str, params: Params) -> Row | None:
        found = self._session.fetch_all(sql, params)
        return found[0] if found else None


class SqlInvoiceRepository(_Repository, ABC):
    """``InvoiceRepository`` over a SQL session."""

    INSERT: ClassVar[str]
    UPDATE: ClassVar[str]
    SELECT: ClassVar[str]
    SELECT_FOR_WRITE: ClassVar[str]  # the dialect's row lock for read-check-write, if any
    LIST: ClassVar[str]
    COUNT: ClassVar[str]
    # The maintained totals of LIST (migration 0016): the tenant's, and one SME's.
    COUNT_MAINTAINED: ClassVar[str]
    COUNT_MAINTAINED_SME: ClassVar[str]
    INSERT_TRANSITION: ClassVar[str]
    SELECT_HISTORY: ClassVar[str]
    MARKET_PAGES: ClassVar[MarketplacePages]
    MARKET_COUNT: ClassVar[str]
    # The count of a search by name (``filters.search``): it needs the issuers' profiles.
    MARKET_COUNT_SEARCH: ClassVar[str]
    # The tenant's marketplace generation as rows of (slot, generation) (migration 0016).
    MARKET_GENERATION: ClassVar[str]

    def add(self, invoice: Invoice) -> None:
        self._session.check_tenant(invoice.tenant_id)
        try:
            self._session.write(self.INSERT, self.rows.invoice_params(invoice))
        except ConstraintViolation as violation:
            if violation.kind == "unique":
                raise _unique_invoice_error(invoice, violation) from None
            if violation.kind == "primary_key":
                raise errors.duplicate_invoice_id(invoice.id) from None
            raise

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        self._session.check_tenant(tenant_id)
        statement = self.SELECT if self._session.read_only else self.SELECT_FOR_WRITE
        row = self._one(statement, {"tenant_id": tenant_id, "id": invoice_id})
        return None if row is None else self.rows.invoice_from_row(row)

    def update(self, invoice: Invoice, expected_version: int) -> None:
        self._session.check_tenant(invoice.tenant_id)
        params = {**self.rows.invoice_params(invoice), "expected_version": expected_version}
        try:
            count = self._session.write(self.UPDATE, params)
        except ConstraintViolation as violation:
            if violation.kind == "unique":
                raise _unique_invoice_error(invoice, violation) from None
            raise
        if count != 1:
            raise errors.stale_invoice()

    def list(self, query: InvoiceQuery) -> Page:
        self._session.check_tenant(query.tenant_id)
        params = self.list_params(query)
        rows = self._session.fetch_all(self.LIST, params)
        return Page([self.rows.invoice_from_row(row) for row in rows], self._live_total(params))

    def _live_total(self, params: Params) -> int:
        """How many live invoices match ``params`` (``list_params``'s tenant, SME, statuses).

        A read unit sums the counters the triggers maintain (one snapshot, committed data:
        they agree with the rows it reads); a unit of work counts the rows, since its own
        changes may not be applied to the counters before it commits (PostgreSQL applies
        them at commit)."""
        if not self._session.read_only:
            statement = self.COUNT
        elif params["sme_id"] is None:
            statement = self.COUNT_MAINTAINED
        else:
            statement = self.COUNT_MAINTAINED_SME
        [count] = self._session.fetch_all(statement, params)
        return int(count["total"])

    def list_params(self, query: InvoiceQuery) -> Params:
        """Parameters of ``LIST`` and ``COUNT``."""
        return {
            "tenant_id": query.tenant_id,
            "any_status": not query.statuses,
            "statuses": self.status_set(tuple(sorted(status.value for status in query.statuses))),
            "sme_id": query.sme_id,
            "limit": query.limit,
            "offset": query.offset,
        }

    @abstractmethod
    def status_set(self, statuses: tuple[str, ...]) -> object:
        """A set of statuses as the dialect's ``status_in`` test binds it."""

    def add_transition(self, step: Transition) -> None:
        self._session.check_tenant(step.tenant_id)
        try:
            self._session.write(self.INSERT_TRANSITION, self.rows.transition_params(step))
        except ConstraintViolation as violation:
            if violation.kind == "primary_key":
                raise errors.duplicate_history_step() from None
            if violation.kind == "foreign_key":
                raise errors.invoice_not_found(step.invoice_id) from None
            raise

    def history(self, tenant_id: str, invoice_id: str) -> Sequence[Transition]:
        self._session.check_tenant(tenant_id)
        rows = self._session.fetch_all(
            self.SELECT_HISTORY, {"tenant_id": tenant_id, "invoice_id": invoice_id}
        )
        return [self.rows.transition_from_row(row) for row in rows]

    def marketplace(self, query: MarketplaceQuery) -> MarketplacePage:
        self._session.check_tenant(query.tenant_id)
        values = marketplace_params(query, self.rows)
        page_sql = self.MARKET_PAGES[(query.sort, query.order, query.after is not None)]
        rows = self._session.fetch_all(page_sql, values)
        total = self._market_total(query, values) if query.with_total else None
        return MarketplacePage(
            items=[self.rows.market_item_from_row(row) for row in rows[: query.limit]],
            has_more=len(rows) > query.limit,
            total=total,
        )

    def _market_total(self, query: MarketplaceQuery, values: Params) -> int:
        """The exact total of a marketplace search, ignoring its keyset and offset.

        Statuses alone (or no filter): the maintained counts of those investable statuses.
        Other filters, in a read unit: the count remembered in the store's ``FilteredTotals``
        for the filter set at the tenant's current generation, or else a count of the
        matching rows, then remembered. A unit of work always counts the rows."""
        statuses = maintained_statuses(query.filters)
        if statuses is not None:
            return self._live_total(
                {
                    "tenant_id": query.tenant_id,
                    "sme_id": None,
                    "any_status": False,
                    "statuses": self.status_set(tuple(sorted(status.value for status in statuses))),
                }
            )
        counting = self.MARKET_COUNT if query.filters.search is None else self.MARKET_COUNT_SEARCH
        if not self._session.read_only:
            return self._count(counting, values)
        generation = tuple(
            (int(row["slot"]), int(row["generation"]))
            for row in self._session.fetch_all(
                self.MARKET_GENERATION, {"tenant_id": query.tenant_id}
            )
        )
        filters = query.filters.canonical()
        total = self._session.totals.get(query.tenant_id, filters, generation)
        if total is None:
            total = self._count(counting, values)
            self._session.totals.put(query.tenant_id, filters, generation, total)
        return total

    def _count(self, statement: str, params: Params) -> int:
        [count] = self._session.fetch_all(statement, params)
        return int(count["total"])

    @abstractmethod
    def status_totals(self, tenant_id: str, sme_id: str | None) -> Sequence[StatusTotals]: ...


def _unique_invoice_error(invoice: Invoice, violation: ConstraintViolation) -> errors.Conflict:
    """The domain error for a unique index of ``invoices`` that refused ``invoice``: its escrow
    contract is linked to another invoice, or else (the only other one) its number is taken."""
    if violation.constraint == ESCROW_ADDRESS_KEY:
        return errors.escrow_already_linked()
    return errors.duplicate_invoice_number(invoice.draft.invoice_number)


class SqlAuditLog(_Repository):
    """``AuditLog`` over a SQL session. ``TRAIL`` and ``STREAM_TRAIL`` select
    ``<position> AS position, *`` (the dialect's append-order column) of an invoice's events
    (the ``invoice_id`` column of migration 0014)."""

    INSERT: ClassVar[str]
    SELECT: ClassVar[str]
    TRAIL: ClassVar[str]
    COUNT_TRAIL: ClassVar[str]
    STREAM_TRAIL: ClassVar[str]

    def append(self, event: AuditEvent) -> None:
        self._session.check_tenant(event.tenant_id)
        event = redacted(event)  # before storing, whoever built the event
        try:
            self._session.write(self.INSERT, self.rows.audit_params(event))
        except ConstraintViolation as violation:
            if violation.kind == "primary_key":
                raise errors.duplicate_audit_event(event.id) from None
            raise

    def for_resource(
        self, tenant_id: str, resource_type: str, resource_id: str
    ) -> Sequence[AuditEvent]:
        self._session.check_tenant(tenant_id)
        params = {
            "tenant_id": tenant_id,
            "resource_type": resource_type,
            "resource_id": resource_id,
        }
        return [
            self.rows.audit_from_row(row) for row in self._session.fetch_all(self.SELECT, params)
        ]

    def invoice_trail(
        self, tenant_id: str, invoice_id: str, after: int | None, limit: int
    ) -> Sequence[AuditRecord]:
        self._session.check_tenant(tenant_id)
        params = {
            "tenant_id": tenant_id,
            "invoice_id": invoice_id,
            "after": -1 if after is None else after,
            "limit": limit,
        }
        return [self._record(row) for row in self._session.fetch_all(self.TRAIL, params)]

    def count_invoice_trail(self, tenant_id: str, invoice_id: str) -> int:
        self._session.check_tenant(tenant_id)
        params = {"tenant_id": tenant_id, "invoice_id": invoice_id}
        [row] = self._session.fetch_all(self.COUNT_TRAIL, params)
        return int(row["total"])

    def stream_invoice_trail(
        self, tenant_id: str, invoice_id: str, chunk_size: int
    ) -> Iterator[Sequence[AuditRecord]]:
        self._session.check_tenant(tenant_id)
        params = {"tenant_id": tenant_id, "invoice_id": invoice_id}
        rows = self._session.stream(self.STREAM_TRAIL, params, chunk_size)
        try:
            for chunk in rows:
                yield [self._record(row) for row in chunk]
        finally:
            rows.close()

    def _record(self, row: Row) -> AuditRecord:
        return AuditRecord(int(row["position"]), self.rows.audit_from_row(row))


class SqlCommitmentRepository(_Repository, ABC):
    """``CommitmentRepository`` over a SQL session."""

    INSERT: ClassVar[str]
    UPDATE: ClassVar[str]
    SELECT: ClassVar[str]
    PENDING_TOTAL: ClassVar[str]
    RELEASE_PENDING: ClassVar[str]
    SELECT_LOCKS: ClassVar[str]
    COUNT_LOCKS: ClassVar[str]
    LIST: ClassVar[str]
    COUNT: ClassVar[str]

    def add(self, commitment: Commitment) -> None:
        self._session.check_tenant(commitment.tenant_id)
        try:
            self._session.write(self.INSERT, self.rows.commitment_params(commitment))
        except ConstraintViolation as violation:
            if violation.kind in ("primary_key", "unique"):
                raise errors.duplicate_commitment() from None
            if violation.kind == "foreign_key":
                raise errors.invoice_not_found(commitment.invoice_id) from None
            raise

    def get(self, tenant_id: str, commitment_id: str) -> Commitment | None:
        self._session.check_tenant(tenant_id)
        row = self._one(self.SELECT, {"tenant_id": tenant_id, "id": commitment_id})
        return None if row is None else self.rows.commitment_from_row(row)

    def update(self, commitment: Commitment) -> None:
        self._session.check_tenant(commitment.tenant_id)
        if self._session.write(self.UPDATE, self.rows.commitment_params(commitment)) != 1:
            raise errors.commitment_not_found(commitment.id)

    def pending_total_for_update(self, tenant_id: str, invoice_id: str) -> int:
        self._session.check_tenant(tenant_id)
        self.serialise_funding(tenant_id, invoice_id)
        params = {"tenant_id": tenant_id, "invoice_id": invoice_id}
        [row] = self._session.fetch_all(self.PENDING_TOTAL, params)
        return int(row["total"])

    def release_pending(self, tenant_id: str, invoice_id: str, at: datetime) -> list[Commitment]:
        self._session.check_tenant(tenant_id)
        self.serialise_funding(tenant_id, invoice_id)
        params = {
            "tenant_id": tenant_id,
            "invoice_id": invoice_id,
            "at": self.rows.timestamp_to_sql(at),
        }
        released = [
            self.rows.commitment_from_row(row)
            for row in self._session.fetch_all(self.RELEASE_PENDING, params)
        ]
        return sorted(released, key=lambda commitment: commitment.id)

    @abstractmethod
    def serialise_funding(self, tenant_id: str, invoice_id: str) -> None:
        """Until this unit ends, no other unit may add a commitment to the invoice or change
        its funding (SQLite: BEGIN IMMEDIATE did it; PostgreSQL: lock the invoice row)."""

    def list(self, listing: CommitmentListing) -> CommitmentPage:
        self._session.check_tenant(listing.tenant_id)
        params: Params = {
            "tenant_id": listing.tenant_id,
            "investor": listing.investor_address,
            "invoice_id": listing.invoice_id,
            "any_status": not listing.statuses,
            "statuses": self.status_set(tuple(sorted(s.value for s in listing.statuses))),
            "limit": listing.limit,
            "offset": listing.offset,
        }
        rows = self._session.fetch_all(self.LIST, params)
        [count] = self._session.fetch_all(self.COUNT, params)
        return CommitmentPage(
            [self.rows.commitment_from_row(row) for row in rows], int(count["total"])
        )

    @abstractmethod
    def status_set(self, statuses: tuple[str, ...]) -> object:
        """A set of statuses as the dialect's ``status_in`` test binds it."""

    def locks(self, query: CommitmentQuery) -> LockPage:
        self._session.check_tenant(query.tenant_id)
        params: Params = {
            "tenant_id": query.tenant_id,
            "investor": query.investor_address,
            "invoice_id": query.invoice_id,
            "limit": query.limit,
            "offset": query.offset,
        }
        rows = self._session.fetch_all(self.SELECT_LOCKS, params)
        [count] = self._session.fetch_all(self.COUNT_LOCKS, params)
        return LockPage(
            [self.rows.lock_from_row(query.tenant_id, row) for row in rows], int(count["total"])
        )


class SqlIdempotencyRepository(_Repository):
    """``IdempotencyRepository`` over a SQL session."""

    CLAIM: ClassVar[str]
    COMPLETE: ClassVar[str]
    RELEASE: ClassVar[str]
    SELECT: ClassVar[str]

    def claim(self, record: IdempotencyRecord, now: datetime) -> IdempotencyRecord | None:
        self._session.check_tenant(record.tenant_id)
        params = {**self.rows.idempotency_params(record), "now": self.rows.timestamp_to_sql(now)}
        if self._session.write(self.CLAIM, params) == 1:
            return None
        return self.get(record.tenant_id, record.key)

    def complete(self, tenant_id: str, key: str, claim_id: str, outcome: RecordedOutcome) -> None:
        self._session.check_tenant(tenant_id)
        params = {
            **self.rows.outcome_params(outcome),
            "tenant_id": tenant_id,
            "key": key,
            "claim_id": claim_id,
        }
        if self._session.write(self.COMPLETE, params) != 1:
            raise claim_lost()

    def release(self, tenant_id: str, key: str, claim_id: str) -> None:
        self._session.check_tenant(tenant_id)
        self._session.write(
            self.RELEASE, {"tenant_id": tenant_id, "key": key, "claim_id": claim_id}
        )

    def get(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        self._session.check_tenant(tenant_id)
        row = self._one(self.SELECT, {"tenant_id": tenant_id, "key": key})
        return None if row is None else self.rows.idempotency_from_row(row)


class SqlUnitOfWork(ABC):
    """What the SQL units of work share: their repositories, built over the unit itself as
    their ``Session``, the tenant check and the read-only flag. A dialect names its
    repository classes and runs statements (``fetch_all``, ``write``) on its connection."""

    # Declared as the port types: the UnitOfWork protocol's attributes are mutable, hence
    # invariant, so the concrete repository types would not satisfy it.
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

    invoice_repository: ClassVar[type[SqlInvoiceRepository]]
    audit_log: ClassVar[type[SqlAuditLog]]
    commitment_repository: ClassVar[type[SqlCommitmentRepository]]
    idempotency_repository: ClassVar[type[SqlIdempotencyRepository]]
    # Built over this unit like the others (``liquifact_adapters.sql.wallets``, ``.profiles``).
    wallet_repository: ClassVar[type[SqlWalletRepository]]
    # The tenant's outbox (``liquifact_adapters.sql.jobs``).
    job_repository: ClassVar[type[SqlJobRepository]]
    profile_repository: ClassVar[type[SqlProfileRepository]]
    webhook_repository: ClassVar[type[SqlWebhookRepository]]
    reconciliation_repository: ClassVar[type[SqlReconciliationRepository]]
    # The escrow indexer's projections and cursor (``liquifact_adapters.sql.escrows``).
    escrow_repository: ClassVar[type[SqlEscrowProjectionRepository]]
    # KYC records, maturity reminders and contacts (``liquifact_adapters.sql.kyc``,
    # ``.reminders``).
    kyc_repository: ClassVar[type[SqlKycRepository]]
    reminder_repository: ClassVar[type[SqlReminderRepository]]
    contact_repository: ClassVar[type[SqlContactRepository]]
    # Invoice documents (``liquifact_adapters.sql.files``).
    file_repository: ClassVar[type[SqlInvoiceFileRepository]]
    # Retention policies, legal holds and purges (``liquifact_adapters.sql.retention``).
    retention_repository: ClassVar[type[SqlRetentionRepository]]

    def __init__(self, tenant_id: str, *, read_only: bool, totals: FilteredTotals) -> None:
        self._tenant_id = tenant_id
        self._read_only = read_only
        self._totals = totals
        self.invoices = self.invoice_repository(self)
        self.audit = self.audit_log(self)
        self.commitments = self.commitment_repository(self)
        self.idempotency = self.idempotency_repository(self)
        self.wallets = self.wallet_repository(self)
        self.jobs = self.job_repository(self)
        self.profiles = self.profile_repository(self)
        self.webhooks = self.webhook_repository(self)
        self.reconciliations = self.reconciliation_repository(self)
        self.escrows = self.escrow_repository(self)
        self.kyc = self.kyc_repository(self)
        self.reminders = self.reminder_repository(self)
        self.contacts = self.contact_repository(self)
        self.files = self.file_repository(self)
        self.retention = self.retention_repository(self)

    @property
    def read_only(self) -> bool:
        """True for a read unit: no writes, no row locks."""
        return self._read_only

    @property
    def totals(self) -> FilteredTotals:
        """The store's filtered marketplace totals, shared by all its units."""
        return self._totals

    def check_tenant(self, tenant_id: str) -> None:
        """PermissionError unless this unit acts for ``tenant_id``."""
        # Refuse rather than filter: a unit reaching for another tenant is a bug to surface.
        if tenant_id != self._tenant_id:
            raise PermissionError("unit of work used for another tenant")

    @abstractmethod
    def fetch_all(self, sql: str, params: Params) -> list[Row]: ...

    @abstractmethod
    def write(self, sql: str, params: Params) -> int: ...

    @abstractmethod
    def stream(
        self, sql: str, params: Params, chunk_size: int
    ) -> Generator[list[Row], None, None]: ...
