"""The library entry point: ``open_services`` builds the same ``Services`` the API server uses.

No web framework is involved: ``liquifact_http`` reads the environment into a
``ServicesConfig`` and calls ``open_services`` too, then wires HTTP around the result. Another
service (a worker, a script, a notebook) calls it with explicit parameters::

    from liquifact_adapters import open_services

    services = open_services(database_url="sqlite:///./var/library.db")

Adapters are imported when chosen, not when this module is: ``import liquifact_adapters``
loads neither psycopg nor redis, and a SQLite deployment never loads psycopg.

Store selection by ``database_url`` (the same URLs as ``DATABASE_URL``):

* ``sqlite:///<path>``: the embedded store; the file is created and migrated on open.
* ``postgresql://...`` (or ``postgres://``): the production store. Its schema changes only
  through ``migration_runner(config).migrate()`` (``liquifact db migrate``); a database that
  lacks a migration raises ``SchemaOutdated`` here, before anything uses it.
* ``memory://``: the in-memory fakes (nothing kept; for tests and experiments).

Chain: with ``soroban_rpc_url`` (the server sets it only when ``SOROBAN_RPC_URL`` is in the
environment) ``Services.ledger`` is a ``SorobanEscrowLedger`` on that RPC, behind the spec's
circuit breaker (``soroban_cb_failure_threshold``, ``soroban_cb_recovery_timeout_ms``); without
it ``Services.ledger`` is None and nothing talks to a chain (no public RPC is ever contacted by
default). ``escrow_addresses`` is the ``ESCROW_ADDR_BY_INVOICE`` mapping
(``liquifact_core.escrow_addresses.parse_address_book``).

Cache selection: Redis when ``redis_url`` is set (shared by every process, so writes made
through the library invalidate what API processes cached), else an in-process LRU cache. The
use cases report each committed change (``liquifact_core.changes``); ``CacheInvalidation``
(``liquifact_adapters.cache.invalidation``) drops the key prefixes it made stale from that cache.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from liquifact_core.commitments import SigningMode
from liquifact_core.escrow_addresses import EscrowAddressBook
from liquifact_core.jobs import JobFailed, JobFailure
from liquifact_core.kyc import KycStatus
from liquifact_core.services import EscrowFreshness, Services

if TYPE_CHECKING:
    from liquifact_adapters.soroban import StateListener
    from liquifact_adapters.system.worker import Worker
    from liquifact_core.chain import EscrowLedger, FundingChain
    from liquifact_core.jobs import Backoff, Job, JobHandler
    from liquifact_core.ports import Cache, Clock, IdGenerator, ObjectStore, Store
    from liquifact_core.services import KycPorts, ReminderPorts, WebhookPorts
    from liquifact_core.services.reconciliation import ReconciliationObserver
    from liquifact_core.services.reminders import ReminderObserver
    from liquifact_core.worker import WorkerObserver

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
MEMORY_URL = "memory://"
DEFAULT_DATABASE_URL = "sqlite:///./var/liquifact.db"
MIGRATE_COMMAND = "liquifact db migrate"

EvictionObserver = Callable[[list[str]], None]
"""Told the keys of every least-recently-used eviction of the in-process cache."""
CacheErrorObserver = Callable[[str, str, Exception], None]
"""Told ``(operation, key or prefix, error)`` of every failed Redis cache call (not raised)."""


class SchemaOutdated(Exception):
    """The database lacks migrations this code needs; nothing may use it until migrated.

    ``pending``: the labels (``NNNN_name``) of the migrations not yet applied.
    """

    def __init__(self, pending: Sequence[str]) -> None:
        super().__init__(
            "The database schema is older than this code (pending migrations: "
            f"{', '.join(pending)}). Run `{MIGRATE_COMMAND}` with the same DATABASE_URL "
            "(or migration_runner(config).migrate()), then start again."
        )
        self.pending = tuple(pending)


def sqlite_path_of(database_url: str) -> str | None:
    """The SQLite file of a ``sqlite:///<path>`` URL, else None."""
    if database_url.startswith(SQLITE_PREFIX) and len(database_url) > len(SQLITE_PREFIX):
        return database_url[len(SQLITE_PREFIX) :]
    return None


def postgres_url_of(database_url: str) -> str | None:
    """The libpq URL of a ``postgresql://`` (or ``postgres://``) URL, else None."""
    return database_url if database_url.startswith(POSTGRES_PREFIXES) else None


def _database_url(_instance: object, _attribute: object, value: str) -> None:
    known = sqlite_path_of(value) or postgres_url_of(value) or value == MEMORY_URL
    if not known:
        # Never echo the URL: it can carry a password.
        raise ValueError(
            "database_url must be sqlite:///<path>, postgresql://<user>@<host>:<port>/<db> "
            "or memory://"
        )


