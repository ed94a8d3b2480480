"""A tenant's webhook endpoint: the URL rules (SSRF), the stored record, and the delivery jobs
an invoice transition writes into the outbox.

The secret is never held here in clear: ``WebhookEndpoint.sealed_secret`` is what a
``SecretBox`` (a port; Fernet in ``liquifact_adapters.webhooks``) sealed, and only the
delivery handler opens it. A new secret is shown to the admin once, when it is created.

URL rules (issue 11, item 6): ``https`` only; plain ``http`` only to a loopback host and only
when the deployment allows it (``WEBHOOK_ALLOW_INSECURE_LOOPBACK``, for development); no user
info (it would be a credential stored and shown in clear) and no fragment; an IP-literal host
must be a public address (``address_allowed``). Host names are resolved by an
``AddressPolicy`` (a port) when the URL is saved and again at every delivery, so a name that
later resolves to a private address (DNS rebinding) is refused then too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import attrs

from liquifact_core.errors import FieldError, ValidationError
from liquifact_core.invoices import Transition
from liquifact_core.jobs import (
    JOB_ID_PATTERN,
    JOB_TYPE_PATTERN,
    MAX_ATTEMPTS_LIMIT,
    WEBHOOK_DELIVERY,
    Job,
    JobQuery,
    JobStatus,
    new_job,
)
from liquifact_core.rules import Checked, Pattern, QueryInteger, SetOf, query_error, rule_field
from liquifact_core.webhooks import event_fields, iso_millis

MAX_URL_LENGTH = 2048
# The wire shape of a webhook URL: http(s), any case, then printable ASCII without spaces
# (RFC 3986: a URI is ASCII; an international name is sent in its xn-- form).
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[!-~]+$"
# The spec's WEBHOOK_MAX_RETRIES default: retries after the first failure (so 4 attempts).
DEFAULT_MAX_RETRIES = 3
TEST_EVENT = "webhook.test"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# A DNS name: labels of letters, digits and hyphens (after IDNA encoding), 253 characters.
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# What a resolver (inet_aton) reads as an IPv4 address: one to four dot-separated numbers,
# each decimal, octal (leading 0) or hex (0x), e.g. 0x7f.1, 2130706433, 0177.0.0.1.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@attrs.frozen
class WebhookEndpoint:
    """Where a tenant's events go: ``url`` (checked by ``check_webhook_url``), its ``host``
    (what audit events and listings show: never the path or query), the sealed secret
    (``SecretBox.seal`` output; None until the first rotation) and when each changed (UTC)."""

    tenant_id: str
    url: str = attrs.field(repr=False)
    host: str
    updated_at: datetime
    sealed_secret: str | None = attrs.field(default=None, repr=False)
    secret_rotated_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Deliveries are written only for an endpoint with both a URL and a secret."""
        return self.sealed_secret is not None


@attrs.frozen
class WebhookUrl:
    """A URL that passed ``check_webhook_url``: the URL as given, its host (lower case, IDNA,
    no brackets), port and whether the host is an IP literal."""

    url: str
    host: str
    port: int
    is_ip_literal: bool


