"""Field rules for typed commands, stated once and read by everyone who needs them.

A command (``InvoiceDraft``, ``FundingRequest``, ``MarketplaceSearch`` ...) is an attrs class
whose fields carry a *rule* in their metadata (``rule_field``). The same rule object

- checks and normalises the value when the command is built (library callers build commands
  directly; every bad field is reported at once, see ``Checked``),
- structures the wire value in the HTTP shell's cattrs converter (``liquifact_http.wire``),
- and states the bounds that the generated OpenAPI document publishes
  (``liquifact_http.openapi``): lengths, ranges, patterns and enums are written only here.

The text, date and integer rules themselves live in ``liquifact_core.validation``; a rule here
only names the bounds and calls them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from email import errors as email_errors
from email import policy as email_policy
from typing import Any, ClassVar, Protocol, Self

import attrs

from liquifact_core import validation as v
from liquifact_core.addresses import AccountAddress, ContractAddress
from liquifact_core.amounts import (
    CURRENCY_EXPONENTS,
    MONEY_MAX_DIGITS,
    STROOPS_MAX,
    Money,
    Stroops,
    parse_currency,
    parse_decimal_text,
)
from liquifact_core.countries import COUNTRY_CODES, parse_country
from liquifact_core.errors import FieldError, ValidationError
from liquifact_core.ids import parse_invoice_id
from liquifact_core.search import fold

RULE = "liquifact.rule"
WIRE = "liquifact.wire"


class Absent(enum.Enum):
    """The marker of a field a caller did not send (distinct from ``None``, which clears)."""

    ABSENT = "absent"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent.ABSENT


class Rule(Protocol):
    """Checks one field: ``parse`` returns the clean value or raises ``ValidationError``."""

    def parse(self, raw: Any) -> Any: ...


# ---- rules ------------------------------------------------------------------------------------
@attrs.frozen
class Text:
    """Text of ``min_len``..``max_len`` characters after ``validation.text``'s normalising
    (single line), or ``validation.multiline_text``'s with ``multiline`` (line breaks and tabs
    allowed inside); with ``blank_is_none`` an empty result means "not given"."""

    min_len: int
    max_len: int
    blank_is_none: bool = False
    multiline: bool = False
    # A name people search for (``search.fold``): it must keep a character once folded, or no
    # search could find it (a lone combining accent folds to nothing).
    searchable: bool = False

    def parse(self, raw: Any) -> str | None:
        parser = v.multiline_text if self.multiline else v.text
        value = parser(self.min_len, self.max_len)(raw)
        if self.searchable and value and not fold(value):
            raise v.text_error(UNSEARCHABLE_MESSAGE)
        return None if self.blank_is_none and not value else value


UNSEARCHABLE_MESSAGE = "must hold a letter, digit or symbol, not only combining marks"


@attrs.frozen
class Email:
    """An e-mail address (``validation.email``)."""

    max_len: int = 254
    pattern: str = v.EMAIL_PATTERN

    def parse(self, raw: Any) -> str:
        return v.email(raw)


def is_single_address(value: str) -> bool:
    """True when ``value``, put in a To header as the mailer does, is that one address and
    nothing more: no display name, comment, second address or RFC 2047 encoded word (the
    header decodes ``=?utf-8?q?a=40b.test=2C?=me@example.com`` into two recipients, and
    SMTP sends to every address the To header holds). A non-ASCII local part (RFC 6532) is
    allowed."""
    header = email_policy.default.header_factory("To", value)
    defects = [d for d in header.defects if not isinstance(d, email_errors.NonASCIILocalPartDefect)]
    addresses = header.addresses
    return (
        not defects
        and len(addresses) == 1
        and not addresses[0].display_name
        and addresses[0].addr_spec == value
    )


# A contact address is a plain ASCII dot-atom (RFC 5322 section 3.4.1) at a host name: no
# quoted local part, comment, display name or list, and no "?", so no RFC 2047 encoded word
# ("=?...?=") can appear. The pattern is the whole rule, so the API document states it exactly.
_ATEXT = "[A-Za-z0-9!#$%&'*+/=^_`{|}~-]"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
CONTACT_EMAIL_PATTERN = f"{_ATEXT}+(?:\\.{_ATEXT}+)*@{_LABEL}(?:\\.{_LABEL})+"
_CONTACT_EMAIL = re.compile(CONTACT_EMAIL_PATTERN)


@attrs.frozen
class ContactEmail(Email):
    """An e-mail address that is a plain ASCII dot-atom at a host name, at most 254
    characters (``CONTACT_EMAIL_PATTERN``, the whole rule: the local part is not held to
    RFC 5321's 64 octets, which a pattern could not state), so exactly one recipient in a To
    header (``is_single_address``, checked too). Raises ``ValidationError``."""

    pattern: str = CONTACT_EMAIL_PATTERN

    def parse(self, raw: object) -> str:
        # ASCII by its pattern, so there is nothing to normalise and no control character.
        if (
            not isinstance(raw, str)
            or len(raw) > self.max_len
            or not _CONTACT_EMAIL.fullmatch(raw)
            or not is_single_address(raw)
        ):
            raise ValidationError(
                "must be one plain e-mail address (ASCII letters, digits and "
                "!#$%&'*+/=^_`{|}~- in dot-separated parts, @, a host name)"
            )
        return raw


@attrs.frozen
class Day:
    """A calendar date: a ``date`` (library) or ``YYYY-MM-DD`` text (wire)."""

    def parse(self, raw: Any) -> date:
        if isinstance(raw, date) and not isinstance(raw, datetime):
            return raw
        return v.iso_date(raw)


@attrs.frozen
class Integer:
    """A JSON integer (never a boolean or a float) from ``low`` to ``high``."""

    low: int
    high: int

    def parse(self, raw: Any) -> int:
        return v.integer(self.low, self.high)(raw)


@attrs.frozen
class QueryInteger:
    """An integer from ``low`` to ``high``; on the wire ASCII digits only (no sign, no
    ``²`` or Arabic-Indic digits, which ``str.isdigit`` admits)."""

    low: int
    high: int

    @property
    def pattern(self) -> str:
        return "^[0-9]{1,18}$"

    def parse(self, raw: Any) -> int:
        if type(raw) is int and self.low <= raw <= self.high:
            return raw
        text = raw if isinstance(raw, str) else ""
        if not (text.isascii() and text.isdigit() and len(text) <= 18) or not (
            self.low <= int(text) <= self.high
        ):
            raise ValidationError(f"must be an integer from {self.low} to {self.high}")
        return int(text)


@attrs.frozen
class JsonObject:
    """A small JSON object (at most ``max_bytes`` as compact JSON)."""

    max_bytes: int = v.METADATA_MAX_BYTES
    null_is_empty: bool = False

    def parse(self, raw: Any) -> dict[str, Any]:
        if raw is None and self.null_is_empty:
            return {}
        return v.json_object(raw)


@attrs.frozen
class Reason:
    """A human reason for a transition (``validation.reason``: 1-1024 characters)."""

    min_len: int = 1
    max_len: int = v.REASON_MAX

    def parse(self, raw: Any) -> str:
        return v.reason(raw)


@attrs.frozen
class StroopsAmount:
    """An on-chain amount: a ``Stroops`` (library) or a digit string (wire; the spec's rules:
    no sign, no leading zeros, 0 < x <= 10^18)."""

    maximum: int = STROOPS_MAX
    pattern: str = "^[1-9][0-9]{0,18}$"

    def parse(self, raw: Any) -> Stroops:
        if isinstance(raw, Stroops):
            return raw
        return Stroops.parse(raw)


@attrs.frozen
class Account:
    """A Stellar account address (``G...``, StrKey checksum checked)."""

    code: str = "INVALID_ADDRESS"
    pattern: str = "^G[A-Z2-7]{55}$"

    def parse(self, raw: Any) -> AccountAddress:
        text = raw.value if isinstance(raw, AccountAddress) else raw
        return AccountAddress.parse(text, "address", self.code)


@attrs.frozen
class Contract:
    """A Soroban contract address (``C...``, StrKey checksum checked)."""

    code: str = "INVALID_CONTRACT_ADDRESS"
    pattern: str = "^C[A-Z2-7]{55}$"

    def parse(self, raw: Any) -> ContractAddress:
        text = raw.value if isinstance(raw, ContractAddress) else raw
        return ContractAddress.parse(text, "escrowAddress", self.code)


@attrs.frozen
class InvoiceId:
    """An invoice id: ``inv_`` then 1-28 of ``[A-Za-z0-9_]``."""

    pattern: str = "^inv_[A-Za-z0-9_]{1,28}$"

    def parse(self, raw: Any) -> str:
        return parse_invoice_id(raw)


@attrs.frozen
class Currency:
    """An active ISO 4217 alphabetic code."""

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(sorted(CURRENCY_EXPONENTS))

    def parse(self, raw: Any) -> str:
        return parse_currency(raw)


@attrs.frozen
class Country:
    """An ISO 3166-1 alpha-2 country code, upper case (``countries.parse_country``)."""

    @property
    def members(self) -> tuple[str, ...]:
        return COUNTRY_CODES

    def parse(self, raw: Any) -> str:
        return parse_country(raw)


@attrs.frozen
class DecimalAmount:
    """A positive plain decimal (``"1250.00"`` on the wire; a ``Decimal`` in library use)."""

    max_integer_digits: int = MONEY_MAX_DIGITS
    decimals: int | None = None  # None: any number of decimals

    def parse(self, raw: Any) -> Decimal:
        if isinstance(raw, Decimal):
            raw = format(raw, "f")
        amount = parse_decimal_text(raw)
        if self.decimals is not None and amount != amount.quantize(
            Decimal(1).scaleb(-self.decimals)
        ):
            raise ValidationError(f"has more than {self.decimals} decimal places")
        return amount


@attrs.frozen
class MoneyAmount:
    """A ``Money``; on the wire two fields, the decimal text ``amount_wire`` and the ISO 4217
    code ``currency_wire``, with no more decimals than the currency has (never rounded)."""

    amount_wire: str = "amount"
    currency_wire: str = "currency"
    # An amount stays within 18 integer digits and 4 decimals (the largest ISO exponent).
    pattern: str = "^(0|[1-9][0-9]{0,17})(\\.[0-9]{1,4})?$"

    def parse(self, raw: Any) -> Money:
        if isinstance(raw, Money):
            return Money.parse(format(raw.amount, "f"), raw.currency, self.amount_wire)
        if not isinstance(raw, WirePair):
            raise ValidationError("must be an amount with its currency")
        errors: list[FieldError] = []
        currency: str | None = None
        if raw.second is ABSENT:
            errors.append(FieldError(self.currency_wire, "is required", "REQUIRED"))
        else:
            currency = _field_errors_of(parse_currency, raw.second, self.currency_wire, errors)
        money: Money | None = None
        if raw.first is ABSENT:
            errors.append(FieldError(self.amount_wire, "is required", "REQUIRED"))
        elif currency is not None:
            money = _field_errors_of(
                lambda text: Money.parse(text, currency), raw.first, self.amount_wire, errors
            )
        else:  # the currency is unusable: still check the amount's form, to report both
            _field_errors_of(parse_decimal_text, raw.first, self.amount_wire, errors)
        if errors or money is None:
            raise ValidationError("The amount is not valid.", field_errors=errors)
        return money


@attrs.frozen
class WirePair:
    """Two wire values that make one typed value (an amount and its currency)."""

    first: Any
    second: Any


@attrs.frozen
class Percent:
    """A percentage from 0 to 100 with at most two decimals (``"12.5"`` on the wire)."""

    minimum: int = 0
    maximum: int = 100
    pattern: str = "^(100(\\.0{1,2})?|[0-9]{1,2}(\\.[0-9]{1,2})?)$"

    def parse(self, raw: Any) -> Decimal:
        if isinstance(raw, int | Decimal) and not isinstance(raw, bool):
            raw = format(Decimal(raw), "f")
        if not isinstance(raw, str) or not re.fullmatch(self.pattern, raw):
            raise ValidationError("must be a percentage from 0 to 100 with at most two decimals")
        return Decimal(raw)


@attrs.frozen
class OneOf:
    """One member of ``kind`` (given as the member or its value)."""

    kind: type[enum.StrEnum]

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(member.value for member in self.kind)

    def parse(self, raw: Any) -> Any:
        try:
            return self.kind(raw)
        except ValueError:
            raise ValidationError(f"must be one of {'|'.join(self.members)}") from None


@attrs.frozen
class SetOf:
    """A set of ``kind`` members; on the wire comma-separated, and repeated parameters
    combine (their union)."""

    kind: type[enum.StrEnum]

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(member.value for member in self.kind)

    def parse(self, raw: Any) -> frozenset[Any]:
        """The members named by ``raw`` (a string, or strings and members). An empty name
        (``?status=``, ``?status=pending,``) is refused like an unknown one: every other
        empty query value is a 400 too, and "no filter" is said by leaving it out."""
        parts: list[Any] = []
        for item in [raw] if isinstance(raw, str) else list(raw or ()):
            if isinstance(item, str):
                parts.extend(part.strip() for part in item.split(","))
            else:
                parts.append(item)
        try:
            return frozenset(self.kind(part) for part in parts)
        except ValueError:
            allowed = ", ".join(self.members)
            raise ValidationError(f"must be a comma-separated list of: {allowed}") from None


@attrs.frozen
class MemberList:
    """A JSON array of 1 to all members of ``kind``, each at most once (a body field; unlike
    the query rule ``SetOf`` it takes no comma-separated text)."""

    kind: type[enum.StrEnum]

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(member.value for member in self.kind)

    def parse(self, raw: Any) -> frozenset[Any]:
        if isinstance(raw, frozenset | set):
            raw = sorted(str(item) for item in raw)
        expected = f"must be a non-empty array of: {', '.join(self.members)}"
        if not isinstance(raw, list | tuple) or not raw:
            raise ValidationError(expected)
        if not all(isinstance(item, str) for item in raw):
            raise ValidationError(expected)
        try:
            members = [self.kind(item) for item in raw]
        except ValueError:
            raise ValidationError(expected) from None
        if len(set(members)) != len(members):
            raise ValidationError("must not name a member twice")
        return frozenset(members)


@attrs.frozen
class Cursor:
    """A ``nextCursor`` value from an earlier page (opaque, 1-2048 characters)."""

    min_len: int = 1
    max_len: int = 2048

    def parse(self, raw: Any) -> str:
        if not isinstance(raw, str) or not self.min_len <= len(raw) <= self.max_len:
            raise ValidationError("must be a nextCursor value from an earlier page")
        return raw


# ---- fields and checked classes ---------------------------------------------------------------
def rule_field(
    rule: Rule,
    *,
    wire: str | None = None,
    default: Any = attrs.NOTHING,
    factory: Callable[[], Any] | None = None,
    optional: bool = False,
    description: str | None = None,
) -> Any:
    """An attrs field checked by ``rule``. ``optional`` admits ``None`` (and ``ABSENT``);
    ``wire`` is the JSON / query name when it is not the camelCase of the attribute name."""
    if factory is not None:
        default = attrs.Factory(factory)
    return attrs.field(
        default=default,
        converter=_converter(rule, optional),
        metadata={RULE: rule, WIRE: wire, "optional": optional, "description": description},
    )


def _converter(rule: Rule, optional: bool) -> Callable[[Any], Any]:
    def convert(raw: Any) -> Any:
        if raw is ABSENT or (optional and raw is None):
            return raw
        return rule.parse(raw)

    return convert


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def wire_name(field: attrs.Attribute[Any]) -> str:
    """The JSON / query-string name of an attrs field."""
    named = field.metadata.get(WIRE)
    return str(named) if named else camel(field.name)


def rule_of(field: attrs.Attribute[Any]) -> Rule | None:
    rule: Rule | None = field.metadata.get(RULE)
    return rule


def is_optional(field: attrs.Attribute[Any]) -> bool:
    return bool(field.metadata.get("optional"))


def check_field(field: attrs.Attribute[Any], raw: Any) -> Any:
    """The clean value of one field, or ``ValidationError`` whose field errors carry the
    field's wire name (a rule that names its own wire fields, like ``MoneyAmount``, keeps
    them)."""
    rule = rule_of(field)
    if rule is None or raw is ABSENT or (is_optional(field) and raw is None):
        return raw
    try:
        return rule.parse(raw)
    except ValidationError as error:
        raise ValidationError(error.message, field_errors=field_errors_for(field, error)) from None


def field_errors_for(field: attrs.Attribute[Any], error: ValidationError) -> list[FieldError]:
    """``error`` as field errors of ``field``."""
    name = wire_name(field)
    if isinstance(rule_of(field), MoneyAmount) and error.field_errors:
        return list(error.field_errors)
    if error.field_errors:
        return [FieldError(name, e.message, e.code) for e in error.field_errors]
    return [FieldError(name, error.message, v.field_code(error))]


class Checked:
    """Base of commands that check every field at construction and report every bad field in
    one ``ValidationError`` (plus the cross-field rules of ``cross_field_errors``)."""

    INVALID_MESSAGE: ClassVar[str] = "The request has invalid fields."

    def __attrs_pre_init__(self, *args: Any, **kwargs: Any) -> None:
        kind: Any = type(self)
        fields = [f for f in attrs.fields(kind) if f.init]
        given = dict(zip((f.name for f in fields), args, strict=False)) | kwargs
        # attrs hands a factory default over as NOTHING before making it: nothing to check.
        values = {name: value for name, value in given.items() if value is not attrs.NOTHING}
        parsed, errors = check_fields(type(self), values)
        # A field refused on its own is missing from ``parsed``; a cross-field rule must not
        # report it a second time (as absent) on top of its own error.
        refused = {error.field for error in errors}
        errors.extend(
            error for error in type(self).cross_field_errors(parsed) if error.field not in refused
        )
        if errors:
            raise type(self).invalid(errors)

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """An instance holding ``values`` exactly as given, with no rule run on them.

        Only for values that already passed this class's rules and came back unchanged: a
        row the library's own store wrote from a checked instance (each rule's ``parse`` is
        idempotent on its own output, so checking again would only cost time; reading a
        page of invoices paid that cost once per field of every row). Never for input from a
        client or a library caller. A field left out takes its default; raises TypeError for
        a missing field without a default or an unknown name.
        """
        kind: Any = cls  # a Checked subclass is an attrs class
        instance = object.__new__(cls)
        remaining = dict(values)
        for field in attrs.fields(kind):
            if field.name in remaining:
                value = remaining.pop(field.name)
            elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                factory = field.default.factory
                value = factory(instance) if field.default.takes_self else factory()
            elif field.default is not attrs.NOTHING:
                value = field.default
            else:
                raise TypeError(f"{cls.__name__}.trusted() lacks the field {field.name!r}")
            # attrs' frozen classes set their fields this way in their own __init__.
            object.__setattr__(instance, field.name, value)
        if remaining:
            raise TypeError(f"{cls.__name__}.trusted() got unknown fields {sorted(remaining)}")
        return instance

    @classmethod
    def cross_field_errors(cls, parsed: Mapping[str, Any]) -> list[FieldError]:
        """Rules across fields, given the fields that are valid on their own."""
        del parsed
        return []

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        """The error that reports ``errors`` (one entry per bad field)."""
        return ValidationError(cls.INVALID_MESSAGE, field_errors=errors)


def cross_field_errors_of(
    cls: type[Any], parsed: Mapping[str, Any], errors: Sequence[FieldError]
) -> list[FieldError]:
    """The cross-field errors of ``cls`` (a ``Checked``) for the valid fields ``parsed``, but
    none for a field already in ``errors``: a field refused on its own is missing from
    ``parsed``, and a rule must not report it a second time (as absent)."""
    refused = {error.field for error in errors}
    return [error for error in cls.cross_field_errors(parsed) if error.field not in refused]


def check_fields(
    cls: type[Any], values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check every given attribute value of ``cls``; the clean values and every error."""
    parsed: dict[str, Any] = {}
    errors: list[FieldError] = []
    for field in attrs.fields(cls):
        if field.name not in values:
            continue
        try:
            parsed[field.name] = check_field(field, values[field.name])
        except ValidationError as error:
            errors.extend(error.field_errors)
    return parsed, errors


