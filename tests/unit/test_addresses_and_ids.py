"""Stellar addresses (StrKey with checksum) and the id rules shared by every layer."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stellar_sdk import Keypair
from stellar_sdk.strkey import StrKey

from liquifact_adapters.memory import SequentialIdGenerator
from liquifact_adapters.system import RandomIdGenerator
from liquifact_core.addresses import AccountAddress, ContractAddress, is_valid_account
from liquifact_core.errors import ValidationError
from liquifact_core.ids import (
    INVOICE_ID_PREFIX,
    is_invoice_id,
    parse_invoice_id,
    parse_tenant_id,
    sortable_id,
)
from liquifact_core.ports import IdGenerator

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SYMBOL = re.compile(r"[A-Za-z0-9_]{1,32}")

raw_keys = st.binary(min_size=32, max_size=32)
accounts = raw_keys.map(StrKey.encode_ed25519_public_key)
contracts = raw_keys.map(StrKey.encode_contract)
addresses = st.one_of(accounts, contracts)


def is_accepted(raw: Any) -> bool:
    """True if either address type accepts ``raw``."""
    accepted = False
    for parse in (AccountAddress.parse, ContractAddress.parse):
        try:
            parse(raw)
        except ValidationError:
            continue
        accepted = True
    return accepted


def account_error(raw: Any) -> tuple[str, str]:
    with pytest.raises(ValidationError) as info:
        AccountAddress.parse(raw)
    return info.value.field_errors[0].field, info.value.field_errors[0].code


def contract_error(raw: Any) -> tuple[str, str]:
    with pytest.raises(ValidationError) as info:
        ContractAddress.parse(raw)
    return info.value.field_errors[0].field, info.value.field_errors[0].code


# ---- valid addresses -------------------------------------------------------------------------


def test_a_random_keypair_address_is_an_account() -> None:
    address = Keypair.random().public_key
    assert str(AccountAddress.parse(address)) == address
    assert is_valid_account(address)


def test_a_random_contract_address_is_a_contract() -> None:
    address = StrKey.encode_contract(os.urandom(32))
    assert str(ContractAddress.parse(address)) == address


@given(accounts)
def test_every_encoded_account_is_accepted(address: str) -> None:
    assert AccountAddress.parse(address).value == address
    assert address.startswith("G")
    assert len(address) == 56


@given(contracts)
def test_every_encoded_contract_is_accepted(address: str) -> None:
    assert ContractAddress.parse(address).value == address
    assert address.startswith("C")
    assert len(address) == 56


# ---- mutations -------------------------------------------------------------------------------


@settings(max_examples=300)
@given(addresses, st.data())
def test_any_single_character_substitution_is_rejected(address: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(address) - 1), label="position")
    replacement = data.draw(
        st.one_of(st.sampled_from(BASE32), st.sampled_from(BASE32.lower()), st.characters()).filter(
            lambda ch: ch != address[position]
        ),
        label="replacement",
    )
    mutated = address[:position] + replacement + address[position + 1 :]
    assert not is_accepted(mutated)


def test_every_base32_substitution_of_one_address_is_rejected() -> None:
    # Exhaustive for one account and one contract: 56 positions x 31 other letters each.
    for address in (Keypair.random().public_key, StrKey.encode_contract(os.urandom(32))):
        for position, original in enumerate(address):
            for replacement in BASE32.replace(original, ""):
                mutated = address[:position] + replacement + address[position + 1 :]
                assert not is_accepted(mutated), (position, replacement)


@given(addresses, st.data())
def test_deleting_or_inserting_a_character_is_rejected(address: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(address) - 1))
    inserted = data.draw(st.sampled_from(BASE32))
    assert not is_accepted(address[:position] + address[position + 1 :])
    assert not is_accepted(address[:position] + inserted + address[position:])


@given(accounts)
def test_an_account_is_not_a_contract(address: str) -> None:
    assert contract_error(address) == ("escrowAddress", "INVALID_CONTRACT_ADDRESS")


@given(contracts)
def test_a_contract_is_not_an_account(address: str) -> None:
    assert account_error(address) == ("address", "INVALID_ADDRESS")
    assert not is_valid_account(address)


@given(addresses)
def test_lowercase_is_rejected(address: str) -> None:
    assert not is_accepted(address.lower())


@given(addresses, st.sampled_from([" ", "\n", "\t", "\u00a0", "\x00"]), st.booleans())
def test_surrounding_whitespace_is_rejected(address: str, space: str, before: bool) -> None:
    assert not is_accepted(space + address if before else address + space)


@pytest.mark.parametrize(
    "raw",
    [
        StrKey.encode_ed25519_secret_seed(bytes(range(32))),
        StrKey.encode_med25519_public_key(bytes(range(40))),
        StrKey.encode_pre_auth_tx(bytes(range(32))),
        StrKey.encode_sha256_hash(bytes(range(32))),
        "G" + "A" * 55,
        "C" + "A" * 55,
        "",
        None,
        42,
        b"GABC",
        ["G"],
    ],
    ids=["secret", "muxed", "pre-auth", "hash", "G-no-checksum", "C-no-checksum", "empty", "none",
         "int", "bytes", "list"],
)  # fmt: skip
def test_other_strkeys_and_non_addresses_are_rejected(raw: Any) -> None:
    assert not is_accepted(raw)


def test_custom_field_and_code_are_reported() -> None:
    with pytest.raises(ValidationError) as info:
        AccountAddress.parse("nope", field="investorAddress", code="INVALID_INVESTOR_ADDRESS")
    first = info.value.field_errors[0]
    assert (first.field, first.code) == ("investorAddress", "INVALID_INVESTOR_ADDRESS")


# ---- invoice ids -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "generator", [RandomIdGenerator(), SequentialIdGenerator()], ids=["random", "sequential"]
)
def test_generated_invoice_ids_are_valid_contract_symbols(generator: IdGenerator) -> None:
    ids = [generator.new_id(INVOICE_ID_PREFIX) for _ in range(500)]
    for invoice_id in ids:
        assert parse_invoice_id(invoice_id) == invoice_id
        assert is_invoice_id(invoice_id)
        assert len(invoice_id) <= 32
        assert SYMBOL.fullmatch(invoice_id), invoice_id
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "generator", [RandomIdGenerator(), SequentialIdGenerator()], ids=["random", "sequential"]
)
def test_generated_ids_sort_in_creation_order(generator: IdGenerator) -> None:
    # Many of these fall in the same millisecond; the order must still be the creation order.
    ids = [generator.new_id(INVOICE_ID_PREFIX) for _ in range(500)]
    assert sorted(ids) == ids


@given(
    st.integers(min_value=0, max_value=2**48 - 2),
    st.integers(min_value=1, max_value=1000),
    st.binary(min_size=10, max_size=10),
    st.binary(min_size=10, max_size=10),
)
def test_sortable_ids_order_by_time_whatever_the_randomness(
    millis: int, later_by: int, first: bytes, second: bytes
) -> None:
    later = min(millis + later_by, 2**48 - 1)
    earlier_id = sortable_id(INVOICE_ID_PREFIX, millis, first)
    later_id = sortable_id(INVOICE_ID_PREFIX, later, second)
    assert earlier_id < later_id
    assert len(earlier_id) == len(later_id) == len(INVOICE_ID_PREFIX) + 26


@pytest.mark.parametrize("size", [0, 9, 11])
def test_sortable_id_needs_ten_bytes_of_entropy(size: int) -> None:
    with pytest.raises(ValueError, match="10 bytes"):
        sortable_id(INVOICE_ID_PREFIX, 0, bytes(size))


@given(st.from_regex(r"inv_[A-Za-z0-9_]{1,28}", fullmatch=True))
def test_invoice_id_shape_is_accepted(raw: str) -> None:
    assert parse_invoice_id(raw) == raw


@pytest.mark.parametrize(
    "raw",
    [
        "", "inv_", "inv", "INV_abc", "inv-abc", "aud_abc", "abc",
        "inv_" + "a" * 29, "inv_abc!", "inv_ab c", " inv_abc", "inv_abc\n", "inv_\u00e9t\u00e9",
        "inv_\uff21", None, 12, ["inv_abc"],
    ],
)  # fmt: skip
def test_malformed_invoice_ids_are_rejected(raw: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_invoice_id(raw, field="invoiceId")
    first = info.value.field_errors[0]
    assert (first.field, first.code) == ("invoiceId", "INVALID_ID")


def test_the_longest_invoice_id_is_thirty_two_characters() -> None:
    longest = "inv_" + "Z" * 28
    assert len(longest) == 32
    assert parse_invoice_id(longest) == longest


# ---- tenant ids ------------------------------------------------------------------------------


@given(st.from_regex(r"[A-Za-z0-9_-]{1,128}", fullmatch=True))
def test_tenant_ids_of_the_allowed_alphabet_are_accepted(raw: str) -> None:
    assert parse_tenant_id(raw) == raw


@pytest.mark.parametrize("length", [1, 64, 128])
def test_tenant_id_lengths_up_to_128_are_accepted(length: int) -> None:
    assert parse_tenant_id("t" * length) == "t" * length


@pytest.mark.parametrize(
    "raw",
    ["", "t" * 129, "acme corp", "acme.corp", "acme/corp", "acme\n", " acme", "\u00e9cole",
     "\uff41cme", "acme:1", None, 7, ["acme"]],
)  # fmt: skip
def test_malformed_tenant_ids_are_rejected(raw: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_tenant_id(raw)
    first = info.value.field_errors[0]
    assert (first.field, first.code) == ("tenantId", "INVALID_TENANT_ID")


@given(
    st.from_regex(r"[A-Za-z0-9_-]{0,60}", fullmatch=True),
    st.characters().filter(lambda ch: re.fullmatch(r"[A-Za-z0-9_-]", ch) is None),
    st.from_regex(r"[A-Za-z0-9_-]{0,60}", fullmatch=True),
)
def test_any_character_outside_the_alphabet_is_rejected(head: str, bad: str, tail: str) -> None:
    with pytest.raises(ValidationError):
        parse_tenant_id(head + bad + tail)
