"""Use cases (application services). Each runs inside one unit of work."""

from __future__ import annotations

import secrets
from datetime import timedelta

import attrs

from liquifact_core.chain import EscrowLedger, FundingChain
from liquifact_core.changes import IgnoreChanges
from liquifact_core.commitments import SigningMode
from liquifact_core.errors import Unavailable
from liquifact_core.escrow_addresses import EscrowAddressBook
from liquifact_core.kyc import DEFAULT_WEBHOOK_TOLERANCE
from liquifact_core.ports import (
    AddressPolicy,
    Cache,
    ChangeListener,
    Clock,
    IdGenerator,
    KycProvider,
    Mailer,
    ObjectStore,
    ReminderTemplates,
    SecretBox,
    Store,
)
from liquifact_core.reconciliation import DEFAULT_DRIFT_THRESHOLD
from liquifact_core.services.audit import AuditService
from liquifact_core.services.documents import DEFAULT_MAX_BYTES, DocumentService
from liquifact_core.services.escrows import (
    DEFAULT_STALE_AFTER,
    DEFAULT_STALE_LEDGER_GAP,
    EscrowService,
)
from liquifact_core.services.funding import FundingService
from liquifact_core.services.idempotency import DEFAULT_TTL, IdempotencyService
from liquifact_core.services.indexer import EscrowIndexer
from liquifact_core.services.invoices import InvoiceService
from liquifact_core.services.kyc import KycService, MockKycProvider
from liquifact_core.services.marketplace import MarketplaceService
from liquifact_core.services.metrics import MetricsService
from liquifact_core.services.profiles import ProfileService
from liquifact_core.services.reconciliation import (
    ReconciliationObserver,
    ReconciliationService,
)
from liquifact_core.services.reminders import (
    ReminderObserver,
    ReminderService,
    ReminderSettings,
)
from liquifact_core.services.retention import RetentionService
from liquifact_core.services.submissions import FundingSubmissions
from liquifact_core.services.wallets import WalletService
from liquifact_core.services.webhooks import WebhookOutbox, WebhookService
from liquifact_core.webhook_endpoints import DEFAULT_MAX_RETRIES, WebhookUrl


