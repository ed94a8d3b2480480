"""JSON Schema (OpenAPI 3.0) for typed commands, generated from their fields' rules.

The bounds a rule enforces (``liquifact_core.rules``: lengths, ranges, patterns, enums) are read
from the rule objects in the attrs field metadata, the same objects the validators run, so the
document cannot drift from the checks. Where the API normalises before it checks (text is
trimmed, a reason loses its control characters), the pattern describes the *raw* value the API
accepts, so a value valid by the schema is accepted and one that breaks it is refused. Rules
no JSON Schema can state (StrKey checksums, real calendar dates beyond the ``date`` format,
cross-field rules, NFC normalisation) are named in the descriptions and listed in
docs/architecture.md.
"""

from __future__ import annotations

import re
import sys
import typing
import unicodedata
from collections.abc import Callable
from functools import cache
from typing import Any

import attrs

from liquifact_core import validation as v
from liquifact_core.amounts import CURRENCY_EXPONENTS, MONEY_MAX_DIGITS, STROOPS_MAX
from liquifact_core.documents import FileName
from liquifact_core.errors import ValidationError
from liquifact_core.rules import (
    Account,
    ContactEmail,
    Contract,
    Country,
    Currency,
    Cursor,
    Day,
    DecimalAmount,
    Email,
    Flag,
    Integer,
    InvoiceId,
    JsonObject,
    MemberList,
    MoneyAmount,
    OneOf,
    Pattern,
    Percent,
    QueryInteger,
    Reason,
    Rule,
    SetOf,
    StroopsAmount,
    Text,
    is_optional,
    rule_of,
    wire_name,
)
from liquifact_http.bodies import MAX_STRING
from liquifact_http.response_fields import OMIT_NONE

Object = dict[str, Any]
DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
STROOPS_PATTERN = f"^(?:[1-9][0-9]{{0,{len(str(STROOPS_MAX)) - 2}}}|{STROOPS_MAX})$"


# ---- character classes, asked of the text rules themselves -------------------------------------
def _class(chars: list[str]) -> str:
    """A regex character class body for ``chars`` (ranges merged), in the syntax ECMA-262 and
    Python share (OpenAPI patterns are ECMA-262 regular expressions).

    Characters outside the Basic Multilingual Plane are left out: neither a ``\\U`` escape
    (Python only) nor a surrogate pair (two UTF-16 units to ECMA-262 without the ``u`` flag,
    one code point to Python) means the same in both. The few such characters the text rules
    refuse (astral format characters: U+110BD, U+13430.., U+1D173.., tags U+E0001..) are
    named in docs/architecture.md as a rule the document cannot state."""
    points = sorted({ord(c) for c in chars if ord(c) <= 0xFFFF})
    parts: list[str] = []
    start = previous = None
    for point in [*points, None]:
        if start is not None and (point is None or point != previous + 1):  # type: ignore[operator]
            assert previous is not None
            low, high = _escape(start), _escape(previous)
            parts.append(low if start == previous else f"{low}-{high}")
            start = None
        if point is not None and start is None:
            start = point
        previous = point
    return "".join(parts)


def _escape(point: int) -> str:
    return f"\\u{point:04x}"


def _candidates() -> list[str]:
    """Characters a text rule may refuse: controls, format characters, separators, and the
    invisible ones of other categories (``validation.INVISIBLE_RANGES``)."""
    kinds = {"Cc", "Cf", "Zl", "Zp", "Zs", "Co"}
    return [
        chr(point)
        for point in range(sys.maxunicode + 1)
        if not 0xD800 <= point <= 0xDFFF
        and (unicodedata.category(chr(point)) in kinds or v.is_invisible(chr(point)))
    ]


# What the text rules trim from the ends, spelled out: ``\s`` means other sets in ECMA-262
# (U+FEFF, no U+001C..U+001F or U+0085) and in Python (the reverse).
_TRIMMED = _class(list(v.TRIMMED))


