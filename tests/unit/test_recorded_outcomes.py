"""What a keyed use case records (domain terms, not HTTP) and what each change event means
for cached reads."""

from __future__ import annotations

import pytest

from liquifact_adapters.cache.invalidation import CacheInvalidation, stale_prefixes
from liquifact_core import errors
from liquifact_core.changes import (
    CommitmentChanged,
    EscrowProjected,
    InvoiceChanged,
    ProfileChanged,
)
from liquifact_core.commitments import CommitmentValidationError
from liquifact_core.idempotency import (
    ErrorKind,
    RecordedError,
    RecordedOutcome,
    RequestInProgress,
)
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_http.problems import problem_from_error
from tests.contract.market_support import commitment, listed
from tests.service.test_read_invalidation import RecordingCache


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (errors.ValidationError.for_field("amount", "must be > 0", "RANGE"), ErrorKind.VALIDATION),
        (CommitmentValidationError("bad", code="INVALID_AMOUNT_RANGE"), ErrorKind.VALIDATION),
        (errors.Unauthenticated("who?"), ErrorKind.UNAUTHENTICATED),
        (errors.Forbidden("no", code="WALLET_MISMATCH"), ErrorKind.FORBIDDEN),
        (errors.NotFound("gone"), ErrorKind.NOT_FOUND),
        (errors.StaleVersion("old"), ErrorKind.STALE_VERSION),
        (errors.Conflict("full", code="FUNDING_EXCEEDS_CAPACITY"), ErrorKind.CONFLICT),
        (errors.InvalidTransition("pending", "funded", ["approved"]), ErrorKind.CONFLICT),
    ],
)
def test_a_recorded_error_answers_again_exactly_as_the_first(
    error: errors.LiquifactError, kind: ErrorKind
) -> None:
    recorded = RecordedError.of(error)
    assert recorded is not None and recorded.kind is kind
    again = recorded.to_error()
    assert (again.code, again.message, again.field_errors, again.retryable) == (
        error.code,
        error.message,
        error.field_errors,
        error.retryable,
    )
    # The shell answers a replay with the status and problem it gave the first time.
    first, replayed = problem_from_error(error), problem_from_error(again)
    assert (replayed.status, replayed.code, replayed.detail, replayed.field_errors) == (
        first.status,
        first.code,
        first.detail,
        first.field_errors,
    )
    assert replayed.status < 500


@pytest.mark.parametrize(
    "error",
    [
        errors.Unavailable("down"),  # not the request's fault: a retry must run again
        RequestInProgress("busy"),  # about the key, never the request's answer
        errors.LiquifactError("unclassified"),  # a 500: never recorded
    ],
)
def test_errors_a_retry_could_escape_are_never_recorded(error: errors.LiquifactError) -> None:
    assert RecordedError.of(error) is None


def test_an_outcome_holds_exactly_one_of_result_and_error() -> None:
    failure = RecordedError(ErrorKind.NOT_FOUND, "NOT_FOUND", "gone")
    with pytest.raises(ValueError, match="exactly one"):
        RecordedOutcome()
    with pytest.raises(ValueError, match="exactly one"):
        RecordedOutcome(result=commitment(listed("t")), error=failure)
    context = {"correlation_id": "c-1"}
    outcome = RecordedOutcome(error=failure, context=context)
    context["correlation_id"] = "changed later"
    assert outcome.context == {"correlation_id": "c-1"}  # a private copy


def test_each_change_drops_only_its_tenants_families() -> None:
    moved = InvoiceChanged("t-1", "inv_1", InvoiceStatus.APPROVED, InvoiceStatus.LINKED_ESCROW)
    funded = CommitmentChanged("t-1", "inv_1", "cmt_1", "GABC")
    projected = EscrowProjected("t-1", "inv_1")
    assert stale_prefixes(moved) == ("marketplace:t-1:", "escrow:t-1:inv_1:")
    assert stale_prefixes(funded) == ("investor:locks:t-1:", "investor:lock:t-1:")
    # A new projection changes only that invoice's escrow view; a profile only the pages.
    assert stale_prefixes(projected) == ("escrow:t-1:inv_1:",)
    assert stale_prefixes(ProfileChanged("t-1", "sme-1")) == ("marketplace:t-1:",)
    cache = RecordingCache()
    listener = CacheInvalidation(cache)
    listener.changed(moved)
    listener.changed(funded)
    listener.changed(projected)
    assert cache.invalidated == [
        "marketplace:t-1:",
        "escrow:t-1:inv_1:",
        "investor:locks:t-1:",
        "investor:lock:t-1:",
        "escrow:t-1:inv_1:",
    ]
