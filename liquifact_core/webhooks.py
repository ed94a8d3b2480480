"""Signed tenant webhooks: the payload of an invoice transition, its signature, and the
verifier a receiver runs (``verify_signature``; see docs/webhooks.md).

The body is JSON with keys sorted at every level and no insignificant whitespace, UTF-8.
The ``X-Signature`` header is ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` where the HMAC key is
the tenant's webhook secret and the message is ``"<t>." + raw body``. Receivers must verify
against the raw bytes they received, never a re-serialisation.

Library users import ``verify_signature`` and its errors from here::

    from liquifact_core.webhooks import SignatureError, verify_signature
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from liquifact_core.invoices import Transition

SIGNATURE_HEADER = "X-Signature"
SCHEME = "v1"
# The spec's tolerance: a signature more than five minutes from the receiver's clock, either
# way, is refused (replays and badly skewed clocks).
TOLERANCE = timedelta(minutes=5)
# A header longer than this is refused before any parsing (several v1 values during a secret
# rotation fit easily).
MAX_HEADER_LENGTH = 1024

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


class SignatureError(ValueError):
    """The request is not a genuine, fresh webhook: refuse it (HTTP 400 or 401)."""


class MalformedSignature(SignatureError):
    """The header is missing or not ``t=<digits>,v1=<64 hex>[,v1=...]``."""


class StaleSignature(SignatureError):
    """The signature's timestamp is outside the tolerance window of ``now``."""


class SignatureMismatch(SignatureError):
    """No ``v1`` value is the HMAC of this body and timestamp under this secret."""


def event_name(transition: Transition) -> str:
    """``invoice.<from>_to_<to>``; creation (no from state) is ``invoice.created``."""
    if transition.from_status is None:
        return "invoice.created"
    return f"invoice.{transition.from_status.value}_to_{transition.to_status.value}"


def iso_millis(moment: datetime) -> str:
    """An instant as the spec writes it: UTC, milliseconds, ``Z`` (2025-01-15T12:00:00.000Z)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("Webhook times must be timezone-aware.")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_fields(transition: Transition) -> dict[str, Any]:
    """The spec's payload of one invoice transition without ``timestamp`` (what a delivery job
    stores): event, invoiceId, tenantId and transition {actor, from, reason, to,
    transitionedAt}."""
    return {
        "event": event_name(transition),
        "invoiceId": transition.invoice_id,
        "tenantId": transition.tenant_id,
        "transition": {
            "actor": transition.actor_id,
            "from": None if transition.from_status is None else transition.from_status.value,
            "reason": transition.reason,
            "to": transition.to_status.value,
            "transitionedAt": iso_millis(transition.at),
        },
    }


def with_timestamp(fields: Mapping[str, Any], sent_at: datetime) -> dict[str, Any]:
    """The body sent for stored payload ``fields``: the fields plus ``timestamp`` (when the
    event was emitted)."""
    return {**fields, "timestamp": iso_millis(sent_at)}


def transition_payload(transition: Transition, sent_at: datetime) -> dict[str, Any]:
    """The spec's whole payload of one invoice transition, emitted at ``sent_at``."""
    return with_timestamp(event_fields(transition), sent_at)


def serialise(payload: Any) -> bytes:
    """The body exactly as sent: sorted keys at every level, compact, UTF-8."""
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("A webhook secret cannot be empty.")
    return key


def compute_signature(secret: str | bytes, timestamp: int, raw_body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>." + raw_body`` under ``secret``."""
    message = str(int(timestamp)).encode("ascii") + b"." + bytes(raw_body)
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, raw_body: bytes, at: datetime) -> str:
    """The ``X-Signature`` value for ``raw_body`` sent at ``at`` (whole seconds)."""
    timestamp = int(at.timestamp())
    return f"t={timestamp},{SCHEME}={compute_signature(secret, timestamp, raw_body)}"


def parse_signature_header(header: str) -> tuple[int, list[str]]:
    """The timestamp and the ``v1`` signatures of a header; MalformedSignature if it is not
    exactly one ``t`` and at least one ``v1`` (other schemes are ignored, for future ones)."""
    if not isinstance(header, str) or not header or len(header) > MAX_HEADER_LENGTH:
        raise MalformedSignature("The signature header is missing or too long.")
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise MalformedSignature("Each part of the signature header is name=value.")
        if name == "t":
            timestamps.append(value)
        elif name == SCHEME:
            signatures.append(value)
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        raise MalformedSignature("The signature header needs one t=<unix seconds>.")
    if not signatures or not all(_HEX_SHA256.fullmatch(s) for s in signatures):
        raise MalformedSignature("The signature header needs v1=<64 lower-case hex digits>.")
    return int(timestamps[0]), signatures


def verify_signature(
    secret: str | bytes,
    raw_body: bytes | str,
    header: str,
    *,
    now: datetime | None = None,
    tolerance: timedelta = TOLERANCE,
) -> int:
    """Check a received webhook; return the signing time (unix seconds) when it is genuine.

    ``raw_body`` is the request body exactly as received (a str is taken as its UTF-8 bytes);
    ``header`` the ``X-Signature`` value; ``now`` the receiver's time (default: the current
    time). Raises MalformedSignature (bad header), StaleSignature (the timestamp is more than
    ``tolerance``, default five minutes, from ``now``) or SignatureMismatch (wrong secret or a
    changed body), all SignatureError. Signatures are compared in constant time.
    """
    timestamp, signatures = parse_signature_header(header)
    current = datetime.now(UTC) if now is None else now
    # In seconds, not datetimes: a 12-digit timestamp is past the datetime range.
    if abs(current.timestamp() - timestamp) > tolerance.total_seconds():
        raise StaleSignature("The signature is outside the accepted time window.")
    body = raw_body.encode("utf-8") if isinstance(raw_body, str) else bytes(raw_body)
    expected = compute_signature(secret, timestamp, body)
    # Compare against every candidate, without stopping early, so the time taken says
    # nothing about which one (if any) matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureMismatch("The signature does not match the body.")
    return timestamp
