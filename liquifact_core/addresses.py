"""Stellar addresses, validated with StrKey (version byte and CRC16 checksum), not a regex."""

from __future__ import annotations

from typing import Any

import attrs
from stellar_sdk.strkey import StrKey

from liquifact_core.errors import ValidationError


@attrs.frozen
class AccountAddress:
    """A Stellar account (``G...``) address."""

    value: str

    @classmethod
    def parse(
        cls, raw: Any, field: str = "address", code: str = "INVALID_ADDRESS"
    ) -> AccountAddress:
        if not isinstance(raw, str) or not StrKey.is_valid_ed25519_public_key(raw):
            raise ValidationError.for_field(
                field, "must be a valid Stellar account address (G..., with checksum)", code
            )
        return cls(raw)

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class ContractAddress:
    """A Soroban contract (``C...``) address."""

    value: str

    @classmethod
    def parse(
        cls, raw: Any, field: str = "escrowAddress", code: str = "INVALID_CONTRACT_ADDRESS"
    ) -> ContractAddress:
        if not isinstance(raw, str) or not StrKey.is_valid_contract(raw):
            raise ValidationError.for_field(
                field, "must be a valid Soroban contract address (C..., with checksum)", code
            )
        return cls(raw)

    def __str__(self) -> str:
        return self.value


def is_valid_account(raw: str) -> bool:
    """True for a checksummed ``G...`` address."""
    return StrKey.is_valid_ed25519_public_key(raw)
