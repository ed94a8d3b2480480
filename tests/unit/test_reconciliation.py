"""Reconciliation rules: match, mismatch, drift, error, the run summary and the alert threshold."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.amounts import STROOPS_MAX
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.reconciliation import (
    DEFAULT_DRIFT_THRESHOLD,
    InvoiceReconciliation,
    Outcome,
    ReadFailure,
    breaches_threshold,
    compare,
    failed,
    is_reconciled,
    parse_drift_threshold,
    summarize,
)

amounts = st.integers(0, STROOPS_MAX)
results = st.one_of(
    st.builds(compare, st.just("inv_a"), amounts, amounts),
    st.builds(failed, st.just("inv_b"), amounts, st.sampled_from(list(ReadFailure))),
)
thresholds = st.integers(1, 1000)


def test_the_spec_reconciles_linked_partially_funded_and_funded_invoices() -> None:
    assert {s for s in InvoiceStatus if is_reconciled(s)} == {
        InvoiceStatus.LINKED_ESCROW,
        InvoiceStatus.PARTIALLY_FUNDED,
        InvoiceStatus.FUNDED,
    }


def test_a_match_a_mismatch_and_an_error() -> None:
    match = compare("inv_1", 1000, 1000)
    assert (match.outcome, match.drift, match.drift_fraction) == (Outcome.MATCH, 0, Fraction(0))
    mismatch = compare("inv_2", 2000, 1990)
    assert (mismatch.outcome, mismatch.drift) == (Outcome.MISMATCH, -10)
    assert mismatch.drift_fraction == Fraction(-10, 2000)
    error = failed("inv_3", 500, ReadFailure.CONTRACT_ERROR, contract_error=20)
    assert (error.outcome, error.drift, error.drift_fraction) == (Outcome.ERROR, None, None)
    assert (error.failure, error.contract_error) == (ReadFailure.CONTRACT_ERROR, 20)
    summary = summarize([match, mismatch, error])
    assert (summary.total, summary.matches, summary.mismatches, summary.errors) == (3, 1, 1, 1)
    assert summary.total_drift == 10
    assert summary.threshold == DEFAULT_DRIFT_THRESHOLD == 1
    assert summary.drift_alert


def test_an_empty_or_clean_run_raises_no_alert() -> None:
    assert summarize([]).total == 0
    assert not summarize([]).drift_alert
    assert not summarize(
        [compare("inv_1", 5, 5), failed("x", 1, ReadFailure.RPC_TIMEOUT)]
    ).drift_alert


def test_a_failure_reason_is_one_of_a_fixed_vocabulary() -> None:
    assert {f.value for f in ReadFailure} == {
        "rpc_unavailable",
        "rpc_timeout",
        "escrow_not_initialised",
        "contract_error",
        "unreadable_answer",
        "no_escrow_address",
    }
    with pytest.raises(ValueError, match="contract error number"):
        failed("inv_1", 0, ReadFailure.RPC_TIMEOUT, contract_error=102)


@pytest.mark.parametrize(
    ("store", "chain", "failure"),
    [
        (-1, 0, None),
        (STROOPS_MAX + 1, 0, None),
        (0, -1, None),
        (0, None, None),  # neither an amount nor a failure
        (0, 5, ReadFailure.RPC_TIMEOUT),  # both
    ],
)
def test_impossible_results_are_refused(
    store: int, chain: int | None, failure: ReadFailure | None
) -> None:
    with pytest.raises(ValueError, match=r"."):
        InvoiceReconciliation("inv_1", store, chain_funded=chain, failure=failure)


@given(amounts, amounts)
def test_match_exactly_when_the_amounts_are_equal(store: int, chain: int) -> None:
    result = compare("inv_1", store, chain)
    assert (result.outcome is Outcome.MATCH) == (store == chain)
    assert (result.outcome is Outcome.MISMATCH) == (store != chain)
    assert (result.drift == 0) == (store == chain)


@given(amounts, amounts)
def test_drift_is_chain_minus_store_and_antisymmetric(store: int, chain: int) -> None:
    forward = compare("inv_1", store, chain)
    backward = compare("inv_1", chain, store)
    assert forward.drift == chain - store
    assert backward.drift == -(forward.drift or 0)
    assert forward.drift_fraction == -(backward.drift_fraction or 0)


@given(amounts, amounts)
def test_drift_fraction_is_bounded_and_signed_like_the_drift(store: int, chain: int) -> None:
    result = compare("inv_1", store, chain)
    fraction = result.drift_fraction
    drift = result.drift
    assert fraction is not None and drift is not None
    assert -1 <= fraction <= 1
    assert (fraction > 0) == (drift > 0) and (fraction < 0) == (drift < 0)
    assert abs(fraction) == 1 or min(store, chain) > 0 or store == chain


@given(st.lists(results, max_size=60), thresholds)
def test_summary_counts_add_up(items: list[InvoiceReconciliation], threshold: int) -> None:
    summary = summarize(items, threshold)
    assert summary.total == len(items)
    assert summary.matches + summary.mismatches + summary.errors == summary.total
    assert summary.mismatches == sum(r.outcome is Outcome.MISMATCH for r in items)
    assert summary.errors == sum(r.chain_funded is None for r in items)
    assert summary.total_drift == sum(abs(r.drift or 0) for r in items)
    assert summary.drift_alert == (summary.mismatches >= threshold)


@given(st.lists(results, max_size=60), st.lists(results, max_size=60), thresholds)
def test_summaries_of_parts_add_up_to_the_whole(
    a: list[InvoiceReconciliation], b: list[InvoiceReconciliation], threshold: int
) -> None:
    left, right, whole = (
        summarize(a, threshold),
        summarize(b, threshold),
        summarize(a + b, threshold),
    )
    assert whole.total == left.total + right.total
    assert whole.mismatches == left.mismatches + right.mismatches
    assert whole.total_drift == left.total_drift + right.total_drift
    assert whole.drift_alert >= max(left.drift_alert, right.drift_alert)  # more never un-alerts


@given(st.integers(0, 10_000), thresholds, thresholds)
def test_a_lower_threshold_alerts_at_least_as_often(mismatches: int, t1: int, t2: int) -> None:
    low, high = sorted((t1, t2))
    assert breaches_threshold(mismatches, high) <= breaches_threshold(mismatches, low)
    assert breaches_threshold(mismatches, low) == (mismatches >= low)


def test_the_threshold_setting_is_a_positive_integer() -> None:
    assert parse_drift_threshold(" 3 ") == 3
    for bad in ("0", "-1", "1.5", "two", "", "²", "1000001"):
        with pytest.raises(ValueError, match="integer"):
            parse_drift_threshold(bad)
    with pytest.raises(ValueError, match="threshold"):
        summarize([], 0)
