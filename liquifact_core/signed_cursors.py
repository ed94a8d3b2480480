"""Opaque page cursors signed with HMAC-SHA256: a small JSON payload (which tenant, which
list, where the page ended) and its signature, base64url. A cursor altered by a client, or
issued by a server with another key, is refused (400 INVALID_CURSOR); one issued for another
list or tenant is refused as CURSOR_MISMATCH by the caller, which knows what it expects."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

import attrs

from liquifact_core.errors import FieldError, ValidationError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def invalid_cursor(message: str, code: str = "INVALID_CURSOR") -> ValidationError:
    """The 400 of a cursor that is not acceptable here (field ``cursor``)."""
    return ValidationError(
        f"cursor {message}", code=code, field_errors=[FieldError("cursor", message, code)]
    )


def cursor_mismatch(what: str) -> ValidationError:
    return invalid_cursor(
        f"belongs to another {what}: repeat the request that returned it", "CURSOR_MISMATCH"
    )


@attrs.frozen
class SignedCursors:
    """Encodes and checks cursors of one ``purpose`` (part of what is signed, so a cursor of
    one list is never valid for another) with ``secret``."""

    secret: bytes = attrs.field(repr=False)
    purpose: str

    def encode(self, payload: dict[str, Any]) -> str:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(body)}.{_b64(self._sign(body))}"

    def decode(self, cursor: str) -> dict[str, Any]:
        """The payload of a cursor this codec issued; ValidationError INVALID_CURSOR else."""
        body_text, _, signature_text = cursor.partition(".")
        try:
            body, signature = _unb64(body_text), _unb64(signature_text)
        except (binascii.Error, ValueError):
            raise invalid_cursor("is not a cursor issued by this API") from None
        if not hmac.compare_digest(signature, self._sign(body)):
            raise invalid_cursor("is not a cursor issued by this API (signature mismatch)")
        try:
            payload = json.loads(body)
        except ValueError:
            raise invalid_cursor("is not a cursor issued by this API") from None
        if not isinstance(payload, dict):
            raise invalid_cursor("is not a cursor issued by this API")
        return payload

    def _sign(self, body: bytes) -> bytes:
        prefix = f"liquifact-{self.purpose}-cursor:".encode()
        return hmac.new(self.secret, prefix + body, hashlib.sha256).digest()
