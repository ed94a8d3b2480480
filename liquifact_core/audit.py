"""Audit events: an append-only record of who did what to which resource.

Before an event is stored its metadata is *redacted* (``redact``): the spec's rule that
sensitive fields (``password``, ``token``, ``secret``, ``apiKey``, ``privateKey`` ...) never
reach the audit trail, which can never be changed afterwards. ``AuditEvent.by`` redacts, and
every ``AuditLog`` adapter redacts again on ``append`` (``redacted``), so an event built by
hand is covered too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from liquifact_core.invoices import Actor

REDACTED = "[redacted]"
# A key is sensitive when its folded form (lower case, without "_" and "-") contains one of
# these anywhere ("passwordHash", "x-api-key", "userPrivateKey") ...
_SENSITIVE_ANYWHERE = (
    "password",
    "passwd",
    "passphrase",
    "apikey",
    "privatekey",
    "authorization",
    "cookie",
    "mnemonic",
    "credential",
    # Credentials whose name starts with "secret" or "seed" rather than ending with it
    # (Stellar's "secretKey", AWS's "secret_access_key", a wallet's "seedPhrase").
    "secretkey",
    "secretaccess",
    "seedphrase",
    "signingkey",
    "encryptionkey",
)
# ... or ends with one of these ("accessToken", "clientSecret", "webhookSecret", "seed"), so
# that names merely starting with them ("secretCreated", "tokenType") keep their values.
_SENSITIVE_SUFFIXES = (
    "secret",
    "secrets",
    "token",
    "tokens",
    "seed",
    "seeds",
    "signature",
    "jwt",
)
# Values that are credentials whatever their key: bearer/basic credentials, JWTs, LiquiFact
# API keys, Stellar secret seeds, and the user info and query string of URLs.
_VALUE_RULES = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\blf_[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\bS[A-Z2-7]{55}\b"), REDACTED),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@"), rf"\1{REDACTED}@"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s?#]*)\?[^\s#]*"), rf"\1?{REDACTED}"),
)
# Metadata nested deeper than this is cut (an audit record is not a document store).
_MAX_DEPTH = 16


def is_sensitive_key(key: str) -> bool:
    """Whether the value under ``key`` is never stored (see the module docstring)."""
    folded = key.lower().replace("_", "").replace("-", "")
    return any(marker in folded for marker in _SENSITIVE_ANYWHERE) or folded.endswith(
        _SENSITIVE_SUFFIXES
    )


def redact_text(text: str) -> str:
    """``text`` with every credential-looking part replaced by ``[redacted]``."""
    for pattern, replacement in _VALUE_RULES:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, depth: int = 0) -> Any:
    """A copy of a JSON-like ``value`` fit for the audit trail: the values of sensitive keys
    (``is_sensitive_key``) and credential-looking text (``redact_text``) replaced by
    ``[redacted]``, at any depth. Idempotent: redacting twice changes nothing more."""
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            str(key): REDACTED
            if is_sensitive_key(str(key)) and item is not None
            else redact(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, depth + 1) for item in value]
    return value


@attrs.frozen
class AuditEvent:
    id: str
    tenant_id: str
    actor_id: str
    actor_role: str
    action: str  # e.g. "invoice.created", "invoice.pending_to_approved"
    resource_type: str
    resource_id: str
    at: datetime
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def by(
        cls,
        actor: Actor,
        *,
        event_id: str,
        tenant_id: str,
        action: str,
        resource: tuple[str, str],
        at: datetime,
        metadata: Mapping[str, Any],
    ) -> AuditEvent:
        """What ``actor`` did (``action``) to ``resource`` (type, id) at ``at``; the metadata
        is copied and redacted (``redact``), so the event never shares a caller's mapping and
        never carries a secret."""
        resource_type, resource_id = resource
        return cls(
            id=event_id,
            tenant_id=tenant_id,
            actor_id=actor.id,
            actor_role=actor.role.value,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            at=at,
            metadata=redact(metadata),
        )

    @property
    def invoice_id(self) -> str | None:
        """The invoice this event is about: the resource when it is an invoice, else the
        metadata's ``invoiceId`` (a commitment's, a webhook delivery's), else None. The SQL
        stores compute the same value in the ``invoice_id`` column (migration 0014)."""
        if self.resource_type == "invoice":
            return self.resource_id
        named = self.metadata.get("invoiceId")
        return named if isinstance(named, str) else None


def redacted(event: AuditEvent) -> AuditEvent:
    """``event`` with its metadata redacted (what an ``AuditLog`` stores)."""
    clean = redact(event.metadata)
    return event if clean == event.metadata else attrs.evolve(event, metadata=clean)


def snapshots(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``before`` / ``after`` metadata of a change (None: the thing did not exist)."""
    return {
        "before": None if before is None else dict(before),
        "after": None if after is None else dict(after),
    }