@cache
def _refused_inside_text(multiline: bool = False) -> str:
    """What ``validation.text`` (or ``multiline_text``) refuses between letters (asked of the
    rule, not retyped)."""
    parser = v.multiline_text if multiline else v.text
    refused = []
    for char in _candidates():
        try:
            parser(1, 3)(f"a{char}a")
        except ValidationError:
            refused.append(char)
    return _class(refused)


@cache
def _reason_characters() -> tuple[str, str]:
    """What ``validation.reason`` removes from a reason (control characters) and what it
    refuses inside one (format and separator characters, and NUL, which the body parser
    refuses before any rule runs), each as a character-class body (asked of the rules, not
    retyped)."""
    dropped, refused = [], []
    for char in _candidates():
        if not v.is_storable_text(char):  # NUL: the body parser refuses it before any rule
            refused.append(char)
            continue
        try:
            if v.reason(f"a{char}a") == "aa":
                dropped.append(char)
        except ValidationError:
            refused.append(char)
    return _class(dropped), _class(refused)


def _text_pattern(low: int, high: int, multiline: bool = False) -> str:
    r"""Raw text the text rule accepts: any surrounding whitespace (trimmed), then ``low`` to
    ``high`` characters that start and end with a non-space and hold no refused character."""
    bad = _refused_inside_text(multiline)
    edge = f"[^{_TRIMMED}{bad}]"
    inner = f"[^{bad}]"
    core = edge if high == 1 else f"{edge}(?:{inner}{{0,{high - 2}}}{edge})?"
    if low == 0:
        core = f"(?:{core})?"
    return f"^[{_TRIMMED}]*{core}[{_TRIMMED}]*$"


def _reason_pattern(high: int) -> str:
    """Raw reasons the reason rule accepts: control characters anywhere (removed), whitespace
    around (trimmed), 1 to ``high`` characters in between, none of them refused."""
    dropped, refused = _reason_characters()
    junk = f"[{_TRIMMED}{dropped}]*"
    edge = f"[^{_TRIMMED}{dropped}{refused}]"
    inner = f"(?:[{dropped}]*[^{dropped}{refused}])"
    return f"^{junk}{edge}(?:{inner}{{0,{high - 2}}}[{dropped}]*{edge})?{junk}$"


def _positive_decimal_pattern(decimals: int | None) -> str:
    """A positive plain decimal of at most 18 integer digits; with ``decimals``, no non-zero
    digit after that many decimals (the API refuses those, never rounds)."""
    whole = f"[1-9][0-9]{{0,{MONEY_MAX_DIGITS - 1}}}"
    if decimals is None:
        fraction = "(?:\\.[0-9]+)?"
        below_one = "0\\.0*[1-9][0-9]*"
    elif decimals == 0:
        fraction = "(?:\\.0+)?"
        below_one = None
    else:
        fraction = f"(?:\\.[0-9]{{1,{decimals}}}0*)?"
        below_one = "|".join(
            f"0\\.0{{{zeros}}}[1-9][0-9]{{0,{decimals - 1 - zeros}}}0*" for zeros in range(decimals)
        )
    options = [f"{whole}{fraction}", *([below_one] if below_one else [])]
    return f"^(?:{'|'.join(options)})$"


# ---- one rule -> one schema --------------------------------------------------------------------
def _schema_of_text(rule: Text) -> Object:
    return {
        "type": "string",
        "maxLength": MAX_STRING,
        "pattern": _text_pattern(rule.min_len, rule.max_len, rule.multiline),
        "x-trimmed-length": {"minimum": rule.min_len, "maximum": rule.max_len},
        "description": f"{rule.min_len}-{rule.max_len} characters once surrounding whitespace "
        "is trimmed; none of the characters the text rule refuses (control characters ...) "
        "inside"
        + (" except line breaks and tabs." if rule.multiline else ".")
        + (" Blank means none." if rule.blank_is_none else ""),
    }


