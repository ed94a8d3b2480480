"""The text rules at the HTTP edge: what a request may carry as text before any route logic.

A JSON string may spell an unpaired surrogate (``"\\ud800"``), which is not a Unicode scalar
value and has no UTF-8 form, and NUL (``"\\u0000"``), which PostgreSQL text cannot hold; a
query string may percent-encode NUL (``%00``), other control characters, or bytes that are
not UTF-8 (``%ff``). Such text is refused here with 400 naming the field, before it reaches a
fingerprint, an idempotency claim, a cache key or a store. The rule itself
(``liquifact_core.validation.is_storable_text``) lives in the core, which applies it again for
library callers. docs/security.md ("Text rules") lists every rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import unquote_to_bytes

from liquifact_core.errors import FieldError
from liquifact_core.validation import INVALID_TEXT, safe_path_segment
from liquifact_http.problems import Problem

# Enough to show a client what to fix without echoing a whole hostile body back.
MAX_REPORTED = 20
BODY_TEXT_MESSAGE = "must be Unicode text without unpaired surrogates or NUL characters"
BODY_KEY_MESSAGE = "is a key that is not Unicode text or holds a NUL character"
QUERY_TEXT_MESSAGE = "must be UTF-8 text without control characters"
# A query string of printable ASCII without percent escapes decodes to itself ("+" to a
# space): nothing in it can be a control character or a byte that is not UTF-8.
_PLAIN_QUERY = re.compile(rb"[\x20-\x24\x26-\x7e]*")


def json_path(segments: Sequence[str | int]) -> str:
    """A field's place in a JSON body, JSON-Pointer-like without the leading slash:
    ``invoiceNumber``, ``metadata/note``, ``metadata/lines/0`` (``~`` and ``/`` inside a key
    escaped as in RFC 6901); unprintable characters shown as ``\\uXXXX``. The body itself is
    ``body``."""
    if not segments:
        return "body"
    return "/".join(safe_path_segment(str(segment)) for segment in segments)


def refuse_body_text(errors: Sequence[FieldError]) -> None:
    """Raise the 400 for a JSON body holding ``errors`` (see ``bodies.parse_json``)."""
    if errors:
        shown = list(errors[:MAX_REPORTED])
        raise Problem(
            400,
            "VALIDATION_ERROR",
            f"The request body holds text that is not valid Unicode or contains NUL "
            f"(first at '{shown[0].field}').",
            field_errors=shown,
        )


def query_text_errors(query_string: bytes) -> list[FieldError]:
    """Every query parameter whose name or value, once percent-decoded, is not UTF-8 or holds
    a control character (NUL included). No API parameter takes control characters, and a
    value that is not UTF-8 would otherwise reach the routes as U+FFFD replacement text.

    Splits on ``&`` and ``=`` and turns ``+`` into a space, as Starlette's query parser does
    (``urllib.parse.parse_qsl``), but decodes strictly.
    """
    if _PLAIN_QUERY.fullmatch(query_string):
        return []  # the common case, checked without decoding each parameter
    errors: list[FieldError] = []
    for part in query_string.split(b"&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition(b"=")
        name, name_ok = _decode(raw_name)
        _value, value_ok = _decode(raw_value)
        if not (name_ok and value_ok):
            errors.append(FieldError(safe_path_segment(name), QUERY_TEXT_MESSAGE, INVALID_TEXT))
    return errors[:MAX_REPORTED]


def refuse_bad_query_text(query_string: bytes) -> None:
    """Raise 400 (``VALIDATION_ERROR``, field code ``INVALID_TEXT``) when
    ``query_text_errors`` finds any parameter. Call it before reading query parameters."""
    errors = query_text_errors(query_string)
    if errors:
        raise Problem(
            400,
            "VALIDATION_ERROR",
            f"Query parameter '{errors[0].field}' {QUERY_TEXT_MESSAGE}.",
            field_errors=errors,
        )


def _decode(raw: bytes) -> tuple[str, bool]:
    """``raw`` percent-decoded, and whether it is UTF-8 text without control characters.
    Undecodable bytes are shown escaped (``\\xff``) so that the text is safe to report."""
    data = unquote_to_bytes(raw.replace(b"+", b" "))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="backslashreplace"), False
    return text, not any(unicodedata.category(ch) == "Cc" for ch in text)
