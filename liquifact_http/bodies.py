"""Strict JSON request bodies: right media type, bounded size and depth, no duplicate keys,
and only storable text (no unpaired surrogate, no NUL) in every string and key."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from liquifact_core.errors import FieldError
from liquifact_core.validation import INVALID_TEXT, is_storable_text, safe_path_segment
from liquifact_http.problems import Problem
from liquifact_http.settings import Settings
from liquifact_http.text_guard import (
    BODY_KEY_MESSAGE,
    BODY_TEXT_MESSAGE,
    json_path,
    refuse_body_text,
)

MAX_DEPTH = 32
# No field of the API takes more than a few thousand characters; longer strings are abuse.
MAX_STRING = 10_000
# Used only when no BodyLimitMiddleware chose a limit for the request (e.g. a bare test app).
DEFAULT_LIMIT_BYTES = Settings().body_limit_json
_FORBIDDEN_KEYS = frozenset({"__proto__", "constructor", "prototype"})


def _bad_body(detail: str) -> Problem:
    return Problem(400, "VALIDATION_ERROR", detail)


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _bad_body(f"Duplicate key '{safe_path_segment(key)}' in JSON object.")
        if key in _FORBIDDEN_KEYS:
            raise _bad_body(f"Key '{key}' is not allowed.")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise _bad_body(f"{name} is not valid JSON.")


def _check_shape(value: Any) -> None:
    """Refuse bodies nested deeper than MAX_DEPTH, holding a string longer than MAX_STRING, or
    holding a string or key that is not storable text (400 naming every such field by its
    path, field code INVALID_TEXT; docs/security.md "Text rules").

    Iterative, so that a hostile body cannot exhaust the interpreter stack here. Children are
    visited in document order, so the first field reported is the first in the body.
    """
    text_errors: list[FieldError] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if len(path) >= MAX_DEPTH:
            raise _bad_body(f"JSON nesting deeper than {MAX_DEPTH} levels.")
        if isinstance(node, dict):
            if any(len(key) > MAX_STRING for key in node):
                raise _bad_body(f"A JSON key is longer than {MAX_STRING} characters.")
            for key in node:
                if not is_storable_text(key):
                    text_errors.append(
                        FieldError(json_path((*path, key)), BODY_KEY_MESSAGE, INVALID_TEXT)
                    )
            stack.extend((node[key], (*path, key)) for key in reversed(node))
        elif isinstance(node, list):
            stack.extend((node[i], (*path, i)) for i in reversed(range(len(node))))
        elif isinstance(node, str):
            if len(node) > MAX_STRING:
                raise _bad_body(f"A JSON string is longer than {MAX_STRING} characters.")
            if not is_storable_text(node):
                text_errors.append(FieldError(json_path(path), BODY_TEXT_MESSAGE, INVALID_TEXT))
    refuse_body_text(text_errors)


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON (RFC 8259): UTF-8 without a byte order mark (section 8.1), no
    duplicate keys, no NaN/Infinity, then ``_check_shape``. Raises ``Problem`` 400.

    ``json.loads`` would also guess UTF-16 and UTF-32 from the first bytes, and skip a BOM: a
    proxy or firewall reading the body as UTF-8 would then see other text than the API."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_body("The request body is not UTF-8 text.") from None
    if text.startswith("\ufeff"):
        raise _bad_body("The request body must not start with a byte order mark.")
    try:
        value = json.loads(
            text, object_pairs_hook=_object_without_duplicates, parse_constant=_refuse_constant
        )
    except (ValueError, RecursionError) as error:
        if isinstance(error, Problem):
            raise
        raise _bad_body("Malformed JSON request body.") from None
    _check_shape(value)
    return value


async def read_json(request: Request, *, required: bool = True, limit: int | None = None) -> Any:
    """The request's JSON body, or None when optional and absent.

    The size limit is the one ``BodyLimitMiddleware`` picked for this request (the invoice
    limit on invoice create/edit, else the JSON limit), or ``limit`` / 100 KB without it.
    """
    if limit is None:
        limit = int(request.scope.get("state", {}).get("body_limit", DEFAULT_LIMIT_BYTES))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Problem(413, "PAYLOAD_TOO_LARGE", f"Request body exceeds {limit} bytes.")
    if not body.strip():
        if required:
            raise _bad_body("A JSON request body is required.")
        return None
    _check_media_type(request)
    return parse_json(bytes(body))


def _check_media_type(request: Request) -> None:
    """415 unless the body is declared ``application/json`` (or ``+json``), in UTF-8 (a
    ``charset`` parameter, if any, says utf-8), and not content-encoded (no decompression:
    a compressed body would escape the size limits, which count the bytes received)."""
    media_type, *parameters = request.headers.get("content-type", "").split(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Problem(415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body as application/json.")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise Problem(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "Send the JSON request body in UTF-8 (charset=utf-8).",
            )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise Problem(
            415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body without a Content-Encoding."
        )


async def read_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    """A JSON object body; an absent optional body counts as ``{}``."""
    value = await read_json(request, required=required)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad_body("The request body must be a JSON object.")
    # Kept for the audit of admin writes (liquifact_http.admin_audit), which redacts it.
    request.scope.setdefault("state", {})["json_body"] = value
    return value
