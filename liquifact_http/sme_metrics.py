"""``GET /v1/sme/metrics``: invoice counts and amounts per status.

A ``Representation``: the class builds the JSON the route sends and the schema the OpenAPI
document shows (``schemas.response_schema``).
"""

from __future__ import annotations

from typing import Any

import attrs

from liquifact_core.amounts import MONEY_MAX_DIGITS
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.services.metrics import SmeMetrics
from liquifact_http.representations import money_text
from liquifact_http.response_fields import Representation, out

# Sums over many invoices may pass one invoice's 10^18 stroops limit.
STROOPS_SUM_PATTERN = "^(0|[1-9][0-9]{0,18})$"
AMOUNT_SUM_PATTERN = f"^(0|[1-9][0-9]{{0,{MONEY_MAX_DIGITS - 1}}})(\\.[0-9]+)?$"


def _stroops_sum(description: str) -> Any:
    return out(
        {"pattern": STROOPS_SUM_PATTERN, "description": description, "example": "12500000000"}
    )


@attrs.frozen
class StatusTotalsBody(Representation):
    """The invoices in one status: how many, and their summed amounts and stroops."""

    count: int = out({"minimum": 0})
    amounts: dict[str, str] = out(
        {
            "additionalProperties": {"type": "string", "pattern": AMOUNT_SUM_PATTERN},
            "description": "Summed invoice amounts per currency (exact decimal strings).",
        }
    )
    funding_target_stroops: str = _stroops_sum("Summed funding targets.")
    funded_stroops: str = _stroops_sum("Summed funded amounts.")


@attrs.frozen
class SmeMetricsBody(Representation):
    """Invoice counts and amounts per status (every status present, zero when empty)."""

    component = "SmeMetrics"

    scope: str = out({"enum": ["sme", "tenant"]})
    sme_id: str | None = out({"minLength": 1}, nullable=True)
    total_count: int = out({"minimum": 0})
    by_status: dict[str, StatusTotalsBody] = out(keys=[s.value for s in InvoiceStatus])

    @classmethod
    def of(cls, metrics: SmeMetrics) -> SmeMetricsBody:
        counts = dict.fromkeys(InvoiceStatus, 0)
        targets = dict.fromkeys(InvoiceStatus, 0)
        funded = dict.fromkeys(InvoiceStatus, 0)
        amounts: dict[InvoiceStatus, dict[str, str]] = {status: {} for status in InvoiceStatus}
        for row in metrics.totals:
            counts[row.status] += row.count
            targets[row.status] += row.funding_target_stroops
            funded[row.status] += row.funded_stroops
            amounts[row.status][row.currency] = money_text(row.amount, row.currency)
        return cls(
            scope=metrics.scope,
            sme_id=metrics.sme_id,
            total_count=sum(row.count for row in metrics.totals),
            by_status={
                status.value: StatusTotalsBody(
                    counts[status], amounts[status], str(targets[status]), str(funded[status])
                )
                for status in InvoiceStatus
            },
        )