def query_error(errors: Sequence[FieldError], many: str) -> ValidationError:
    """A query's errors: one bad parameter reads as "<name> <problem>", several as ``many``."""
    if len(errors) == 1:
        return ValidationError(f"{errors[0].field} {errors[0].message}", field_errors=errors)
    return ValidationError(many, field_errors=errors)


def present(values: Iterable[Any]) -> bool:
    return any(value is not ABSENT for value in values)


def _field_errors_of(
    parse: Callable[[Any], Any], raw: Any, name: str, errors: list[FieldError]
) -> Any:
    try:
        return parse(raw)
    except ValidationError as error:
        if error.field_errors:
            errors.extend(FieldError(name, e.message, e.code) for e in error.field_errors)
        else:
            errors.append(FieldError(name, error.message, v.field_code(error)))
        return None


@attrs.frozen
class Pattern:
    """Text matching ``pattern`` (a regular expression both Python and ECMA-262 read alike),
    taken as sent (no trimming); ``message`` says what is expected."""

    pattern: str
    message: str
    max_len: int

    def parse(self, raw: Any) -> str:
        if (
            not isinstance(raw, str)
            or len(raw) > self.max_len
            or not re.fullmatch(self.pattern, raw)
        ):
            raise ValidationError(self.message)
        return raw


@attrs.frozen
class Flag:
    """A JSON boolean (never a number or a string)."""

    def parse(self, raw: Any) -> bool:
        if not isinstance(raw, bool):
            raise ValidationError("must be true or false")
        return raw
