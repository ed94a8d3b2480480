"""Small field parsers that collect every problem of a payload before failing once.

Every parser that accepts text applies the text rules of docs/security.md ("Text rules"):
nothing that is not a sequence of Unicode scalar values, no NUL, and (by kind of field) no
control or invisible format characters; text is stored NFC-normalised.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar

from liquifact_core.errors import ValidationError

T = TypeVar("T")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
REASON_MAX = 1024
METADATA_MAX_BYTES = 4096
# Deeper than any real metadata; the HTTP body parser allows 32 levels for a whole body.
METADATA_MAX_DEPTH = 32
# Field code for text whose characters break the text rules (the length rules keep theirs).
INVALID_TEXT = "INVALID_TEXT"
# Code points no store can keep: an unpaired surrogate (a JSON "\ud800" escape decodes to
# one; it is not a Unicode scalar value, so it has no UTF-8 form) and NUL (PostgreSQL text
# cannot hold it, and C-string consumers truncate at it).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Unicode general categories refused in one-line text: controls (Cc), format characters (Cf:
# zero-width, BOM, bidi controls, word joiner, soft hyphen ...), surrogates (Cs), and the
# line and paragraph separators (Zl, Zp).
SINGLE_LINE_FORBIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Characters that show nothing although their category is not Cf: the Default_Ignorable_Code_Point
# code points of Unicode's DerivedCoreProperties.txt outside Cf (combining grapheme joiner,
# Hangul fillers, Khmer inherent vowels, Mongolian and other variation selectors, the ignorable
# tag block) and U+2800 BRAILLE PATTERN BLANK, which renders as a space. Refused wherever format
# characters are: appended to an identifier they make a look-alike (``KSS-1\u3164``).
INVISIBLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180D),
    (0x180F, 0x180F),
    (0x2065, 0x2065),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0FFF),
)
# What trimming removes from the ends of text: the space separators (Zs) and the ASCII
# whitespace controls. Other controls at the ends (U+001C..U+001F, U+0085, which Python's
# str.strip also removes) are refused like controls anywhere, not silently dropped.
TRIMMED = "\t\n\x0b\x0c\r" + "".join(
    chr(point) for point in range(0x3001) if unicodedata.category(chr(point)) == "Zs"
)
_LINE_BREAKS_AND_TAB = frozenset({"\n", "\r", "\t"})
_UNSTORABLE_MESSAGE = "must be Unicode text without unpaired surrogates or NUL characters"
_FORBIDDEN_MESSAGE = "must not contain control, format (invisible) or line separator characters"


def is_storable_text(value: str) -> bool:
    """True when ``value`` is made only of Unicode scalar values and holds no NUL: text every
    store and every UTF-8 encoder accepts (RFC 8259 section 8.2, RFC 3629)."""
    return _UNSTORABLE.search(value) is None


def text_error(message: str) -> ValidationError:
    """A text-rule failure; ``field_code`` gives its field the code ``INVALID_TEXT``."""
    return ValidationError(message, code=INVALID_TEXT)


def normalized_text(raw: str) -> str:
    """``raw`` in Unicode Normalization Form C (UAX #15): the one form text is stored in, so
    that ``"e\u0301"`` and ``"\u00e9"`` are the same value. Raises ``ValidationError``
    (``INVALID_TEXT``) when ``raw`` is not storable text (see ``is_storable_text``)."""
    if not is_storable_text(raw):
        raise text_error(_UNSTORABLE_MESSAGE)
    return unicodedata.normalize("NFC", raw)


def is_invisible(ch: str) -> bool:
    """True for a character of ``INVISIBLE_RANGES`` (shows nothing, yet is not Cf)."""
    point = ord(ch)
    return any(low <= point <= high for low, high in INVISIBLE_RANGES)


def has_forbidden_character(
    value: str, categories: frozenset[str], allowed: frozenset[str] = frozenset()
) -> bool:
    """True when a character of ``value`` (other than those in ``allowed``) belongs to one of
    the Unicode general ``categories`` or is invisible (``is_invisible``)."""
    return any(
        ch not in allowed and (unicodedata.category(ch) in categories or is_invisible(ch))
        for ch in value
    )


def field_code(error: ValidationError) -> str:
    """The code a parser's field-less ``error`` gives its field: the parser's own code when it
    names the rule (e.g. ``INVALID_TEXT``), else the generic ``INVALID_VALUE``."""
    return error.code if error.code != ValidationError.code else "INVALID_VALUE"


def text(min_len: int, max_len: int) -> Callable[[Any], str]:
    """Single-line text (invoice number, buyer name, tax id, names): ``min_len``..``max_len``
    characters after NFC normalisation and trimming.

    Refused with field code ``INVALID_TEXT``: unpaired surrogates and NUL (not storable text),
    control characters (Unicode category Cc), format characters (Cf: zero-width space,
    byte-order mark, bidi overrides and isolates, word joiner, soft hyphen ...) and line or
    paragraph separators (Zl, Zp), and the other invisible characters (``INVISIBLE_RANGES``):
    none of them belongs in a one-line value, and the invisible ones make look-alikes of
    identifiers. Only space separators and ASCII whitespace are trimmed from the ends
    (``TRIMMED``). A value blank after normalisation is refused (``INVALID_VALUE``, the length
    rule). Raises ``ValidationError``.
    """
    return _text_parser(min_len, max_len, SINGLE_LINE_FORBIDDEN, frozenset())


def multiline_text(min_len: int, max_len: int) -> Callable[[Any], str]:
    """Free text (an invoice description): like ``text`` but line feed, carriage return and
    tab may appear inside it. Every other control or format character is refused."""
    return _text_parser(min_len, max_len, SINGLE_LINE_FORBIDDEN, _LINE_BREAKS_AND_TAB)


def _text_parser(
    min_len: int, max_len: int, forbidden: frozenset[str], allowed: frozenset[str]
) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        if not isinstance(raw, str):
            raise ValidationError("must be a string")
        value = normalized_text(raw).strip(TRIMMED)
        if has_forbidden_character(value, forbidden, allowed):
            raise text_error(_FORBIDDEN_MESSAGE)
        if not min_len <= len(value) <= max_len:
            raise ValidationError(f"must be {min_len}-{max_len} characters")
        return value

    return parse


def email(raw: Any) -> str:
    """An email address (loosely checked: one ``@`` and a dotted domain, at most 254
    characters), NFC-normalised as RFC 6532 section 3.1 recommends. Control and format
    characters are refused with ``INVALID_TEXT``. Raises ``ValidationError``."""
    if not isinstance(raw, str):
        raise ValidationError("must be an email address")
    value = normalized_text(raw)
    if has_forbidden_character(value, SINGLE_LINE_FORBIDDEN):
        raise text_error(_FORBIDDEN_MESSAGE)
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValidationError("must be an email address")
    return value


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
    """Client metadata: a JSON object of at most ``METADATA_MAX_BYTES`` (as compact JSON with
    ASCII escapes) and ``METADATA_MAX_DEPTH`` levels, returned as a fresh copy made of dicts,
    lists, str, int, finite float, bool and None only (so every store keeps the same value).

    Keys must be strings; every key and string value, at any depth, must be storable text
    (``is_storable_text``), else ``INVALID_TEXT`` naming where (``note``, ``lines/0``). The
    values are the client's own data: they are neither normalised nor checked for format
    characters. Raises ``ValidationError``.
    """
    if not isinstance(raw, dict):
        raise ValidationError("must be a JSON object")
    _check_json_tree(raw)
    encoded = json.dumps(raw, separators=(",", ":"), allow_nan=False)
    if len(encoded) > METADATA_MAX_BYTES:
        raise ValidationError(f"must be at most {METADATA_MAX_BYTES} bytes as JSON")
    copy: dict[str, Any] = json.loads(encoded)
    return copy


def _check_json_tree(root: Mapping[Any, Any]) -> None:
    """Refuse what JSON cannot carry unchanged. Iterative, so depth cannot exhaust the stack."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > METADATA_MAX_DEPTH:
            raise ValidationError(f"must be nested at most {METADATA_MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise ValidationError(f"must have string keys ({_where(path)})")
                if not is_storable_text(key):
                    raise text_error(f"key {_UNSTORABLE_MESSAGE} ({_where((*path, key))})")
                stack.append((child, (*path, key)))
        elif isinstance(node, list | tuple):
            stack.extend((child, (*path, str(index))) for index, child in enumerate(node))
        elif isinstance(node, str):
            if not is_storable_text(node):
                raise text_error(f"{_UNSTORABLE_MESSAGE} ({_where(path)})")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise ValidationError(f"must hold only finite numbers ({_where(path)})")
        elif node is not None and not isinstance(node, int):  # bool is an int
            raise ValidationError(f"must hold only JSON values ({_where(path)})")


def _where(path: tuple[str, ...]) -> str:
    """A printable JSON-pointer-like location inside metadata ("at the top level" for ())."""
    if not path:
        return "at the top level"
    return "at " + "/".join(safe_path_segment(segment) for segment in path)


def safe_path_segment(segment: str, limit: int = 64) -> str:
    """``segment`` (an object key or array index) as printable ASCII-safe text for an error
    message: ``~`` and ``/`` escaped as in a JSON Pointer (RFC 6901), any character that is
    not printable (surrogates, controls, format characters) shown as a ``\\uXXXX`` escape,
    cut to ``limit`` characters."""
    shown = segment[:limit].replace("~", "~0").replace("/", "~1")
    out = "".join(ch if ch.isprintable() else _escape(ch) for ch in shown)
    return out + ("..." if len(segment) > limit else "")


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def reason(raw: Any) -> str:
    """A human reason (reject, cancel, default): control characters (Cc, NUL included) are
    stripped as DESIGN.md says, the rest NFC-normalised and trimmed, then 1-1024 characters
    must remain (``INVALID_REASON``). Unpaired surrogates and format or line separator
    characters are refused (``INVALID_TEXT``). Raises ``ValidationError`` on field reason."""
    if raw is None:
        raise ValidationError.for_field("reason", "is required for this transition", "REQUIRED")
    if not isinstance(raw, str):
        raise ValidationError.for_field("reason", "must be a string", "INVALID_REASON")
    without_controls = "".join(ch for ch in raw if unicodedata.category(ch) != "Cc")
    if not is_storable_text(without_controls):
        raise ValidationError.for_field("reason", _UNSTORABLE_MESSAGE, INVALID_TEXT)
    cleaned = unicodedata.normalize("NFC", without_controls).strip(TRIMMED)
    if has_forbidden_character(cleaned, SINGLE_LINE_FORBIDDEN):
        raise ValidationError.for_field("reason", _FORBIDDEN_MESSAGE, INVALID_TEXT)
    if not 1 <= len(cleaned) <= REASON_MAX:
        raise ValidationError.for_field(
            "reason", f"must be 1-{REASON_MAX} characters", "INVALID_REASON"
        )
    return cleaned


# The e-mail rule's pattern, for the generated API document (stated once, here).
EMAIL_PATTERN = _EMAIL.pattern
