"""Webhook secrets sealed at rest with Fernet (``cryptography``: AES-128-CBC and
HMAC-SHA256, authenticated), the ``SecretBox`` port.

The key is WEBHOOK_SECRETS_KEY: one or more Fernet keys (urlsafe base64 of 32 bytes),
comma-separated. The first seals; every one opens (``MultiFernet``), so a key is rotated by
putting the new key first, re-sealing (``liquifact`` rotates a tenant's secret on request),
then dropping the old key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def generate_key() -> str:
    """A new Fernet key (44 characters of urlsafe base64)."""
    return Fernet.generate_key().decode("ascii")


class FernetSecretBox:
    """``SecretBox`` over Fernet keys. ValueError (naming no key material) for a key list
    that is empty or holds a malformed key."""

    def __init__(self, keys: str) -> None:
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise ValueError("WEBHOOK_SECRETS_KEY must hold at least one Fernet key")
        try:
            self._fernet = MultiFernet([Fernet(part.encode("ascii")) for part in parts])
        except (ValueError, UnicodeEncodeError):
            raise ValueError(
                "WEBHOOK_SECRETS_KEY must be Fernet keys (urlsafe base64 of 32 bytes), "
                "comma-separated"
            ) from None

    def seal(self, secret: str) -> str:
        """The secret, encrypted and authenticated, as ASCII."""
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        """The sealed secret; ValueError if no key opens ``token``."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise ValueError(
                "The webhook secret cannot be opened with WEBHOOK_SECRETS_KEY "
                "(the key changed?); rotate the tenant's secret."
            ) from None

    def __repr__(self) -> str:  # never show key material
        return "FernetSecretBox(<keys>)"
