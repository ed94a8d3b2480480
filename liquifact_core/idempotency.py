"""Idempotency keys: a retried request with the same key gets the first outcome back.

A record is claimed (inserted ``in_progress``) in a transaction of its own before the use case
runs, then completed with the use case's outcome in the same transaction as its effect. The
outcome is kept in domain terms (the result, or the domain error that answered), never as an
HTTP response: each caller renders it (the HTTP shell replays the same status and body). The
fingerprint binds a key to one request: the operation, the principal and the typed request.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from liquifact_core.commitments import Commitment
from liquifact_core.documents import UploadTicket
from liquifact_core.errors import (
    Conflict,
    FieldError,
    Forbidden,
    LiquifactError,
    NotFound,
    StaleVersion,
    Unauthenticated,
    ValidationError,
)

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


def _field_errors(errors: Sequence[FieldError]) -> tuple[FieldError, ...]:
    return tuple(errors)


class ErrorKind(enum.StrEnum):
    """The family of a recorded domain error: enough to raise an error of the same class
    again (the HTTP shell maps the family to the status, as for a live error)."""

    VALIDATION = "validation"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    STALE_VERSION = "stale_version"
    CONFLICT = "conflict"


# Most specific first: StaleVersion is not a Conflict, InvalidTransition is.
_ERROR_CLASSES: tuple[tuple[ErrorKind, type[LiquifactError]], ...] = (
    (ErrorKind.VALIDATION, ValidationError),
    (ErrorKind.UNAUTHENTICATED, Unauthenticated),
    (ErrorKind.FORBIDDEN, Forbidden),
    (ErrorKind.NOT_FOUND, NotFound),
    (ErrorKind.STALE_VERSION, StaleVersion),
    (ErrorKind.CONFLICT, Conflict),
)


@attrs.frozen
class RecordedError:
    """A domain error that answered a request, as stored under its idempotency key.

    Only errors the request itself caused are recorded (the kinds above): a retry of the same
    request would meet them again. ``Unavailable`` and unexpected errors are never recorded:
    the claim is released so that a retry runs the use case again.
    """

    kind: ErrorKind
    code: str
    message: str
    field_errors: tuple[FieldError, ...] = attrs.field(default=(), converter=_field_errors)
    retryable: bool = False

    @classmethod
    def of(cls, error: LiquifactError) -> RecordedError | None:
        """The record of ``error``, or None if it is not the request's own outcome."""
        if isinstance(error, RequestInProgress) or error.retryable:
            # About the key, or a passing state (a retry may succeed): never the answer to keep.
            return None
        for kind, error_class in _ERROR_CLASSES:
            if isinstance(error, error_class):
                return cls(kind, error.code, error.message, error.field_errors, error.retryable)
        return None

    def to_error(self) -> LiquifactError:
        """An error of the recorded family with the same code, message and field errors."""
        error_class = dict(_ERROR_CLASSES)[self.kind]
        return error_class(
            self.message, code=self.code, field_errors=self.field_errors, retryable=self.retryable
        )


def copy_context(context: Mapping[str, str]) -> dict[str, str]:
    """A private copy of a caller's context notes (attrs converter)."""
    return dict(context)


# The results an idempotent use case can record (funding intents, presigned uploads); each
# operation's fingerprint names it, so a key only ever replays its own operation's result.
IdempotentResult = Commitment | UploadTicket


@attrs.frozen
class RecordedOutcome:
    """What the first request under a key came to: its ``result`` or its ``error`` (exactly
    one is set), and ``context``: what the caller asked to keep about that first attempt so
    that it can answer a replay as it answered the first time (HTTP: the correlation id and
    path that its problem body named). The core stores ``context`` and never reads it."""

    result: IdempotentResult | None = None
    error: RecordedError | None = None
    context: Mapping[str, str] = attrs.field(factory=dict, converter=copy_context, hash=False)

    def __attrs_post_init__(self) -> None:
        if (self.result is None) == (self.error is None):
            raise ValueError("an outcome has exactly one of result and error")


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
    outcome: RecordedOutcome | None = None  # set when completed


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


def request_fingerprint(operation: str, principal: str, request: Any) -> str:
    """SHA-256 (hex) of the operation's name, the calling principal and the request (a JSON
    value: the typed request's fields as plain values, canonicalised).

    The principal is part of it so that another caller of the same tenant who (by chance or
    on purpose) sends the same key is refused instead of being shown someone else's answer.
    Defined for any text, lone surrogates included (the HTTP body parser refuses those before
    this runs; surrogates encode to bytes no valid UTF-8 text has, so nothing collides).
    """
    parts: Sequence[str] = (operation, principal, canonical_json(request))
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
