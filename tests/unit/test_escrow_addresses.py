"""``ESCROW_ADDR_BY_INVOICE`` parsing (liquifact_core.escrow_addresses): the spec's shape,
our checks, errors that never echo a value."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from stellar_sdk import Keypair
from stellar_sdk.strkey import StrKey

from liquifact_core.escrow_addresses import parse_address_book


def contract() -> str:
    return StrKey.encode_contract(os.urandom(32))


def text(*mappings: dict[str, Any], **top: Any) -> str:
    return json.dumps({"mappings": list(mappings), **top})


def test_the_spec_shape_resolves_for_the_current_environment() -> None:
    here, there = contract(), contract()
    book = parse_address_book(
        text(
            {"invoiceId": "inv_1", "escrowAddress": here, "environment": "production"},
            {"invoiceId": "inv_2", "escrowAddress": there, "environment": "staging"},
            {"invoiceId": "inv_3", "escrowAddress": contract(), "isActive": False},
            defaultEnvironment="production",
            allowlistEnabled=True,
            cacheEnabled=True,
            cacheTtlSeconds=300,
        ),
        "production",
    )

    assert book.configured and book.allowlist_enabled
    assert book.address_for("inv_1") == here
    assert book.invoice_for(here) == "inv_1"
    assert book.address_for("inv_2") is None  # staging's
    assert book.address_for("inv_3") is None  # inactive
    assert book.invoice_for(there) is None


def test_defaults() -> None:
    address = contract()
    book = parse_address_book(text({"invoiceId": "inv_1", "escrowAddress": address}), "development")

    assert book.allowlist_enabled is True
    assert book.address_for("inv_1") == address  # environment: defaultEnvironment: development
    assert (book.cache_enabled, book.cache_ttl_seconds) == (True, 300)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "must be a JSON object"),
        ("[]", "must be a JSON object"),
        (text(extra=1), "unknown keys: extra"),
        (json.dumps({"mappings": {}}), "mappings must be a list"),
        (text({"invoiceId": "inv-1", "escrowAddress": contract()}), "mappings[0].invoiceId"),
        (
            text({"invoiceId": "inv_1", "escrowAddress": Keypair.random().public_key}),
            "mappings[0].escrowAddress must be a contract address",
        ),
        (
            text({"invoiceId": "inv_1", "escrowAddress": "C" + "A" * 55}),
            "mappings[0].escrowAddress",
        ),
        (
            text({"invoiceId": "inv_1", "escrowAddress": contract(), "environment": "qa"}),
            "mappings[0].environment must be one of",
        ),
        (
            text({"invoiceId": "inv_1", "escrowAddress": contract(), "isActive": "yes"}),
            "mappings[0].isActive must be true or false",
        ),
        (
            text({"invoiceId": "inv_1", "escrowAddress": contract(), "memo": 1}),
            "mappings[0] has unknown keys: memo",
        ),
        (text(cacheTtlSeconds=4), "cacheTtlSeconds must be an integer from 5 to 3600"),
        (text(allowlistEnabled="true"), "allowlistEnabled must be true or false"),
        (text(defaultEnvironment="local"), "defaultEnvironment must be one of"),
    ],
)
def test_invalid_values_are_refused_without_echoing_them(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        parse_address_book(value, "development")

    assert "C" + "A" * 55 not in str(raised.value)


def test_one_invoice_and_one_address_per_environment() -> None:
    address = contract()
    twice = text(
        {"invoiceId": "inv_1", "escrowAddress": contract()},
        {"invoiceId": "inv_1", "escrowAddress": contract()},
    )
    shared = text(
        {"invoiceId": "inv_1", "escrowAddress": address},
        {"invoiceId": "inv_2", "escrowAddress": address},
    )
    apart = text(
        {"invoiceId": "inv_1", "escrowAddress": address, "environment": "staging"},
        {"invoiceId": "inv_1", "escrowAddress": address, "environment": "production"},
    )

    with pytest.raises(ValueError, match="invoice already mapped"):
        parse_address_book(twice, "development")
    with pytest.raises(ValueError, match="address already mapped"):
        parse_address_book(shared, "development")
    assert parse_address_book(apart, "staging").address_for("inv_1") == address
