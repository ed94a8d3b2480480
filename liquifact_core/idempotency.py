"""Idempotency keys: a retried request with the same key and body gets the first answer back.

A record is claimed (inserted ``in_progress``) in a transaction of its own before the request
runs, then completed with the stored response in the same transaction as the request's effect.
The fingerprint binds a key to one request: method, path, principal and canonical body.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from liquifact_core.errors import Conflict, FieldError, ValidationError

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN = "^[A-Za-z0-9._:-]{8,128}$"
_KEY = re.compile(r"[A-Za-z0-9._:\-]{8,128}")


class RequestInProgress(Conflict):
    """Another request holds the key (or took over our abandoned claim); retry shortly."""

    code = "IDEMPOTENCY_REQUEST_IN_PROGRESS"
    retryable = True


class IdempotencyState(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


@attrs.frozen
class StoredResponse:
    """A response exactly as first sent: replays return these bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@attrs.frozen
class IdempotencyRecord:
    tenant_id: str
    key: str
    fingerprint: str  # 64 hex chars of SHA-256
    state: IdempotencyState
    claim_id: str  # who holds an in-progress claim; completion must present it
    created_at: datetime
    expires_at: datetime  # the record may be purged (and the key reused) from then on
    locked_until: datetime  # an in-progress claim older than this was abandoned (crash)
    response: StoredResponse | None = None


def parse_idempotency_key(raw: Any) -> str:
    """8-128 of ``[A-Za-z0-9._:-]``; a missing or other key is a 400."""
    if raw is None:
        raise ValidationError(
            f"The {IDEMPOTENCY_HEADER} header is required for this request.",
            code="IDEMPOTENCY_KEY_REQUIRED",
            field_errors=[FieldError(IDEMPOTENCY_HEADER, "is required", "REQUIRED")],
        )
    if not isinstance(raw, str) or not _KEY.fullmatch(raw):
        raise ValidationError(
            f"The {IDEMPOTENCY_HEADER} header must be 8-128 of [A-Za-z0-9._:-].",
            code="INVALID_IDEMPOTENCY_KEY",
            field_errors=[
                FieldError(IDEMPOTENCY_HEADER, "must be 8-128 of [A-Za-z0-9._:-]", "INVALID_VALUE")
            ],
        )
    return raw


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII kept: equal JSON values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_fingerprint(method: str, path: str, principal: str, body: Any) -> str:
    """SHA-256 (hex) of the method, path, calling principal and canonical JSON body.

    The principal is part of it so that another caller of the same tenant who (by chance or
    on purpose) sends the same key is refused instead of being shown someone else's answer.
    Defined for any text, lone surrogates included (the HTTP body parser refuses those before
    this runs; surrogates encode to bytes no valid UTF-8 text has, so nothing collides).
    """
    parts: Sequence[str] = (method.upper(), path, principal, canonical_json(body))
    digest = hashlib.sha256()
    for part in parts:
        # surrogatepass: a lone surrogate (a JSON "\\ud800" escape from a library caller) gets
        # its own bytes instead of crashing here; the use case then refuses it as a bad field.
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big"))  # length-prefixed: no ambiguity
        digest.update(encoded)
    return digest.hexdigest()


def claim_lost() -> RequestInProgress:
    """The in-progress claim on an Idempotency-Key is gone (taken over after its lease lapsed);
    raised by every store's ``IdempotencyRepository.complete``."""
    return RequestInProgress("The claim on this Idempotency-Key was lost; retry.")