def _redis_url(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and not value.lower().startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("redis_url must be a redis://, rediss:// or unix:// URL")


def _rpc_url(instance: ServicesConfig, _attribute: object, value: str | None) -> None:
    if value is None:
        return
    if not value.lower().startswith(("http://", "https://")):
        raise ValueError("soroban_rpc_url must be an http:// or https:// URL")
    if not instance.network_passphrase:
        raise ValueError("network_passphrase is required with soroban_rpc_url")


def _at_least(low: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if value < low:
            raise ValueError(f"{attribute.name} must be at least {low}")

    return check


def _at_most(high: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if value > high:
            raise ValueError(f"{attribute.name} must be at most {high}")

    return check


def _pool_sizes(instance: ServicesConfig, _attribute: object, value: int) -> None:
    if value < instance.database_pool_min_size:
        raise ValueError("database_pool_max_size must not be below database_pool_min_size")


def _kyc_pair(instance: ServicesConfig, _attribute: object, value: str | None) -> None:
    if (value is None) != (instance.kyc_provider_url is None):
        raise ValueError("kyc_provider_url and kyc_provider_api_key are set together or not at all")
    url = instance.kyc_provider_url
    if url is not None and not url.lower().startswith(("http://", "https://")):
        raise ValueError("kyc_provider_url must be an http:// or https:// URL")


def _cursor_secret(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and len(value) < 32:
        raise ValueError("cursor_secret must be at least 32 characters")


def _storage_secret(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and len(value) < 32:
        raise ValueError("storage_url_secret must be at least 32 characters")


@attrs.frozen(kw_only=True)
class ServicesConfig:
    """Everything ``open_services`` needs, as explicit values (no environment is read).

    The server fills it from its settings (``DATABASE_URL`` -> ``database_url`` and so on, see
    docs/configuration.md); the defaults are the server's. Invalid values raise ``ValueError``
    naming the field, never echoing a URL or secret.

    * ``database_url``: ``sqlite:///<path>``, ``postgresql://...`` or ``memory://``.
    * ``database_app_role``: the PostgreSQL role every transaction runs as (row-level security).
    * ``database_pool_min_size`` / ``database_pool_max_size``: PostgreSQL connections kept open.
    * ``database_statement_timeout_ms``: milliseconds before PostgreSQL cancels a statement.
    * ``redis_url``: the shared cache; ``None`` for an in-process cache.
    * ``redis_key_prefix``: prepended to every Redis key (``<prefix>cache:...``).
    * ``cache_max_entries``: bound of the in-process cache (the spec's 5000).
    * ``cursor_secret``: HMAC key of marketplace cursors, at least 32 characters. ``None``: a
      random key per ``open_services`` call, so cursors are valid only for that ``Services``.
    * ``idempotency_ttl_hours``: hours a funding idempotency key is kept (the spec's 24).
    * ``webhook_secrets_key``: Fernet key(s) sealing tenants' webhook secrets
      (WEBHOOK_SECRETS_KEY, comma-separated, the first seals). ``None``: a random key per
      ``open_services`` call, so secrets saved through it cannot be opened by another one.
    * ``webhook_max_retries``, ``webhook_base_delay_ms``, ``webhook_max_delay_ms``,
      ``webhook_timeout_ms``: the spec's WEBHOOK_* (3, 500 ms, 10000 ms, 5000 ms).
    * ``webhook_allow_insecure_loopback``: plain-http webhook URLs to loopback hosts pass
      (development and tests only).
    * ``soroban_rpc_url``: the Soroban JSON-RPC endpoint escrows are read from; ``None`` (the
      default): no ledger. ``network_passphrase``: the network's passphrase (required with
      an RPC URL; ``liquifact_core.network`` derives it from the network name).
    * ``soroban_rpc_timeout_ms``: milliseconds one RPC request may take (5000).
    * ``soroban_rpc_retries``: extra attempts after a transient RPC failure (2).
    * ``soroban_cb_failure_threshold``: consecutive RPC failures that open the circuit
      breaker (the spec's 5); ``soroban_cb_recovery_timeout_ms``: milliseconds it stays open
      before a trial call (the spec's 10000).
    * ``escrow_addresses``: the ``ESCROW_ADDR_BY_INVOICE`` mapping (default: empty).
    * ``reconciliation_drift_threshold``: RECONCILIATION_DRIFT_THRESHOLD, the number of
      mismatches in one tenant's run that alerts (1 to 1,000,000; the spec's default 1).
    * ``escrow_stale_after_seconds``, ``escrow_stale_ledger_gap``: when an escrow read is
      flagged ``stale`` (ESCROW_STALE_AFTER_SECONDS, 180; ESCROW_STALE_LEDGER_GAP, 20).
    * ``s3_bucket``, ``aws_region``, ``s3_endpoint``: invoice documents in this S3 bucket
      (S3_BUCKET, AWS_REGION, S3_ENDPOINT; credentials from boto3's usual sources); without a
      bucket they live in ``storage_dir`` (STORAGE_DIR; default: the ``objects`` folder beside
      the SQLite file, else ``./var/objects``; ``memory://`` keeps them in memory).
    * ``storage_url_secret``: HMAC key (at least 32 characters) of the local store's upload and
      download URLs (STORAGE_URL_SECRET). ``None``: a random key per ``open_services`` call,
      so only that ``Services``' URLs are accepted.
    * ``max_document_bytes``: the largest invoice document (BODY_LIMIT_INVOICE, 512 KB).
    * ``escrow_signing_mode``: ESCROW_SIGNING_MODE (``stubbed``, the default, ``delegated``
      or ``custodial``); the last two need ``soroban_rpc_url``.
    * ``escrow_platform_secret``: secret seeds (``S...``) of the investor accounts the
      platform signs for in custodial mode (ESCROW_PLATFORM_SECRET; required by it).
    * ``kyc_provider_url`` and ``kyc_provider_api_key``: the HTTP KYC provider
      (KYC_PROVIDER_URL, KYC_PROVIDER_API_KEY), both or neither; neither: the in-memory mock,
      whose policy is ``kyc_mock_default_status`` (KYC_MOCK_DEFAULT_STATUS, ``verified``).
      ``kyc_provider_secret`` verifies the provider's webhook (KYC_PROVIDER_SECRET);
      ``kyc_provider_timeout_ms`` bounds each provider request; ``kyc_webhook_tolerance_seconds``
      how far a webhook signature's time may be from ours (300).
    * ``smtp_host`` ... ``smtp_from``: the spec's SMTP_* (no host: dry-run, messages are
      logged); ``smtp_max_retries`` retries of a transient failure (3);
      ``smtp_retry_base_delay_ms`` / ``smtp_retry_max_delay_ms`` their exponential backoff;
      ``smtp_timeout_ms`` each socket operation's; ``smtp_tls_ca_file`` the CA bundle of the
      server's certificate (default certifi's). ``maturity_reminder_days``: how far ahead
      maturities are reminded (7); ``app_base_url``: where reminder links point.
    * ``retention_purge_dry_run``: RETENTION_PURGE_DRY_RUN (default True): the daily purge
      decides what it would erase and writes nothing; False erases.
    """

    database_url: str = attrs.field(
        default=DEFAULT_DATABASE_URL, repr=False, validator=_database_url
    )
    database_app_role: str = "liquifact_app"
    database_pool_min_size: int = attrs.field(default=1, validator=_at_least(0))
    database_pool_max_size: int = attrs.field(default=10, validator=[_at_least(1), _pool_sizes])
    database_statement_timeout_ms: int = attrs.field(default=5000, validator=_at_least(1))
    redis_url: str | None = attrs.field(default=None, repr=False, validator=_redis_url)
    redis_key_prefix: str = "liquifact:"
    cache_max_entries: int = attrs.field(default=5000, validator=_at_least(1))
    cursor_secret: str | None = attrs.field(default=None, repr=False, validator=_cursor_secret)
    idempotency_ttl_hours: int = attrs.field(default=24, validator=_at_least(1))
    webhook_secrets_key: str | None = attrs.field(default=None, repr=False)
    webhook_max_retries: int = attrs.field(default=3, validator=[_at_least(0), _at_most(9)])
    webhook_base_delay_ms: int = attrs.field(default=500, validator=_at_least(1))
    webhook_max_delay_ms: int = attrs.field(default=10_000, validator=_at_least(1))
    webhook_timeout_ms: int = attrs.field(default=5000, validator=_at_least(1))
    webhook_allow_insecure_loopback: bool = False
    soroban_rpc_url: str | None = attrs.field(default=None, validator=_rpc_url)
    network_passphrase: str | None = None
    soroban_rpc_timeout_ms: int = attrs.field(default=5000, validator=_at_least(1))
    soroban_rpc_retries: int = attrs.field(default=2, validator=[_at_least(0), _at_most(5)])
    soroban_cb_failure_threshold: int = attrs.field(default=5, validator=_at_least(1))
    soroban_cb_recovery_timeout_ms: int = attrs.field(default=10_000, validator=_at_least(0))
    escrow_addresses: EscrowAddressBook = attrs.field(factory=EscrowAddressBook)
    escrow_signing_mode: SigningMode = attrs.field(
        default=SigningMode.STUBBED, converter=SigningMode
    )
    escrow_platform_secret: tuple[str, ...] = attrs.field(default=(), repr=False)
    reconciliation_drift_threshold: int = attrs.field(
        default=1, validator=[_at_least(1), _at_most(1_000_000)]
    )
    escrow_stale_after_seconds: int = attrs.field(default=180, validator=_at_least(1))
    escrow_stale_ledger_gap: int = attrs.field(default=20, validator=_at_least(0))
    kyc_provider_url: str | None = None
    kyc_provider_api_key: str | None = attrs.field(default=None, repr=False, validator=_kyc_pair)
    kyc_provider_secret: str | None = attrs.field(default=None, repr=False)
    kyc_provider_timeout_ms: int = attrs.field(default=5000, validator=_at_least(1))
    kyc_webhook_tolerance_seconds: int = attrs.field(
        default=300, validator=[_at_least(1), _at_most(3600)]
    )
    kyc_mock_default_status: KycStatus = attrs.field(
        default=KycStatus.VERIFIED, converter=KycStatus
    )
    smtp_host: str | None = None
    smtp_port: int = attrs.field(default=587, validator=[_at_least(1), _at_most(65535)])
    smtp_user: str | None = None
    smtp_pass: str | None = attrs.field(default=None, repr=False)
    smtp_from: str = "noreply@liquifact.com"
    smtp_max_retries: int = attrs.field(default=3, validator=[_at_least(0), _at_most(9)])
    smtp_retry_base_delay_ms: int = attrs.field(default=1000, validator=_at_least(1))
    smtp_retry_max_delay_ms: int = attrs.field(default=60_000, validator=_at_least(1))
    smtp_timeout_ms: int = attrs.field(default=10_000, validator=_at_least(1))
    smtp_tls_ca_file: str | None = None
    maturity_reminder_days: int = attrs.field(default=7, validator=[_at_least(1), _at_most(90)])
    app_base_url: str = "http://localhost:3000"
    storage_dir: str | None = None
    storage_url_secret: str | None = attrs.field(
        default=None, repr=False, validator=_storage_secret
    )
    s3_bucket: str | None = None
    aws_region: str | None = None
    s3_endpoint: str | None = None
    max_document_bytes: int = attrs.field(default=512 * 1024, validator=_at_least(1))
    retention_purge_dry_run: bool = True

    @property
    def sqlite_path(self) -> str | None:
        """The SQLite file of a ``sqlite:///`` URL, else None."""
        return sqlite_path_of(self.database_url)

    @property
    def postgres_url(self) -> str | None:
        """The libpq URL of a ``postgresql://`` (or ``postgres://``) URL, else None."""
        return postgres_url_of(self.database_url)


def open_store(config: ServicesConfig, *, migrate: bool = True) -> Store:
    """The store ``config.database_url`` names.

    A SQLite file is migrated on open unless ``migrate`` is False (a process another one has
    just migrated for, such as a ``liquifact serve --workers`` worker: the supervisor migrates
    once); PostgreSQL is never migrated here. Raises ``SchemaOutdated`` for a PostgreSQL
    database that lacks migrations (the pool is closed first) and
    ``liquifact_core.errors.Unavailable`` when it cannot be reached.
    """
    postgres_url = config.postgres_url
    if postgres_url is not None:
        return _postgres_store(config, postgres_url)
    sqlite_path = config.sqlite_path
    if sqlite_path is not None:
        from liquifact_adapters.sqlite import SqliteStore

        return SqliteStore(sqlite_path, migrate=migrate)
    from liquifact_adapters.memory import InMemoryStore

    return InMemoryStore()


def _postgres_store(config: ServicesConfig, url: str) -> Store:
    from liquifact_adapters.postgres import PostgresStore

    store = PostgresStore(
        url,
        app_role=config.database_app_role,
        pool_min_size=config.database_pool_min_size,
        pool_max_size=config.database_pool_max_size,
        statement_timeout_ms=config.database_statement_timeout_ms,
    )
    try:
        pending = store.pending_migrations()
    except BaseException:
        store.close()
        raise
    if pending:
        store.close()
        raise SchemaOutdated([migration.label for migration in pending])
    return store


def default_storage_dir(config: ServicesConfig) -> str:
    """Where local documents live without STORAGE_DIR: beside the SQLite file (the data
    folder), else ``./var/objects``."""
    sqlite_path = config.sqlite_path
    if sqlite_path is not None:
        return os.path.join(os.path.dirname(sqlite_path) or ".", "objects")
    return os.path.join(".", "var", "objects")


def open_objects(config: ServicesConfig) -> ObjectStore:
    """The invoice documents' store: the S3 bucket ``s3_bucket`` names (boto3 loaded only
    then), in memory for a ``memory://`` deployment, else the local folder (its URLs are
    served by the API, signed with ``storage_url_secret``). Nothing is contacted here."""
    if config.s3_bucket:
        from liquifact_adapters.storage import S3ObjectStore

        return S3ObjectStore(
            config.s3_bucket, region=config.aws_region, endpoint=config.s3_endpoint
        )
    if config.database_url == MEMORY_URL and config.storage_dir is None:
        from liquifact_adapters.memory import InMemoryObjectStore

        return InMemoryObjectStore()
    from liquifact_adapters.storage import LocalObjectStore

    return LocalObjectStore(
        config.storage_dir or default_storage_dir(config),
        config.storage_url_secret or secrets.token_urlsafe(32),
    )


def open_cache(
    config: ServicesConfig,
    *,
    on_evict: EvictionObserver | None = None,
    on_error: CacheErrorObserver | None = None,
) -> Cache:
    """The read cache: Redis when ``config.redis_url`` is set, else in-process.

    ``on_evict`` hears the in-process cache's LRU evictions, ``on_error`` the Redis cache's
    failed calls (which never raise: a failed read is a miss). Plain callables, so a caller can
    count them in any metrics system.
    """
    if config.redis_url:
        from liquifact_adapters.redis import RedisCache, connect

        return RedisCache(
            connect(config.redis_url),
            namespace=config.redis_key_prefix + "cache:",
            on_error=on_error,
        )
    from liquifact_adapters.cache import InProcessCache

    return InProcessCache(config.cache_max_entries, on_evict=on_evict)


def open_services(
    config: ServicesConfig | None = None,
    /,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    cache: Cache | None = None,
    chain: FundingChain | None = None,
    ledger: EscrowLedger | None = None,
    objects: ObjectStore | None = None,
    on_cache_evict: EvictionObserver | None = None,
    on_cache_error: CacheErrorObserver | None = None,
    on_breaker_change: StateListener | None = None,
    on_reconciliation: ReconciliationObserver | None = None,
    on_reminder: ReminderObserver | None = None,
    **options: Any,
) -> Services:
    """Every use case, wired to the adapters ``config`` selects; call ``close()`` when done.

    ``options`` are ``ServicesConfig`` fields and override ``config``'s
    (``open_services(database_url="sqlite:///x.db")``); an unknown name raises ``TypeError``.
    ``store``, ``clock``, ``ids``, ``cache``, ``chain``, ``ledger`` and ``objects`` (the
    documents' ``ObjectStore``, default ``open_objects(config)``) replace the configured
    port. The clock is the system clock, ids are time-sortable random ids, the ledger is
    ``open_ledger(config)`` and the funding chain (delegated and custodial signing modes)
    sends through that ledger's RPC, signing for ``escrow_platform_secret``'s accounts.
    ``on_breaker_change`` hears the ledger's circuit breaker
    transitions as ``(breaker_name, state)``. Reconciliation compares the store with the
    ledger (none: it answers 503 RECONCILIATION_UNAVAILABLE and its schedule slot does not
    run); ``on_reconciliation`` hears every recorded run (metrics, alert log). The escrow
    indexer reads the ledger too: without one there is no indexer (``services.indexer`` is
    None, and the ``chain.index`` job has no handler). KYC goes to the HTTP provider
    ``kyc_provider_url`` names, else to the in-memory mock; reminders are e-mailed over SMTP
    when ``smtp_host`` is set, else logged (dry-run); ``on_reminder`` hears every delivery
    attempt and outcome (metrics).
    """
    from liquifact_adapters.cache.invalidation import CacheInvalidation
    from liquifact_adapters.system import RandomIdGenerator, SystemClock

    config = attrs.evolve(config or ServicesConfig(), **options)
    opened_store = store or open_store(config)
    opened_ledger: EscrowLedger | None = None
    try:
        if ledger is None:
            ledger = opened_ledger = open_ledger(config, on_state_change=on_breaker_change)
        if chain is None and config.escrow_signing_mode is not SigningMode.STUBBED:
            chain = funding_chain(config, ledger)
        if cache is None:
            cache = open_cache(config, on_evict=on_cache_evict, on_error=on_cache_error)
        return Services.from_ports(
            store=opened_store,
            clock=clock or SystemClock(),
            ids=ids or RandomIdGenerator(),
            cache=cache,
            # What a committed change means for cached reads: the one map, for the server and
            # library use alike (a library write drops the API's shared Redis entries too).
            changes=CacheInvalidation(cache),
            chain=chain,
            signing_mode=config.escrow_signing_mode,
            cursor_secret=config.cursor_secret or secrets.token_urlsafe(32),
            idempotency_ttl=timedelta(hours=config.idempotency_ttl_hours),
            webhooks=webhook_ports(config),
            ledger=ledger,
            escrow_addresses=config.escrow_addresses,
            drift_threshold=config.reconciliation_drift_threshold,
            reconciliation_observer=on_reconciliation,
            escrow_freshness=EscrowFreshness(
                timedelta(seconds=config.escrow_stale_after_seconds),
                config.escrow_stale_ledger_gap,
            ),
            kyc=kyc_ports(config),
            reminders=reminder_ports(config, on_reminder),
            objects=objects or open_objects(config),
            max_document_bytes=config.max_document_bytes,
            retention_dry_run=config.retention_purge_dry_run,
        )
    except BaseException:
        if store is None:
            opened_store.close()
        if opened_ledger is not None:
            getattr(opened_ledger, "close", lambda: None)()
        raise


def open_ledger(
    config: ServicesConfig, *, on_state_change: StateListener | None = None
) -> EscrowLedger | None:
    """The Soroban ledger ``config.soroban_rpc_url`` names (breaker named ``soroban``), or
    None without an RPC URL. Nothing is contacted here."""
    if config.soroban_rpc_url is None or config.network_passphrase is None:
        return None
    from liquifact_adapters.soroban import ResilienceSettings, SorobanEscrowLedger

    return SorobanEscrowLedger(
        config.soroban_rpc_url,
        config.network_passphrase,
        timeout_ms=config.soroban_rpc_timeout_ms,
        resilience=ResilienceSettings(
            failure_threshold=config.soroban_cb_failure_threshold,
            recovery_timeout_ms=config.soroban_cb_recovery_timeout_ms,
            retries=config.soroban_rpc_retries,
        ),
        on_state_change=on_state_change,
    )


def funding_chain(config: ServicesConfig, ledger: EscrowLedger | None) -> FundingChain | None:
    """The funding transactions of ``config``'s signing mode on the Soroban ``ledger`` (None
    without one: funding then answers 503 ESCROW_CHAIN_UNAVAILABLE)."""
    from liquifact_adapters.soroban import SorobanEscrowLedger, SorobanFundingChain

    if not isinstance(ledger, SorobanEscrowLedger):
        return None
    return SorobanFundingChain(ledger, config.escrow_platform_secret)


class MigrationRunner(Protocol):
    """Schema management of the configured store (what ``liquifact db`` runs).

    ``migrate()`` returns the labels applied (``NNNN_name``), ``rollback()`` the label undone
    (None when nothing is applied), ``status()`` ``(version, name, applied)`` per migration.
    """

    def migrate(self) -> list[str]: ...
    def rollback(self) -> str | None: ...
    def status(self) -> list[tuple[int, str, bool]]: ...


@attrs.frozen
class SqliteMigrations:
    """The migrations of one SQLite file."""

    path: str

    def migrate(self) -> list[str]:
        from liquifact_adapters import sqlite

        return [f"{m.version:04d}_{m.name}" for m in sqlite.migrate(self.path)]

    def rollback(self) -> str | None:
        from liquifact_adapters import sqlite

        undone = sqlite.rollback(self.path)
        return None if undone is None else f"{undone.version:04d}_{undone.name}"

    def status(self) -> list[tuple[int, str, bool]]:
        from liquifact_adapters import sqlite

        return [(row.version, row.name, row.applied) for row in sqlite.status(self.path)]


@attrs.frozen
class PostgresMigrations:
    """The migrations of one PostgreSQL database, run as its owner; grants go to ``app_role``."""

    url: str = attrs.field(repr=False)
    app_role: str

    def migrate(self) -> list[str]:
        from liquifact_adapters import postgres

        return [m.label for m in postgres.migrate(self.url, self.app_role)]

    def rollback(self) -> str | None:
        from liquifact_adapters import postgres

        undone = postgres.rollback(self.url, self.app_role)
        return None if undone is None else undone.label

    def status(self) -> list[tuple[int, str, bool]]:
        from liquifact_adapters import postgres

        return [(row.version, row.name, row.applied) for row in postgres.status(self.url)]


@attrs.frozen
class NoMigrations:
    """The in-memory store has no schema: nothing to apply, undo or list."""

    def migrate(self) -> list[str]:
        return []

    def rollback(self) -> str | None:
        return None

    def status(self) -> list[tuple[int, str, bool]]:
        return []


def migration_runner(config: ServicesConfig) -> MigrationRunner:
    """The schema manager of the store ``config.database_url`` names."""
    if config.postgres_url is not None:
        return PostgresMigrations(config.postgres_url, config.database_app_role)
    if config.sqlite_path is not None:
        return SqliteMigrations(config.sqlite_path)
    return NoMigrations()


def webhook_ports(config: ServicesConfig) -> WebhookPorts:
    """The Fernet secret box and DNS address policy of tenant webhooks, per ``config``."""
    from liquifact_adapters.webhooks import DnsAddressPolicy, FernetSecretBox, generate_key
    from liquifact_core.services import WebhookPorts

    return WebhookPorts(
        box=FernetSecretBox(config.webhook_secrets_key or generate_key()),
        policy=DnsAddressPolicy(allow_loopback=config.webhook_allow_insecure_loopback),
        max_retries=config.webhook_max_retries,
        allow_insecure_loopback=config.webhook_allow_insecure_loopback,
    )


def kyc_ports(config: ServicesConfig) -> KycPorts:
    """The KYC provider ``config`` names (HTTP, or the in-memory mock when neither
    ``kyc_provider_url`` nor ``kyc_provider_api_key`` is set) and its webhook secret."""
    from liquifact_core.services import KycPorts
    from liquifact_core.services.kyc import MockKycProvider

    tolerance = timedelta(seconds=config.kyc_webhook_tolerance_seconds)
    if config.kyc_provider_url is None or config.kyc_provider_api_key is None:
        return KycPorts(
            MockKycProvider(config.kyc_mock_default_status),
            config.kyc_provider_secret,
            tolerance,
        )
    from liquifact_adapters.kyc import HttpKycProvider

    provider = HttpKycProvider(
        config.kyc_provider_url,
        config.kyc_provider_api_key,
        timeout_ms=config.kyc_provider_timeout_ms,
    )
    return KycPorts(provider, config.kyc_provider_secret, tolerance)


def reminder_ports(
    config: ServicesConfig, observer: ReminderObserver | None = None
) -> ReminderPorts:
    """The mailer (SMTP with STARTTLS when ``smtp_host`` is set, else dry-run), the packaged
    templates and the reminder settings of ``config``."""
    from liquifact_adapters.mail import DryRunMailer, FileTemplates, SmtpMailer, SmtpSettings
    from liquifact_core.services import ReminderPorts
    from liquifact_core.services.reminders import ReminderSettings

    mailer: SmtpMailer | DryRunMailer = DryRunMailer()
    if config.smtp_host:
        mailer = SmtpMailer(
            SmtpSettings(
                host=config.smtp_host,
                port=config.smtp_port,
                user=config.smtp_user,
                password=config.smtp_pass,
                sender=config.smtp_from,
                timeout_ms=config.smtp_timeout_ms,
                ca_file=config.smtp_tls_ca_file,
            )
        )
    return ReminderPorts(
        mailer=mailer,
        templates=FileTemplates(),
        settings=ReminderSettings(
            days_before=config.maturity_reminder_days,
            link_base_url=config.app_base_url,
            max_retries=config.smtp_max_retries,
        ),
        observer=observer,
    )


class _ReminderDelivery:
    """The ``maturity_reminder`` handler with its own retry schedule (SMTP_RETRY_*)."""

    def __init__(self, services: Services, backoff: Backoff) -> None:
        self._deliver = services.reminders.deliver
        self.backoff = backoff

    def __call__(self, job: Job, /) -> None:
        self._deliver(job)


def job_handlers(services: Services, config: ServicesConfig | None = None) -> dict[str, JobHandler]:
    """Every background job type this build can run, by job type (``JobHandler``s over
    ``services``; ``config`` gives the webhook delivery settings, default the spec's). The
    schedule runs a slot only when its type is here (``liquifact_core.schedules.SLOTS``): the
    nightly reconciliation only when ``services`` has an escrow ledger to compare with; the
    daily retention purge always (a dry run unless ``services`` was built with
    RETENTION_PURGE_DRY_RUN false); the daily maturity reminders (and their
    ``maturity_reminder`` deliveries, retried on the SMTP_RETRY_* schedule) when ``services``
    can send mail; ``kyc_submission`` always."""
    from liquifact_adapters.system.backoff import ExponentialBackoff
    from liquifact_adapters.webhooks import DeliverySettings, DnsAddressPolicy, WebhookDelivery
    from liquifact_core.jobs import WEBHOOK_DELIVERY
    from liquifact_core.kyc import KYC_SUBMISSION
    from liquifact_core.reminders import MATURITY_REMINDER
    from liquifact_core.schedules import (
        CHAIN_INDEX,
        IDEMPOTENCY_PURGE,
        MATURITY_REMINDERS,
        RECONCILIATION,
        RETENTION_PURGE,
    )
    from liquifact_core.submissions import ESCROW_SUBMISSION

    config = config or ServicesConfig()
    ports = services.webhook_ports
    delivery = WebhookDelivery(
        services.store,
        ports.box,
        services.clock,
        services.ids,
        ExponentialBackoff(config.webhook_base_delay_ms, config.webhook_max_delay_ms),
        DeliverySettings(
            timeout_ms=config.webhook_timeout_ms,
            allow_insecure_loopback=ports.allow_insecure_loopback,
        ),
        policy=ports.policy if isinstance(ports.policy, DnsAddressPolicy) else None,
    )

    def purge_idempotency_keys(job: Job) -> None:
        # What `liquifact idempotency purge` runs; idempotent (deletes what expired by now).
        services.idempotency.purge_expired()
        # KYC webhook event ids whose signatures are refused by their age anyway.
        services.kyc.purge_events()

    def reconcile_every_tenant(job: Job) -> None:
        # One run per tenant with invoices in scope; a retry records new runs (each run is a
        # fresh comparison, so a repeated one is as true as the first).
        services.reconciliation.reconcile_all(trigger="schedule")

    def plan_maturity_reminders(job: Job) -> None:
        # Idempotent: a reminder planned already is never planned (nor sent) again.
        services.reminders.plan()

    def purge_retained_data(job: Job) -> None:
        # The daily retention purge of every tenant with an active policy; a dry run unless
        # RETENTION_PURGE_DRY_RUN=false. Idempotent: a retry erases only what is still due.
        services.retention.purge_all()

    handlers: dict[str, JobHandler] = {
        IDEMPOTENCY_PURGE: purge_idempotency_keys,
        WEBHOOK_DELIVERY: delivery,
        KYC_SUBMISSION: services.kyc.submit,
        RETENTION_PURGE: purge_retained_data,
    }
    if services.reminders.available:
        handlers[MATURITY_REMINDERS] = plan_maturity_reminders
        handlers[MATURITY_REMINDER] = _ReminderDelivery(
            services,
            ExponentialBackoff(config.smtp_retry_base_delay_ms, config.smtp_retry_max_delay_ms),
        )
    if services.reconciliation.available:
        handlers[RECONCILIATION] = reconcile_every_tenant
    if services.submissions is not None:
        # The object itself, not its method: the worker retries it on its own ``backoff``.
        handlers[ESCROW_SUBMISSION] = services.submissions
    if services.documents is not None and services.documents.available:
        # The sweep of unconfirmed uploads and the purge of a deleted invoice's files.
        handlers.update(services.documents.handlers())
    indexer = services.indexer
    if indexer is not None:

        def index_escrows(job: Job) -> None:
            # What `liquifact index-once` runs. A tenant whose pass failed kept its cursor;
            # failing the job (retryable) shows it in the job metrics and retries soon.
            run = indexer.run_once()
            if run.failed:
                codes = sorted({str(t.error) for t in run.failed})
                raise JobFailed(
                    JobFailure(f"{len(run.failed)} tenant(s) not indexed: {', '.join(codes)}")
                )

        handlers[CHAIN_INDEX] = index_escrows
    return handlers


def default_worker_id() -> str:
    """``<host>:<pid>:<random>``: unique per process, readable in ``lease_owner``."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:64] or "host"
    return f"{host}:{os.getpid()}:{secrets.token_hex(3)}"


def open_worker(
    services: Services,
    handlers: Mapping[str, JobHandler],
    *,
    worker_id: str | None = None,
    batch_size: int = 10,
    concurrency: int = 4,
    poll_interval_seconds: float = 1.0,
    lease_seconds: int = 60,
    retry_base_delay_ms: int = 500,
    retry_max_delay_ms: int = 10_000,
    schedules: bool = True,
    observer: WorkerObserver | None = None,
) -> Worker:
    """A job worker over ``services``' store and clock running ``handlers`` (usually
    ``job_handlers(services)``), retrying with bounded exponential backoff with jitter, and
    (``schedules``) enqueuing the schedule slots whose types it handles. Call ``start()`` (or
    ``run_once()``), then ``stop(grace)``; the caller closes ``services``. ValueError for
    options out of range."""
    from liquifact_adapters.system.backoff import ExponentialBackoff
    from liquifact_adapters.system.worker import Worker, WorkerOptions
    from liquifact_core.jobs import check_worker_id
    from liquifact_core.schedules import Scheduler
    from liquifact_core.worker import WorkerPlan

    plan = WorkerPlan(
        worker_id=check_worker_id(worker_id or default_worker_id()),
        job_types=frozenset(handlers),
        lease=timedelta(seconds=lease_seconds),
    )
    scheduler = (
        Scheduler(services.store.unit_of_work, services.clock, plan.job_types)
        if schedules
        else None
    )
    return Worker(
        services.store.job_queue,
        handlers,
        plan,
        services.clock,
        ExponentialBackoff(retry_base_delay_ms, retry_max_delay_ms),
        WorkerOptions(
            batch_size=batch_size, concurrency=concurrency, poll_interval=poll_interval_seconds
        ),
        scheduler=scheduler,
        observer=observer,
    )
