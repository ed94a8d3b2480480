"""Small field parsers that collect every problem of a payload before failing once."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar

from liquifact_core.errors import FieldError, ValidationError

T = TypeVar("T")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
REASON_MAX = 1024
METADATA_MAX_BYTES = 4096


class FieldCollector:
    """Runs parsers field by field and remembers every failure."""

    def __init__(self, payload: Mapping[str, Any], allowed: frozenset[str]) -> None:
        self.payload = payload
        self.errors: list[FieldError] = [
            FieldError(name, "is not a known field", "UNKNOWN_FIELD")
            for name in sorted(set(payload) - allowed)
        ]

    def take(self, name: str, parse: Callable[[Any], T], *, required: bool = True) -> T | None:
        if name not in self.payload or (self.payload[name] is None and not required):
            if required:
                self.errors.append(FieldError(name, "is required", "REQUIRED"))
            return None
        try:
            return parse(self.payload[name])
        except ValidationError as error:
            if error.field_errors:
                self.errors.extend(FieldError(name, e.message, e.code) for e in error.field_errors)
            else:
                self.errors.append(FieldError(name, error.message, "INVALID_VALUE"))
            return None

    def fail(self, name: str, message: str, code: str = "INVALID_VALUE") -> None:
        self.errors.append(FieldError(name, message, code))

    def raise_if_any(self, message: str = "The request has invalid fields.") -> None:
        if self.errors:
            raise ValidationError(message, field_errors=self.errors)


def text(min_len: int, max_len: int) -> Callable[[Any], str]:
    """A string of ``min_len``..``max_len`` characters after trimming, no control characters."""

    def parse(raw: Any) -> str:
        if not isinstance(raw, str):
            raise ValidationError("must be a string")
        value = raw.strip()
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise ValidationError("must not contain control characters")
        if not min_len <= len(value) <= max_len:
            raise ValidationError(f"must be {min_len}-{max_len} characters")
        return value

    return parse


def email(raw: Any) -> str:
    if not isinstance(raw, str) or len(raw) > 254 or not _EMAIL.fullmatch(raw):
        raise ValidationError("must be an email address")
    return raw


def iso_date(raw: Any) -> date:
    if not isinstance(raw, str) or not _DATE.fullmatch(raw):
        raise ValidationError("must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError as error:
        raise ValidationError("is not a real calendar date") from error


def integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        # bool is an int in Python; a JSON true is not a number.
        if type(raw) is not int or not low <= raw <= high:
            raise ValidationError(f"must be an integer from {low} to {high}")
        return raw

    return parse


def json_object(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationError("must be a JSON object")
    if len(json.dumps(raw, separators=(",", ":"))) > METADATA_MAX_BYTES:
        raise ValidationError(f"must be at most {METADATA_MAX_BYTES} bytes as JSON")
    return raw


def reason(raw: Any) -> str:
    """A human reason: control characters are stripped, then 1-1024 characters must remain."""
    if raw is None:
        raise ValidationError.for_field("reason", "is required for this transition", "REQUIRED")
    if not isinstance(raw, str):
        raise ValidationError.for_field("reason", "must be a string", "INVALID_REASON")
    cleaned = "".join(ch for ch in raw if unicodedata.category(ch) != "Cc").strip()
    if not 1 <= len(cleaned) <= REASON_MAX:
        raise ValidationError.for_field(
            "reason", f"must be 1-{REASON_MAX} characters", "INVALID_REASON"
        )
    return cleaned


# The e-mail rule's pattern, for the generated API document (stated once, here).
EMAIL_PATTERN = _EMAIL.pattern
