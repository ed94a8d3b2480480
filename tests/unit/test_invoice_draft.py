"""InvoiceDraft from a client's camelCase payload (the API converter), field by field."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liquifact_core.amounts import CURRENCY_EXPONENTS, Money
from liquifact_core.errors import FieldError, ValidationError
from liquifact_core.invoices import InvoiceDraft
from liquifact_core.validation import is_invisible
from liquifact_http.representations import draft as draft_json
from liquifact_http.wire import structure

DRAFT_FIELDS = frozenset(
    {
        "invoiceNumber", "buyerName", "buyerEmail", "buyerTaxId", "amount", "currency",
        "issueDate", "dueDate", "yieldBps", "description", "metadata",
    }
)  # fmt: skip


def from_wire(payload: Any) -> InvoiceDraft:
    return structure(payload, InvoiceDraft)


REQUIRED = ["invoiceNumber", "buyerName", "amount", "currency", "issueDate", "dueDate", "yieldBps"]


def valid_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "invoiceNumber": "INV-2026-001",
        "buyerName": "Acme Buyer Ltd",
        "buyerEmail": "ap@acme.example",
        "buyerTaxId": "GB123456789",
        "amount": "1250.00",
        "currency": "USD",
        "issueDate": "2026-01-15",
        "dueDate": "2026-03-15",
        "yieldBps": 450,
        "description": "Consulting, January",
        "metadata": {"po": "PO-77", "lines": [1, 2]},
    }
    payload.update(changes)
    return payload


def errors_of(payload: Any) -> tuple[FieldError, ...]:
    with pytest.raises(ValidationError) as info:
        from_wire(payload)
    return info.value.field_errors


def codes_by_field(payload: Any) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for error in errors_of(payload):
        found.setdefault(error.field, set()).add(error.code)
    return found


def only_error(payload: Any) -> FieldError:
    errors = errors_of(payload)
    assert len(errors) == 1, errors
    return errors[0]


# ---- accepted --------------------------------------------------------------------------------


def test_a_valid_payload_becomes_a_draft() -> None:
    draft = from_wire(valid_payload())
    assert draft == InvoiceDraft(
        invoice_number="INV-2026-001",
        buyer_name="Acme Buyer Ltd",
        buyer_email="ap@acme.example",
        buyer_tax_id="GB123456789",
        amount=Money(Decimal("1250.00"), "USD"),
        issue_date=date(2026, 1, 15),
        due_date=date(2026, 3, 15),
        yield_bps=450,
        description="Consulting, January",
        metadata={"po": "PO-77", "lines": [1, 2]},
    )


def test_optional_fields_may_be_absent_or_null() -> None:
    minimal = {name: valid_payload()[name] for name in REQUIRED}
    draft = from_wire(minimal)
    assert (draft.buyer_email, draft.buyer_tax_id, draft.description) == (None, None, None)
    assert draft.metadata == {}
    nulls = valid_payload(buyerEmail=None, buyerTaxId=None, description=None, metadata=None)
    assert from_wire(nulls) == draft


def test_text_is_trimmed() -> None:
    draft = from_wire(
        valid_payload(invoiceNumber="  INV-9 ", buyerName="\tAcme  ", description="  ")
    )
    assert (draft.invoice_number, draft.buyer_name, draft.description) == ("INV-9", "Acme", None)


def test_due_on_the_issue_date_is_accepted() -> None:
    draft = from_wire(valid_payload(issueDate="2026-01-15", dueDate="2026-01-15"))
    assert draft.due_date == draft.issue_date


def test_a_leap_day_is_a_real_date() -> None:
    draft = from_wire(valid_payload(issueDate="2028-02-29", dueDate="2028-03-01"))
    assert draft.issue_date == date(2028, 2, 29)


@pytest.mark.parametrize(("currency", "amount"), [("JPY", "150000"), ("KWD", "12.345")])
def test_the_amount_follows_the_currency(currency: str, amount: str) -> None:
    draft = from_wire(valid_payload(currency=currency, amount=amount))
    assert draft.amount == Money(Decimal(amount), currency)


# ---- every problem at once -------------------------------------------------------------------


def test_every_bad_field_is_reported_at_once() -> None:
    payload = valid_payload(
        invoiceNumber="",
        buyerName=5,
        buyerEmail="not-an-email",
        amount="12.5.0",
        currency="usd",
        issueDate="2026-02-30",
        dueDate="20260101",
        yieldBps=-1,
        description="x" * 1001,
        metadata=["not", "an", "object"],
        colour="blue",
    )
    found = codes_by_field(payload)
    assert set(found) == {
        "invoiceNumber", "buyerName", "buyerEmail", "amount", "currency", "issueDate",
        "dueDate", "yieldBps", "description", "metadata", "colour",
    }  # fmt: skip
    assert found["currency"] == {"INVALID_CURRENCY"}
    assert found["colour"] == {"UNKNOWN_FIELD"}


def test_a_missing_field_is_required() -> None:
    found = codes_by_field({})
    assert found == {name: {"REQUIRED"} for name in REQUIRED}


@pytest.mark.parametrize("name", REQUIRED)
def test_each_required_field_is_named_when_missing(name: str) -> None:
    payload = valid_payload()
    del payload[name]
    error = only_error(payload)
    assert (error.field, error.code) == (name, "REQUIRED")


@pytest.mark.parametrize("payload", [None, [], "{}", 1, ["invoiceNumber"]])
def test_the_payload_must_be_an_object(payload: Any) -> None:
    with pytest.raises(ValidationError):
        from_wire(payload)


def test_field_problems_come_as_one_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        from_wire(valid_payload(amount="x", yieldBps=-5))
    assert info.value.code == "VALIDATION_ERROR"
    assert [error.field for error in info.value.field_errors] == ["amount", "yieldBps"]


# ---- unknown fields --------------------------------------------------------------------------


def test_unknown_fields_are_named() -> None:
    found = codes_by_field(valid_payload(status="approved", id="inv_1", smeId="me"))
    assert found == {
        "id": {"UNKNOWN_FIELD"},
        "smeId": {"UNKNOWN_FIELD"},
        "status": {"UNKNOWN_FIELD"},
    }


@given(st.text(min_size=1, max_size=20).filter(lambda name: name not in DRAFT_FIELDS))
def test_any_unknown_field_is_refused(name: str) -> None:
    error = only_error(valid_payload(**{name: "x"}))
    assert (error.field, error.code) == (name, "UNKNOWN_FIELD")


def test_snake_case_names_are_unknown() -> None:
    error = only_error({**valid_payload(), "invoice_number": "INV-1"})
    assert (error.field, error.code) == ("invoice_number", "UNKNOWN_FIELD")


# ---- dates -----------------------------------------------------------------------------------


def test_due_before_issue_is_refused() -> None:
    error = only_error(valid_payload(issueDate="2026-03-15", dueDate="2026-03-14"))
    assert (error.field, error.code) == ("dueDate", "DUE_BEFORE_ISSUE")


@pytest.mark.parametrize(
    "raw",
    [
        "2026-02-30", "2025-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-01-32",
        "20260101", "2026-1-01", "2026-01-1", "2026/01/01", "01-01-2026", "2026-01-01T00:00:00",
        "2026-01-01Z", " 2026-01-01", "2026-01-01 ", "2026-W01-1", "2026-001",
        "\uff12\uff10\uff12\uff16-01-01", "", 20260101, None, ["2026-01-01"],
    ],
)  # fmt: skip
@pytest.mark.parametrize("name", ["issueDate", "dueDate"])
def test_dates_must_be_real_calendar_dates_as_yyyy_mm_dd(name: str, raw: Any) -> None:
    error = only_error(valid_payload(**{name: raw}))
    assert error.field == name


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)), st.integers(0, 3650))
def test_any_real_date_pair_in_order_is_accepted(issue: date, days: int) -> None:
    due = issue + timedelta(days=days)
    draft = from_wire(valid_payload(issueDate=issue.isoformat(), dueDate=due.isoformat()))
    assert (draft.issue_date, draft.due_date) == (issue, due)


# ---- yield -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 10_000])
def test_yield_bounds_are_inclusive(value: int) -> None:
    assert from_wire(valid_payload(yieldBps=value)).yield_bps == value


@pytest.mark.parametrize("value", [-1, 10_001, 10**9, True, False, 450.0, "450", None, [450]])
def test_yield_must_be_an_integer_from_0_to_10000(value: Any) -> None:
    error = only_error(valid_payload(yieldBps=value))
    assert error.field == "yieldBps"


# ---- text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "longest"),
    [("invoiceNumber", 100), ("buyerName", 255), ("buyerTaxId", 64), ("description", 1000)],
)
def test_text_limits(name: str, longest: int) -> None:
    from_wire(valid_payload(**{name: "a" * longest}))
    error = only_error(valid_payload(**{name: "a" * (longest + 1)}))
    assert error.field == name


@pytest.mark.parametrize("name", ["invoiceNumber", "buyerName", "buyerTaxId"])
@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_blank_text_is_refused_where_text_is_needed(name: str, raw: str) -> None:
    assert only_error(valid_payload(**{name: raw})).field == name


@pytest.mark.parametrize("name", ["invoiceNumber", "buyerName", "buyerTaxId", "description"])
@pytest.mark.parametrize("raw", ["INV\x001", "bell\x07", "del\x7f", "c1\x85x"])
def test_control_characters_inside_text_are_refused(name: str, raw: str) -> None:
    assert only_error(valid_payload(**{name: raw})).field == name


@pytest.mark.parametrize("name", ["invoiceNumber", "buyerName", "buyerTaxId"])
@pytest.mark.parametrize("raw", ["Acme\nLtd", "Acme\tLtd", "Acme\rLtd"])
def test_line_breaks_and_tabs_inside_single_line_text_are_refused(name: str, raw: str) -> None:
    assert only_error(valid_payload(**{name: raw})) == FieldError(
        name,
        "must not contain control, format (invisible) or line separator characters",
        "INVALID_TEXT",
    )


def test_a_description_may_span_lines_and_hold_tabs() -> None:
    # The description is free text (issue 9): line feed, carriage return and tab stay.
    raw = "Line one\r\nLine two\n\tindented"
    assert from_wire(valid_payload(description=raw)).description == raw


@pytest.mark.parametrize("name", ["invoiceNumber", "buyerName", "description"])
@pytest.mark.parametrize("raw", [123, 1.5, True, ["x"], {"x": 1}])
def test_text_fields_must_be_strings(name: str, raw: Any) -> None:
    assert only_error(valid_payload(**{name: raw})).field == name


@pytest.mark.parametrize(
    "raw", ["plain", "a@b", "@b.com", "a@@b.com", "a b@c.com", "a@b .com", "x" * 65 + "@b.com", 5]
)
def test_buyer_email_must_look_like_an_email(raw: Any) -> None:
    assert only_error(valid_payload(buyerEmail=raw)).field == "buyerEmail"


# ---- amount and currency ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", [1250, 1250.0, "1,250.00", "-5.00", "0", "1e3", "1.001", ""])
def test_amount_must_be_a_positive_plain_decimal_string(raw: Any) -> None:
    assert only_error(valid_payload(amount=raw)).field == "amount"


def test_more_decimals_than_the_currency_allows_is_refused() -> None:
    error = only_error(valid_payload(currency="JPY", amount="1250.50"))
    assert error.field == "amount"


def test_a_bad_amount_is_reported_even_when_the_currency_is_bad() -> None:
    assert set(codes_by_field(valid_payload(currency="XXX", amount="-5"))) == {"currency", "amount"}


def test_only_the_currency_is_blamed_when_the_amount_is_well_formed() -> None:
    # "1.234" is a well-formed amount (valid for KWD); with an unknown currency nobody knows
    # how many decimals are allowed, so the amount must not be refused "for USD".
    found = codes_by_field(valid_payload(currency="XXX", amount="1.234"))
    assert found == {"currency": {"INVALID_CURRENCY"}}


# ---- metadata --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [[], ["a"], "text", 1, True, "{}"])
def test_metadata_must_be_an_object(raw: Any) -> None:
    assert only_error(valid_payload(metadata=raw)).field == "metadata"


def test_metadata_is_limited_in_size() -> None:
    fits = {"note": "x" * 4000}
    assert from_wire(valid_payload(metadata=fits)).metadata == fits
    assert only_error(valid_payload(metadata={"note": "x" * 5000})).field == "metadata"


# ---- round trip ------------------------------------------------------------------------------

# Format characters (Cf) are refused in text fields since issue 9; NFC normalisation keeps
# the round trip (the draft holds the normalised form both times).
plain_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cf", "Cs", "Zl", "Zp"]).filter(
        lambda ch: not is_invisible(ch)
    ),
    max_size=40,
)
# Metadata is the client's data, kept as sent, but NUL is refused there too (issue 9).
metadata_characters = st.characters(codec="utf-8", exclude_characters="\x00")


@st.composite
def valid_payloads(draw: st.DrawFn) -> dict[str, Any]:
    currency = draw(st.sampled_from(sorted(CURRENCY_EXPONENTS)))
    exponent = CURRENCY_EXPONENTS[currency]
    amount = draw(
        st.decimals(
            min_value=Decimal(1).scaleb(-exponent),
            max_value=Decimal("999999999999"),
            places=exponent,
        )
    )
    issue = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
    due = issue + timedelta(days=draw(st.integers(0, 1000)))
    payload: dict[str, Any] = {
        "invoiceNumber": draw(plain_text.filter(lambda s: 1 <= len(s.strip()) <= 100)),
        "buyerName": draw(plain_text.filter(lambda s: 1 <= len(s.strip()) <= 255)),
        "amount": format(amount, "f"),
        "currency": currency,
        "issueDate": issue.isoformat(),
        "dueDate": due.isoformat(),
        "yieldBps": draw(st.integers(0, 10_000)),
    }
    optional = {
        "buyerEmail": st.from_regex(r"[a-z0-9.]{1,20}@[a-z]{1,10}\.[a-z]{2,5}", fullmatch=True),
        "buyerTaxId": plain_text.filter(lambda s: 1 <= len(s.strip()) <= 64),
        "description": plain_text,
        "metadata": st.dictionaries(
            st.text(alphabet=metadata_characters, max_size=8),
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(-1000, 1000),
                st.text(alphabet=metadata_characters, max_size=10),
            ),
            max_size=5,
        ),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            payload[name] = draw(st.one_of(st.none(), strategy))
    return payload


@settings(max_examples=150, deadline=None)  # the first call builds the converter hooks
@given(valid_payloads())
def test_the_wire_form_round_trips(payload: dict[str, Any]) -> None:
    draft = from_wire(payload)
    wire = draft_json(draft)
    assert set(wire) == DRAFT_FIELDS
    assert json.loads(json.dumps(wire)) == wire  # plain JSON: strings, numbers, objects
    again = from_wire(json.loads(json.dumps(wire)))
    assert again == draft
    assert draft_json(again) == wire
    assert Decimal(wire["amount"]) == Decimal(payload["amount"])
