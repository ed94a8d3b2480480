"""Typed commands built directly, as library callers build them: each checks itself with the
API's rules and codes and reports every bad field at once; the wire form gives equal values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stellar_sdk import Keypair
from stellar_sdk.strkey import StrKey

from liquifact_core.addresses import AccountAddress, ContractAddress
from liquifact_core.amounts import STROOPS_MAX, Money, Stroops
from liquifact_core.commitments import (
    CommitmentValidationError,
    FundingRequest,
    LocksQuery,
)
from liquifact_core.errors import ValidationError
from liquifact_core.invoices import (
    EscrowLink,
    InvoiceDraft,
    InvoiceListQuery,
    InvoicePatch,
    TransitionReason,
)
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.marketplace import MarketplaceSearch, OpportunitiesQuery, SortField
from liquifact_core.rules import ABSENT
from liquifact_http.wire import structure, structure_query

WALLET = Keypair.random().public_key


def draft(**changes: Any) -> InvoiceDraft:
    values: dict[str, Any] = {
        "invoice_number": "INV-1",
        "buyer_name": "Acme",
        "amount": Money(Decimal("1250.00"), "USD"),
        "issue_date": date(2026, 1, 15),
        "due_date": date(2026, 3, 15),
        "yield_bps": 450,
    }
    values.update(changes)
    return InvoiceDraft(**values)


def wire_text(text: str) -> Any:
    """Wire text where a typed value is declared: the rules accept both (as the API does)."""
    return text


def codes(error: ValidationError) -> dict[str, str]:
    return {item.field: item.code for item in error.field_errors}


# ---- every bad field at once -----------------------------------------------------------------
def test_a_draft_built_directly_reports_every_bad_field_with_wire_names() -> None:
    with pytest.raises(ValidationError) as info:
        draft(
            invoice_number=" ",
            buyer_name="x" * 256,
            amount=Money(Decimal("1.001"), "USD"),
            issue_date=date(2026, 5, 1),
            due_date=date(2026, 4, 1),
            yield_bps=10_001,
            buyer_email="nope",
        )
    assert codes(info.value) == {
        "invoiceNumber": "INVALID_VALUE",
        "buyerName": "INVALID_VALUE",
        "amount": "INVALID_VALUE",
        "yieldBps": "INVALID_VALUE",
        "buyerEmail": "INVALID_VALUE",
        "dueDate": "DUE_BEFORE_ISSUE",
    }
    assert info.value.message == "Invoice payload has invalid fields."


def test_a_draft_normalises_like_the_wire() -> None:
    built = draft(invoice_number="  INV-1 ", description="   ", metadata={"po": 1})
    wire = structure(
        {
            "invoiceNumber": "INV-1",
            "buyerName": "Acme",
            "amount": "1250.00",
            "currency": "USD",
            "issueDate": "2026-01-15",
            "dueDate": "2026-03-15",
            "yieldBps": 450,
            "metadata": {"po": 1},
        },
        InvoiceDraft,
    )
    assert built == wire
    assert built.description is None


def test_a_funding_request_is_coded_by_the_first_commitment_rule() -> None:
    with pytest.raises(CommitmentValidationError) as info:
        FundingRequest("not-an-id", AccountAddress("G" + "A" * 55), wire_text("007"))
    assert info.value.code == "INVALID_INVESTOR_ADDRESS"  # the first field's commitment code
    assert codes(info.value) == {
        "invoiceId": "INVALID_ID",
        "investorAddress": "INVALID_INVESTOR_ADDRESS",
        "amountStroops": "INVALID_AMOUNT_FORMAT",
    }


def test_typed_values_and_wire_text_make_equal_requests() -> None:
    typed = FundingRequest("inv_01ABC", AccountAddress(WALLET), Stroops(25))
    wire = structure(
        {"invoiceId": "inv_01ABC", "investorAddress": WALLET, "amountStroops": "25"},
        FundingRequest,
    )
    assert typed == wire


def test_an_escrow_link_checks_both_fields() -> None:
    with pytest.raises(ValidationError) as info:
        EscrowLink(ContractAddress("C" + "A" * 55), Stroops(5))
    assert codes(info.value) == {"escrowAddress": "INVALID_CONTRACT_ADDRESS"}
    good = ContractAddress(StrKey.encode_contract(bytes(32)))
    assert EscrowLink(good, Stroops(5)).funding_target == Stroops(5)


@pytest.mark.parametrize(("reason", "code"), [(None, "REQUIRED"), ("", "INVALID_REASON")])
def test_a_reason_is_required_and_bounded(reason: Any, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        TransitionReason(reason)
    assert codes(info.value) == {"reason": code}


# ---- patches: absent is not null ---------------------------------------------------------------
def test_a_patch_tells_absent_from_null() -> None:
    patch = InvoicePatch(buyer_email=None, yield_bps=500)
    assert patch.buyer_name is ABSENT
    assert patch.changed_fields() == ["buyerEmail", "yieldBps"]
    applied = patch.apply(draft(buyer_email="ap@acme.example", buyer_tax_id="GB1"))
    assert (applied.buyer_email, applied.buyer_tax_id, applied.yield_bps) == (None, "GB1", 500)


def test_an_empty_patch_is_refused() -> None:
    with pytest.raises(ValidationError, match="non-empty"):
        InvoicePatch()


def test_a_patch_is_checked_against_the_whole_draft() -> None:
    with pytest.raises(ValidationError) as info:
        InvoicePatch(currency="JPY").apply(draft(amount=Money(Decimal("1250.50"), "USD")))
    assert codes(info.value) == {"amount": "INVALID_VALUE"}
    assert InvoicePatch(currency="JPY", amount=Decimal(1250)).apply(draft()).amount == Money(
        Decimal(1250), "JPY"
    )


# ---- queries ---------------------------------------------------------------------------------
def test_queries_have_the_documented_defaults() -> None:
    assert (InvoiceListQuery().page, InvoiceListQuery().limit, InvoiceListQuery().offset) == (
        1,
        20,
        0,
    )
    assert (OpportunitiesQuery().page, OpportunitiesQuery().limit) == (1, 10)
    assert MarketplaceSearch().sort is SortField.YIELD_BPS
    assert LocksQuery(page=3, limit=5).offset == 10


def test_a_cursor_wins_over_a_page_number() -> None:
    assert MarketplaceSearch(cursor="abc", page=4).page is None


def test_a_low_bound_above_its_high_bound_is_an_invalid_range() -> None:
    with pytest.raises(ValidationError) as info:
        MarketplaceSearch(
            yield_bps_min=10,
            yield_bps_max=5,
            funded_ratio_min=Decimal(50),
            funded_ratio_max=Decimal("12.5"),
        )
    assert codes(info.value) == {"yieldBpsMax": "INVALID_RANGE", "fundedRatioMax": "INVALID_RANGE"}


def test_status_sets_combine_lists_and_repeats() -> None:
    query = structure_query(
        [("status", "pending,approved"), ("status", "rejected")], InvoiceListQuery
    )
    assert query.status == {InvoiceStatus.PENDING, InvoiceStatus.APPROVED, InvoiceStatus.REJECTED}


# ---- ranges, as properties -------------------------------------------------------------------
@settings(deadline=None)  # the first call may build converter hooks
@given(st.integers(-(10**6), 10**6))
def test_yield_bps_is_accepted_exactly_from_0_to_10000(value: int) -> None:
    if 0 <= value <= 10_000:
        assert draft(yield_bps=value).yield_bps == value
    else:
        with pytest.raises(ValidationError) as info:
            draft(yield_bps=value)
        assert set(codes(info.value)) == {"yieldBps"}


@settings(deadline=None)  # the first call may build converter hooks
@given(st.integers(-5, 200))
def test_page_limits_are_accepted_exactly_from_1_to_100(limit: int) -> None:
    for build in (
        lambda: InvoiceListQuery(limit=limit),
        lambda: structure_query([("limit", str(limit))], OpportunitiesQuery),
        lambda: LocksQuery(limit=limit),
    ):
        if 1 <= limit <= 100:
            assert build().limit == limit
        else:
            with pytest.raises(ValidationError):
                build()


@settings(deadline=None)  # the first call may build converter hooks
@given(st.integers(0, 12_000), st.booleans())
def test_funded_ratio_percentages_from_0_to_100_with_two_decimals(
    hundredths: int, whole: bool
) -> None:
    text = f"{hundredths // 100}.{hundredths % 100:02d}"
    if whole and hundredths % 100 == 0:
        text = str(hundredths // 100)
    if hundredths <= 10_000:
        search = MarketplaceSearch(funded_ratio_min=wire_text(text))
        assert search.filters.funded_ratio_min == hundredths
    else:
        with pytest.raises(ValidationError):
            MarketplaceSearch(funded_ratio_min=wire_text(text))


@settings(deadline=None)  # the first call may build converter hooks
@given(st.integers(-10, STROOPS_MAX + 10**6))
def test_stroops_amounts_from_1_to_10_pow_18(value: int) -> None:
    raw = str(value)
    if 1 <= value <= STROOPS_MAX:
        assert FundingRequest("inv_1", AccountAddress(WALLET), wire_text(raw)).amount == Stroops(
            value
        )
    else:
        with pytest.raises(CommitmentValidationError) as info:
            FundingRequest("inv_1", AccountAddress(WALLET), wire_text(raw))
        assert set(codes(info.value)) == {"amountStroops"}


@settings(deadline=None)  # the first call may build converter hooks
@given(st.integers(0, 120))
def test_invoice_numbers_from_1_to_100_characters(length: int) -> None:
    if 1 <= length <= 100:
        assert len(draft(invoice_number="N" * length).invoice_number) == length
    else:
        with pytest.raises(ValidationError) as info:
            draft(invoice_number="N" * length)
        assert set(codes(info.value)) == {"invoiceNumber"}
