"""Identifier rules shared by every layer."""

from __future__ import annotations

import re
from typing import Any

from liquifact_core.errors import ValidationError

INVOICE_ID_PREFIX = "inv_"
# Valid as the escrow contract's ``invoice_id`` Symbol: 1-32 of [A-Za-z0-9_].
_INVOICE_ID = re.compile(r"inv_[A-Za-z0-9_]{1,28}")
_TENANT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def parse_invoice_id(raw: Any, field: str = "id") -> str:
    if not isinstance(raw, str) or not _INVOICE_ID.fullmatch(raw):
        raise ValidationError.for_field(
            field, "must be an invoice id: 'inv_' then up to 28 of [A-Za-z0-9_]", "INVALID_ID"
        )
    return raw


def is_invoice_id(raw: str) -> bool:
    return _INVOICE_ID.fullmatch(raw) is not None


def parse_tenant_id(raw: Any, field: str = "tenantId") -> str:
    if not isinstance(raw, str) or not _TENANT_ID.fullmatch(raw):
        raise ValidationError.for_field(
            field, "must be 1-128 characters of [A-Za-z0-9_-]", "INVALID_TENANT_ID"
        )
    return raw


def sortable_id(prefix: str, millis: int, entropy: bytes) -> str:
    """``prefix`` + 10 chars of time + 16 chars of randomness, in Crockford base32.

    The time part leads so ids sort by creation time (a ULID layout).
    """
    if len(entropy) != 10:
        raise ValueError("entropy must be 10 bytes")
    number = (millis & (2**48 - 1)) << 80 | int.from_bytes(entropy, "big")
    chars = []
    for _ in range(26):
        number, digit = divmod(number, 32)
        chars.append(_CROCKFORD[digit])
    return prefix + "".join(reversed(chars))
