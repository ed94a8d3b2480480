"""What a recorded reconciliation run means for operators: the spec's four metrics and the
drift alert log line (a ``ReconciliationObserver``, wired by ``bootstrap.build_services``).

The alert line is ``reconciliation_drift_alert`` at error level with the run's tenant and id,
``mismatches``, ``threshold``, ``errors``, ``total`` and ``reconciled_at``: counts only. The
spec's line also carries ``totalDrift``; it is left out so that no log line holds a tenant's
amounts (the run itself, for that tenant's admins, and the drift-magnitude gauge hold it).
"""

from __future__ import annotations

from collections.abc import Sequence

from liquifact_core.reconciliation import ReconciliationRun
from liquifact_http.logs import get_logger
from liquifact_http.metrics import Metrics

_log = get_logger("liquifact.reconciliation")


class ReconciliationReport:
    """Counts runs into ``metrics`` (when given) and logs each run, at error level with the
    alert event when it reached RECONCILIATION_DRIFT_THRESHOLD. Never raises."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._metrics = metrics

    def run_recorded(self, run: ReconciliationRun) -> None:
        summary = run.summary
        fields = {
            "tenant_id": run.tenant_id,
            "run_id": run.id,
            "total": summary.total,
            "matches": summary.matches,
            "mismatches": summary.mismatches,
            "errors": summary.errors,
            "threshold": summary.threshold,
            "reconciled_at": run.started_at.isoformat(),
        }
        if self._metrics is not None:
            self._metrics.reconciliation_mismatches.inc(summary.mismatches)
            if run.alerted:
                self._metrics.reconciliation_drift_alerts.inc()
        if run.alerted:
            _log.error("reconciliation_drift_alert", **fields)
        else:
            _log.info("reconciliation_run", **fields)

    def sweep_finished(self, runs: Sequence[ReconciliationRun]) -> None:
        if self._metrics is None:
            return
        self._metrics.reconciliation_mismatched_invoices.set(
            sum(run.summary.mismatches for run in runs)
        )
        self._metrics.reconciliation_drift_magnitude.set(
            sum(run.summary.total_drift for run in runs)
        )
