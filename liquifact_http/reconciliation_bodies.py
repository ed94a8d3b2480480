"""Response bodies of the reconciliation runs (``Representation``): the same classes give
the JSON and its schema in the document.

A run's list row is its summary (the spec's ``id``, ``total``, ``matches``, ``mismatches``,
``errors``, ``reconciled_at`` and ``created_at``, in camelCase, plus the drift, threshold and
alert); the detail adds the per-invoice results. No contract address appears in either (the
spec: no raw on-chain identifiers in any response); an admin finds an invoice's escrow on the
invoice itself.
"""

from __future__ import annotations

from typing import Any

import attrs

from liquifact_core.reconciliation import (
    DRIFT_THRESHOLD_MAX,
    RUN_ID_PATTERN,
    Outcome,
    ReadFailure,
    ReconciliationRun,
    RunPage,
    RunResult,
)
from liquifact_http.pages import PageMeta
from liquifact_http.representations import _at, timestamp
from liquifact_http.response_fields import Representation, out

_COUNT = {"minimum": 0}
_AMOUNT = "^(?:0|[1-9][0-9]*)$"
_SIGNED_AMOUNT = "^(?:0|-?[1-9][0-9]*)$"


def _summary_fields(run: ReconciliationRun) -> dict[str, Any]:
    summary = run.summary
    return {
        "id": run.id,
        "total": summary.total,
        "matches": summary.matches,
        "mismatches": summary.mismatches,
        "errors": summary.errors,
        "total_drift_stroops": str(summary.total_drift),
        "threshold": summary.threshold,
        "alerted": run.alerted,
        "reconciled_at": timestamp(run.started_at),
        "created_at": timestamp(run.finished_at),
    }


@attrs.frozen
class RunSummaryBody(Representation):
    """One reconciliation run of the tenant, without its per-invoice results."""

    component = "ReconciliationRun"

    id: str = out({"pattern": RUN_ID_PATTERN})
    total: int = out({**_COUNT, "description": "Invoices compared: matches + mismatches + errors."})
    matches: int = out({**_COUNT, "description": "Invoices whose amounts agree."})
    mismatches: int = out({**_COUNT, "description": "Invoices whose amounts differ."})
    errors: int = out({**_COUNT, "description": "Invoices whose escrow could not be read."})
    total_drift_stroops: str = out(
        {
            "pattern": _AMOUNT,
            "description": "Sum of |chain funded_amount - store funded total| over the run's "
            "invoices, in stroops.",
        }
    )
    threshold: int = out(
        {
            "minimum": 1,
            "maximum": DRIFT_THRESHOLD_MAX,
            "description": "RECONCILIATION_DRIFT_THRESHOLD when the run was judged.",
        }
    )
    alerted: bool = out({"description": "True when mismatches met or exceeded the threshold."})
    reconciled_at: str = out(_at("When the run started"))
    created_at: str = out(_at("When the run was recorded"))

    @classmethod
    def of(cls, run: ReconciliationRun) -> RunSummaryBody:
        return cls(**_summary_fields(run))


@attrs.frozen
class RunResultBody(Representation):
    """One invoice of a run."""

    component = "ReconciliationResult"

    invoice_id: str = out({"pattern": "^inv_[A-Za-z0-9_]{1,28}$"})
    outcome: str = out({"enum": [outcome.value for outcome in Outcome]})
    store_funded_stroops: str = out(
        {"pattern": _AMOUNT, "description": "Our books' funded total, in stroops."}
    )
    chain_funded_stroops: str | None = out(
        {
            "pattern": _AMOUNT,
            "description": "The contract's funded_amount, in stroops; null when it could not "
            "be read.",
        },
        nullable=True,
    )
    drift_stroops: str | None = out(
        {
            "pattern": _SIGNED_AMOUNT,
            "description": "chain - store in stroops (negative: the chain holds less); null "
            "for an error.",
        },
        nullable=True,
    )
    reason: str | None = out(
        {
            "enum": [failure.value for failure in ReadFailure],
            "description": "Why the escrow could not be read (errors only).",
        },
        nullable=True,
    )
    contract_error: int | None = out(
        {
            "minimum": 0,
            "description": "The contract's error number, for reason contract_error when known.",
        },
        nullable=True,
    )

    @classmethod
    def of(cls, item: RunResult) -> RunResultBody:
        check = item.check
        return cls(
            invoice_id=check.invoice_id,
            outcome=check.outcome.value,
            store_funded_stroops=str(check.store_funded),
            chain_funded_stroops=None if check.chain_funded is None else str(check.chain_funded),
            drift_stroops=None if check.drift is None else str(check.drift),
            reason=None if check.failure is None else check.failure.value,
            contract_error=check.contract_error,
        )


@attrs.frozen
class RunDetailBody(Representation):
    """One reconciliation run of the tenant with its per-invoice results (by invoice id)."""

    component = "ReconciliationRunDetail"

    id: str = out({"pattern": RUN_ID_PATTERN})
    total: int = out(_COUNT)
    matches: int = out(_COUNT)
    mismatches: int = out(_COUNT)
    errors: int = out(_COUNT)
    total_drift_stroops: str = out({"pattern": _AMOUNT})
    threshold: int = out({"minimum": 1, "maximum": DRIFT_THRESHOLD_MAX})
    alerted: bool = out()
    reconciled_at: str = out(_at("When the run started"))
    created_at: str = out(_at("When the run was recorded"))
    results: list[RunResultBody] = out()

    @classmethod
    def of(cls, run: ReconciliationRun) -> RunDetailBody:
        return cls(**_summary_fields(run), results=[RunResultBody.of(item) for item in run.results])


@attrs.frozen
class RunPageBody(Representation):
    """One page of the tenant's reconciliation runs, newest first."""

    component = "ReconciliationRunList"

    data: list[RunSummaryBody] = out()
    meta: PageMeta = out()

    @classmethod
    def of(cls, page: RunPage, number: int, limit: int) -> RunPageBody:
        return cls(
            data=[RunSummaryBody.of(run) for run in page.items],
            meta=PageMeta.by_number(page.total, number, limit),
        )
