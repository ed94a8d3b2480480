"""Every environment variable, read once into a frozen object, validated before the server binds.

``FIELDS`` is the single table of settings; docs/configuration.md documents each (a test checks).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from dotenv import dotenv_values
from stellar_sdk.strkey import StrKey

from liquifact_adapters.composition import ServicesConfig, postgres_url_of, sqlite_path_of
from liquifact_core.commitments import SigningMode
from liquifact_core.escrow_addresses import EscrowAddressBook, parse_address_book
from liquifact_core.kyc import KycStatus
from liquifact_core.network import (
    DEFAULT_NETWORK,
    PASSPHRASES,
    NetworkConfigError,
    NetworkName,
    StellarNetwork,
    parse_network_name,
    resolve_network,
)
from liquifact_core.reconciliation import DEFAULT_DRIFT_THRESHOLD, parse_drift_threshold
from liquifact_http.api_keys import ApiKey, ApiKeysError, parse_api_keys

DEFAULT_DATABASE_URL = "sqlite:///./var/liquifact.db"
LOG_LEVELS = ("debug", "info", "warning", "error")
# HMAC algorithms and the key length each needs (RFC 7518 3.2: at least the hash size).
JWT_HMAC_KEY_LENGTHS = {"HS256": 32, "HS384": 48, "HS512": 64}
JWT_LEEWAY_MAX = 300
_ORIGIN = re.compile(r"(https?)://([a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\])(?::([0-9]{1,5}))?")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# `liquifact serve --workers` / WEB_CONCURRENCY: worker processes on one port.
WORKERS_MAX = 64


class ConfigError(Exception):
    """Invalid configuration: every failing key with a reason, never a value."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {reason}" for key, reason in problems))
        self.problems = problems

    def report(self) -> str:
        lines = ["Invalid configuration; the server was not started:"]
        lines += [f"  - {key}: {reason}" for key, reason in self.problems]
        return "\n".join(lines)


@attrs.frozen
class TrustProxy:
    """Which direct peers may name the client in ``X-Forwarded-For``.

    ``hops``: that many proxies in front of the app are trusted (the client is the address
    ``hops`` entries from the right of the socket peer + X-Forwarded-For chain). ``networks``:
    peers in these networks are trusted, wherever they are in the chain. Default: none.
    ``liquifact_http.middleware.forwarded`` applies it.
    """

    hops: int = 0
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.hops > 0 or bool(self.networks)


