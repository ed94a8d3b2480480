"""Stroops: the strict wire rules for on-chain amounts (digit strings, 0 < x <= 10^18)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.amounts import STROOPS_MAX, Stroops
from liquifact_core.errors import ValidationError

ASCII_DIGITS = re.compile(r"[0-9]+")

valid_digit_strings = st.one_of(
    st.from_regex(r"[1-9][0-9]{0,17}", fullmatch=True),
    st.just(str(STROOPS_MAX)),
)
in_range = st.integers(min_value=1, max_value=STROOPS_MAX)


def rejection(raw: Any, field: str = "amountStroops") -> tuple[str, str]:
    """The (field, code) of the first field error ``Stroops.parse`` raises for ``raw``."""
    with pytest.raises(ValidationError) as info:
        Stroops.parse(raw, field)
    assert info.value.field_errors, "a Stroops error must name the field"
    first = info.value.field_errors[0]
    return first.field, first.code


def code_of(raw: Any) -> str:
    return rejection(raw)[1]


# ---- accepted values -----------------------------------------------------------------------


@given(valid_digit_strings)
def test_every_valid_digit_string_round_trips(text: str) -> None:
    assert str(Stroops.parse(text)) == text


@given(in_range)
def test_every_in_range_integer_round_trips_through_its_text(value: int) -> None:
    parsed = Stroops.parse(str(value))
    assert parsed.value == value
    assert type(parsed.value) is int


@pytest.mark.parametrize("value", [1, 10**18])
def test_boundaries_are_accepted(value: int) -> None:
    assert Stroops.parse(str(value)) == Stroops(value)


def test_order_follows_value() -> None:
    assert Stroops.parse("2") < Stroops.parse("10") < Stroops.parse(str(STROOPS_MAX))


# ---- type ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [1, 0, 10**18, 1.0, 1.5, float("nan"), None, [], ["1"], {"value": "1"}, True, False,
     b"1", Decimal("1")],
)  # fmt: skip
def test_non_strings_are_refused_not_coerced(raw: Any) -> None:
    assert code_of(raw) == "INVALID_AMOUNT_TYPE"


@given(st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.binary()))
def test_any_non_string_is_a_type_error(raw: Any) -> None:
    assert code_of(raw) == "INVALID_AMOUNT_TYPE"


# ---- format ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "+1", "-1", "-0", "+0", "1-", "1+2",
        " 1", "1 ", "1 000", "\t1", "1\n", "\u00a01", "1\u2003",
        "1.0", "1.", ".5", "10.00", "1,000", "1_000",
        "1e5", "1E5", "1e+5", "1e-5", "0x10", "Infinity", "NaN",
        "01", "007", "00", "000000", "0" + str(STROOPS_MAX),
        "\u0661\u0662\u0663", "\uff11", "1\uff10", "\u0661", "\u00b2", "\u2460",
    ],
)  # fmt: skip
def test_malformed_text_is_a_format_error(raw: str) -> None:
    assert code_of(raw) == "INVALID_AMOUNT_FORMAT"


@given(st.text().filter(lambda text: ASCII_DIGITS.fullmatch(text) is None))
def test_any_text_that_is_not_only_ascii_digits_is_a_format_error(raw: str) -> None:
    assert code_of(raw) == "INVALID_AMOUNT_FORMAT"


whitespace = st.sampled_from(" \t\n\r\x0b\x0c\u00a0\u1680\u2000\u2003\u2028\u202f\u3000\ufeff")


@given(valid_digit_strings, whitespace, st.data())
def test_whitespace_anywhere_is_a_format_error(text: str, space: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    assert code_of(text[:position] + space + text[position:]) == "INVALID_AMOUNT_FORMAT"


@given(valid_digit_strings, st.sampled_from(["+", "-"]))
def test_signs_are_a_format_error(text: str, sign: str) -> None:
    assert code_of(sign + text) == "INVALID_AMOUNT_FORMAT"


@given(st.from_regex(r"[0-9]{1,10}\.[0-9]{0,10}", fullmatch=True))
def test_decimal_points_are_a_format_error(text: str) -> None:
    assert code_of(text) == "INVALID_AMOUNT_FORMAT"


@given(st.from_regex(r"[1-9][0-9]{0,5}[eE][+-]?[0-9]{1,3}", fullmatch=True))
def test_scientific_notation_is_a_format_error(text: str) -> None:
    assert code_of(text) == "INVALID_AMOUNT_FORMAT"


@given(st.integers(min_value=1, max_value=20), valid_digit_strings)
def test_leading_zeros_are_a_format_error(zeros: int, text: str) -> None:
    assert code_of("0" * zeros + text) == "INVALID_AMOUNT_FORMAT"


@given(st.integers(min_value=2, max_value=40))
def test_all_zero_strings_are_a_format_error(length: int) -> None:
    assert code_of("0" * length) == "INVALID_AMOUNT_FORMAT"


@given(st.lists(st.sampled_from("\u0660\u0661\u0669\u06f1\u0967\uff10\uff11\uff19"), min_size=1))
def test_non_ascii_digits_are_a_format_error(digits: list[str]) -> None:
    # str.isdigit() and int() accept these; the wire format does not.
    text = "".join(digits)
    assert text.isdigit()
    assert code_of(text) == "INVALID_AMOUNT_FORMAT"


# ---- range -----------------------------------------------------------------------------------


def test_zero_is_a_range_error() -> None:
    assert code_of("0") == "INVALID_AMOUNT_RANGE"


def test_one_above_the_maximum_is_an_overflow() -> None:
    assert code_of(str(STROOPS_MAX + 1)) == "INVALID_AMOUNT_OVERFLOW"


@given(st.integers(min_value=STROOPS_MAX + 1, max_value=10**60))
def test_every_value_above_the_maximum_is_an_overflow(value: int) -> None:
    assert code_of(str(value)) == "INVALID_AMOUNT_OVERFLOW"


@pytest.mark.parametrize(
    "raw",
    ["9" * 1000, "1" + "0" * 999, "1" * 5000, "7" * 1_000_000],
    ids=["1000-nines", "10^999", "5000-digits", "million-digits"],
)
def test_huge_digit_strings_overflow_without_building_the_integer(raw: str) -> None:
    # 5000+ digits would make int() raise ValueError (int max str digits) if it were called.
    assert code_of(raw) == "INVALID_AMOUNT_OVERFLOW"


# ---- error shape -----------------------------------------------------------------------------


def test_errors_name_the_default_field() -> None:
    assert rejection("abc") == ("amountStroops", "INVALID_AMOUNT_FORMAT")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (5, "INVALID_AMOUNT_TYPE"),
        ("5.0", "INVALID_AMOUNT_FORMAT"),
        ("0", "INVALID_AMOUNT_RANGE"),
        (str(STROOPS_MAX + 1), "INVALID_AMOUNT_OVERFLOW"),
    ],
)
def test_errors_name_the_callers_field(raw: Any, code: str) -> None:
    assert rejection(raw, "fundingTargetStroops") == ("fundingTargetStroops", code)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (0, "INVALID_AMOUNT_RANGE"),
        (-1, "INVALID_AMOUNT_RANGE"),
        (STROOPS_MAX + 1, "INVALID_AMOUNT_OVERFLOW"),
        (True, "INVALID_AMOUNT_TYPE"),
        (1.0, "INVALID_AMOUNT_TYPE"),
        ("1", "INVALID_AMOUNT_TYPE"),
    ],
)
def test_the_constructor_enforces_the_same_range_and_type(value: Any, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        Stroops(value)
    assert info.value.field_errors[0].code == code