def _schema_of_filename(rule: FileName) -> Object:
    """A file name: the text rule's raw pattern with ``/`` and ``\\`` refused too, and not
    ``.`` or ``..`` once trimmed (a look-ahead ECMA-262 and Python read alike)."""
    bad = _refused_inside_text() + "/\\\\"
    edge = f"[^{_TRIMMED}{bad}]"
    inner = f"[^{bad}]"
    core = f"{edge}(?:{inner}{{0,{rule.max_len - 2}}}{edge})?"
    not_dots = f"(?![{_TRIMMED}]*\\.\\.?[{_TRIMMED}]*$)"
    return {
        "type": "string",
        "maxLength": MAX_STRING,
        "pattern": f"^{not_dots}[{_TRIMMED}]*{core}[{_TRIMMED}]*$",
        "x-trimmed-length": {"minimum": rule.min_len, "maximum": rule.max_len},
        "description": f"A file name of {rule.min_len}-{rule.max_len} characters once "
        "surrounding whitespace is trimmed: no path (no / or \\, not . or ..), no NUL or "
        "other control or invisible character (INVALID_FILENAME, INVALID_TEXT). It is stored "
        "sanitised: characters outside [A-Za-z0-9._-] become _, at most 100 characters.",
    }


_SCHEMAS: dict[type[Any], Callable[[Any], Object]] = {
    Text: _schema_of_text,
    Email: lambda rule: {
        "type": "string",
        "format": "email",
        "maxLength": rule.max_len,
        # The address grammar, minus the characters the text rules refuse inside an address.
        "pattern": "^" + rule.pattern.replace("[^@\\s]", f"[^@\\s{_refused_inside_text()}]") + "$",
    },
    Day: lambda _rule: {
        "type": "string",
        "format": "date",
        "pattern": DATE_PATTERN,
        "description": "A real calendar date, YYYY-MM-DD (years 0001-9999).",
    },
    Integer: lambda rule: {"type": "integer", "minimum": rule.low, "maximum": rule.high},
    QueryInteger: lambda rule: {"type": "integer", "minimum": rule.low, "maximum": rule.high},
    JsonObject: lambda rule: {
        "type": "object",
        "additionalProperties": True,
        "description": f"A small JSON object (at most {rule.max_bytes} bytes as compact JSON).",
    },
    Reason: lambda rule: {
        "type": "string",
        "maxLength": MAX_STRING,
        "pattern": _reason_pattern(rule.max_len),
        "description": f"Why; control characters are removed, then {rule.min_len}-"
        f"{rule.max_len} characters must remain once trimmed.",
    },
    StroopsAmount: lambda _rule: {
        "type": "string",
        "pattern": STROOPS_PATTERN,
        "description": f"Stroops as a digit string: no sign or leading zeros, 1 to "
        f"{STROOPS_MAX}. JSON numbers are refused (INVALID_AMOUNT_TYPE).",
        "example": "12500000000",
    },
    Account: lambda rule: {
        "type": "string",
        "format": "stellar-account",
        "pattern": rule.pattern,
        "description": "A Stellar account (G...), with a valid StrKey checksum.",
    },
    Contract: lambda rule: {
        "type": "string",
        "format": "soroban-contract",
        "pattern": rule.pattern,
        "description": "A Soroban contract address (C...), with a valid StrKey checksum.",
    },
    InvoiceId: lambda rule: {"type": "string", "pattern": rule.pattern},
    Currency: lambda rule: {
        "type": "string",
        "enum": list(rule.members),
        "description": "An ISO 4217 alphabetic code.",
    },
    Country: lambda rule: {
        "type": "string",
        "enum": list(rule.members),
        "description": "An ISO 3166-1 alpha-2 country code, upper case.",
    },
    DecimalAmount: lambda rule: {
        "type": "string",
        "pattern": _positive_decimal_pattern(rule.decimals),
        "description": 'A positive plain decimal string such as "1250.00" (no sign, exponent '
        "or spaces; at most 18 integer digits)."
        + (
            ""
            if rule.decimals is None
            else f" At most {rule.decimals} decimal places, and no more than the currency has "
            "(ISO 4217 minor units: 2 for USD, 0 for JPY; trailing zeros aside): a rule across "
            "two fields that the pattern cannot state, refused with 400 INVALID_VALUE."
        ),
    },
    Percent: lambda rule: {
        "type": "string",
        "pattern": rule.pattern,
        "description": "A percentage from 0 to 100 with at most two decimals.",
    },
    OneOf: lambda rule: {"type": "string", "enum": list(rule.members)},
    # At least one member: an empty value (``?status=``) is refused, never read as "no filter".
    SetOf: lambda rule: {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": list(rule.members)},
    },
    Cursor: lambda rule: {
        "type": "string",
        "minLength": rule.min_len,
        "maxLength": rule.max_len,
        # No query value may hold a control character (text_guard refuses them first).
        "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
        "description": "A nextCursor value from an earlier page (opaque and signed: any other "
        "value is 400 INVALID_CURSOR).",
    },
    Pattern: lambda rule: {"type": "string", "maxLength": rule.max_len, "pattern": rule.pattern},
    Flag: lambda _rule: {"type": "boolean"},
    FileName: _schema_of_filename,
    MemberList: lambda rule: {
        "type": "array",
        "minItems": 1,
        "maxItems": len(rule.members),
        "uniqueItems": True,
        "items": {"type": "string", "enum": list(rule.members)},
    },
}
# A contact's pattern (rules.CONTACT_EMAIL_PATTERN) is its whole rule; it holds no [^@\s]
# class for the Email schema to narrow, so the Email schema states it as it is.
_SCHEMAS[ContactEmail] = _SCHEMAS[Email]


