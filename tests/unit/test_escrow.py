"""The escrow as domain values: state, derived figures, the link check, contract errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from stellar_sdk.strkey import StrKey

from liquifact_core import errors
from liquifact_core.escrow import (
    AMOUNT_MAX,
    CONTRACT_ERRORS,
    I128_MAX,
    U64_MAX,
    EscrowReading,
    EscrowStatus,
    InvoiceEscrow,
    LinkRefusal,
    annual_rate_percent,
    check_link,
    contract_error,
    contract_error_number,
    days_to_maturity,
    derive_figures,
    funded_percent,
    link_refusal,
    remaining_capacity,
)
from liquifact_core.invoices import Invoice
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_http.problems import problem_from_error, status_for
from tests.factories import invoice_draft

ADMIN = StrKey.encode_ed25519_public_key(bytes(range(32)))
SME = StrKey.encode_contract(bytes(range(1, 33)))
DAY = 86_400

invoice_ids = st.from_regex(r"[A-Za-z0-9_]{1,32}", fullmatch=True)
targets = st.integers(1, I128_MAX)
funded = st.integers(0, I128_MAX)
seconds = st.integers(0, U64_MAX)


def escrow(**changes: Any) -> InvoiceEscrow:
    fields: dict[str, Any] = {
        "invoice_id": "inv_01JABCDEF",
        "admin": ADMIN,
        "sme_address": SME,
        "amount": 10_000_000_000,
        "funding_target": 10_000_000_000,
        "funded_amount": 0,
        "yield_bps": 800,
        "maturity": 1_800_000_000,
        "status": 0,
    }
    return InvoiceEscrow(**{**fields, **changes})


escrows = st.builds(
    escrow,
    invoice_id=invoice_ids,
    amount=st.integers(1, AMOUNT_MAX),
    funding_target=targets,
    funded_amount=funded,
    yield_bps=st.integers(0, 10_000),
    maturity=seconds,
    status=st.sampled_from(list(EscrowStatus)),
)


# ---- the state ---------------------------------------------------------------------------------


def test_status_codes_and_names_are_the_contracts() -> None:
    assert {s.value: s.label for s in EscrowStatus} == {
        0: "open",
        1: "funded",
        2: "settled",
        3: "withdrawn",
        4: "cancelled",
    }
    assert escrow(status=3).status is EscrowStatus.WITHDRAWN


@pytest.mark.parametrize(
    "changes",
    [
        {"invoice_id": "inv-with-hyphen"},  # the contract's error 5
        {"invoice_id": "x" * 33},
        {"invoice_id": ""},
        {"admin": "G" + "A" * 55},  # checksum wrong
        {"sme_address": "not an address"},
        {"amount": 0},
        {"amount": AMOUNT_MAX + 1},
        {"funding_target": 0},
        {"funded_amount": -1},
        {"funded_amount": I128_MAX + 1},
        {"funded_amount": 1.0},
        {"yield_bps": 10_001},
        {"yield_bps": -1},
        {"maturity": -1},
        {"maturity": U64_MAX + 1},
        {"status": 5},
    ],
)
def test_values_outside_the_contracts_types_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        escrow(**changes)


def test_a_reading_accepts_funding_only_when_open_and_neither_held_nor_paused() -> None:
    assert EscrowReading(escrow()).accepts_funding
    assert not EscrowReading(escrow(), legal_hold=True).accepts_funding
    assert not EscrowReading(escrow(), paused=True).accepts_funding
    assert not EscrowReading(escrow(status=EscrowStatus.FUNDED)).accepts_funding


# ---- derived figures ---------------------------------------------------------------------------


def test_figures_of_a_typical_escrow() -> None:
    now = 1_800_000_000 - 90 * DAY
    figures = derive_figures(
        escrow(funding_target=10_000_000_000, funded_amount=2_500_000_000, yield_bps=250), now
    )
    assert figures.funded_percent == Decimal("25.00")
    assert figures.remaining_capacity == 7_500_000_000
    assert figures.days_to_maturity == 90
    assert figures.coupon_percent == Decimal("2.50")
    # 2.5 % over 90 days, simple: 2.5 x 365 / 90 = 10.1388...
    assert figures.annual_rate_percent == Decimal("10.14")


def test_figures_without_a_maturity() -> None:
    figures = derive_figures(escrow(maturity=0), now=1_700_000_000)
    assert figures.days_to_maturity is None
    assert figures.annual_rate_percent is None


def test_overfunding_shows_above_100_percent_and_no_capacity() -> None:
    figures = derive_figures(escrow(funding_target=100, funded_amount=150), now=0)
    assert figures.funded_percent == Decimal("150.00")
    assert figures.remaining_capacity == 0


@given(funded, targets)
@example(1, 800)  # 0.125 %: a tie, rounds to the even 0.12
@example(3, 800)  # 0.375 %: a tie, rounds to the even 0.38
@example(I128_MAX, 3)  # beyond Decimal's 28 digits
def test_funded_percent_is_the_exact_ratio_rounded_half_even(amount: int, target: int) -> None:
    percent = funded_percent(amount, target)
    exact = Fraction(amount * 100, target)
    assert percent.as_tuple().exponent == -2
    assert abs(Fraction(percent) - exact) <= Fraction(1, 200)
    if abs(Fraction(percent) - exact) == Fraction(1, 200):  # a tie went to the even side
        assert int(percent * 100) % 2 == 0


@given(st.integers(0, 10**18), st.integers(1, 10**18))
def test_funded_percent_agrees_with_the_invoices_funded_ratio_up_to_100(
    amount: int, target: int
) -> None:
    invoice = attrs.evolve(_any_invoice(), funding_target_stroops=target, funded_stroops=amount)
    expected = invoice.funded_ratio
    assert expected is not None
    assert min(funded_percent(amount, target), Decimal(100)) == expected


@given(funded, funded, targets)
def test_more_funding_never_lowers_the_percent_or_raises_the_capacity(
    a: int, b: int, target: int
) -> None:
    low, high = sorted((a, b))
    assert funded_percent(low, target) <= funded_percent(high, target)
    assert remaining_capacity(low, target) >= remaining_capacity(high, target)


@given(funded, targets)
def test_capacity_is_what_is_left_of_the_target(amount: int, target: int) -> None:
    capacity = remaining_capacity(amount, target)
    assert capacity >= 0
    assert capacity == 0 or amount + capacity == target
    assert (capacity == 0) == (amount >= target)


@given(st.integers(1, U64_MAX), seconds)
def test_days_to_maturity_are_whole_days_floored(maturity: int, now: int) -> None:
    days = days_to_maturity(maturity, now)
    assert days is not None
    assert days * DAY <= maturity - now < (days + 1) * DAY
    assert (days < 0) == (now > maturity)


@given(st.integers(0, 10_000), st.integers(1, U64_MAX), seconds)
def test_annual_rate_is_the_coupon_over_the_time_left(bps: int, maturity: int, now: int) -> None:
    rate = annual_rate_percent(bps, maturity, now)
    if maturity <= now:
        assert rate is None
        return
    assert rate is not None
    exact = Fraction(bps, 100) * 365 * DAY / (maturity - now)
    assert abs(Fraction(rate) - exact) <= Fraction(1, 200)
    if maturity - now == 365 * DAY:
        assert rate == Decimal(bps) / 100  # over exactly a year the coupon is the rate


@given(st.integers(0, 10_000), st.integers(1, 10**12), st.integers(1, 10**12))
def test_the_same_coupon_over_longer_reads_as_a_lower_annual_rate(bps: int, a: int, b: int) -> None:
    short, long = sorted((a, b))
    now = 1_000
    short_rate = annual_rate_percent(bps, now + short, now)
    long_rate = annual_rate_percent(bps, now + long, now)
    assert short_rate is not None and long_rate is not None
    assert long_rate <= short_rate


@given(escrows, seconds)
def test_figures_are_defined_for_every_valid_escrow(value: InvoiceEscrow, now: int) -> None:
    figures = derive_figures(value, now)
    assert figures.coupon_percent * 100 == value.yield_bps
    assert (figures.days_to_maturity is None) == (value.maturity == 0)


# ---- the link check ----------------------------------------------------------------------------


def test_an_open_escrow_for_this_invoice_and_target_may_be_linked() -> None:
    check_link(escrow(), "inv_01JABCDEF", 10_000_000_000)
    assert link_refusal(escrow(), "inv_01JABCDEF", 10_000_000_000) is None


@pytest.mark.parametrize(
    ("value", "invoice_id", "target", "refusal"),
    [
        (None, "inv_01JABCDEF", 10_000_000_000, LinkRefusal.NOT_INITIALISED),
        (escrow(), "inv_01JABCDEG", 10_000_000_000, LinkRefusal.INVOICE_MISMATCH),
        (escrow(), "INV_01JABCDEF", 10_000_000_000, LinkRefusal.INVOICE_MISMATCH),
        (escrow(status=1), "inv_01JABCDEF", 10_000_000_000, LinkRefusal.NOT_OPEN),
        (escrow(status=4), "inv_01JABCDEF", 10_000_000_000, LinkRefusal.NOT_OPEN),
        (escrow(), "inv_01JABCDEF", 10_000_000_001, LinkRefusal.FUNDING_TARGET_MISMATCH),
    ],
)
def test_each_reason_to_refuse_a_link_has_its_code_and_a_422(
    value: InvoiceEscrow | None, invoice_id: str, target: int, refusal: LinkRefusal
) -> None:
    assert link_refusal(value, invoice_id, target) is refusal
    with pytest.raises(errors.Unprocessable) as raised:
        check_link(value, invoice_id, target)
    assert raised.value.code == refusal.value
    assert status_for(raised.value) == 422
    assert invoice_id not in raised.value.message
    assert str(target) not in raised.value.message


@given(escrows, invoice_ids, targets)
def test_a_link_is_refused_exactly_when_one_condition_fails(
    value: InvoiceEscrow, invoice_id: str, target: int
) -> None:
    acceptable = (
        value.invoice_id == invoice_id
        and value.status is EscrowStatus.OPEN
        and value.funding_target == target
    )
    assert (link_refusal(value, invoice_id, target) is None) == acceptable


@given(escrows)
def test_an_escrow_matching_the_invoice_is_refused_only_for_its_status(
    value: InvoiceEscrow,
) -> None:
    refusal = link_refusal(value, value.invoice_id, value.funding_target)
    assert refusal is (None if value.status is EscrowStatus.OPEN else LinkRefusal.NOT_OPEN)


@given(st.sampled_from(list(LinkRefusal)))
def test_every_refusal_code_is_a_stable_error_code(refusal: LinkRefusal) -> None:
    assert refusal.value.startswith("ESCROW_") and refusal.value.isupper()
    assert refusal.message.endswith(".")


# ---- contract errors ---------------------------------------------------------------------------

# spec/escrow-contract.md §5 (with the numbers §4 names): 127 variants.
SPEC_NUMBERS = {
    *range(1, 15), 20, 21, 22, 24, 25, *range(30, 43), *range(50, 57), *range(60, 63),
    *range(70, 86), 90, 91, 92, *range(100, 112), *range(120, 130), *range(140, 146),
    150, 151, 152, 160, 161, 162, *range(164, 168), *range(169, 178), *range(200, 207),
    *range(210, 219), 220, 221, 222,
}  # fmt: skip


def test_every_error_number_of_the_spec_is_mapped() -> None:
    assert len(SPEC_NUMBERS) == 127
    assert set(CONTRACT_ERRORS) == SPEC_NUMBERS
    assert all(rule.number == number for number, rule in CONTRACT_ERRORS.items())


@pytest.mark.parametrize(
    ("number", "status", "code"),
    [
        (102, 423, "ESCROW_LEGAL_HOLD"),  # fund under a hold
        (222, 423, "ESCROW_LEGAL_HOLD"),  # unfund under a hold
        (120, 423, "ESCROW_LEGAL_HOLD"),
        (210, 423, "ESCROW_PAUSED"),
        (103, 409, "ESCROW_NOT_OPEN"),
        (220, 409, "ESCROW_NOT_OPEN"),
        (164, 409, "ESCROW_FUNDING_DEADLINE_PASSED"),
        (106, 422, "ESCROW_PER_INVESTOR_CAP"),
        (107, 422, "ESCROW_UNIQUE_INVESTOR_CAP"),
        (101, 422, "ESCROW_BELOW_MINIMUM"),
        (100, 422, "ESCROW_AMOUNT_NOT_POSITIVE"),
        (37, 422, "ESCROW_INSUFFICIENT_BALANCE"),
        (104, 403, "ESCROW_INVESTOR_NOT_ALLOWLISTED"),
        (200, 403, "ESCROW_CALLER_NOT_PERMITTED"),
        (20, 409, "ESCROW_NOT_INITIALISED"),
        (165, 409, "ESCROW_INSUFFICIENT_CONTRACT_BALANCE"),
        (170, 422, "ESCROW_PAYOUT_ZERO"),
    ],
)
def test_contract_errors_reach_clients_with_their_status_and_code(
    number: int, status: int, code: str
) -> None:
    error = contract_error(number)
    assert status_for(error) == status
    problem = problem_from_error(error)
    assert (problem.status, problem.code, problem.retryable) == (status, code, False)


def test_every_legal_hold_error_is_423_and_every_status_error_409() -> None:
    hold = {n for n, rule in CONTRACT_ERRORS.items() if rule.code == "ESCROW_LEGAL_HOLD"}
    # spec §4.1: the hold blocks fund, unfund, partial_settle, settle, withdraw, claim,
    # cancel, sweep and rotate.
    assert hold == {102, 222, 201, 120, 123, 125, 140, 30, 160}
    not_open = {n for n, rule in CONTRACT_ERRORS.items() if rule.code == "ESCROW_NOT_OPEN"}
    assert {103, 141, 171, 202, 220, 79} <= not_open


@given(st.integers(0, 2**32))
def test_every_number_maps_to_a_client_safe_error(number: int) -> None:
    error = contract_error(number)
    assert 400 <= status_for(error) < 500
    assert error.message.endswith(".") and "Error(" not in error.message
    assert error.code.startswith("ESCROW_")
    if number not in SPEC_NUMBERS:
        assert error.code == "ESCROW_CONTRACT_REJECTED"


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("HostError: Error(Contract, #102)\n\nEvent log ...", 102),
        ("simulation failed: Error(Contract, #7) at contract CABC", 7),
        ("Error(WasmVm, InvalidAction)", None),
        ("", None),
    ],
)
def test_the_error_number_is_read_from_a_diagnostic(text: str, number: int | None) -> None:
    assert contract_error_number(text) == number


def _any_invoice() -> Invoice:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Invoice(
        id="inv_01JABCDEF",
        tenant_id="t",
        sme_id="sme",
        draft=invoice_draft(),
        status=InvoiceStatus.LINKED_ESCROW,
        version=1,
        created_at=at,
        updated_at=at,
    )