@attrs.frozen
class Services:
    """Every use case of the domain, built from the ports the caller picks."""

    store: Store
    clock: Clock
    ids: IdGenerator
    cache: Cache
    changes: ChangeListener
    invoices: InvoiceService
    marketplace: MarketplaceService
    funding: FundingService
    idempotency: IdempotencyService
    metrics: MetricsService
    wallets: WalletService
    profiles: ProfileService
    webhooks: WebhookService
    webhook_ports: WebhookPorts
    reconciliation: ReconciliationService
    escrows: EscrowService
    # KYC records and the provider (the in-memory mock when none is configured).
    kyc: KycService
    # Maturity reminders and contact e-mails (unavailable without a mailer and templates).
    reminders: ReminderService
    # The audit trail's admin-request records and exports; retention policies, legal holds
    # and purges (issue 16).
    audit: AuditService
    retention: RetentionService
    # The chain's escrows (None: no Soroban RPC configured; links are not checked on chain).
    ledger: EscrowLedger | None = None
    # ESCROW_ADDR_BY_INVOICE (empty when not configured).
    escrow_addresses: EscrowAddressBook = attrs.field(factory=EscrowAddressBook)
    indexer: EscrowIndexer | None = None
    # Sends funding transactions (escrow_submission jobs); None without a funding chain.
    submissions: FundingSubmissions | None = None
    # Invoice documents (None only for a Services built by hand without it).
    documents: DocumentService | None = None
    # Where the documents' bytes live (None: document operations answer 503).
    objects: ObjectStore | None = None

    @classmethod
    def from_ports(
        cls,
        store: Store,
        clock: Clock,
        ids: IdGenerator,
        cache: Cache | None = None,
        *,
        changes: ChangeListener | None = None,
        chain: FundingChain | None = None,
        signing_mode: SigningMode = SigningMode.STUBBED,
        cursor_secret: str | None = None,
        idempotency_ttl: timedelta = DEFAULT_TTL,
        webhooks: WebhookPorts | None = None,
        ledger: EscrowLedger | None = None,
        escrow_addresses: EscrowAddressBook | None = None,
        drift_threshold: int = DEFAULT_DRIFT_THRESHOLD,
        reconciliation_observer: ReconciliationObserver | None = None,
        escrow_freshness: EscrowFreshness | None = None,
        kyc: KycPorts | None = None,
        reminders: ReminderPorts | None = None,
        objects: ObjectStore | None = None,
        max_document_bytes: int = DEFAULT_MAX_BYTES,
        retention_dry_run: bool = True,
    ) -> Services:
        """``cache`` is the response cache the HTTP shell serves reads from (the core never
        touches it); ``changes`` hears every committed change (``liquifact_core.changes``):
        the composition root passes one that drops the affected ``cache`` entries
        (``liquifact_adapters.cache.CacheInvalidation``); none: changes are ignored.
        ``signing_mode`` is ESCROW_SIGNING_MODE and ``chain`` builds, signs and sends the
        funding transactions of the delegated and custodial modes (none in those modes:
        funding answers 503 ESCROW_CHAIN_UNAVAILABLE, and ``submissions`` is None);
        ``cursor_secret`` is the HMAC key of marketplace cursors (at least 32 characters;
        ``liquifact_adapters.composition`` reads ``CURSOR_SECRET``); none: a random key of
        this ``Services``, so its cursors are refused by any other process or instance (give
        every process of a deployment the same key). There is no published default key.
        ``webhooks``: the secret box, address policy and delivery settings of tenant
        webhooks (``liquifact_adapters.composition`` builds them); none: transitions still
        write delivery jobs for tenants with an endpoint, but no endpoint can be saved
        (503 WEBHOOKS_UNAVAILABLE). ``ledger`` reads escrows on the chain (``link_escrow``
        checks the contract, ``/readyz`` the RPC); none: no chain reads. ``escrow_addresses``:
        the ``ESCROW_ADDR_BY_INVOICE`` mapping; none: nothing mapped. Reconciliation reads
        escrows through ``ledger`` too (none: it answers 503 RECONCILIATION_UNAVAILABLE and
        the schedule leaves its slot alone); ``drift_threshold`` is
        RECONCILIATION_DRIFT_THRESHOLD; ``reconciliation_observer`` hears every recorded run
        (the shell's metrics and alert log). The escrow indexer reads ``ledger`` too (none:
        no indexer, ``indexer`` is None, and escrow reads serve what earlier passes
        projected). ``escrow_freshness``: when an escrow read is stale (default: 3 minutes, 20
        ledgers). ``objects``: where invoice documents' bytes live (none: document operations
        answer 503 DOCUMENTS_UNAVAILABLE); ``max_document_bytes``: the largest document
        (BODY_LIMIT_INVOICE). ``retention_dry_run`` is RETENTION_PURGE_DRY_RUN: the daily
        purge only decides (and writes nothing) unless it is False. ``kyc``: the KYC provider
        and its webhook secret (none: the in-memory mock, whose default policy verifies every
        subject without a record); ``reminders``: the mailer, templates and settings of
        maturity reminders (none: no reminders)."""
        addresses = escrow_addresses or EscrowAddressBook()
        cursor_secret = cursor_secret or secrets.token_urlsafe(32)
        kyc_ports = kyc or KycPorts()
        kyc_service = KycService(
            store.unit_of_work,
            store.read_unit,
            clock,
            ids,
            kyc_ports.provider,
            store.kyc_subject,
            store.purge_kyc_events,
            webhook_secret=kyc_ports.webhook_secret,
            tolerance=kyc_ports.tolerance,
        )
        mail = reminders or ReminderPorts()
        cache = cache if cache is not None else NoCache()
        changes = changes if changes is not None else IgnoreChanges()
        hooks = webhooks or WebhookPorts(_NoSecretBox(), _NoSecretBox())
        outbox = WebhookOutbox(ids, hooks.max_retries)
        freshness = escrow_freshness or EscrowFreshness()
        invoices = InvoiceService(
            store.unit_of_work,
            clock,
            ids,
            changes,
            outbox,
            ledger=ledger,
            escrow_addresses=addresses,
            kyc=kyc_service.gate,
            read_units=store.read_unit,
        )
        indexer = None
        if ledger is not None:
            indexer = EscrowIndexer(
                linked_escrows=store.linked_escrows,
                progress=store.indexer_progress,
                read_units=store.read_unit,
                units=store.unit_of_work,
                ledger=ledger,
                invoices=invoices,
                clock=clock,
                ids=ids,
            )
        idempotency = IdempotencyService(
            store.unit_of_work, store.purge_expired_idempotency, clock, ids, idempotency_ttl
        )
        return cls(
            store=store,
            clock=clock,
            ids=ids,
            cache=cache,
            changes=changes,
            invoices=invoices,
            marketplace=MarketplaceService(store.read_unit, cursor_secret),
            funding=FundingService(
                store.unit_of_work,
                clock,
                ids,
                chain,
                idempotency,
                changes,
                store.read_unit,
                mode=signing_mode,
                kyc=kyc_service.gate,
            ),
            submissions=(
                None
                if chain is None
                else FundingSubmissions(
                    store.unit_of_work, store.read_unit, chain, clock, ids, changes
                )
            ),
            idempotency=idempotency,
            metrics=MetricsService(store.read_unit),
            wallets=WalletService(
                store.unit_of_work,
                store.wallet_binding,
                store.redeem_challenge,
                store.purge_expired_challenges,
                clock,
                ids,
                changes,
            ),
            profiles=ProfileService(store.unit_of_work, clock, ids, changes),
            webhook_ports=hooks,
            webhooks=WebhookService(
                store.unit_of_work,
                store.read_unit,
                clock,
                ids,
                hooks.box,
                hooks.policy,
                outbox,
                allow_insecure_loopback=hooks.allow_insecure_loopback,
            ),
            ledger=ledger,
            escrow_addresses=addresses,
            reconciliation=ReconciliationService(
                store.unit_of_work,
                store.read_unit,
                clock,
                ids,
                ledger,
                store.reconciliation_tenants,
                threshold=drift_threshold,
                observer=reconciliation_observer,
            ),
            escrows=EscrowService(
                store.read_unit,
                clock,
                store.indexer_progress,
                stale_after=freshness.stale_after,
                stale_ledger_gap=freshness.stale_ledger_gap,
                latest_seen=(lambda: None) if indexer is None else (lambda: indexer.latest_seen),
            ),
            indexer=indexer,
            documents=DocumentService(
                store.unit_of_work,
                store.read_unit,
                clock,
                ids,
                objects,
                idempotency,
                max_bytes=max_document_bytes,
            ),
            objects=objects,
            audit=AuditService(store.unit_of_work, store.read_unit, clock, ids, cursor_secret),
            retention=RetentionService(
                store.unit_of_work,
                store.read_unit,
                clock,
                ids,
                changes,
                store.retention_tenants,
                dry_run=retention_dry_run,
                cursor_secret=cursor_secret,
            ),
            kyc=kyc_service,
            reminders=ReminderService(
                store.unit_of_work,
                store.read_unit,
                clock,
                ids,
                store.reminder_tenants,
                mail.mailer,
                mail.templates,
                mail.settings,
                mail.observer,
            ),
        )

    def close(self) -> None:
        """Close the store, the cache, the ledger and the KYC provider (their pools and
        connections)."""
        try:
            self.store.close()
        finally:
            try:
                self.cache.close()
            finally:
                try:
                    close_ledger = getattr(self.ledger, "close", None)
                    if callable(close_ledger):
                        close_ledger()
                finally:
                    close_provider = getattr(self.kyc.provider, "close", None)
                    if callable(close_provider):
                        close_provider()


