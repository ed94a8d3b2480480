"""Service API keys: the ``API_KEYS`` registry and the constant-time lookup of ``X-API-Key``.

``API_KEYS`` is a semicolon-separated list of JSON objects (the spec's format)::

    {"key":"lf_svc_key_001","clientId":"billing-service","scopes":["invoices:read"]};
    {"key":"lf_old_key_001","clientId":"legacy","scopes":["invoices:read"],"revoked":true}

Keys are parsed once, at start-up; no store is touched per request. Only SHA-256 digests of the
keys are kept, and a lookup compares the presented key's digest with *every* entry
(``hmac.compare_digest``, no early exit), so timing says nothing about which key is close.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from liquifact_core.errors import ValidationError
from liquifact_core.ids import parse_tenant_id

KEY_PREFIX = "lf_"
KEY_MIN_LENGTH = 10
KEY_MAX_LENGTH = 256
CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_FIELDS = frozenset({"key", "clientId", "scopes", "revoked", "tenants"})


class ApiScope(enum.StrEnum):
    """What an API key may do (the spec's scope names)."""

    INVOICES_READ = "invoices:read"
    INVOICES_WRITE = "invoices:write"
    ESCROW_READ = "escrow:read"


@attrs.frozen
class ApiKey:
    """One registry entry. ``digest`` is SHA-256 of the key; the key itself is not kept."""

    client_id: str
    scopes: frozenset[ApiScope]
    digest: bytes = attrs.field(repr=False)
    revoked: bool = False
    tenants: frozenset[str] | None = None  # None: any tenant

    def allows_tenant(self, tenant_id: str) -> bool:
        return self.tenants is None or tenant_id in self.tenants


def key_digest(raw: str) -> bytes:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).digest()


class ApiKeysError(ValueError):
    """``API_KEYS`` is invalid; ``problems`` name entries by position, never by key."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def parse_api_keys(raw: str) -> tuple[ApiKey, ...]:
    """The registry in ``raw``; raises ApiKeysError listing every problem (no key material)."""
    problems: list[str] = []
    entries: list[ApiKey] = []
    segments = [segment.strip() for segment in raw.split(";")]
    for position, segment in enumerate((s for s in segments if s), start=1):
        try:
            entries.append(_entry(segment))
        except ValueError as error:
            problems.append(f"entry {position}: {error}")
    if not problems and not entries:
        problems.append("no entries")
    problems += _duplicates("the same key", [entry.digest for entry in entries])
    problems += _duplicates("the same clientId", [entry.client_id for entry in entries])
    if problems:
        raise ApiKeysError(problems)
    return tuple(entries)


def _entry(segment: str) -> ApiKey:
    try:
        data = json.loads(segment)
    except ValueError:
        raise ValueError("is not a JSON object") from None
    if not isinstance(data, dict):
        raise ValueError("is not a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    key = data.get("key")
    if not isinstance(key, str) or not key.startswith(KEY_PREFIX):
        raise ValueError(f"key must be a string starting with {KEY_PREFIX}")
    if (
        not KEY_MIN_LENGTH <= len(key) <= KEY_MAX_LENGTH
        or not key.isascii()
        or not key.isprintable()
    ):
        raise ValueError(
            f"key must be {KEY_MIN_LENGTH}-{KEY_MAX_LENGTH} printable ASCII characters"
        )
    client_id = data.get("clientId")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise ValueError("clientId must be 1-128 characters of [A-Za-z0-9._:-]")
    revoked = data.get("revoked", False)
    if not isinstance(revoked, bool):
        raise ValueError("revoked must be true or false")
    return ApiKey(
        client_id=client_id,
        scopes=_scopes(data.get("scopes")),
        digest=key_digest(key),
        revoked=revoked,
        tenants=_tenants(data["tenants"]) if "tenants" in data else None,
    )


def _scopes(raw: Any) -> frozenset[ApiScope]:
    valid = ", ".join(scope.value for scope in ApiScope)
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ValueError(f"scopes must be a list of: {valid}")
    try:
        return frozenset(ApiScope(item) for item in raw)
    except ValueError:
        raise ValueError(f"scopes must be a list of: {valid}") from None


def _tenants(raw: Any) -> frozenset[str]:
    message = "tenants must be a non-empty list of tenant ids (1-128 of [A-Za-z0-9_-])"
    if not isinstance(raw, list) or not raw:
        raise ValueError(message)
    try:
        return frozenset(parse_tenant_id(item) for item in raw)
    except ValidationError:
        raise ValueError(message) from None


def _duplicates(what: str, values: Iterable[object]) -> list[str]:
    first_seen: dict[object, int] = {}
    problems = []
    for position, value in enumerate(values, start=1):
        if value in first_seen:
            problems.append(f"entries {first_seen[value]} and {position} have {what}")
        else:
            first_seen.setdefault(value, position)
    return problems


def find_key(registry: Sequence[ApiKey], presented: str) -> ApiKey | None:
    """The entry whose key is ``presented`` (revoked or not), comparing with every entry."""
    digest = key_digest(presented)
    found: ApiKey | None = None
    for entry in registry:
        # No early exit: every entry costs the same whether or not an earlier one matched.
        if hmac.compare_digest(digest, entry.digest):
            found = entry
    return found
