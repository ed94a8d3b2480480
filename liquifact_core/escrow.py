"""The on-chain escrow as domain values: its state, the figures derived from it, the link check
and the contract's error numbers as domain errors. Pure: adapters decode the chain into these.

Source: spec/escrow-contract.md (the ``LiquifactEscrow`` contract, schema version 6). Amounts are
integers in the token's smallest unit (stroops, 10^-7 of a Stellar asset unit), never floats;
times are ledger timestamps in Unix seconds.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs
from stellar_sdk.strkey import StrKey

from liquifact_core.errors import (
    Conflict,
    Forbidden,
    LiquifactError,
    Locked,
    Unprocessable,
)

# Bounds of the contract's types (spec §2): amount is i128 but init caps it at 2^63-1.
I128_MAX = 2**127 - 1
U64_MAX = 2**64 - 1
AMOUNT_MAX = 2**63 - 1
YIELD_BPS_MAX = 10_000
INVOICE_ID_PATTERN = re.compile(r"[A-Za-z0-9_]{1,32}")
SECONDS_PER_DAY = 86_400
SECONDS_PER_YEAR = 365 * SECONDS_PER_DAY  # the simple-interest year of the annual rate
_HUNDREDTHS = Decimal("0.01")


class EscrowStatus(enum.IntEnum):
    """``InvoiceEscrow.status`` (spec §3). Status never goes backwards; 2, 3, 4 are terminal."""

    OPEN = 0
    FUNDED = 1
    SETTLED = 2
    WITHDRAWN = 3
    CANCELLED = 4

    @property
    def label(self) -> str:
        """The spec's name: ``open``, ``funded``, ``settled``, ``withdrawn``, ``cancelled``."""
        return self.name.lower()


