"""Amounts: on-chain ``Stroops`` (integers) and off-chain ``Money`` (Decimal, never float)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import attrs

from liquifact_core.errors import ValidationError

STROOPS_MAX = 10**18
_DIGITS = re.compile(r"[0-9]+")


def _stroops_error(field: str, code: str, message: str) -> ValidationError:
    return ValidationError.for_field(field, message, code)


@attrs.frozen(order=True)
class Stroops:
    """A positive on-chain amount in the token's smallest unit (0 < value <= 10^18)."""

    value: int = attrs.field()

    @value.validator
    def _check(self, _attribute: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int:
            raise _stroops_error("amountStroops", "INVALID_AMOUNT_TYPE", "must be an integer")
        if value <= 0:
            raise _stroops_error("amountStroops", "INVALID_AMOUNT_RANGE", "must be greater than 0")
        if value > STROOPS_MAX:
            raise _stroops_error(
                "amountStroops", "INVALID_AMOUNT_OVERFLOW", f"must be at most {STROOPS_MAX}"
            )

    @classmethod
    def parse(cls, raw: Any, field: str = "amountStroops") -> Stroops:
        """Parse the wire form: a string of digits, no sign, no leading zeros, in range.

        Numbers are refused rather than coerced: a JSON number may already have lost
        precision in the client before it reached us.
        """
        if not isinstance(raw, str):
            raise _stroops_error(field, "INVALID_AMOUNT_TYPE", "must be a string of digits")
        if not _DIGITS.fullmatch(raw):
            raise _stroops_error(field, "INVALID_AMOUNT_FORMAT", "must contain only digits 0-9")
        if len(raw) > 1 and raw[0] == "0":
            raise _stroops_error(field, "INVALID_AMOUNT_FORMAT", "must not have leading zeros")
        # Compare lengths first so a megabyte of digits never becomes a huge int.
        if len(raw) > len(str(STROOPS_MAX)) or int(raw) > STROOPS_MAX:
            raise _stroops_error(field, "INVALID_AMOUNT_OVERFLOW", f"must be at most {STROOPS_MAX}")
        value = int(raw)
        if value == 0:
            raise _stroops_error(field, "INVALID_AMOUNT_RANGE", "must be greater than 0")
        return cls(value)

    def __str__(self) -> str:
        return str(self.value)


# ISO 4217 minor-unit exponents. Everything listed in CURRENCIES has exponent 2 unless named here.
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD YER ZAR ZMW ZWG"
)
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_EXPONENT_2.split(), 2),
    **dict.fromkeys(_EXPONENT_0.split(), 0),
    **dict.fromkeys(_EXPONENT_3.split(), 3),
    **dict.fromkeys(_EXPONENT_4.split(), 4),
}
MONEY_MAX_DIGITS = 18  # integer digits; keeps every amount exact in NUMERIC(38, 4)
_MONEY_TEXT = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")


def parse_currency(raw: Any, field: str = "currency") -> str:
    """An active ISO 4217 alphabetic code, upper case."""
    if not isinstance(raw, str) or raw not in CURRENCY_EXPONENTS:
        raise ValidationError.for_field(
            field, "must be an ISO 4217 currency code such as USD", "INVALID_CURRENCY"
        )
    return raw


@attrs.frozen
class Money:
    """A positive amount of a currency, exact to the currency's minor unit."""

    amount: Decimal
    currency: str

    @classmethod
    def parse(cls, raw: Any, currency: str, field: str = "amount") -> Money:
        """Parse a decimal string such as ``"1250.00"``; no float, sign or exponent accepted.

        More decimals than the currency has are refused, never rounded: rounding money
        silently changes what the SME asked for.
        """
        exponent = CURRENCY_EXPONENTS[parse_currency(currency)]
        amount = parse_decimal_text(raw, field)
        if amount != quantize(amount, currency):
            raise ValidationError.for_field(
                field, f"has more than {exponent} decimal places for {currency}"
            )
        return cls(quantize(amount, currency), currency)

    def __str__(self) -> str:
        return format(self.amount, "f")


def parse_decimal_text(raw: Any, field: str = "amount") -> Decimal:
    """A positive plain decimal string (``"1250.00"``): no float, sign, exponent or spaces."""
    if not isinstance(raw, str):
        raise ValidationError.for_field(field, 'must be a decimal string such as "1250.00"')
    if not _MONEY_TEXT.fullmatch(raw):
        raise ValidationError.for_field(field, 'must be a plain decimal string like "1250.00"')
    if len(raw.partition(".")[0]) > MONEY_MAX_DIGITS:
        raise ValidationError.for_field(field, f"must have at most {MONEY_MAX_DIGITS} digits")
    amount = Decimal(raw)  # the pattern admits only text Decimal can read exactly
    if amount <= 0:
        raise ValidationError.for_field(field, "must be greater than 0")
    return amount


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` with exactly the currency's number of decimal places."""
    exponent = CURRENCY_EXPONENTS[currency]
    return amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_EVEN)
