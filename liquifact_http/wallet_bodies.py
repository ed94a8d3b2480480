"""Response bodies of wallet sign-in and the wallet directory (``Representation``):
the same classes give the JSON and its schema in the document."""

from __future__ import annotations

from typing import Any

import attrs

from liquifact_core.profiles import ProfileUpdate
from liquifact_core.rules import Account
from liquifact_core.wallets import (
    SUBJECT_PATTERN,
    WalletBinding,
    WalletPage,
    WalletRole,
    WalletsQuery,
)
from liquifact_http.pages import PageMeta
from liquifact_http.representations import timestamp
from liquifact_http.response_fields import Representation, out
from liquifact_http.wire import unstructure

_TIMESTAMP = {
    "type": "string",
    "format": "date-time",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
}
_JWT = {"pattern": "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$"}


@attrs.frozen
class ChallengeBody(Representation):
    """A SEP-10 challenge: the transaction to sign, and the network it is for."""

    component = "Sep10Challenge"

    transaction: str = out(
        {
            "pattern": "^[A-Za-z0-9+/]+={0,2}$",
            "description": "The challenge transaction (base64 XDR), signed by SIGNING_KEY.",
        }
    )
    network_passphrase: str = out(wire="network_passphrase")


@attrs.frozen
class TokenBody(Representation):
    """A SEP-10 token answer: our bearer token for the proven wallet's principal."""

    component = "Sep10Token"

    token: str = out(
        {
            **_JWT,
            "description": "A JWT (Authorization: Bearer <token>) with sub, tenantId, role and "
            "walletAddress; it expires after SEP10_JWT_TTL_SECONDS (at most "
            "JWT_MAX_TTL_SECONDS).",
        }
    )


@attrs.frozen
class WalletBody(Representation):
    """A wallet bound to a principal of the tenant."""

    component = "Wallet"

    address: str = out(rule=Account())
    tenant_id: str = out({"pattern": "^[A-Za-z0-9_-]{1,128}$"})
    role: str = out({"enum": [role.value for role in WalletRole]})
    subject: str = out({"pattern": SUBJECT_PATTERN, "description": "The token's sub."})
    verified: bool = out(
        {"description": "False for self-registered wallets until KYC verifies them."}
    )
    created_at: str = out({**_TIMESTAMP, "description": "When it was bound (RFC 3339, UTC)."})
    created_by: str = out({"description": "Who bound it: an admin, or the wallet itself."})

    @classmethod
    def of(cls, item: WalletBinding) -> WalletBody:
        return cls(
            address=item.address,
            tenant_id=item.tenant_id,
            role=item.role.value,
            subject=item.subject,
            verified=item.verified,
            created_at=timestamp(item.created_at),
            created_by=item.created_by,
        )


@attrs.frozen
class RegisteredProfileBody(Representation):
    """The SME profile stored with a self-registration."""

    display_name: str = out(like=(ProfileUpdate, "display_name"))
    country: str = out(like=(ProfileUpdate, "country"))

    @classmethod
    def of(cls, item: ProfileUpdate) -> RegisteredProfileBody:
        return cls(item.display_name, item.country)


@attrs.frozen
class RegisteredBody(Representation):
    """A self-registered wallet and its first token (and the SME's profile, when one was
    sent)."""

    component = "WalletRegistered"

    token: str = out(_JWT)
    wallet: WalletBody = out()
    profile: RegisteredProfileBody | None = out(
        {"description": "The SME profile stored with the wallet; only when one was sent."},
        omit_none=True,
    )


@attrs.frozen
class WalletPageBody(Representation):
    """The tenant's wallets, by address."""

    component = "WalletList"

    data: list[WalletBody] = out()
    meta: PageMeta = out()

    @classmethod
    def of(cls, page: WalletPage, wanted: WalletsQuery) -> WalletPageBody:
        return cls(
            data=[WalletBody.of(item) for item in page.items],
            meta=PageMeta.by_number(page.total, wanted.page, wanted.limit),
        )


def body(item: Representation) -> dict[str, Any]:
    """The JSON object of a response body."""
    result: dict[str, Any] = unstructure(item)
    return result