@attrs.frozen
class Settings:
    host: str = "127.0.0.1"
    port: int = 3001
    # Worker processes of `liquifact serve` (WEB_CONCURRENCY; `--workers` overrides it): 1 is
    # one process, more is uvicorn's supervisor and that many workers on one socket.
    web_concurrency: int = 1
    # A PostgreSQL URL can carry a password; keep it out of reprs, logs and tracebacks.
    database_url: str = attrs.field(default=DEFAULT_DATABASE_URL, repr=False)
    log_level: str = "info"
    log_format: str = "auto"
    environment: str = "development"
    jwt_secret: str | None = attrs.field(default=None, repr=False)
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = 30
    api_keys: tuple[ApiKey, ...] = attrs.field(default=(), repr=False)
    cors_allowed_origins: tuple[str, ...] = ()
    database_pool_min_size: int = 1
    database_pool_max_size: int = 10
    database_statement_timeout_ms: int = 5000
    database_app_role: str = "liquifact_app"
    # ---- operations: body limits, rate limits, response cache, metrics, error reporting ----
    body_limit_json: int = 100 * 1024
    body_limit_urlencoded: int = 50 * 1024
    body_limit_invoice: int = 512 * 1024
    rate_limit_enabled: bool = True
    rate_limit_window_ms: int = 900_000
    rate_limit_max_requests: int = 100
    rate_limit_sensitive_window_ms: int = 3_600_000
    rate_limit_sensitive_max: int = 40
    rate_limit_api_key_max: int = 1000
    trust_proxy: TrustProxy = attrs.field(factory=TrustProxy)
    redis_url: str | None = attrs.field(default=None, repr=False)
    redis_key_prefix: str = "liquifact:"
    cache_ttl_seconds: float = 15.0
    cache_max_entries: int = 5000
    # The escrow view's cache (GET /v1/escrow/{invoiceId}): in Redis, off unless enabled.
    redis_escrow_cache_enabled: bool = False
    redis_escrow_cache_ttl_seconds: int = 30
    redis_escrow_ledger_gap_threshold: int = 20
    metrics_bearer_token: str | None = attrs.field(default=None, repr=False)
    sentry_dsn: str | None = attrs.field(default=None, repr=False)
    sentry_release: str | None = None
    sentry_environment: str | None = None
    # Signs marketplace cursors. Production refuses to start without one (CURSOR_SECRET or
    # CURSOR_SECRET_FILE); elsewhere `liquifact serve` creates a random development secret file
    # once (cli.py), and library use without one signs with a per-process random key.
    cursor_secret: str | None = attrs.field(default=None, repr=False)
    idempotency_key_ttl_hours: int = 24
    # ---- issue 9 hardening: token lifetime, graceful shutdown ----
    jwt_max_ttl_seconds: int = 86_400
    shutdown_timeout_seconds: int = 10
    # ---- wallet sign-in (SEP-1, SEP-10) and the wallet directory ----
    # The SEP-10 signing key's secret seed (S...). Production refuses to start without one;
    # `liquifact serve` elsewhere creates a development one in var/ (cli.py).
    sep10_signing_secret: str | None = attrs.field(default=None, repr=False)
    home_domain: str | None = None
    web_auth_domain: str | None = None
    web_auth_endpoint: str | None = None
    # STELLAR_NETWORK and SOROBAN_RPC_URL pass the core's network gate (liquifact_core.network)
    # in load_settings: a public network takes exactly the spec's RPC URL (unset: that URL),
    # STANDALONE a loopback one.
    stellar_network: NetworkName = DEFAULT_NETWORK
    soroban_rpc_url: str | None = None
    horizon_url: str | None = None
    sep10_challenge_ttl_seconds: int = 900
    sep10_jwt_ttl_seconds: int = 3600
    self_service_tenant: str | None = None
    # The wallet domains whose client attribution is accepted (empty: any domain).
    sep10_client_domains: tuple[str, ...] = ()
    # Fetch a wallet's client_domain stellar.toml over plain HTTP: for local tests only.
    sep10_client_domain_allow_http: bool = False
    # ---- background jobs (issue 11): the worker, its retries, the embedded worker ----
    worker_poll_interval_ms: int = 1000
    worker_batch_size: int = 10
    worker_concurrency: int = 4
    worker_lease_seconds: int = 60
    job_retry_base_delay_ms: int = 500
    job_retry_max_delay_ms: int = 10_000
    # auto: `liquifact serve` runs a worker in its process on the embedded SQLite store only.
    embedded_worker: str = "auto"
    worker_metrics_port: int | None = None
    worker_metrics_host: str = "127.0.0.1"
    # ---- tenant webhooks (issue 11): the spec's WEBHOOK_* and the key sealing secrets ----
    # Fernet key(s), comma-separated, the first seals. Production refuses to start without
    # one; `liquifact serve` and `liquifact worker` elsewhere share a development key kept in
    # var/ (cli.py).
    webhook_secrets_key: str | None = attrs.field(default=None, repr=False)
    webhook_max_retries: int = 3
    webhook_base_delay_ms: int = 500
    webhook_max_delay_ms: int = 10_000
    webhook_timeout_ms: int = 5000
    escrow_stale_after_seconds: int = 180
    escrow_stale_ledger_gap: int = 20
    webhook_allow_insecure_loopback: bool = False
    # ---- escrow reads on the chain (issue 12): SOROBAN_CB_*, ESCROW_ADDR_BY_INVOICE ----
    soroban_cb_failure_threshold: int = 5
    soroban_cb_recovery_timeout_ms: int = 10_000
    soroban_rpc_timeout_ms: int = 5000
    # The raw JSON (checked when read); services_config resolves it for NODE_ENV.
    escrow_addr_by_invoice: str | None = attrs.field(default=None, repr=False)
    # ---- funding transactions (issue 12): the spec's signing modes ----
    escrow_signing_mode: SigningMode = SigningMode.STUBBED
    # Secret seeds (S...), comma-separated, of the investor accounts the platform custodies
    # and signs for in custodial mode.
    escrow_platform_secret: tuple[str, ...] = attrs.field(default=(), repr=False)
    # ---- reconciliation (issue 12): mismatches per tenant run that alert (the spec's 1) ----
    reconciliation_drift_threshold: int = DEFAULT_DRIFT_THRESHOLD
    # ---- KYC (issue 15): the HTTP provider (both or neither), its webhook, the mock ----
    kyc_provider_url: str | None = None
    kyc_provider_api_key: str | None = attrs.field(default=None, repr=False)
    kyc_provider_secret: str | None = attrs.field(default=None, repr=False)
    kyc_provider_timeout_ms: int = 5000
    kyc_webhook_tolerance_seconds: int = 300
    # The mock's policy without a provider; None: verified, but pending in production.
    kyc_mock_default_status: KycStatus | None = None
    # ---- maturity reminders (issue 15): the spec's SMTP_* and the reminder window ----
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_pass: str | None = attrs.field(default=None, repr=False)
    smtp_from: str = "noreply@liquifact.com"
    smtp_max_retries: int = 3
    smtp_retry_base_delay_ms: int = 1000
    smtp_retry_max_delay_ms: int = 60_000
    smtp_timeout_ms: int = 10_000
    smtp_tls_ca_file: str | None = None
    maturity_reminder_days: int = 7
    app_base_url: str = "http://localhost:3000"
    # ---- invoice documents (issue 14): a local folder by default, or an S3 bucket ----
    storage_dir: str | None = None
    # HMAC key of the local store's upload and download URLs. Production refuses to start
    # without one unless S3_BUCKET is set; `liquifact serve` elsewhere creates a development
    # one in var/ (cli.py).
    storage_url_secret: str | None = attrs.field(default=None, repr=False)
    s3_bucket: str | None = None
    aws_region: str | None = None
    s3_endpoint: str | None = None
    # ---- retention (issue 16): the daily purge only reports what it would erase unless false ----
    retention_purge_dry_run: bool = True

    @property
    def kyc_provider_configured(self) -> bool:
        """Both KYC_PROVIDER_URL and KYC_PROVIDER_API_KEY are set (else: the mock)."""
        return self.kyc_provider_url is not None and self.kyc_provider_api_key is not None

    @property
    def kyc_mock_status(self) -> KycStatus:
        """The mock provider's policy: KYC_MOCK_DEFAULT_STATUS, else ``verified`` (every
        subject without a record may fund and be linked: development, tests, ``make run``),
        but ``pending`` in production, where nobody is verified without a provider."""
        if self.kyc_mock_default_status is not None:
            return self.kyc_mock_default_status
        return KycStatus.PENDING if self.environment == "production" else KycStatus.VERIFIED

    @property
    def runs_embedded_worker(self) -> bool:
        """Whether ``liquifact serve`` runs a job worker in its own process: EMBEDDED_WORKER
        true/false, or (auto) exactly when the store is the embedded SQLite file."""
        if self.embedded_worker == "auto":
            return sqlite_path_of(self.database_url) is not None
        return self.embedded_worker == "true"

    @property
    def network_passphrase(self) -> str:
        """The passphrase of ``STELLAR_NETWORK`` (derived, never configured): SEP-10 challenges
        and Soroban transactions are signed for that network."""
        return PASSPHRASES[self.stellar_network]

    @property
    def stellar(self) -> StellarNetwork:
        """The network with its passphrase and Soroban RPC URL. ``load_settings`` has checked
        the pair; a ``Settings`` built by hand with a bad pair raises NetworkConfigError."""
        return resolve_network(self.stellar_network, self.soroban_rpc_url)

    @property
    def sign_in_home_domain(self) -> str:
        """``HOME_DOMAIN``, or in development the address the server listens on."""
        return self.home_domain or f"localhost:{self.port}"

    @property
    def sign_in_web_auth_domain(self) -> str:
        """``WEB_AUTH_DOMAIN``: the host serving ``/v1/auth`` (default: the home domain)."""
        return self.web_auth_domain or self.sign_in_home_domain

    @property
    def sign_in_endpoint(self) -> str:
        """``WEB_AUTH_ENDPOINT`` as published in stellar.toml (default: https on the web-auth
        domain, or http on the development address)."""
        if self.web_auth_endpoint:
            return self.web_auth_endpoint
        scheme = "https" if self.home_domain else "http"
        return f"{scheme}://{self.sign_in_web_auth_domain}/v1/auth"

    @property
    def sign_in_token_ttl_seconds(self) -> int:
        """How long a sign-in token lives: ``SEP10_JWT_TTL_SECONDS`` capped by
        ``JWT_MAX_TTL_SECONDS``."""
        return min(self.sep10_jwt_ttl_seconds, self.jwt_max_ttl_seconds)


