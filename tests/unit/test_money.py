"""Money: exact Decimal amounts quantized to the currency's ISO 4217 minor unit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.amounts import CURRENCY_EXPONENTS, MONEY_MAX_DIGITS, Money, parse_currency
from liquifact_core.errors import ValidationError

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))


def refusal(raw: Any, currency: str = "USD") -> ValidationError:
    with pytest.raises(ValidationError) as info:
        Money.parse(raw, currency)
    assert info.value.field_errors, "a Money error must name the field"
    return info.value


@st.composite
def amount_texts(draw: st.DrawFn, currency: str) -> str:
    """A positive plain decimal string with at most the currency's number of decimals."""
    exponent = CURRENCY_EXPONENTS[currency]
    whole = draw(st.integers(min_value=0, max_value=10**MONEY_MAX_DIGITS - 1))
    places = draw(st.integers(min_value=0, max_value=exponent))
    fraction = draw(st.integers(min_value=0, max_value=10**places - 1)) if places else 0
    if whole == 0 and fraction == 0:
        whole = 1
    return f"{whole}.{fraction:0{places}d}" if places else str(whole)


# ---- exactness -------------------------------------------------------------------------------


def test_parses_to_an_exact_decimal() -> None:
    money = Money.parse("1250.00", "USD")
    assert money == Money(Decimal("1250.00"), "USD")
    assert isinstance(money.amount, Decimal)
    assert str(money) == "1250.00"


def test_sums_stay_exact_where_float_would_drift() -> None:
    tenth = Money.parse("0.10", "USD").amount
    fifth = Money.parse("0.20", "USD").amount
    assert tenth + fifth == Decimal("0.30")
    assert 0.1 + 0.2 != 0.3  # the float drift this type exists to avoid


def test_keeps_every_digit_of_a_large_amount() -> None:
    text = "123456789012345678.99"
    assert float(text) == float("123456789012345678.98")  # float cannot tell them apart
    money = Money.parse(text, "USD")
    assert str(money) == text
    assert money.amount - Money.parse("123456789012345678.98", "USD").amount == Decimal("0.01")


# ---- currency exponents ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "currency", "text"),
    [
        ("1250", "JPY", "1250"),
        ("1250.0", "JPY", "1250"),
        ("1250.000", "JPY", "1250"),
        ("1250", "USD", "1250.00"),
        ("1250.5", "USD", "1250.50"),
        ("1250.55", "USD", "1250.55"),
        ("1.230", "USD", "1.23"),
        ("0.01", "USD", "0.01"),
        ("1", "KWD", "1.000"),
        ("1.234", "KWD", "1.234"),
        ("1.2340", "KWD", "1.234"),
        ("0.001", "KWD", "0.001"),
        ("1.2345", "CLF", "1.2345"),
    ],
)
def test_quantizes_to_the_currency_exponent(raw: str, currency: str, text: str) -> None:
    money = Money.parse(raw, currency)
    assert str(money) == text
    assert money.amount.as_tuple().exponent == -CURRENCY_EXPONENTS[currency]


@pytest.mark.parametrize(
    ("currency", "exponent"), [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2), ("KWD", 3)]
)
def test_known_exponents(currency: str, exponent: int) -> None:
    assert CURRENCY_EXPONENTS[currency] == exponent


@pytest.mark.parametrize(
    ("raw", "currency"),
    [
        ("1250.5", "JPY"),
        ("1250.01", "JPY"),
        ("1.001", "USD"),
        ("1.234", "USD"),
        ("1.2301", "USD"),
        ("0.001", "USD"),
        ("1.2345", "KWD"),
        ("1.00001", "CLF"),
    ],
)
def test_refuses_more_decimals_than_the_currency_has(raw: str, currency: str) -> None:
    error = refusal(raw, currency)
    assert error.field_errors[0].field == "amount"
    assert currency in error.field_errors[0].message


@given(currencies.flatmap(lambda c: st.tuples(st.just(c), amount_texts(c))), st.integers(1, 30))
def test_trailing_zeros_beyond_the_exponent_are_accepted(case: tuple[str, str], zeros: int) -> None:
    currency, text = case
    padded = text + ("" if "." in text else ".") + "0" * zeros
    assert Money.parse(padded, currency) == Money.parse(text, currency)


@given(
    currencies.flatmap(lambda c: st.tuples(st.just(c), amount_texts(c))),
    st.integers(0, 5),
    st.integers(1, 9),
)
def test_a_nonzero_digit_beyond_the_exponent_is_refused(
    case: tuple[str, str], zeros: int, digit: int
) -> None:
    currency, text = case
    exponent = CURRENCY_EXPONENTS[currency]
    whole, _, fraction = text.partition(".")
    too_precise = f"{whole}.{fraction.ljust(exponent, '0')}{'0' * zeros}{digit}"
    refusal(too_precise, currency)


# ---- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "-1", "-1.00", "+1", "0", "0.00", "0.0000", "00", "01", "01.50",
        "1e3", "1E3", "1.5e2", "1e-2", "Infinity", "NaN", "-0",
        "", " ", " 1", "1 ", "1,000.00", "1_000", "1.", ".5", "1..0", "0x10",
        "\u0661\u0662", "\uff11", "1.\uff10",
    ],
)  # fmt: skip
def test_refuses_non_plain_or_non_positive_text(raw: str) -> None:
    assert refusal(raw).field_errors[0].field == "amount"


@pytest.mark.parametrize("raw", [1, 1.5, 0.1, None, True, Decimal("1.00"), [], {"amount": "1"}])
def test_refuses_non_strings(raw: Any) -> None:
    assert refusal(raw).field_errors[0].field == "amount"


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_never_accepts_a_float(raw: float) -> None:
    refusal(raw)


def test_whole_part_is_limited_to_eighteen_digits() -> None:
    assert str(Money.parse("9" * MONEY_MAX_DIGITS, "USD")) == "9" * MONEY_MAX_DIGITS + ".00"
    refusal("1" + "0" * MONEY_MAX_DIGITS)


def test_a_custom_field_name_is_reported() -> None:
    with pytest.raises(ValidationError) as info:
        Money.parse("-1", "USD", field="price")
    assert info.value.field_errors[0].field == "price"


@pytest.mark.parametrize("currency", ["XXX", "usd", "Usd", "US", "USDD", "", " USD", "EURO"])
def test_unknown_currency_is_refused(currency: str) -> None:
    error = refusal("10.00", currency)
    assert (error.field_errors[0].field, error.field_errors[0].code) == (
        "currency",
        "INVALID_CURRENCY",
    )


@pytest.mark.parametrize("currency", [None, 840, ["USD"]])
def test_parse_currency_refuses_non_strings(currency: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_currency(currency)
    assert info.value.field_errors[0].code == "INVALID_CURRENCY"


@given(currencies)
def test_parse_currency_accepts_every_listed_code(currency: str) -> None:
    assert parse_currency(currency) == currency


# ---- round trip ------------------------------------------------------------------------------


@given(currencies.flatmap(lambda c: st.tuples(st.just(c), amount_texts(c))))
def test_text_form_parses_back_to_the_same_money(case: tuple[str, str]) -> None:
    currency, text = case
    money = Money.parse(text, currency)
    assert money.amount == Decimal(text)  # exact: nothing rounded
    again = Money.parse(str(money), currency)
    assert again == money
    assert str(again) == str(money)
    assert again.amount.as_tuple() == money.amount.as_tuple()
