"""Idempotency keys and request fingerprints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.errors import ValidationError
from liquifact_core.idempotency import parse_idempotency_key, request_fingerprint

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def _shuffled(value: Any, order: list[int]) -> Any:
    """The same JSON value with every object's keys in another order."""
    if isinstance(value, dict):
        keys = list(value)
        rotated = keys[order[0] % len(keys) :] + keys[: order[0] % len(keys)] if keys else keys
        return {key: _shuffled(value[key], order[1:] or [0]) for key in reversed(rotated)}
    if isinstance(value, list):
        return [_shuffled(item, order) for item in value]
    return value


@given(value=JSON_VALUES, order=st.lists(st.integers(0, 5), min_size=1, max_size=4))
def test_fingerprint_ignores_key_order_and_whitespace(value: Any, order: list[int]) -> None:
    pretty = json.loads(json.dumps(_shuffled(value, order), indent=3, separators=(" , ", " :  ")))
    assert request_fingerprint("fund_invoice", "investor:a", value) == request_fingerprint(
        "fund_invoice", "investor:a", pretty
    )


@given(value=JSON_VALUES)
def test_fingerprint_depends_on_operation_principal_and_request(value: Any) -> None:
    base = request_fingerprint("fund_invoice", "investor:a", value)
    assert base != request_fingerprint("submit_invoice", "investor:a", value)
    assert base != request_fingerprint("fund_invoice", "investor:b", value)
    assert base != request_fingerprint("fund_invoice", "investor:a", [value])


def test_fingerprint_parts_cannot_run_into_each_other() -> None:
    assert request_fingerprint("ab", "c", 1) != request_fingerprint("a", "bc", 1)


@pytest.mark.parametrize("key", ["abcdefgh", "A" * 128, "k.e_y:1-2"])
def test_valid_keys(key: str) -> None:
    assert parse_idempotency_key(key) == key


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (None, "IDEMPOTENCY_KEY_REQUIRED"),
        ("short", "INVALID_IDEMPOTENCY_KEY"),
        ("A" * 129, "INVALID_IDEMPOTENCY_KEY"),
        ("has space!", "INVALID_IDEMPOTENCY_KEY"),
        ("ключ-ключ-ключ", "INVALID_IDEMPOTENCY_KEY"),
    ],
)
def test_invalid_keys(key: str | None, code: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_idempotency_key(key)
    assert raised.value.code == code


def test_a_fingerprint_is_defined_for_text_that_is_not_unicode_scalar_values() -> None:
    # A library caller may fingerprint a body with a lone surrogate before the use case
    # refuses it: that must not crash, and must not collide with any real text.
    lone = request_fingerprint("fund_invoice", "investor:i", {"a": "\ud800"})
    assert lone != request_fingerprint("fund_invoice", "investor:i", {"a": "\ufffd"})
    assert lone != request_fingerprint("fund_invoice", "investor:i", {"a": "\udc00"})
    assert lone == request_fingerprint("fund_invoice", "investor:i", {"a": "\ud800"})