_DOMAIN = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9-]{0,62}(?:\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*(?::[0-9]{1,5})?"
)
_SIZE = re.compile(r"(?i)\s*([0-9]{1,12})\s*(b|kb|k|mb|m|gb|g)?\s*")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2}
_SIZE_UNITS.update({"g": 1024**3, "gb": 1024**3})


def parse_byte_size(raw: str) -> int:
    """``100kb``, ``512KB``, ``1mb`` or a plain byte count (units are binary: 1kb = 1024)."""
    match = _SIZE.fullmatch(raw)
    if match is None:
        raise ValueError("must be a size such as 100kb, 512KB, 1mb or a number of bytes")
    size = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]
    if not 1 <= size <= 1024**3:
        raise ValueError("must be from 1 byte to 1gb")
    return size


def _positive_int(high: int) -> Callable[[str], int]:
    return _int_range(1, high)


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not 0 < value <= 86_400:
        raise ValueError("must be more than 0 and at most 86400 seconds")
    return value


def _trust_proxy(raw: str) -> TrustProxy:
    value = raw.strip().lower()
    if value in {"false", "0", "no", "off"}:
        return TrustProxy()
    if value in {"true", "yes", "on"}:
        return TrustProxy(hops=1)
    if value.isascii() and value.isdigit():
        if int(value) > 10:
            raise ValueError("a hop count must be at most 10")
        return TrustProxy(hops=int(value))
    names = {"loopback": ("127.0.0.0/8", "::1/128"), "private": _PRIVATE_NETWORKS}
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    try:
        for part in (p.strip() for p in value.split(",") if p.strip()):
            for item in names.get(part, (part,)):
                networks.append(ipaddress.ip_network(item, strict=False))
    except ValueError:
        raise ValueError(
            "must be false, true, a hop count, or a comma-separated list of IP addresses, "
            "CIDR networks, 'loopback' or 'private'"
        ) from None
    if not networks:
        raise ValueError("names no proxy")
    return TrustProxy(networks=tuple(networks))


_PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")


def _redis_url(raw: str) -> str:
    if re.match(r"(?i)^(redis|rediss|unix)://", raw):
        return raw
    raise ValueError("must be a redis://, rediss:// or unix:// URL")


ESCROW_CACHE_TTL_RANGE = (5, 300)


def parse_escrow_cache_ttl(raw: str) -> int:
    """REDIS_ESCROW_CACHE_TTL_SECONDS: an integer number of seconds (optionally signed),
    strictly clamped to 5..300 as the spec says: a value outside is moved to the nearer
    bound, never refused. Anything but an integer is refused (ValueError)."""
    value = raw.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        raise ValueError("must be an integer number of seconds (it is then clamped to 5..300)")
    low, high = ESCROW_CACHE_TTL_RANGE
    # A huge value is simply out of range (and int() refuses more than 4300 digits).
    number = int(value) if len(value) <= 20 else (low - 1 if value[0] == "-" else high + 1)
    return min(max(number, low), high)


def _key_prefix(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._:\-]{1,64}", raw):
        raise ValueError("must be 1-64 of letters, digits and . _ : -")
    return raw


def _sentry_dsn(raw: str) -> str:
    if re.match(r"(?i)^https?://[^@/\s]+@[^/\s]+/[0-9A-Za-z_-]+$", raw.strip()):
        return raw.strip()
    raise ValueError("must be a Sentry DSN: https://<key>@<host>/<project id>")


def _label(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._+@/:\-]{1,200}", raw.strip()):
        raise ValueError("must be 1-200 of letters, digits and . _ + @ / : -")
    return raw.strip()