def address_allowed(address: IPAddress, *, allow_loopback: bool = False) -> bool:
    """Whether a webhook may be sent to ``address``: a global unicast address, or a loopback
    one when ``allow_loopback``. Refused: private (RFC 1918, fc00::/7), loopback, link-local
    (169.254/16 and fe80::/10, which hold the cloud metadata services), shared (100.64/10),
    multicast, reserved (IPv6 ::/8 too: IPv4-compatible and NAT64 addresses), site-local
    (fec0::/10) and unspecified addresses. An IPv4-mapped or 6to4-style IPv6 address is judged
    by the IPv4 address inside it."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return address_allowed(inner, allow_loopback=allow_loopback)
    if address.is_loopback:
        return allow_loopback
    # Python 3.11 counts reserved IPv6 space (::/8: IPv4-compatible, NAT64's 64:ff9b::/96)
    # and the deprecated site-local fec0::/10 as global: refused here explicitly.
    if address.is_reserved or (
        isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    ):
        return False
    return address.is_global and not address.is_multicast


def _refuse(message: str, code: str) -> ValidationError:
    return ValidationError.for_field("url", message, code)


def check_webhook_url(raw: object, *, allow_insecure_loopback: bool = False) -> WebhookUrl:
    """The URL a tenant's webhooks are sent to, checked (see the module docstring).

    ValidationError on field ``url`` with code WEBHOOK_URL_INVALID (not an absolute URL of at
    most ``MAX_URL_LENGTH`` characters, user info, fragment, bad host or port (0 included), a
    host a resolver would read as a number such as ``0x7f.1``), WEBHOOK_URL_NOT_HTTPS or
    WEBHOOK_URL_BLOCKED (an IP literal that is not public).
    """
    if not isinstance(raw, str) or not raw or len(raw) > MAX_URL_LENGTH:
        raise _refuse(
            f"must be an absolute https URL of at most {MAX_URL_LENGTH} characters",
            "WEBHOOK_URL_INVALID",
        )
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise _refuse("must not contain spaces or control characters", "WEBHOOK_URL_INVALID")
    try:
        parts = urlsplit(raw)
        port = parts.port
        hostname = parts.hostname
    except ValueError:
        raise _refuse("is not a valid URL", "WEBHOOK_URL_INVALID") from None
    if parts.username is not None or parts.password is not None:
        raise _refuse("must not carry user info (credentials)", "WEBHOOK_URL_INVALID")
    if parts.fragment or raw.endswith("#"):
        raise _refuse("must not carry a fragment", "WEBHOOK_URL_INVALID")
    if not hostname:
        raise _refuse("must name a host", "WEBHOOK_URL_INVALID")
    if port == 0:
        raise _refuse("has an invalid port", "WEBHOOK_URL_INVALID")
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise _refuse("must be an https URL", "WEBHOOK_URL_NOT_HTTPS")
    host, literal = _host(hostname)
    loopback = _is_loopback_host(host, literal)
    if scheme == "http" and not (allow_insecure_loopback and loopback):
        raise _refuse("must be an https URL", "WEBHOOK_URL_NOT_HTTPS")
    if literal is not None and not address_allowed(literal, allow_loopback=allow_insecure_loopback):
        raise _refuse(
            "must not point to a private, loopback, link-local or metadata address",
            "WEBHOOK_URL_BLOCKED",
        )
    if literal is None and loopback and not allow_insecure_loopback:
        raise _refuse(
            "must not point to a private, loopback, link-local or metadata address",
            "WEBHOOK_URL_BLOCKED",
        )
    return WebhookUrl(
        url=raw,
        host=host,
        port=port if port is not None else (443 if scheme == "https" else 80),
        is_ip_literal=literal is not None,
    )


def _host(hostname: str) -> tuple[str, IPAddress | None]:
    try:
        return hostname, ipaddress.ip_address(hostname)
    except ValueError:
        pass
    try:
        encoded = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _refuse("has an invalid host", "WEBHOOK_URL_INVALID") from None
    name = encoded.rstrip(".")
    # Forms that are numbers to a resolver (0x7f.1, 2130706433, and fullwidth digits, which
    # IDNA maps to ASCII ones) are refused outright: only canonical IP literals are judged.
    if _NUMERIC_HOST.fullmatch(name):
        raise _refuse("has an invalid host", "WEBHOOK_URL_INVALID")
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        raise _refuse("has an invalid host", "WEBHOOK_URL_INVALID")
    return name, None


def _is_loopback_host(host: str, literal: IPAddress | None) -> bool:
    if literal is not None:
        return literal.is_loopback
    return host in LOOPBACK_NAMES or host.endswith(".localhost")


def delivery_payload(transition: Transition) -> dict[str, Any]:
    """What a delivery job stores: the spec's payload without ``timestamp``, which the
    handler sets when it sends (``webhooks.with_timestamp``)."""
    return event_fields(transition)


def test_payload(tenant_id: str, at: datetime) -> dict[str, Any]:
    """The payload of an admin's test event (``webhook.test``): no invoice, no transition."""
    return {
        "event": TEST_EVENT,
        "invoiceId": None,
        "tenantId": tenant_id,
        "transition": None,
        "requestedAt": iso_millis(at),
    }


def delivery_job(
    job_id: str, tenant_id: str, payload: Mapping[str, Any], now: datetime, max_retries: int
) -> Job:
    """A ``webhook_delivery`` job of ``payload``, due at once, with ``max_retries`` + 1
    attempts (``max_retries``: the spec's WEBHOOK_MAX_RETRIES, 0..9)."""
    return new_job(
        job_id=job_id,
        tenant_id=tenant_id,
        job_type=WEBHOOK_DELIVERY,
        payload=payload,
        now=now,
        max_attempts=check_max_retries(max_retries) + 1,
    )


def check_max_retries(value: int) -> int:
    """WEBHOOK_MAX_RETRIES: 0..``MAX_ATTEMPTS_LIMIT`` - 1 (the spec's hard maximum of 10
    attempts); ValueError otherwise."""
    if isinstance(value, bool) or not 0 <= value < MAX_ATTEMPTS_LIMIT:
        raise ValueError(f"webhook max retries must be 0-{MAX_ATTEMPTS_LIMIT - 1}")
    return value


@attrs.frozen
class WebhookSettings(Checked):
    """A tenant's webhook endpoint as an admin sends it (``PUT /v1/admin/webhook``,
    ``{url}``). The rule here is the wire shape; ``check_webhook_url`` (with the deployment's
    loopback setting) and the ``AddressPolicy`` decide whether the URL is accepted."""

    url: str = rule_field(
        Pattern(
            URL_PATTERN,
            "must be an absolute https URL of printable ASCII without spaces",
            MAX_URL_LENGTH,
        )
    )


@attrs.frozen
class JobsQuery(Checked):
    """Which of the tenant's jobs to list (``GET /v1/admin/jobs``), newest first: statuses
    (``status=dead`` lists the dead letters), a job type, the ``cursor`` of the previous
    page (its ``nextCursor``) and a ``limit`` of 1-100."""

    status: frozenset[JobStatus] = rule_field(SetOf(JobStatus), default=frozenset())
    job_type: str | None = rule_field(
        Pattern(JOB_TYPE_PATTERN, "must be a job type such as webhook_delivery", 64),
        wire="type",
        default=None,
        optional=True,
    )
    cursor: str | None = rule_field(
        Pattern(JOB_ID_PATTERN, "must be a nextCursor value from an earlier page", 124),
        default=None,
        optional=True,
    )
    limit: int = rule_field(QueryInteger(1, 100), default=20)

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The jobs query has invalid parameters.")

    def for_tenant(self, tenant_id: str) -> JobQuery:
        """The repository query of this page in ``tenant_id``."""
        return JobQuery(tenant_id, self.status, self.job_type, self.cursor, self.limit)
