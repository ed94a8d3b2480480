"""Reconciliation rules: our books against the escrow contract (issue 12, item 8). Pure.

Spec (original README, "Nightly reconciliation"): compare the store's funded total with the
contract's ``funded_amount`` for every invoice in ``linked_escrow``, ``funded`` or
``partially_funded``; each invoice is a match, a mismatch or an error; a run records
``total``, ``matches``, ``mismatches`` and ``errors``; ``RECONCILIATION_DRIFT_THRESHOLD``
(integer, default 1) is the number of mismatches in one run that, met or exceeded, counts as
a threshold breach (alert counter and error log with ``mismatches``, ``threshold``,
``totalDrift`` and ``reconciledAt``); ``escrow_reconciliation_drift_magnitude`` is the sum of
the absolute drifts. Per-invoice results stay server-side; a failed chain read is recorded
with a reason from a fixed vocabulary, never the RPC's text, XDR or a contract address.

Amounts are stroops (int). Drift is ``chain - store``: positive when the contract holds more
than our books say.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from fractions import Fraction

import attrs

from liquifact_core.amounts import STROOPS_MAX
from liquifact_core.errors import LiquifactError, NotFound, Unavailable, ValidationError
from liquifact_core.escrow import CONTRACT_ERRORS, UNKNOWN_CONTRACT_ERROR
from liquifact_core.lifecycle import InvoiceStatus

RECONCILED_STATUSES = frozenset(
    {InvoiceStatus.LINKED_ESCROW, InvoiceStatus.PARTIALLY_FUNDED, InvoiceStatus.FUNDED}
)
DEFAULT_DRIFT_THRESHOLD = 1
DRIFT_THRESHOLD_MAX = 1_000_000
_I128_MAX = 2**127 - 1


def is_reconciled(status: InvoiceStatus) -> bool:
    """Whether reconciliation compares invoices in ``status`` with the chain."""
    return status in RECONCILED_STATUSES


def parse_drift_threshold(raw: str) -> int:
    """``RECONCILIATION_DRIFT_THRESHOLD``: an integer from 1 to 1,000,000 (mismatches per run).
    Raises ValueError otherwise (0 would alert on every run, even a clean one)."""
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= DRIFT_THRESHOLD_MAX:
        raise ValueError(f"must be an integer from 1 to {DRIFT_THRESHOLD_MAX}")
    return int(value)


class Outcome(enum.StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    ERROR = "error"


class ReadFailure(enum.StrEnum):
    """Why the contract's ``funded_amount`` could not be read: the only reasons a run records
    (the adapter keeps the driver's text for its logs)."""

    RPC_UNAVAILABLE = "rpc_unavailable"  # connection refused, 5xx, breaker open
    RPC_TIMEOUT = "rpc_timeout"
    NOT_INITIALISED = "escrow_not_initialised"  # contract error 20
    CONTRACT_ERROR = "contract_error"  # another Error(Contract, #N); the number is kept
    UNREADABLE_ANSWER = "unreadable_answer"  # the answer did not decode as an InvoiceEscrow
    NO_ESCROW_ADDRESS = "no_escrow_address"  # our books name no contract for the invoice


def _stroops(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 <= value <= STROOPS_MAX:
        raise ValueError(f"{attribute.name} must be an integer from 0 to 10^18 stroops")


@attrs.frozen
class InvoiceReconciliation:
    """One invoice's result. ``store_funded`` and ``chain_funded`` are stroops;
    ``chain_funded`` is None for an error, which carries ``failure`` (and for a contract error
    its number in ``contract_error``)."""

    invoice_id: str
    store_funded: int = attrs.field(validator=_stroops)
    chain_funded: int | None = None
    failure: ReadFailure | None = None
    contract_error: int | None = None

    def __attrs_post_init__(self) -> None:
        if (self.chain_funded is None) == (self.failure is None):
            raise ValueError("exactly one of chain_funded and failure must be given")
        if self.chain_funded is not None and (
            type(self.chain_funded) is not int or not 0 <= self.chain_funded <= _I128_MAX
        ):
            raise ValueError("chain_funded must be a non-negative i128")

    @property
    def outcome(self) -> Outcome:
        if self.chain_funded is None:
            return Outcome.ERROR
        return Outcome.MATCH if self.chain_funded == self.store_funded else Outcome.MISMATCH

    @property
    def drift(self) -> int | None:
        """``chain_funded - store_funded`` in stroops (0 for a match); None for an error."""
        if self.chain_funded is None:
            return None
        return self.chain_funded - self.store_funded

    @property
    def drift_fraction(self) -> Fraction | None:
        """The drift relative to the larger of the two amounts, exact, in [-1, 1]: -1 when the
        chain holds nothing our books count, 1 when our books count nothing the chain holds.
        0 for a match (including both 0); None for an error."""
        if self.chain_funded is None:
            return None
        larger = max(self.chain_funded, self.store_funded)
        if larger == 0:
            return Fraction(0)
        return Fraction(self.chain_funded - self.store_funded, larger)


def compare(invoice_id: str, store_funded: int, chain_funded: int) -> InvoiceReconciliation:
    """The result for an invoice whose contract answered ``chain_funded`` stroops."""
    return InvoiceReconciliation(invoice_id, store_funded, chain_funded=chain_funded)


def failed(
    invoice_id: str, store_funded: int, failure: ReadFailure, contract_error: int | None = None
) -> InvoiceReconciliation:
    """The result for an invoice whose contract could not be read, and why."""
    if contract_error is not None and failure is not ReadFailure.CONTRACT_ERROR:
        raise ValueError("a contract error number goes only with ReadFailure.CONTRACT_ERROR")
    return InvoiceReconciliation(
        invoice_id, store_funded, failure=failure, contract_error=contract_error
    )


@attrs.frozen
class RunSummary:
    """A run's counts (``total == matches + mismatches + errors``), ``total_drift`` (the sum of
    absolute drifts, stroops: the drift-magnitude gauge), the threshold it was judged by, and
    ``drift_alert``: whether ``mismatches >= threshold``."""

    total: int
    matches: int
    mismatches: int
    errors: int
    total_drift: int
    threshold: int

    @property
    def drift_alert(self) -> bool:
        return breaches_threshold(self.mismatches, self.threshold)


def breaches_threshold(mismatches: int, threshold: int) -> bool:
    """The spec's rule: a run breaches ``RECONCILIATION_DRIFT_THRESHOLD`` when its number of
    mismatches meets or exceeds it."""
    return mismatches >= threshold


def summarize(
    results: Iterable[InvoiceReconciliation], threshold: int = DEFAULT_DRIFT_THRESHOLD
) -> RunSummary:
    """The summary of a run's per-invoice results, judged against ``threshold`` (>= 1)."""
    if type(threshold) is not int or threshold < 1:
        raise ValueError("threshold must be an integer >= 1")
    counts = dict.fromkeys(Outcome, 0)
    total_drift = 0
    for result in results:
        counts[result.outcome] += 1
        total_drift += abs(result.drift or 0)
    return RunSummary(
        total=sum(counts.values()),
        matches=counts[Outcome.MATCH],
        mismatches=counts[Outcome.MISMATCH],
        errors=counts[Outcome.ERROR],
        total_drift=total_drift,
        threshold=threshold,
    )


# ---- Reading failures -------------------------------------------------------------------------


def read_failure(error: Exception) -> tuple[ReadFailure, int | None]:
    """Why a chain read raised ``error``, as a run records it: the reason and, for a contract
    error, its number when the error's code names exactly one (``escrow.CONTRACT_ERRORS``).
    ``Unavailable`` is the RPC being down or slow (a code naming a timeout: ``rpc_timeout``);
    ``ESCROW_NOT_RECOGNISED`` / ``ESCROW_NOT_INITIALISED``: no initialised escrow at the
    address; another domain error with a contract error's code: ``contract_error``; anything
    else (a bug or an undecodable answer): ``unreadable_answer``. The error's text is never
    kept."""
    if isinstance(error, Unavailable):
        timed_out = "TIMEOUT" in error.code.upper()
        return (ReadFailure.RPC_TIMEOUT if timed_out else ReadFailure.RPC_UNAVAILABLE), None
    if isinstance(error, LiquifactError):
        if error.code in _NOT_INITIALISED_CODES:
            return ReadFailure.NOT_INITIALISED, None
        numbers = _CONTRACT_ERROR_NUMBERS.get(error.code)
        if numbers is not None:
            return ReadFailure.CONTRACT_ERROR, numbers[0] if len(numbers) == 1 else None
    return ReadFailure.UNREADABLE_ANSWER, None


_NOT_INITIALISED_CODES = frozenset({"ESCROW_NOT_RECOGNISED", "ESCROW_NOT_INITIALISED"})


def _numbers_by_code() -> dict[str, tuple[int, ...]]:
    found: dict[str, list[int]] = {UNKNOWN_CONTRACT_ERROR.code: []}
    for number, rule in sorted(CONTRACT_ERRORS.items()):
        found.setdefault(rule.code, []).append(number)
    # The code of unlisted numbers names no number of its own.
    found[UNKNOWN_CONTRACT_ERROR.code].append(UNKNOWN_CONTRACT_ERROR.number)
    return {code: tuple(numbers) for code, numbers in found.items()}


_CONTRACT_ERROR_NUMBERS = _numbers_by_code()


# ---- Runs -------------------------------------------------------------------------------------

RUN_ID_PREFIX = "rec_"
RUN_ID_PATTERN = r"^rec_[A-Za-z0-9_]{1,120}$"
_RUN_ID = re.compile(RUN_ID_PATTERN[1:-1])


def parse_run_id(raw: object, field: str = "runId") -> str:
    """A run id as clients send it: ``rec_`` then 1-120 of [A-Za-z0-9_]; ValidationError
    (INVALID_RUN_ID) otherwise."""
    if not isinstance(raw, str) or not _RUN_ID.fullmatch(raw):
        raise ValidationError.for_field(
            field, "must be a run id: 'rec_' then up to 120 of [A-Za-z0-9_]", "INVALID_RUN_ID"
        )
    return raw


def run_not_found() -> NotFound:
    """The tenant has no such reconciliation run (another tenant's run answers the same)."""
    return NotFound("No such reconciliation run.", code="RECONCILIATION_RUN_NOT_FOUND")


@attrs.frozen
class RunResult:
    """One invoice of a run: the contract it was compared with (None when our books name
    none) and the result. Kept server-side: only the tenant's admins read it."""

    escrow_address: str | None
    check: InvoiceReconciliation

    @property
    def invoice_id(self) -> str:
        return self.check.invoice_id


@attrs.frozen
class ReconciliationRun:
    """One tenant's run: when it started and finished (timezone-aware UTC), its summary
    (counts, total absolute drift in stroops, the threshold it was judged by), whether it
    alerted (``summary.drift_alert`` when it ran) and its per-invoice results, ordered by
    invoice id (empty in listings, which carry summaries only)."""

    id: str
    tenant_id: str
    started_at: datetime
    finished_at: datetime
    summary: RunSummary
    alerted: bool
    results: tuple[RunResult, ...] = ()

    @classmethod
    def of(
        cls,
        run_id: str,
        tenant_id: str,
        started_at: datetime,
        finished_at: datetime,
        results: Iterable[RunResult],
        threshold: int,
    ) -> ReconciliationRun:
        """The run of ``results``, summarised and judged against ``threshold``."""
        ordered = tuple(sorted(results, key=lambda result: result.invoice_id))
        summary = summarize((result.check for result in ordered), threshold)
        return cls(
            run_id, tenant_id, started_at, finished_at, summary, summary.drift_alert, ordered
        )


@attrs.frozen
class RunPage:
    """One page of a tenant's runs, newest first (summaries only), and how many it has."""

    items: Sequence[ReconciliationRun]
    total: int
