"""The spec's ``ESCROW_ADDR_BY_INVOICE`` mapping: escrow contract addresses configured per
invoice, for invoices whose escrow was set up outside the API.

Spec (original README, "Escrow Address Mapping")::

    {"mappings": [{"invoiceId": "inv_demo_001", "escrowAddress": "C...",
                   "environment": "development", "isActive": true}],
     "defaultEnvironment": "development", "allowlistEnabled": true,
     "cacheEnabled": true, "cacheTtlSeconds": 300}

"Allowlist validation: only mapped invoices can be resolved; environment separation: different
mappings for development, staging, production; address validation; caching with a TTL." The
spec says no more; this is our minimal reading of it (docs/configuration.md says the same):

- A mapping applies in its ``environment`` (default: ``defaultEnvironment``, itself default
  ``development``) when that is the server's environment (``NODE_ENV``) and ``isActive`` is
  true (the default). Environments: development, test, staging, production.
- ``escrowAddress`` must be a contract address (``C...``, checksum checked): an escrow is a
  contract. (The spec's example shows a ``G...`` placeholder; an account holds no escrow.)
  ``invoiceId`` follows our invoice ids and the contract's Symbol: 1-32 of ``[A-Za-z0-9_]``.
  Two active mappings of one environment may not share an invoice or an address.
- Resolving: ``address_for(invoice_id)`` is the mapped address of an invoice linked outside
  the API (None when unmapped); ``invoice_for(address)`` the reverse (for the indexer).
- ``allowlistEnabled`` (default true): only invoices with an active mapping here may be linked
  to an escrow; a mapped invoice may be linked only to its mapped address, whether or not the
  allow-list is on (``check_link_allowed``).
- ``cacheEnabled`` / ``cacheTtlSeconds`` (5-3600) are validated and otherwise have no effect:
  the mapping is parsed once when the process starts and never changes while it runs (change
  it by restarting with a new value), so there is nothing to cache or expire.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from stellar_sdk.strkey import StrKey

from liquifact_core.errors import Unprocessable
from liquifact_core.escrow import INVOICE_ID_PATTERN

ENVIRONMENTS = ("development", "test", "staging", "production")
MAX_MAPPINGS = 1000
CACHE_TTL_RANGE = (5, 3600)
_TOP_KEYS = frozenset(
    {"mappings", "defaultEnvironment", "allowlistEnabled", "cacheEnabled", "cacheTtlSeconds"}
)
_ENTRY_KEYS = frozenset({"invoiceId", "escrowAddress", "environment", "isActive"})


@attrs.frozen
class EscrowMapping:
    """One entry: ``invoice_id`` is escrowed at contract ``escrow_address`` in
    ``environment`` (only while ``is_active``)."""

    invoice_id: str
    escrow_address: str
    environment: str
    is_active: bool = True


@attrs.frozen
class EscrowAddressBook:
    """The mappings that apply to this process: active ones of ``environment``.

    ``configured`` is False for the empty book (no ``ESCROW_ADDR_BY_INVOICE``): then nothing
    is mapped and every invoice may be linked to any escrow."""

    mappings: tuple[EscrowMapping, ...] = ()
    environment: str = "development"
    allowlist_enabled: bool = False
    configured: bool = False
    cache_enabled: bool = True
    cache_ttl_seconds: int = 300

    def _active(self) -> list[EscrowMapping]:
        return [m for m in self.mappings if m.is_active and m.environment == self.environment]

    def address_for(self, invoice_id: str) -> str | None:
        """The contract address mapped to ``invoice_id`` here, or None."""
        return next((m.escrow_address for m in self._active() if m.invoice_id == invoice_id), None)

    def invoice_for(self, address: str) -> str | None:
        """The invoice mapped to contract ``address`` here, or None."""
        return next((m.invoice_id for m in self._active() if m.escrow_address == address), None)

    def check_link_allowed(self, invoice_id: str, address: str) -> None:
        """Raise Unprocessable (422) when the mapping forbids linking ``invoice_id`` to
        ``address``: ``ESCROW_ADDRESS_NOT_MAPPED`` (the invoice is mapped to another address)
        or ``ESCROW_NOT_ALLOWLISTED`` (allow-list on, invoice not mapped). The messages name
        no address."""
        mapped = self.address_for(invoice_id)
        if mapped is not None and mapped != address:
            raise Unprocessable(
                "The escrow address differs from the one configured for this invoice.",
                code="ESCROW_ADDRESS_NOT_MAPPED",
            )
        if mapped is None and self.configured and self.allowlist_enabled:
            raise Unprocessable(
                "This invoice is not on the escrow address allow-list.",
                code="ESCROW_NOT_ALLOWLISTED",
            )


def parse_address_book(text: str, environment: str) -> EscrowAddressBook:
    """The book ``ESCROW_ADDR_BY_INVOICE``'s JSON ``text`` describes for the server's
    ``environment`` (NODE_ENV). Raises ValueError naming what is wrong, never a value."""
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise ValueError("must be a JSON object (see docs/configuration.md)") from error
    if not isinstance(raw, dict):
        raise ValueError("must be a JSON object with a mappings list")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ValueError(f"has unknown keys: {', '.join(sorted(unknown))}")
    default_environment = _environment(
        raw.get("defaultEnvironment", "development"), "defaultEnvironment"
    )
    entries = raw.get("mappings")
    if not isinstance(entries, list) or len(entries) > MAX_MAPPINGS:
        raise ValueError(f"mappings must be a list of at most {MAX_MAPPINGS} entries")
    mappings = tuple(
        _mapping(entry, index, default_environment) for index, entry in enumerate(entries)
    )
    _check_unique(mappings)
    ttl = raw.get("cacheTtlSeconds", 300)
    if type(ttl) is not int or not CACHE_TTL_RANGE[0] <= ttl <= CACHE_TTL_RANGE[1]:
        raise ValueError("cacheTtlSeconds must be an integer from 5 to 3600")
    return EscrowAddressBook(
        mappings=mappings,
        environment=_environment(environment, "NODE_ENV"),
        allowlist_enabled=_boolean(raw.get("allowlistEnabled", True), "allowlistEnabled"),
        configured=True,
        cache_enabled=_boolean(raw.get("cacheEnabled", True), "cacheEnabled"),
        cache_ttl_seconds=ttl,
    )


def _mapping(entry: Any, index: int, default_environment: str) -> EscrowMapping:
    where = f"mappings[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise ValueError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    invoice_id = entry.get("invoiceId")
    if not isinstance(invoice_id, str) or not INVOICE_ID_PATTERN.fullmatch(invoice_id):
        raise ValueError(f"{where}.invoiceId must be 1-32 characters of [A-Za-z0-9_]")
    address = entry.get("escrowAddress")
    if not isinstance(address, str) or not StrKey.is_valid_contract(address):
        raise ValueError(f"{where}.escrowAddress must be a contract address (C...)")
    return EscrowMapping(
        invoice_id=invoice_id,
        escrow_address=address,
        environment=_environment(
            entry.get("environment", default_environment), f"{where}.environment"
        ),
        is_active=_boolean(entry.get("isActive", True), f"{where}.isActive"),
    )


def _check_unique(mappings: tuple[EscrowMapping, ...]) -> None:
    invoices: set[tuple[str, str]] = set()
    addresses: set[tuple[str, str]] = set()
    for index, mapping in enumerate(mappings):
        if not mapping.is_active:
            continue
        invoice = (mapping.environment, mapping.invoice_id)
        address = (mapping.environment, mapping.escrow_address)
        if invoice in invoices:
            raise ValueError(f"mappings[{index}] maps an invoice already mapped in its environment")
        if address in addresses:
            raise ValueError(f"mappings[{index}] maps an address already mapped in its environment")
        invoices.add(invoice)
        addresses.add(address)


def _environment(value: Any, name: str) -> str:
    if value not in ENVIRONMENTS:
        raise ValueError(f"{name} must be one of {', '.join(ENVIRONMENTS)}")
    return str(value)


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value
