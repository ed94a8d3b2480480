"""Optional Sentry error reporting (``SENTRY_DSN``), with the spec's scrubbing.

Before any event leaves the process, ``scrub_event``:

* drops request bodies, cookies, query strings and every header except a short allow-list
  (so Authorization, X-API-Key and Cookie never leave);
* drops the values of invoice fields, JWT claims and secret-looking keys wherever they appear
  (extra data, contexts, breadcrumbs, local variables of stack frames);
* rewrites, in every remaining string: bearer tokens, JWTs, API keys (``lf_...``), Stellar
  secret seeds (``S...``) and base64 blobs that look like Stellar XDR envelopes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import sentry_sdk
from sentry_sdk.transport import Transport

from liquifact_http.settings import Settings

REDACTED = "[Filtered]"
_KEEP_HEADERS = frozenset(
    {"user-agent", "content-type", "content-length", "accept", "x-correlation-id", "host"}
)
# Keys whose values are dropped wherever they appear (compared lower-cased, without _ and -).
_SECRET_KEY_MARKERS = (
    "authorization",
    "apikey",
    "cookie",
    "password",
    "passwd",
    "secret",
    "token",
    "jwt",
    "dsn",
    "seed",
    "privatekey",
    "xdr",
    "envelope",
    "signature",
)
_SENSITIVE_KEYS = frozenset(
    key.lower()
    for key in (
        # invoice payload fields (personal and commercial data)
        "invoiceNumber", "buyerName", "buyerEmail", "buyerTaxId", "amount", "currency",
        "issueDate", "dueDate", "yieldBps", "description", "metadata", "payload", "body",
        "data", "invoice", "draft", "smeWallet", "escrowAddress", "fundingTargetStroops",
        "investorAddress", "amountStroops", "reason",
        # JWT claims and header fields
        "iss", "aud", "sub", "alg", "kid", "jti", "claims", "issuer", "audience", "algorithm",
    )
)  # fmt: skip
_STRING_RULES = (
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer " + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),  # JWT
    (re.compile(r"\blf_[A-Za-z0-9_-]{8,}"), REDACTED),  # LiquiFact API keys
    (re.compile(r"\bS[A-Z2-7]{55}\b"), REDACTED),  # Stellar secret seeds
    # XDR envelopes are base64 of 4-byte-aligned big-endian words: long, and usually "AAAA..."
    (re.compile(r"(?<![A-Za-z0-9+/])AAAA[A-Za-z0-9+/]{36,}={0,2}"), REDACTED),
    (re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{120,}={0,2}"), REDACTED),  # any long base64
)


def scrub_text(text: str) -> str:
    for pattern, replacement in _STRING_RULES:
        text = pattern.sub(replacement, text)
    return text


def _is_sensitive_key(key: str) -> bool:
    folded = key.lower().replace("_", "").replace("-", "")
    return key.lower() in _SENSITIVE_KEYS or any(m in folded for m in _SECRET_KEY_MARKERS)


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 20:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and _is_sensitive_key(key)
            else _scrub(v, depth + 1)
            for key, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, depth + 1) for item in value]
    return value


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    for field in ("data", "cookies", "query_string", "env"):
        request.pop(field, None)
    headers = request.get("headers")
    if isinstance(headers, Mapping):
        request["headers"] = {
            name: scrub_text(str(value)) if name.lower() in _KEEP_HEADERS else REDACTED
            for name, value in headers.items()
        }
    if isinstance(request.get("url"), str):
        request["url"] = scrub_text(request["url"].split("?", 1)[0])
    return request


def scrub_event(event: dict[str, Any], _hint: Any = None) -> dict[str, Any]:
    """Sentry ``before_send``: remove secrets, tokens, invoice data and XDR from an event."""
    request = event.get("request")
    if isinstance(request, dict):
        event["request"] = _scrub_request(request)
    user = event.get("user")
    if isinstance(user, dict):  # keep only an opaque id
        event["user"] = {"id": scrub_text(str(user["id"]))} if "id" in user else {}
    scrubbed: dict[str, Any] = {
        key: value if key == "request" else _scrub(value) for key, value in event.items()
    }
    return scrubbed


def scrub_breadcrumb(crumb: dict[str, Any], _hint: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _scrub(crumb)
    return result


def init_sentry(
    settings: Settings, *, transport: type[Transport] | Transport | None = None
) -> bool:
    """Start Sentry when ``SENTRY_DSN`` is set; return whether it was started."""
    if not settings.sentry_dsn:
        return False
    options: dict[str, Any] = {
        "dsn": settings.sentry_dsn,
        "release": settings.sentry_release or f"liquifact@{version('liquifact')}",
        "environment": settings.sentry_environment or settings.environment,
        "max_request_body_size": "never",
        "include_local_variables": False,
        "before_send": scrub_event,
        "before_send_transaction": scrub_event,
        "before_breadcrumb": scrub_breadcrumb,
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
    return True


def report_exception(error: BaseException, correlation_id: str | None = None) -> None:
    """Send an unhandled error to Sentry (a no-op when it is not started)."""
    with sentry_sdk.new_scope() as scope:
        if correlation_id:
            scope.set_tag("correlation_id", correlation_id)
        sentry_sdk.capture_exception(error)