@attrs.frozen
class WebhookPorts:
    """What tenant webhooks need from outside the core: the ``SecretBox`` sealing secrets,
    the ``AddressPolicy`` checking URLs, WEBHOOK_MAX_RETRIES (retries after the first
    attempt, the spec's default 3) and whether plain-http loopback URLs are allowed
    (WEBHOOK_ALLOW_INSECURE_LOOPBACK, development only)."""

    box: SecretBox
    policy: AddressPolicy
    max_retries: int = DEFAULT_MAX_RETRIES
    allow_insecure_loopback: bool = False


@attrs.frozen
class KycPorts:
    """The KYC provider (default: the in-memory mock, verifying every subject without a
    record), KYC_PROVIDER_SECRET (None: the provider webhook answers 503) and the signature
    tolerance of its webhook."""

    provider: KycProvider = attrs.field(factory=MockKycProvider)
    webhook_secret: str | None = attrs.field(default=None, repr=False)
    tolerance: timedelta = DEFAULT_WEBHOOK_TOLERANCE


@attrs.frozen
class ReminderPorts:
    """What maturity reminders need from outside the core: the ``Mailer``, the
    ``ReminderTemplates``, their settings and an observer of deliveries (metrics). Without a
    mailer or templates, no reminder is planned or sent."""

    mailer: Mailer | None = None
    templates: ReminderTemplates | None = None
    settings: ReminderSettings = attrs.field(factory=ReminderSettings)
    observer: ReminderObserver | None = None


@attrs.frozen
class EscrowFreshness:
    """When an escrow read is stale: checked longer than ``stale_after`` ago, or more than
    ``stale_ledger_gap`` ledgers behind the newest ledger the indexer reached
    (ESCROW_STALE_AFTER_SECONDS, ESCROW_STALE_LEDGER_GAP)."""

    stale_after: timedelta = DEFAULT_STALE_AFTER
    stale_ledger_gap: int = DEFAULT_STALE_LEDGER_GAP


class _NoSecretBox:
    """The webhook ports of a ``Services`` built without them: nothing can be sealed."""

    def seal(self, secret: str) -> str:
        raise _webhooks_unavailable()

    def open(self, token: str) -> str:
        raise _webhooks_unavailable()

    def check(self, url: WebhookUrl) -> None:
        raise _webhooks_unavailable()


def _webhooks_unavailable() -> Unavailable:
    return Unavailable(
        "Webhooks are not configured on this server.", code="WEBHOOKS_UNAVAILABLE", retryable=False
    )


class NoCache:
    """The cache of a deployment that caches nothing: every read misses."""

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        return None

    def invalidate_prefix(self, prefix: str) -> None:
        return None

    def close(self) -> None:
        return None


__all__ = [
    "AuditService",
    "DocumentService",
    "EscrowFreshness",
    "EscrowIndexer",
    "EscrowService",
    "FundingService",
    "IdempotencyService",
    "InvoiceService",
    "KycPorts",
    "KycService",
    "MarketplaceService",
    "MetricsService",
    "NoCache",
    "ProfileService",
    "ReconciliationService",
    "ReminderPorts",
    "ReminderService",
    "RetentionService",
    "Services",
    "WalletService",
    "WebhookPorts",
    "WebhookService",
]
