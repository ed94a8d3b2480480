"""A run's record and what a failed chain read is recorded as: the run summarises its
results, sorted by invoice id, and alerts exactly as the threshold rule says; a read failure
becomes a reason from the fixed vocabulary (with the contract's error number when its code
names one), never the error's text; run ids have one shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.amounts import STROOPS_MAX
from liquifact_core.errors import Conflict, Forbidden, Unavailable, Unprocessable, ValidationError
from liquifact_core.escrow import CONTRACT_ERRORS, UNKNOWN_CONTRACT_ERROR, contract_error
from liquifact_core.reconciliation import (
    ReadFailure,
    ReconciliationRun,
    RunResult,
    breaches_threshold,
    compare,
    failed,
    parse_run_id,
    read_failure,
)

T0 = datetime(2026, 6, 25, 2, 0, tzinfo=UTC)
amounts = st.integers(0, STROOPS_MAX)
invoice_ids = st.from_regex(r"inv_[A-Za-z0-9]{1,8}", fullmatch=True)
results = st.one_of(
    st.builds(lambda i, s, c: RunResult("C", compare(i, s, c)), invoice_ids, amounts, amounts),
    st.builds(
        lambda i, s, f: RunResult(None, failed(i, s, f)),
        invoice_ids,
        amounts,
        st.sampled_from([f for f in ReadFailure if f is not ReadFailure.CONTRACT_ERROR]),
    ),
)


@given(st.lists(results, max_size=30), st.integers(1, 50))
def test_a_run_summarises_its_results_in_invoice_order(
    items: list[RunResult], threshold: int
) -> None:
    run = ReconciliationRun.of("rec_1", "t", T0, T0 + timedelta(seconds=1), items, threshold)

    assert [r.invoice_id for r in run.results] == sorted(r.invoice_id for r in items)
    summary = run.summary
    assert summary.total == len(items) == summary.matches + summary.mismatches + summary.errors
    assert summary.total_drift == sum(abs(r.check.drift or 0) for r in items)
    assert run.alerted is breaches_threshold(summary.mismatches, threshold)


def test_every_read_failure_is_a_reason_never_a_text() -> None:
    timeout = Unavailable("RPC call timed out after 10 s", code="SOROBAN_RPC_TIMEOUT")
    assert read_failure(Unavailable("connection refused to 10.0.0.5")) == (
        ReadFailure.RPC_UNAVAILABLE,
        None,
    )
    assert read_failure(timeout) == (ReadFailure.RPC_TIMEOUT, None)
    not_an_escrow = Unprocessable("no escrow", code="ESCROW_NOT_RECOGNISED")
    assert read_failure(not_an_escrow) == (ReadFailure.NOT_INITIALISED, None)
    assert read_failure(contract_error(20)) == (ReadFailure.NOT_INITIALISED, None)
    assert read_failure(ValueError("bad XDR")) == (ReadFailure.UNREADABLE_ANSWER, None)
    assert read_failure(Forbidden("no")) == (ReadFailure.UNREADABLE_ANSWER, None)


@pytest.mark.parametrize("number", sorted(n for n in CONTRACT_ERRORS if n != 20))
def test_a_contract_error_keeps_its_number_when_its_code_names_one(number: int) -> None:
    code = CONTRACT_ERRORS[number].code
    sharing = [n for n, rule in CONTRACT_ERRORS.items() if rule.code == code]
    if code == UNKNOWN_CONTRACT_ERROR.code:  # also what an unlisted number answers
        sharing.append(UNKNOWN_CONTRACT_ERROR.number)

    reason, kept = read_failure(contract_error(number))

    assert reason is ReadFailure.CONTRACT_ERROR
    assert kept == (number if sharing == [number] else None)


def test_an_unknown_contract_error_is_a_contract_error_without_a_number() -> None:
    assert read_failure(contract_error(9999)) == (ReadFailure.CONTRACT_ERROR, None)
    assert read_failure(Conflict("x", code="DUPLICATE_JOB"))[0] is ReadFailure.UNREADABLE_ANSWER


@pytest.mark.parametrize("raw", ["rec_01JABC", "rec_" + "a" * 120, "rec_x_y"])
def test_run_ids_parse(raw: str) -> None:
    assert parse_run_id(raw) == raw


@pytest.mark.parametrize("raw", ["", "rec_", "job_1", "rec_" + "a" * 121, "rec_a-b", 5, None])
def test_other_run_ids_are_refused(raw: object) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_run_id(raw)
    assert refused.value.field_errors[0].code == "INVALID_RUN_ID"