def _port(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError("must be an integer from 1 to 65535")
    return int(raw)


def _host(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]{1,253}", raw):
        raise ValueError("must be a hostname or IP address")
    return raw


def _database_url(raw: str) -> str:
    if sqlite_path_of(raw) or postgres_url_of(raw):
        return raw
    raise ValueError("must be sqlite:///<path> or postgresql://<user>@<host>:<port>/<database>")


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = raw.strip()
        # isdigit() alone admits '²' and other non-ASCII digits that int() refuses.
        if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
            raise ValueError(f"must be an integer from {low} to {high}")
        return int(value)

    return parse


def _role_name(raw: str) -> str:
    # The adapter's rule too: lower case, so the name is the same quoted or not in psql.
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", raw):
        raise ValueError("must be 1-63 of [a-z0-9_], not starting with a digit")
    return raw


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError(f"must be one of: {', '.join(options)}")
        return value

    return parse


def _secret(min_length: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if len(raw) < min_length:
            raise ValueError(f"must be at least {min_length} characters")
        return raw

    return parse


def _hours(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 8760:
        raise ValueError("must be an integer number of hours from 1 to 8760")
    return int(raw)


def _secret_file(raw: str) -> str:
    try:
        secret = Path(raw).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise ValueError("must name a readable UTF-8 file") from None
    if len(secret) < 32:
        raise ValueError("must name a file holding at least 32 characters")
    return secret


def _fernet_keys(raw: str) -> str:
    from liquifact_adapters.webhooks import FernetSecretBox

    FernetSecretBox(raw)  # ValueError naming no key material
    return raw.strip()


def _fernet_keys_file(raw: str) -> str:
    try:
        text = Path(raw).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ValueError("must name a readable UTF-8 file") from None
    return _fernet_keys(text)


def _signing_mode(raw: str) -> SigningMode:
    try:
        return SigningMode(raw.strip().lower())
    except ValueError:
        modes = ", ".join(m.value for m in SigningMode)
        raise ValueError(f"must be one of {modes}") from None


def _custody_seeds(raw: str) -> tuple[str, ...]:
    from liquifact_adapters.soroban.funding import custody_keys

    seeds = tuple(part.strip() for part in raw.split(",") if part.strip())
    try:
        custody_keys(seeds)  # the adapter's own check; its error names no value
    except ValueError:
        raise ValueError("must be Stellar secret seeds (S...), comma-separated") from None
    return seeds


def _custody_seeds_file(raw: str) -> tuple[str, ...]:
    try:
        text = Path(raw).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ValueError("must name a readable UTF-8 file") from None
    return _custody_seeds(text)


def _kyc_status(raw: str) -> KycStatus:
    try:
        return KycStatus(raw.strip().lower())
    except ValueError:
        names = ", ".join(status.value for status in KycStatus)
        raise ValueError(f"must be one of {names}") from None


def _email_address(raw: str) -> str:
    value = raw.strip()
    if len(value) > 254 or not re.fullmatch(
        r"[^@\s<>\"]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}", value
    ):
        raise ValueError("must be an e-mail address such as noreply@example.com")
    return value


def _readable_file(raw: str) -> str:
    if not Path(raw).is_file():
        raise ValueError("must name a readable file")
    try:
        Path(raw).read_bytes()
    except OSError:
        raise ValueError("must name a readable file") from None
    return raw


def _network_name(raw: str) -> NetworkName:
    try:
        return parse_network_name(raw)
    except NetworkConfigError as error:
        raise ValueError(error.message) from None


def _rpc_url(raw: str) -> str:
    # Only the shape here: whether it suits the network is the gate's call (_cross_checks).
    value = raw.strip()
    if len(value) > 2048 or not value.isprintable() or " " in value:
        raise ValueError("must be a URL of at most 2048 characters without spaces")
    return value


def _escrow_address_map(raw: str) -> str:
    # Checked here so a bad mapping stops the process at boot; resolved for NODE_ENV later.
    parse_address_book(raw, "development")
    return raw


def _stellar_seed(raw: str) -> str:
    value = raw.strip()
    if not StrKey.is_valid_ed25519_secret_seed(value):
        raise ValueError("must be a Stellar secret seed (S..., with checksum)")
    return value


def _stellar_seed_file(raw: str) -> str:
    try:
        text = Path(raw).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ValueError("must name a readable UTF-8 file") from None
    try:
        return _stellar_seed(text)
    except ValueError:
        raise ValueError("must name a file holding a Stellar secret seed (S...)") from None


def _domain(raw: str) -> str:
    value = raw.strip().lower()
    if len(value) > 253 or not _DOMAIN.fullmatch(value):
        raise ValueError("must be a domain name such as api.example.com (no scheme or path)")
    return value


def _domains(raw: str) -> tuple[str, ...]:
    names = [part.strip() for part in raw.split(",") if part.strip()]
    if not names:
        raise ValueError("must list at least one domain")
    return tuple(dict.fromkeys(_domain(name) for name in names))


def _http_url(raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"(?i)https?://[^\s/?#@]+(?:/[^\s?#]*)?", value):
        raise ValueError("must be an http:// or https:// URL without query or credentials")
    return value.rstrip("/")


def _folder(raw: str) -> str:
    value = raw.strip()
    if not value or len(value) > 4096 or not value.isprintable():
        raise ValueError("must be a folder path")
    return value


def _bucket(raw: str) -> str:
    # S3's bucket naming rules (lower case, digits, dots, hyphens; 3-63 characters).
    value = raw.strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
        raise ValueError("must be an S3 bucket name: 3-63 of a-z, 0-9, '.' and '-'")
    return value


def _region(raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}", value):
        raise ValueError("must be an AWS region such as us-east-1")
    return value


def _tenant(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", raw.strip()):
        raise ValueError("must be a tenant id: 1-128 of letters, digits, _ and -")
    return raw.strip()


def _jwt_algorithms(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if any(name.lower() == "none" for name in names):
        raise ValueError("'none' is never allowed: tokens must be signed")
    supported = ", ".join(JWT_HMAC_KEY_LENGTHS)
    if not names or any(name not in JWT_HMAC_KEY_LENGTHS for name in names):
        raise ValueError(f"must be a comma-separated list of: {supported}")
    return names


def _claim_text(raw: str) -> str:
    if len(raw) > 256 or not raw.isprintable():
        raise ValueError("must be at most 256 printable characters")
    return raw


def _api_keys(raw: str) -> tuple[ApiKey, ...]:
    return parse_api_keys(raw)


def _origins(raw: str) -> tuple[str, ...]:
    origins: list[str] = []
    for position, part in enumerate((p.strip() for p in raw.split(",") if p.strip()), 1):
        match = _ORIGIN.fullmatch(part.lower())
        port = match.group(3) if match else None
        if match is None or (port is not None and not 1 <= int(port) <= 65535):
            raise ValueError(
                f"entry {position} must be an exact origin such as https://app.example.com "
                "(scheme, host and optional port; no path, no wildcard)"
            )
        scheme, host = match.group(1), match.group(2)
        origin = f"{scheme}://{host}"
        if port is not None and port != _DEFAULT_PORTS[scheme]:
            origin += f":{port}"
        origins.append(origin)
    return tuple(dict.fromkeys(origins))


@attrs.frozen
class Field:
    """One setting: its env name, the Settings attribute, its parser, and whether it is secret.

    A ``fallback`` field sets its attribute only when no earlier field did (``JWT_SECRET_FILE``
    is read only without ``JWT_SECRET``).
    """

    env: str
    attribute: str
    parse: Callable[[str], Any]
    secret: bool = False
    fallback: bool = False


FIELDS: tuple[Field, ...] = (
    Field("HOST", "host", _host),
    Field("PORT", "port", _port),
    Field("WEB_CONCURRENCY", "web_concurrency", _int_range(1, WORKERS_MAX)),
    Field("DATABASE_URL", "database_url", _database_url, secret=True),
    Field("LOG_LEVEL", "log_level", _choice(*LOG_LEVELS)),
    Field("LOG_FORMAT", "log_format", _choice("auto", "json", "console")),
    Field("NODE_ENV", "environment", _choice("development", "test", "staging", "production")),
    Field("JWT_SECRET", "jwt_secret", _secret(32), secret=True),
    Field("JWT_SECRET_FILE", "jwt_secret", _secret_file, fallback=True),
    Field("JWT_ALGORITHMS", "jwt_algorithms", _jwt_algorithms),
    Field("JWT_ISSUER", "jwt_issuer", _claim_text),
    Field("JWT_AUDIENCE", "jwt_audience", _claim_text),
    Field("JWT_LEEWAY_SECONDS", "jwt_leeway_seconds", _int_range(0, JWT_LEEWAY_MAX)),
    Field("API_KEYS", "api_keys", _api_keys, secret=True),
    Field("CORS_ALLOWED_ORIGINS", "cors_allowed_origins", _origins),
    Field("DATABASE_POOL_MIN_SIZE", "database_pool_min_size", _int_range(0, 100)),
    Field("DATABASE_POOL_MAX_SIZE", "database_pool_max_size", _int_range(1, 1000)),
    Field(
        "DATABASE_STATEMENT_TIMEOUT_MS", "database_statement_timeout_ms", _int_range(1, 3_600_000)
    ),
    Field("DATABASE_APP_ROLE", "database_app_role", _role_name),
    Field("BODY_LIMIT_JSON", "body_limit_json", parse_byte_size),
    Field("BODY_LIMIT_URLENCODED", "body_limit_urlencoded", parse_byte_size),
    Field("BODY_LIMIT_INVOICE", "body_limit_invoice", parse_byte_size),
    Field("RATE_LIMIT_ENABLED", "rate_limit_enabled", _boolean),
    Field("RATE_LIMIT_WINDOW_MS", "rate_limit_window_ms", _positive_int(86_400_000)),
    Field("RATE_LIMIT_MAX_REQUESTS", "rate_limit_max_requests", _positive_int(10_000_000)),
    Field(
        "RATE_LIMIT_SENSITIVE_WINDOW_MS",
        "rate_limit_sensitive_window_ms",
        _positive_int(86_400_000),
    ),
    Field("RATE_LIMIT_SENSITIVE_MAX", "rate_limit_sensitive_max", _positive_int(10_000_000)),
    Field("RATE_LIMIT_API_KEY_MAX", "rate_limit_api_key_max", _positive_int(10_000_000)),
    Field("TRUST_PROXY", "trust_proxy", _trust_proxy),
    Field("REDIS_URL", "redis_url", _redis_url, secret=True),
    Field("REDIS_KEY_PREFIX", "redis_key_prefix", _key_prefix),
    Field("CACHE_TTL_SECONDS", "cache_ttl_seconds", _seconds),
    Field("CACHE_MAX_ENTRIES", "cache_max_entries", _positive_int(10_000_000)),
    Field("REDIS_ESCROW_CACHE_ENABLED", "redis_escrow_cache_enabled", _boolean),
    Field(
        "REDIS_ESCROW_CACHE_TTL_SECONDS", "redis_escrow_cache_ttl_seconds", parse_escrow_cache_ttl
    ),
    Field(
        "REDIS_ESCROW_LEDGER_GAP_THRESHOLD",
        "redis_escrow_ledger_gap_threshold",
        _int_range(0, 1_000_000),
    ),
    Field("METRICS_BEARER_TOKEN", "metrics_bearer_token", _secret(16), secret=True),
    Field("SENTRY_DSN", "sentry_dsn", _sentry_dsn, secret=True),
    Field("SENTRY_RELEASE", "sentry_release", _label),
    Field("SENTRY_ENVIRONMENT", "sentry_environment", _label),
    Field("CURSOR_SECRET", "cursor_secret", _secret(32), secret=True),
    Field("CURSOR_SECRET_FILE", "cursor_secret", _secret_file, fallback=True),
    Field("JWT_MAX_TTL_SECONDS", "jwt_max_ttl_seconds", _int_range(60, 31_536_000)),
    Field("SHUTDOWN_TIMEOUT_SECONDS", "shutdown_timeout_seconds", _int_range(0, 3600)),
    Field("IDEMPOTENCY_KEY_TTL_HOURS", "idempotency_key_ttl_hours", _hours),
    Field("SEP10_SIGNING_SECRET", "sep10_signing_secret", _stellar_seed, secret=True),
    Field("SEP10_SIGNING_SECRET_FILE", "sep10_signing_secret", _stellar_seed_file, fallback=True),
    Field("HOME_DOMAIN", "home_domain", _domain),
    Field("WEB_AUTH_DOMAIN", "web_auth_domain", _domain),
    Field("WEB_AUTH_ENDPOINT", "web_auth_endpoint", _http_url),
    Field("STELLAR_NETWORK", "stellar_network", _network_name),
    Field("SOROBAN_RPC_URL", "soroban_rpc_url", _rpc_url),
    Field("HORIZON_URL", "horizon_url", _http_url),
    Field("SEP10_CHALLENGE_TTL_SECONDS", "sep10_challenge_ttl_seconds", _int_range(60, 3600)),
    Field("SEP10_JWT_TTL_SECONDS", "sep10_jwt_ttl_seconds", _int_range(60, 86_400)),
    Field("SELF_SERVICE_TENANT", "self_service_tenant", _tenant),
    Field("SEP10_CLIENT_DOMAINS", "sep10_client_domains", _domains),
    Field("SEP10_CLIENT_DOMAIN_ALLOW_HTTP", "sep10_client_domain_allow_http", _boolean),
    Field("WORKER_POLL_INTERVAL_MS", "worker_poll_interval_ms", _int_range(10, 60_000)),
    Field("WORKER_BATCH_SIZE", "worker_batch_size", _int_range(1, 100)),
    Field("WORKER_CONCURRENCY", "worker_concurrency", _int_range(1, 64)),
    Field("WORKER_LEASE_SECONDS", "worker_lease_seconds", _int_range(1, 3600)),
    Field("JOB_RETRY_BASE_DELAY_MS", "job_retry_base_delay_ms", _int_range(1, 3_600_000)),
    Field("JOB_RETRY_MAX_DELAY_MS", "job_retry_max_delay_ms", _int_range(1, 3_600_000)),
    Field("EMBEDDED_WORKER", "embedded_worker", _choice("auto", "true", "false")),
    Field("WORKER_METRICS_PORT", "worker_metrics_port", _port),
    Field("WORKER_METRICS_HOST", "worker_metrics_host", _host),
    Field("WEBHOOK_SECRETS_KEY", "webhook_secrets_key", _fernet_keys, secret=True),
    Field("WEBHOOK_SECRETS_KEY_FILE", "webhook_secrets_key", _fernet_keys_file, fallback=True),
    Field("WEBHOOK_MAX_RETRIES", "webhook_max_retries", _int_range(0, 9)),
    Field("WEBHOOK_BASE_DELAY", "webhook_base_delay_ms", _int_range(1, 3_600_000)),
    Field("WEBHOOK_MAX_DELAY", "webhook_max_delay_ms", _int_range(1, 3_600_000)),
    Field("WEBHOOK_TIMEOUT_MS", "webhook_timeout_ms", _int_range(1, 60_000)),
    Field("ESCROW_STALE_AFTER_SECONDS", "escrow_stale_after_seconds", _int_range(1, 86_400)),
    Field("ESCROW_STALE_LEDGER_GAP", "escrow_stale_ledger_gap", _int_range(0, 1_000_000)),
    Field("WEBHOOK_ALLOW_INSECURE_LOOPBACK", "webhook_allow_insecure_loopback", _boolean),
    Field("SOROBAN_CB_FAILURE_THRESHOLD", "soroban_cb_failure_threshold", _int_range(1, 1000)),
    Field(
        "SOROBAN_CB_RECOVERY_TIMEOUT", "soroban_cb_recovery_timeout_ms", _int_range(0, 3_600_000)
    ),
    Field("SOROBAN_RPC_TIMEOUT_MS", "soroban_rpc_timeout_ms", _int_range(1, 120_000)),
    Field("ESCROW_ADDR_BY_INVOICE", "escrow_addr_by_invoice", _escrow_address_map),
    Field("ESCROW_SIGNING_MODE", "escrow_signing_mode", _signing_mode),
    Field("ESCROW_PLATFORM_SECRET", "escrow_platform_secret", _custody_seeds, secret=True),
    Field(
        "ESCROW_PLATFORM_SECRET_FILE",
        "escrow_platform_secret",
        _custody_seeds_file,
        fallback=True,
    ),
    Field(
        "RECONCILIATION_DRIFT_THRESHOLD", "reconciliation_drift_threshold", parse_drift_threshold
    ),
    Field("KYC_PROVIDER_URL", "kyc_provider_url", _http_url),
    Field("KYC_PROVIDER_API_KEY", "kyc_provider_api_key", _secret(8), secret=True),
    Field("KYC_PROVIDER_SECRET", "kyc_provider_secret", _secret(16), secret=True),
    Field("KYC_PROVIDER_TIMEOUT_MS", "kyc_provider_timeout_ms", _int_range(1, 60_000)),
    Field("KYC_WEBHOOK_TOLERANCE_SECONDS", "kyc_webhook_tolerance_seconds", _int_range(1, 3600)),
    Field("KYC_MOCK_DEFAULT_STATUS", "kyc_mock_default_status", _kyc_status),
    Field("SMTP_HOST", "smtp_host", _host),
    Field("SMTP_PORT", "smtp_port", _port),
    Field("SMTP_USER", "smtp_user", _claim_text),
    Field("SMTP_PASS", "smtp_pass", _secret(1), secret=True),
    Field("SMTP_FROM", "smtp_from", _email_address),
    Field("SMTP_MAX_RETRIES", "smtp_max_retries", _int_range(0, 9)),
    Field("SMTP_RETRY_BASE_DELAY_MS", "smtp_retry_base_delay_ms", _int_range(1, 3_600_000)),
    Field("SMTP_RETRY_MAX_DELAY_MS", "smtp_retry_max_delay_ms", _int_range(1, 3_600_000)),
    Field("SMTP_TIMEOUT_MS", "smtp_timeout_ms", _int_range(1, 120_000)),
    Field("SMTP_TLS_CA_FILE", "smtp_tls_ca_file", _readable_file),
    Field("MATURITY_REMINDER_DAYS", "maturity_reminder_days", _int_range(1, 90)),
    Field("APP_BASE_URL", "app_base_url", _http_url),
    Field("STORAGE_DIR", "storage_dir", _folder),
    Field("STORAGE_URL_SECRET", "storage_url_secret", _secret(32), secret=True),
    Field("STORAGE_URL_SECRET_FILE", "storage_url_secret", _secret_file, fallback=True),
    Field("S3_BUCKET", "s3_bucket", _bucket),
    Field("AWS_REGION", "aws_region", _region),
    Field("S3_ENDPOINT", "s3_endpoint", _http_url),
    Field("RETENTION_PURGE_DRY_RUN", "retention_purge_dry_run", _boolean),
)
# Settings a production deployment must set explicitly (their defaults are for development).
REQUIRED_IN_PRODUCTION = (
    "CURSOR_SECRET",
    "SEP10_SIGNING_SECRET",
    "HOME_DOMAIN",
    "WEBHOOK_SECRETS_KEY",
)


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Settings:
    """Settings from ``environ`` (default: the process env) over a ``.env`` file, if present.

    Raises ConfigError listing every failing key; reasons never include the value.
    """
    source: dict[str, str] = {}
    dotenv_path = env_file if env_file is not None else Path(".env")
    if dotenv_path.is_file():
        source.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    source.update(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    failed: set[str] = set()
    for field in FIELDS:
        raw = source.get(field.env)
        if raw is None or raw == "" or (field.fallback and field.attribute in values):
            continue
        if field.fallback and field.attribute in failed:
            continue
        try:
            values[field.attribute] = field.parse(raw)
        except ApiKeysError as error:
            problems += [(field.env, problem) for problem in error.problems]
            failed.add(field.attribute)
        except ValueError as error:
            problems.append((field.env, str(error)))
            failed.add(field.attribute)
    # Fields that failed keep their defaults here, so the rules that span several settings
    # can still be checked and every problem is reported in one pass.
    settings = Settings(**values)
    failed_keys = {key for key, _ in problems}
    problems += [p for p in _cross_checks(settings, source, failed_keys) if p[0] not in failed_keys]
    if problems:
        raise ConfigError(problems)
    return settings


def _cross_checks(
    settings: Settings, source: Mapping[str, str], failed_keys: set[str]
) -> list[tuple[str, str]]:
    """Rules that span several settings (``failed_keys``: settings that did not even parse)."""
    problems: list[tuple[str, str]] = []
    if "STELLAR_NETWORK" not in failed_keys:
        # The spec's boot gate: a mismatched pair is reported in the spec's words.
        try:
            resolve_network(settings.stellar_network, settings.soroban_rpc_url)
        except NetworkConfigError as error:
            problems.append((error.setting, error.message))
        if settings.environment == "production" and (
            settings.stellar_network is NetworkName.STANDALONE
        ):
            problems.append(
                ("STELLAR_NETWORK", "STANDALONE is for local and test use; refused in production")
            )
    if settings.database_pool_min_size > settings.database_pool_max_size:
        problems.append(("DATABASE_POOL_MIN_SIZE", "must not exceed DATABASE_POOL_MAX_SIZE"))
    # A bad REDIS_URL is reported on its own, not again as a missing one.
    if (
        settings.redis_escrow_cache_enabled
        and not settings.redis_url
        and ("REDIS_URL" not in failed_keys)
    ):
        problems.append(
            (
                "REDIS_ESCROW_CACHE_ENABLED",
                "requires REDIS_URL: the escrow cache lives in Redis (set REDIS_URL, or leave "
                "the escrow cache off)",
            )
        )
    if settings.environment == "production":
        problems += [
            (name, "is required when NODE_ENV=production")
            for name in REQUIRED_IN_PRODUCTION
            # As with JWT_SECRET, the value may come from a file named by <NAME>_FILE.
            if not source.get(name) and not source.get(name + "_FILE")
        ]
    secret = settings.jwt_secret
    if secret is not None:
        needed = max(JWT_HMAC_KEY_LENGTHS[name] for name in settings.jwt_algorithms)
        if len(secret.encode()) < needed:
            problems.append(
                ("JWT_SECRET", f"must be at least {needed} bytes for the JWT_ALGORITHMS listed")
            )
    if settings.job_retry_base_delay_ms > settings.job_retry_max_delay_ms:
        problems.append(("JOB_RETRY_BASE_DELAY_MS", "must not exceed JOB_RETRY_MAX_DELAY_MS"))
    if settings.webhook_base_delay_ms > settings.webhook_max_delay_ms:
        problems.append(("WEBHOOK_BASE_DELAY", "must not exceed WEBHOOK_MAX_DELAY"))
    if settings.environment in ("production", "staging") and (
        settings.webhook_allow_insecure_loopback
    ):
        problems.append(
            ("WEBHOOK_ALLOW_INSECURE_LOOPBACK", "must not be true in staging or production")
        )
    if settings.webhook_timeout_ms >= settings.worker_lease_seconds * 1000:
        # A delivery outliving its lease would be claimed and sent again beside itself.
        problems.append(("WEBHOOK_TIMEOUT_MS", "must be shorter than WORKER_LEASE_SECONDS"))
    mode = settings.escrow_signing_mode
    if mode is not SigningMode.STUBBED and settings.soroban_rpc_url is None:
        problems.append(
            ("ESCROW_SIGNING_MODE", f"{mode.value} sends transactions: set SOROBAN_RPC_URL")
        )
    if mode is SigningMode.CUSTODIAL and not settings.escrow_platform_secret:
        problems.append(
            ("ESCROW_PLATFORM_SECRET", "is required when ESCROW_SIGNING_MODE=custodial")
        )
    if settings.environment == "production" and settings.sep10_client_domain_allow_http:
        problems.append(("SEP10_CLIENT_DOMAIN_ALLOW_HTTP", "must not be true in production"))
    problems += _kyc_and_mail_checks(settings, failed_keys)
    if (
        settings.environment == "production"
        and not settings.s3_bucket
        and not source.get("STORAGE_URL_SECRET")
        and not source.get("STORAGE_URL_SECRET_FILE")
    ):
        problems.append(
            (
                "STORAGE_URL_SECRET",
                "is required when NODE_ENV=production and documents are stored locally "
                "(no S3_BUCKET)",
            )
        )
    if settings.s3_endpoint and not settings.s3_bucket:
        problems.append(("S3_ENDPOINT", "requires S3_BUCKET"))
    if settings.environment == "production" and secret is None and not settings.api_keys:
        problems.append(
            ("JWT_SECRET", "JWT_SECRET, JWT_SECRET_FILE or API_KEYS is required in production")
        )
    return problems


def _kyc_and_mail_checks(settings: Settings, failed_keys: set[str]) -> list[tuple[str, str]]:
    """The KYC provider is configured whole or not at all (the spec's gate: "KYC keys are
    half-configured" stops the process); SMTP credentials come in pairs; delays and the
    timeout fit the worker."""
    problems: list[tuple[str, str]] = []
    url, key = settings.kyc_provider_url, settings.kyc_provider_api_key
    if url is not None and key is None and "KYC_PROVIDER_API_KEY" not in failed_keys:
        problems.append(
            ("KYC_PROVIDER_API_KEY", "is required with KYC_PROVIDER_URL (set both or neither)")
        )
    if key is not None and url is None and "KYC_PROVIDER_URL" not in failed_keys:
        problems.append(
            ("KYC_PROVIDER_URL", "is required with KYC_PROVIDER_API_KEY (set both or neither)")
        )
    configured = url is not None or key is not None
    insecure = url is not None and not url.lower().startswith("https://")
    if insecure and settings.environment in ("staging", "production"):
        # The API key travels in every request to it.
        problems.append(("KYC_PROVIDER_URL", "must be https:// in staging and production"))
    if (
        configured
        and settings.kyc_provider_secret is None
        and "KYC_PROVIDER_SECRET" not in failed_keys
    ):
        problems.append(
            (
                "KYC_PROVIDER_SECRET",
                "is required with a KYC provider: its webhook is verified with it",
            )
        )
    if not configured and settings.kyc_provider_secret is not None:
        problems.append(
            (
                "KYC_PROVIDER_SECRET",
                "is set but no KYC provider is (set KYC_PROVIDER_URL and KYC_PROVIDER_API_KEY)",
            )
        )
    if (settings.smtp_user is None) != (settings.smtp_pass is None):
        missing = "SMTP_PASS" if settings.smtp_pass is None else "SMTP_USER"
        if missing not in failed_keys:
            problems.append((missing, "SMTP_USER and SMTP_PASS are set together or not at all"))
    if settings.smtp_retry_base_delay_ms > settings.smtp_retry_max_delay_ms:
        problems.append(("SMTP_RETRY_BASE_DELAY_MS", "must not exceed SMTP_RETRY_MAX_DELAY_MS"))
    lease_ms = settings.worker_lease_seconds * 1000
    if settings.smtp_timeout_ms * 4 >= lease_ms:
        # Connect, STARTTLS, login and DATA each wait up to the timeout: all within the lease.
        problems.append(("SMTP_TIMEOUT_MS", "times 4 must be shorter than WORKER_LEASE_SECONDS"))
    if settings.kyc_provider_timeout_ms >= lease_ms:
        problems.append(("KYC_PROVIDER_TIMEOUT_MS", "must be shorter than WORKER_LEASE_SECONDS"))
    return problems


def escrow_address_book(settings: Settings) -> EscrowAddressBook:
    """``ESCROW_ADDR_BY_INVOICE`` for this process's NODE_ENV (empty when unset)."""
    if settings.escrow_addr_by_invoice is None:
        return EscrowAddressBook(environment=settings.environment)
    return parse_address_book(settings.escrow_addr_by_invoice, settings.environment)


def services_config(settings: Settings) -> ServicesConfig:
    """The library configuration the environment describes (the shell reads, the library
    builds: see ``liquifact_adapters.composition``). The ledger is configured only when
    ``SOROBAN_RPC_URL`` is set: the default network's public RPC is never contacted
    unasked (``make run`` and the tests talk to no chain)."""
    return ServicesConfig(
        database_url=settings.database_url,
        database_app_role=settings.database_app_role,
        database_pool_min_size=settings.database_pool_min_size,
        database_pool_max_size=settings.database_pool_max_size,
        database_statement_timeout_ms=settings.database_statement_timeout_ms,
        redis_url=settings.redis_url,
        redis_key_prefix=settings.redis_key_prefix,
        cache_max_entries=settings.cache_max_entries,
        cursor_secret=settings.cursor_secret,
        idempotency_ttl_hours=settings.idempotency_key_ttl_hours,
        webhook_secrets_key=settings.webhook_secrets_key,
        webhook_max_retries=settings.webhook_max_retries,
        webhook_base_delay_ms=settings.webhook_base_delay_ms,
        webhook_max_delay_ms=settings.webhook_max_delay_ms,
        webhook_timeout_ms=settings.webhook_timeout_ms,
        escrow_stale_after_seconds=settings.escrow_stale_after_seconds,
        escrow_stale_ledger_gap=settings.escrow_stale_ledger_gap,
        webhook_allow_insecure_loopback=settings.webhook_allow_insecure_loopback,
        soroban_rpc_url=settings.soroban_rpc_url,
        network_passphrase=settings.network_passphrase,
        soroban_rpc_timeout_ms=settings.soroban_rpc_timeout_ms,
        soroban_cb_failure_threshold=settings.soroban_cb_failure_threshold,
        soroban_cb_recovery_timeout_ms=settings.soroban_cb_recovery_timeout_ms,
        escrow_addresses=escrow_address_book(settings),
        reconciliation_drift_threshold=settings.reconciliation_drift_threshold,
        escrow_signing_mode=settings.escrow_signing_mode,
        escrow_platform_secret=settings.escrow_platform_secret,
        kyc_provider_url=settings.kyc_provider_url if settings.kyc_provider_configured else None,
        kyc_provider_api_key=(
            settings.kyc_provider_api_key if settings.kyc_provider_configured else None
        ),
        kyc_provider_secret=settings.kyc_provider_secret,
        kyc_provider_timeout_ms=settings.kyc_provider_timeout_ms,
        kyc_webhook_tolerance_seconds=settings.kyc_webhook_tolerance_seconds,
        kyc_mock_default_status=settings.kyc_mock_status,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        smtp_user=settings.smtp_user,
        smtp_pass=settings.smtp_pass,
        smtp_from=settings.smtp_from,
        smtp_max_retries=settings.smtp_max_retries,
        smtp_retry_base_delay_ms=settings.smtp_retry_base_delay_ms,
        smtp_retry_max_delay_ms=settings.smtp_retry_max_delay_ms,
        smtp_timeout_ms=settings.smtp_timeout_ms,
        smtp_tls_ca_file=settings.smtp_tls_ca_file,
        maturity_reminder_days=settings.maturity_reminder_days,
        app_base_url=settings.app_base_url,
        storage_dir=settings.storage_dir,
        storage_url_secret=settings.storage_url_secret,
        s3_bucket=settings.s3_bucket,
        aws_region=settings.aws_region,
        s3_endpoint=settings.s3_endpoint,
        max_document_bytes=settings.body_limit_invoice,
        retention_purge_dry_run=settings.retention_purge_dry_run,
    )