def _int_in(low: int, high: int) -> Callable[[Any, attrs.Attribute[int], int], None]:
    def check(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int or not low <= value <= high:
            raise ValueError(f"{attribute.name} must be an integer from {low} to {high}")

    return check


def _stellar_address(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not (
        StrKey.is_valid_ed25519_public_key(value) or StrKey.is_valid_contract(value)
    ):
        raise ValueError(f"{attribute.name} must be a Stellar address (G... or C...)")


def _invoice_id(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not INVOICE_ID_PATTERN.fullmatch(value):
        raise ValueError(f"{attribute.name} must be 1-32 of [A-Za-z0-9_]")


@attrs.frozen
class InvoiceEscrow:
    """The contract's ``InvoiceEscrow`` struct (spec §2), as ``get_escrow`` returns it.

    - ``invoice_id``: the Symbol, 1-32 of ``[A-Za-z0-9_]``.
    - ``admin``, ``sme_address``: Stellar addresses (``G...`` account or ``C...`` contract).
    - ``amount``: the invoice amount in stroops, 0 < amount <= 2^63-1.
    - ``funding_target``: stroops, > 0 (starts equal to ``amount``; the admin may change it
      while open).
    - ``funded_amount``: stroops, >= 0, the sum of live contributions. It may exceed the
      target: the deposit that crosses it may overfund (spec §9.11).
    - ``yield_bps``: 0..10000, a flat one-shot coupon, not annualised (spec §7).
    - ``maturity``: ledger timestamp in Unix seconds; 0 means no maturity lock.
    - ``status``: ``EscrowStatus``.

    Raises ValueError when a field is outside the contract's types (an adapter decoding a
    contract answer turns that into its own error).
    """

    invoice_id: str = attrs.field(validator=_invoice_id)
    admin: str = attrs.field(validator=_stellar_address)
    sme_address: str = attrs.field(validator=_stellar_address)
    amount: int = attrs.field(validator=_int_in(1, AMOUNT_MAX))
    funding_target: int = attrs.field(validator=_int_in(1, I128_MAX))
    funded_amount: int = attrs.field(validator=_int_in(0, I128_MAX))
    yield_bps: int = attrs.field(validator=_int_in(0, YIELD_BPS_MAX))
    maturity: int = attrs.field(validator=_int_in(0, U64_MAX))
    status: EscrowStatus = attrs.field(converter=EscrowStatus)


@attrs.frozen
class EscrowReading:
    """One read of an escrow: its struct plus the flags kept outside it (spec §2 "Instance":
    ``LegalHold``, ``Paused``; absent keys read as false). A legal hold blocks fund, unfund,
    settle, withdraw, claim, cancel, partial_settle, sweep and rotate; a pause blocks fund,
    settle, withdraw and claim (spec §8, ADR-004)."""

    escrow: InvoiceEscrow
    legal_hold: bool = False
    paused: bool = False

    @property
    def accepts_funding(self) -> bool:
        """Whether ``fund`` can succeed as far as status and flags go (caps, floor, deadline
        and allowlist are checked by the contract)."""
        return self.escrow.status is EscrowStatus.OPEN and not self.legal_hold and not self.paused


# ---- Derived figures for GET /v1/escrow/{invoiceId} -------------------------------------------


@attrs.frozen
class EscrowFigures:
    """The derived fields of the escrow read (issue 12, item 7).

    The spec README names the endpoint but defines none of these fields; the definitions are
    ours, from the contract spec and DESIGN.md:

    - ``funded_percent``: ``funded_amount / funding_target x 100`` rounded half-even to two
      decimals (DESIGN.md's ``fundedRatio`` rule, so both agree up to 100). Not capped: the
      chain may hold more than the target (overfunding, spec §9.11) and this view shows the
      chain as it is, where an invoice's ``fundedRatio`` stops at 100.
    - ``remaining_capacity``: stroops, ``max(funding_target - funded_amount, 0)``, the
      contract's own ``get_remaining_funding_capacity`` (spec §4.2).
    - ``days_to_maturity``: whole days from ``now`` to ``maturity``, floored
      (``(maturity - now) // 86400``): 0 on the day of maturity, negative once overdue. None
      when the escrow has no maturity (``maturity == 0``).
    - ``coupon_percent``: ``yield_bps / 100``, exact to two decimals: the flat, one-shot coupon
      the contract pays on principal (spec §7).
    - ``annual_rate_percent``: that coupon as a simple (non-compounding) annual rate for money
      put in at ``now``: ``coupon_percent x 31,536,000 / (maturity - now)`` (a 365-day year),
      rounded half-even to two decimals. None without a maturity or once it is reached.
    """

    funded_percent: Decimal
    remaining_capacity: int
    days_to_maturity: int | None
    coupon_percent: Decimal
    annual_rate_percent: Decimal | None


def funded_percent(funded_amount: int, funding_target: int) -> Decimal:
    """``funded_amount / funding_target x 100`` (stroops over stroops), exact, rounded
    half-even to two decimals; above 100 when overfunded. ``funding_target`` must be > 0."""
    return _ratio_hundredths(funded_amount * 100, funding_target)


def remaining_capacity(funded_amount: int, funding_target: int) -> int:
    """Stroops still accepted before the target is reached: ``max(target - funded, 0)``."""
    return max(funding_target - funded_amount, 0)


def days_to_maturity(maturity: int, now: int) -> int | None:
    """Whole days (floored) from ``now`` to ``maturity`` (both Unix seconds); None when
    ``maturity`` is 0 (no maturity lock)."""
    if maturity == 0:
        return None
    return (maturity - now) // SECONDS_PER_DAY


def annual_rate_percent(yield_bps: int, maturity: int, now: int) -> Decimal | None:
    """The flat coupon ``yield_bps`` as a simple annual rate in percent over the time left
    (``maturity - now`` seconds), rounded half-even to two decimals; None without a maturity
    or when none is left."""
    if maturity == 0 or maturity <= now:
        return None
    # yield_bps / 100 percent, times a year over the seconds left.
    return _ratio_hundredths(yield_bps * SECONDS_PER_YEAR, 100 * (maturity - now))


def derive_figures(escrow: InvoiceEscrow, now: int) -> EscrowFigures:
    """The derived fields of ``escrow`` at ``now`` (Unix seconds: the ledger close time the
    reading reflects, else the clock)."""
    return EscrowFigures(
        funded_percent=funded_percent(escrow.funded_amount, escrow.funding_target),
        remaining_capacity=remaining_capacity(escrow.funded_amount, escrow.funding_target),
        days_to_maturity=days_to_maturity(escrow.maturity, now),
        coupon_percent=(Decimal(escrow.yield_bps) / 100).quantize(_HUNDREDTHS),
        annual_rate_percent=annual_rate_percent(escrow.yield_bps, escrow.maturity, now),
    )


def _ratio_hundredths(numerator: int, denominator: int) -> Decimal:
    """``numerator / denominator`` rounded half-even to hundredths, in integer arithmetic (no
    precision limit: Decimal division would round at 28 digits first)."""
    quotient, remainder = divmod(numerator * 100, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return Decimal(f"{quotient}E-2")  # exact: scaleb would round to the context's 28 digits


# ---- May this escrow be linked to this invoice? -----------------------------------------------


class LinkRefusal(enum.Enum):
    """Why an escrow contract may not be linked to an invoice (issue 12, item 5); the value is
    the stable error code a client sees (422)."""

    NOT_AN_ESCROW = "ESCROW_NOT_RECOGNISED"
    NOT_INITIALISED = "ESCROW_NOT_INITIALISED"
    INVOICE_MISMATCH = "ESCROW_INVOICE_MISMATCH"
    NOT_OPEN = "ESCROW_NOT_OPEN"
    FUNDING_TARGET_MISMATCH = "ESCROW_FUNDING_TARGET_MISMATCH"

    @property
    def message(self) -> str:
        return _LINK_MESSAGES[self]


_LINK_MESSAGES = {
    LinkRefusal.NOT_AN_ESCROW: "The contract at this address is not a LiquiFact escrow.",
    LinkRefusal.NOT_INITIALISED: "The escrow contract has not been initialised.",
    LinkRefusal.INVOICE_MISMATCH: "The escrow contract was initialised for another invoice.",
    LinkRefusal.NOT_OPEN: "The escrow contract is not open for funding.",
    LinkRefusal.FUNDING_TARGET_MISMATCH: (
        "The escrow contract's funding target differs from the invoice's funding target."
    ),
}


def link_refusal(
    escrow: InvoiceEscrow | None, invoice_id: str, funding_target: int
) -> LinkRefusal | None:
    """None when ``escrow`` may be linked to invoice ``invoice_id`` with ``funding_target``
    stroops, else the first reason it may not, checked in this order:

    1. ``escrow`` is None (``get_escrow`` failed with error 20, NotInitialized):
       ``NOT_INITIALISED``.
    2. its ``invoice_id`` is not ours (compared exactly: a Symbol is case-sensitive):
       ``INVOICE_MISMATCH``.
    3. its status is not open: ``NOT_OPEN``.
    4. its ``funding_target`` is not ``funding_target``: ``FUNDING_TARGET_MISMATCH``.

    ``NOT_AN_ESCROW`` is for the adapter: a contract that does not answer ``get_escrow`` the way
    the escrow contract does.
    """
    if escrow is None:
        return LinkRefusal.NOT_INITIALISED
    if escrow.invoice_id != invoice_id:
        return LinkRefusal.INVOICE_MISMATCH
    if escrow.status is not EscrowStatus.OPEN:
        return LinkRefusal.NOT_OPEN
    if escrow.funding_target != funding_target:
        return LinkRefusal.FUNDING_TARGET_MISMATCH
    return None


def refused_link(refusal: LinkRefusal) -> Unprocessable:
    """The 422 error for ``refusal``; its message names no address, invoice or amount."""
    return Unprocessable(refusal.message, code=refusal.value)


def check_link(escrow: InvoiceEscrow | None, invoice_id: str, funding_target: int) -> None:
    """Raise ``refused_link`` (Unprocessable, 422) unless ``link_refusal`` finds nothing."""
    refusal = link_refusal(escrow, invoice_id, funding_target)
    if refusal is not None:
        raise refused_link(refusal)


# ---- Contract errors ----------------------------------------------------------------------------

_CONTRACT_ERROR = re.compile(r"Error\(Contract, #([0-9]{1,10})\)")


def contract_error_number(text: str) -> int | None:
    """The ``N`` of the first ``Error(Contract, #N)`` in a diagnostic text (a simulation or
    transaction result), or None."""
    match = _CONTRACT_ERROR.search(text)
    return int(match.group(1)) if match else None


@attrs.frozen
class ContractErrorRule:
    """How one ``EscrowError`` number reaches a client: the domain error class (which fixes the
    HTTP status: Locked 423, Conflict 409, Unprocessable 422, Forbidden 403), a stable code
    and a message that names no address, amount or transaction."""

    number: int
    kind: type[LiquifactError]
    code: str
    message: str

    def error(self) -> LiquifactError:
        return self.kind(self.message, code=self.code)


_HOLD = "The escrow is under a legal hold; it accepts no change until the hold is cleared."
_PAUSED = "The escrow is paused."
_NOT_OPEN = "The escrow is not open for funding."
_CONFIG = "The escrow refused the configuration change."
_INIT = "The escrow initialisation arguments are invalid."

# Every EscrowError number in spec §4-§5 (127 variants; 205 exists but is unused), grouped:
# (numbers, domain error class, code, message).
_TABLE: tuple[tuple[tuple[int, ...], type[LiquifactError], str, str], ...] = (
    # 1-14: init validation
    (
        (1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 215),
        Unprocessable,
        "ESCROW_INIT_INVALID",
        _INIT,
    ),
    ((3,), Conflict, "ESCROW_ALREADY_INITIALISED", "The escrow is already initialised."),
    # 20-25: missing state, per-investor cap changes
    ((20,), Conflict, "ESCROW_NOT_INITIALISED", "The escrow has not been initialised."),
    ((21, 22), Conflict, "ESCROW_MISCONFIGURED", "The escrow lacks its token or treasury."),
    ((24, 25), Unprocessable, "ESCROW_CONFIG_INVALID", _CONFIG),
    # 30-42: sweep and token-wrapper balance checks
    ((30, 102, 120, 123, 125, 140, 160, 201, 222), Locked, "ESCROW_LEGAL_HOLD", _HOLD),
    (
        (31, 32, 34, 35),
        Unprocessable,
        "ESCROW_SWEEP_INVALID",
        "The dust sweep amount is invalid or there is nothing to sweep.",
    ),
    ((33,), Conflict, "ESCROW_NOT_TERMINAL", "The escrow has not reached a terminal status."),
    (
        (36, 38, 39, 40, 41),
        Unprocessable,
        "ESCROW_TOKEN_TRANSFER_FAILED",
        "The token transfer did not move the expected balance.",
    ),
    (
        (37,),
        Unprocessable,
        "ESCROW_INSUFFICIENT_BALANCE",
        "The account's token balance is too low for this amount.",
    ),
    (
        (42,),
        Conflict,
        "ESCROW_LIABILITY_FLOOR",
        "The sweep would leave less than investors are owed.",
    ),
    # 50-56 attestations, 60-62 collateral
    (
        (50,),
        Conflict,
        "ESCROW_ATTESTATION_ALREADY_BOUND",
        "The primary attestation is already bound.",
    ),
    ((51,), Unprocessable, "ESCROW_ATTESTATION_LIMIT", "The attestation log is full (32 entries)."),
    (
        (52, 53, 54, 55, 56),
        Unprocessable,
        "ESCROW_ATTESTATION_INVALID",
        "The attestation index or digest is invalid.",
    ),
    (
        (60, 61, 62, 169),
        Unprocessable,
        "ESCROW_COLLATERAL_INVALID",
        "The collateral commitment is invalid.",
    ),
    # 70-85: admin and configuration
    (
        (70, 71),
        Unprocessable,
        "ESCROW_ALLOWLIST_BATCH_INVALID",
        "The allowlist batch is empty or longer than 32.",
    ),
    (
        (72, 73, 74),
        Unprocessable,
        "ESCROW_FUNDING_TARGET_INVALID",
        "The new funding target is invalid or below the funded amount.",
    ),
    (
        (75, 76, 77, 78, 81, 162, 173, 174, 175, 176, 214),
        Unprocessable,
        "ESCROW_CONFIG_INVALID",
        _CONFIG,
    ),
    ((79, 103, 141, 171, 202, 220), Conflict, "ESCROW_NOT_OPEN", _NOT_OPEN),
    ((80, 177), Unprocessable, "ESCROW_ADMIN_INVALID", "The admin proposal is invalid."),
    (
        (82, 83, 84),
        Unprocessable,
        "ESCROW_FUND_BATCH_INVALID",
        "The funding batch is empty, longer than 50 or repeats an investor.",
    ),
    ((85,), Conflict, "ESCROW_ADMIN_PROPOSAL_EXPIRED", "The admin proposal has expired."),
    ((172,), Conflict, "ESCROW_NO_PENDING_ADMIN", "There is no pending admin proposal."),
    ((90, 91, 92), Conflict, "ESCROW_MIGRATION_UNSUPPORTED", "The escrow cannot be migrated."),
    # 100-111: funding
    ((100,), Unprocessable, "ESCROW_AMOUNT_NOT_POSITIVE", "The amount must be greater than zero."),
    (
        (101,),
        Unprocessable,
        "ESCROW_BELOW_MINIMUM",
        "The amount is below the escrow's minimum contribution.",
    ),
    (
        (104,),
        Forbidden,
        "ESCROW_INVESTOR_NOT_ALLOWLISTED",
        "The investor is not on the escrow's allowlist.",
    ),
    (
        (105, 110, 129),
        Unprocessable,
        "ESCROW_AMOUNT_OVERFLOW",
        "The amount would overflow the escrow's totals.",
    ),
    (
        (106,),
        Unprocessable,
        "ESCROW_PER_INVESTOR_CAP",
        "The amount would take the investor over the escrow's per-investor cap.",
    ),
    (
        (107,),
        Unprocessable,
        "ESCROW_UNIQUE_INVESTOR_CAP",
        "The escrow has reached its maximum number of investors.",
    ),
    (
        (108,),
        Conflict,
        "ESCROW_TIERED_DEPOSIT_REPEATED",
        "A tiered commitment is allowed only on an investor's first deposit.",
    ),
    (
        (109, 111),
        Unprocessable,
        "ESCROW_COMMITMENT_INVALID",
        "The committed lock is invalid or ends after maturity.",
    ),
    # 120-129: settle, withdraw, claim
    ((121, 124), Conflict, "ESCROW_NOT_FUNDED", "The escrow is not in the funded status."),
    (
        (122,),
        Conflict,
        "ESCROW_MATURITY_NOT_REACHED",
        "The escrow's maturity has not been reached.",
    ),
    (
        (126, 143),
        Unprocessable,
        "ESCROW_NO_CONTRIBUTION",
        "The investor has no contribution in this escrow.",
    ),
    ((127,), Conflict, "ESCROW_NOT_SETTLED", "The escrow has not been settled."),
    ((128,), Conflict, "ESCROW_CLAIM_LOCKED", "The investor's claim lock has not ended."),
    # 140-152: cancel, refund, legal hold clearing
    ((142,), Conflict, "ESCROW_NOT_CANCELLED", "The escrow has not been cancelled."),
    ((144, 145), Unprocessable, "ESCROW_REFUND_BATCH_INVALID", "The refund batch is invalid."),
    (
        (150,),
        Conflict,
        "ESCROW_HOLD_CLEAR_NOT_REQUESTED",
        "No clearing of the legal hold was requested.",
    ),
    (
        (151,),
        Conflict,
        "ESCROW_HOLD_CLEAR_NOT_READY",
        "The legal hold's clearing delay has not passed.",
    ),
    (
        (152,),
        Unprocessable,
        "ESCROW_HOLD_CLEAR_INVALID",
        "The legal hold clearing request is invalid.",
    ),
    # 160-177
    ((161,), Conflict, "ESCROW_TERMINAL", "The escrow has reached a terminal status."),
    (
        (164,),
        Conflict,
        "ESCROW_FUNDING_DEADLINE_PASSED",
        "The escrow's funding deadline has passed.",
    ),
    (
        (165,),
        Conflict,
        "ESCROW_INSUFFICIENT_CONTRACT_BALANCE",
        "The escrow holds less than its funded amount.",
    ),
    (
        (166, 167),
        Unprocessable,
        "ESCROW_MATURITY_OUT_OF_BOUNDS",
        "The maturity is in the past or beyond the allowed horizon.",
    ),
    ((170,), Unprocessable, "ESCROW_PAYOUT_ZERO", "The payout is zero; nothing to transfer."),
    # 200-222
    (
        (200,),
        Forbidden,
        "ESCROW_CALLER_NOT_PERMITTED",
        "Only the SME or the escrow admin may do this.",
    ),
    ((203,), Unprocessable, "ESCROW_BATCH_TOO_LARGE", "At most 50 addresses may be read at once."),
    (
        (204, 206, 218),
        Unprocessable,
        "ESCROW_FUNDING_DEADLINE_INVALID",
        "The funding deadline is invalid.",
    ),
    ((205,), Unprocessable, "ESCROW_CONTRACT_REJECTED", "The escrow contract refused the call."),
    ((210, 211, 212, 213), Locked, "ESCROW_PAUSED", _PAUSED),
    ((216, 217), Unprocessable, "ESCROW_FEE_INVALID", "The protocol fee could not be computed."),
    (
        (221,),
        Unprocessable,
        "ESCROW_UNFUND_AMOUNT_INVALID",
        "The amount to withdraw must be positive and at most the contribution.",
    ),
)
CONTRACT_ERRORS: Mapping[int, ContractErrorRule] = {
    number: ContractErrorRule(number, kind, code, message)
    for numbers, kind, code, message in _TABLE
    for number in numbers
}

UNKNOWN_CONTRACT_ERROR = ContractErrorRule(
    0, Unprocessable, "ESCROW_CONTRACT_REJECTED", "The escrow contract refused the call."
)


def contract_error(number: int) -> LiquifactError:
    """The domain error for ``Error(Contract, #number)``; a number the spec does not list (the
    enum is append-only) gives ``ESCROW_CONTRACT_REJECTED`` (422)."""
    return CONTRACT_ERRORS.get(number, UNKNOWN_CONTRACT_ERROR).error()