def rule_schema(rule: Rule) -> Object:
    """The JSON Schema of the wire value ``rule`` accepts."""
    return dict(_SCHEMAS[type(rule)](rule))


def _nullable(schema: Object) -> Object:
    result = {**schema, "nullable": True}
    if "enum" in result:
        result["enum"] = [*result["enum"], None]
    return result


def _field_schema(field: attrs.Attribute[Any]) -> Object:
    rule = rule_of(field)
    assert rule is not None, f"{field.name} has no rule"
    schema = rule_schema(rule)
    note = field.metadata.get("description")
    if note:
        schema["description"] = f"{schema.get('description', '')} {note}".strip()
    if field.default is not attrs.NOTHING and _plain_default(field.default) is not None:
        schema["default"] = _plain_default(field.default)
    accepts_null = is_optional(field) or (isinstance(rule, JsonObject) and rule.null_is_empty)
    return _nullable(schema) if accepts_null else schema


def _plain_default(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        return value.value if hasattr(value, "value") else value
    return None


def _money_properties(rule: MoneyAmount) -> Object:
    return {
        rule.amount_wire: {
            "type": "string",
            "pattern": _positive_decimal_pattern(max(CURRENCY_EXPONENTS.values())),
            "description": "A positive decimal string in the invoice currency, with no more "
            "decimals than the currency has (never a JSON number, never rounded).",
            "example": "1250.00",
        },
        rule.currency_wire: rule_schema(Currency()),
    }


def body_schema(cls: type[Any], description: str, *, at_least_one: bool = False) -> Object:
    """A closed JSON object: the command's fields, required ones listed, nothing else."""
    properties: Object = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        rule = rule_of(field)
        if isinstance(rule, MoneyAmount):
            properties.update(_money_properties(rule))
            names = [rule.amount_wire, rule.currency_wire]
        else:
            properties[wire_name(field)] = _field_schema(field)
            names = [wire_name(field)]
        if field.default is attrs.NOTHING:
            required.extend(names)
    schema: Object = {
        "type": "object",
        "description": f"{description} Unknown fields are refused (400 UNKNOWN_FIELD).",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    if at_least_one:
        schema["minProperties"] = 1
    return schema


def query_parameters(cls: type[Any], descriptions: dict[str, str] | None = None) -> list[Object]:
    """The query parameters of a typed query: each given once (a repeat is 400
    REPEATED_PARAMETER) except set-valued ones, whose repeats combine."""
    parameters = []
    for field in attrs.fields(cls):
        rule = rule_of(field)
        schema = _field_schema(field)
        schema.pop("nullable", None)
        if "enum" in schema:
            schema["enum"] = [item for item in schema["enum"] if item is not None]
        name = wire_name(field)
        text = (descriptions or {}).get(name, "")
        parameter: Object = {"name": name, "in": "query", "required": False, "schema": schema}
        if isinstance(rule, SetOf):
            parameter["style"] = "form"
            parameter["explode"] = False
            text = (
                f"{text} Comma-separated; the parameter may be repeated, and repeats combine "
                "(their union): `status=a&status=b` equals `status=a,b`."
            ).strip()
        else:
            text = f"{text} Give it at most once (a repeat is 400 REPEATED_PARAMETER).".strip()
        parameter["description"] = text
        parameters.append(parameter)
    return parameters


def is_exact_pattern(pattern: str, value: str) -> bool:
    """True when ``value`` matches ``pattern`` as JSON Schema tools match it."""
    return re.search(pattern, value) is not None


# ---- response bodies ----------------------------------------------------------------------------
def _like(command: type[Any], name: str, wire: str) -> Object:
    field = attrs.fields_dict(command)[name]
    rule = rule_of(field)
    if isinstance(rule, MoneyAmount):
        schema: Object = _money_properties(rule)[wire]
        return schema
    schema = _field_schema(field)
    schema.pop("default", None)  # a response value has no default
    return schema


_PLAIN_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _schema_of_type(kind: Any) -> Object | bool:
    """The schema of a Python type: lists as arrays, ``dict[str, X]`` as maps of X, a
    ``Representation`` with a ``component`` name as a ``$ref``, any other attrs class in place,
    ``Any`` as ``True`` (any JSON value)."""
    origin = typing.get_origin(kind)
    if origin in (list, tuple) or kind in (list, tuple):
        (item,) = typing.get_args(kind)[:1] or (str,)
        return {"type": "array", "items": _schema_of_type(item)}
    if origin is dict or kind is dict:
        values = typing.get_args(kind)[1:] or (Any,)
        return {"type": "object", "additionalProperties": _schema_of_type(values[0])}
    if kind is Any:
        return True
    if attrs.has(kind):
        name = getattr(kind, "component", None)
        return {"$ref": f"#/components/schemas/{name}"} if name else response_schema(kind)
    arguments = [a for a in typing.get_args(kind) if a is not type(None)]
    if arguments and len(arguments) < len(typing.get_args(kind)):
        return _schema_of_type(arguments[0])  # X | None: nullability is stated on the field
    return {"type": _PLAIN_TYPES[kind]}


def _closed_map(kind: Any, keys: list[str]) -> Object:
    """A ``dict[str, X]`` field that always holds exactly ``keys``."""
    (_, value) = typing.get_args(kind)
    item = _schema_of_type(value)
    return {
        "type": "object",
        "properties": dict.fromkeys(keys, item),
        "additionalProperties": False,
        "required": list(keys),
    }


def _response_field_schema(field: attrs.Attribute[Any], kind: Any) -> Object:
    rule = rule_of(field)
    if field.metadata.get("like"):
        command, name = field.metadata["like"]
        schema: Any = _like(command, name, wire_name(field))
    elif field.metadata.get("ref"):
        schema = {"$ref": f"#/components/schemas/{field.metadata['ref']}"}
    elif rule is not None:
        schema = rule_schema(rule)
    elif field.metadata.get("keys"):
        schema = _closed_map(kind, field.metadata["keys"])
    else:
        schema = _schema_of_type(kind)
    schema = {**schema, **field.metadata.get("schema", {})}
    if field.metadata.get("nullable"):
        schema = _nullable(schema)
    return dict(schema)


def response_schema(cls: type[Any], description: str | None = None) -> Object:
    """A closed JSON object: every field of ``cls`` (a ``Representation``) by its wire name,
    each required (null where nullable) except those declared ``out(omit_none=True)``, which
    the API leaves out while they are None."""
    hints = typing.get_type_hints(cls)
    properties: Object = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        name = wire_name(field)
        properties[name] = _response_field_schema(field, hints.get(field.name, field.type))
        if not field.metadata.get(OMIT_NONE):
            required.append(name)
    result: Object = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        result["required"] = required
    if description:
        result["description"] = description
    return result
