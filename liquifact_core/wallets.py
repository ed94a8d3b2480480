"""The wallet directory: which principal (tenant, role, subject) a Stellar wallet signs in as.

A wallet (``G...`` account) is bound to at most one principal across every tenant: wallet
sign-in (SEP-10) proves control of the account, and the binding says who that is. Admins bind
and unbind wallets of their tenant; an unknown wallet may bind itself as an investor or an SME
in the deployment's self-service tenant, starting unverified (``verified`` is for the KYC work).

Also here: the typed requests of the sign-in routes (the challenge query, the signed challenge)
and the record of a redeemed challenge (a challenge can be used once).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from liquifact_core.addresses import AccountAddress
from liquifact_core.errors import Conflict, FieldError, NotFound, ValidationError
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_core.profiles import DISPLAY_NAME_MAX, ProfileUpdate
from liquifact_core.rules import (
    Account,
    Checked,
    Country,
    Flag,
    OneOf,
    Pattern,
    QueryInteger,
    Text,
    query_error,
    rule_field,
)

SUBJECT_PATTERN = "^[!-~]{1,128}$"
# A host name with an optional port (a port only makes sense for local tests), as SEP-10's
# client_domain and home_domain are sent.
DOMAIN_PATTERN = (
    "^[A-Za-z0-9][A-Za-z0-9-]{0,62}(?:\\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*(?::[0-9]{1,5})?$"
)
DOMAIN_MAX = 253
# A transaction envelope in base64 (standard alphabet). Challenges are a few hundred bytes; a
# multi-signature one grows by about 100 characters per signature (at most 20).
XDR_PATTERN = "^[A-Za-z0-9+/]+={0,2}$"
XDR_MAX = 8192
WALLETS_LIMIT_MAX = 100
WALLETS_PAGE_MAX = 1_000_000


class WalletRole(enum.StrEnum):
    """The roles a wallet may be bound to (people; services use API keys)."""

    SME = "sme"
    INVESTOR = "investor"
    ADMIN = "admin"


class SelfServiceRole(enum.StrEnum):
    """The roles an unknown wallet may give itself (never admin)."""

    SME = "sme"
    INVESTOR = "investor"


@attrs.frozen
class WalletBinding:
    """A wallet bound to a principal: ``address`` signs in as ``subject`` with ``role`` in
    ``tenant_id``. ``verified`` is false for self-registered wallets until KYC says otherwise;
    ``created_by`` is the actor id that bound it (the wallet itself when self-registered)."""

    address: str
    tenant_id: str
    role: Role
    subject: str
    verified: bool
    created_at: datetime
    created_by: str

    def actor(self) -> Actor:
        """The actor a token for this binding names."""
        return Actor(self.subject, self.role, self.address)


@attrs.frozen
class WalletPage:
    """One page of a tenant's bindings, by address, with the total count."""

    items: Sequence[WalletBinding]
    total: int


@attrs.frozen
class BindWallet(Checked):
    """An admin binds a wallet (``POST /v1/admin/wallets``, ``{address, role, subject,
    verified?}``) to a principal of the admin's tenant."""

    address: AccountAddress = rule_field(Account("INVALID_WALLET_ADDRESS"))
    role: WalletRole = rule_field(OneOf(WalletRole))
    subject: str = rule_field(
        Pattern(SUBJECT_PATTERN, "must be 1-128 printable ASCII characters without spaces", 128)
    )
    verified: bool = rule_field(Flag(), default=False)


@attrs.frozen
class WalletsQuery(Checked):
    """A page of a tenant's wallets (``page`` from 1, ``limit`` 1-100), by address."""

    page: int = rule_field(QueryInteger(1, WALLETS_PAGE_MAX), default=1)
    limit: int = rule_field(QueryInteger(1, WALLETS_LIMIT_MAX), default=20)

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The wallets query has invalid parameters.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@attrs.frozen
class ChallengeRequest(Checked):
    """Who asks for a SEP-10 challenge (``GET /v1/auth``): the account, and optionally the
    wallet's ``client_domain`` and the ``home_domain`` the challenge is for."""

    account: AccountAddress = rule_field(Account("INVALID_ACCOUNT"))
    client_domain: str | None = rule_field(
        Pattern(DOMAIN_PATTERN, "must be a domain name", DOMAIN_MAX),
        default=None,
        optional=True,
        wire="client_domain",
    )
    home_domain: str | None = rule_field(
        Pattern(DOMAIN_PATTERN, "must be a domain name", DOMAIN_MAX),
        default=None,
        optional=True,
        wire="home_domain",
    )

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The challenge request has invalid parameters.")


_TRANSACTION = Pattern(XDR_PATTERN, "must be a base64 transaction envelope", XDR_MAX)


@attrs.frozen
class SignedChallenge(Checked):
    """A challenge signed by the wallet (``POST /v1/auth``, ``{transaction}``)."""

    transaction: str = rule_field(_TRANSACTION)


@attrs.frozen
class SelfRegistration(Checked):
    """An unknown wallet registers itself (``POST /v1/auth/register``, ``{transaction, role,
    displayName?, country?}``): a signed challenge, the wanted role and, for an SME, its
    profile (``profiles.ProfileUpdate``). ``displayName`` and ``country`` come both or
    neither (else REQUIRED_TOGETHER on the missing one), and only with role ``sme`` (else
    NOT_ALLOWED_FOR_ROLE on each given)."""

    transaction: str = rule_field(_TRANSACTION)
    role: SelfServiceRole = rule_field(OneOf(SelfServiceRole))
    display_name: str | None = rule_field(
        Text(1, DISPLAY_NAME_MAX, searchable=True),
        default=None,
        optional=True,
        description="The SME's display name (role sme only; with country).",
    )
    country: str | None = rule_field(
        Country(),
        default=None,
        optional=True,
        description="The SME's country (role sme only; with displayName).",
    )

    @classmethod
    def cross_field_errors(cls, parsed: Mapping[str, Any]) -> list[FieldError]:
        given = {
            wire: parsed.get(name) is not None
            for name, wire in (("display_name", "displayName"), ("country", "country"))
        }
        if parsed.get("role") is SelfServiceRole.INVESTOR:
            return [
                FieldError(wire, "is only for role sme", "NOT_ALLOWED_FOR_ROLE")
                for wire, sent in given.items()
                if sent
            ]
        if any(given.values()) and not all(given.values()):
            [missing] = [wire for wire, sent in given.items() if not sent]
            [partner] = [wire for wire, sent in given.items() if sent]
            return [FieldError(missing, f"is required with {partner}", "REQUIRED_TOGETHER")]
        return []

    @property
    def profile(self) -> ProfileUpdate | None:
        """The SME profile to store with the binding, if one was sent."""
        if self.display_name is None or self.country is None:
            return None
        return ProfileUpdate(self.display_name, self.country)


def wallet_already_bound() -> Conflict:
    """Every store raises this for a second binding of one address (in any tenant)."""
    return Conflict("This wallet is already bound to a principal.", code="WALLET_ALREADY_BOUND")


def wallet_not_found(address: str) -> NotFound:
    return NotFound(f"No wallet {address} is bound in this tenant.", code="WALLET_NOT_FOUND")
