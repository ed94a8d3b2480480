"""Reconciliation runs over a SQL session, written once for SQLite and PostgreSQL
(``liquifact_core.ports.ReconciliationRepository``). Tables ``reconciliation_runs`` and
``reconciliation_results`` (migration 0010): a run's row and one row per invoice it compared.
"""

from __future__ import annotations

from typing import Any, ClassVar

from liquifact_adapters.sql.repositories import ConstraintViolation, Session
from liquifact_adapters.sql.rows import Params, Row, RowConverter
from liquifact_core import errors
from liquifact_core.reconciliation import (
    InvoiceReconciliation,
    ReadFailure,
    ReconciliationRun,
    RunPage,
    RunResult,
    RunSummary,
)

INSERT_RUN = """
INSERT INTO reconciliation_runs (id, tenant_id, started_at, finished_at, total, matches,
    mismatches, errors, total_drift_stroops, drift_threshold, alerted)
VALUES (:id, :tenant_id, :started_at, :finished_at, :total, :matches, :mismatches, :errors,
    :total_drift_stroops, :drift_threshold, :alerted)
"""
INSERT_RESULT = """
INSERT INTO reconciliation_results (run_id, tenant_id, invoice_id, escrow_address,
    store_funded_stroops, chain_funded_stroops, outcome, drift_stroops, failure, contract_error)
VALUES (:run_id, :tenant_id, :invoice_id, :escrow_address, :store_funded_stroops,
    :chain_funded_stroops, :outcome, :drift_stroops, :failure, :contract_error)
"""
SELECT_RUN = """
SELECT id, tenant_id, started_at, finished_at, total, matches, mismatches, errors,
    total_drift_stroops, drift_threshold, alerted
FROM reconciliation_runs WHERE tenant_id = :tenant_id AND id = :id
"""
SELECT_RESULTS = """
SELECT invoice_id, escrow_address, store_funded_stroops, chain_funded_stroops, failure,
    contract_error
FROM reconciliation_results WHERE tenant_id = :tenant_id AND run_id = :run_id
ORDER BY invoice_id
"""
LIST_RUNS = """
SELECT id, tenant_id, started_at, finished_at, total, matches, mismatches, errors,
    total_drift_stroops, drift_threshold, alerted
FROM reconciliation_runs WHERE tenant_id = :tenant_id
ORDER BY started_at DESC, id DESC LIMIT :limit OFFSET :offset
"""
# PostgreSQL compares ids in the "C" collation: code point order, as Python and SQLite.
LIST_RUNS_C = LIST_RUNS.replace("id DESC", 'id COLLATE "C" DESC')
SELECT_RESULTS_C = SELECT_RESULTS.replace("ORDER BY invoice_id", 'ORDER BY invoice_id COLLATE "C"')
COUNT_RUNS = "SELECT count(*) AS total FROM reconciliation_runs WHERE tenant_id = :tenant_id"


class SqlReconciliationRepository:
    """``ReconciliationRepository`` over a SQL session; a dialect names its converter and
    statements. Amounts go through the converter's stroop mapping (exact integer text on
    SQLite, integers on PostgreSQL) and come back with ``int()``."""

    rows: ClassVar[RowConverter]
    INSERT_RUN: ClassVar[str]
    INSERT_RESULT: ClassVar[str]
    SELECT_RUN: ClassVar[str]
    SELECT_RESULTS: ClassVar[str]
    LIST: ClassVar[str]
    COUNT: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, run: ReconciliationRun) -> None:
        self._session.check_tenant(run.tenant_id)
        try:
            self._session.write(self.INSERT_RUN, self._run_params(run))
        except ConstraintViolation as violation:
            # The id is the key, and (id, tenant_id) is unique too (the results' foreign key):
            # a dialect may report either.
            if violation.kind in ("primary_key", "unique"):
                raise errors.duplicate_reconciliation_run() from None
            raise
        for result in run.results:
            self._session.write(self.INSERT_RESULT, self._result_params(run, result))

    def get(self, tenant_id: str, run_id: str) -> ReconciliationRun | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(self.SELECT_RUN, {"tenant_id": tenant_id, "id": run_id})
        if not found:
            return None
        rows = self._session.fetch_all(
            self.SELECT_RESULTS, {"tenant_id": tenant_id, "run_id": run_id}
        )
        return self._run(found[0], tuple(self._result(row) for row in rows))

    def list(self, tenant_id: str, limit: int, offset: int) -> RunPage:
        self._session.check_tenant(tenant_id)
        params = {"tenant_id": tenant_id, "limit": limit, "offset": offset}
        rows = self._session.fetch_all(self.LIST, params)
        [count] = self._session.fetch_all(self.COUNT, {"tenant_id": tenant_id})
        return RunPage([self._run(row, ()) for row in rows], int(count["total"]))

    def _run_params(self, run: ReconciliationRun) -> Params:
        summary = run.summary
        return {
            "id": run.id,
            "tenant_id": run.tenant_id,
            "started_at": self.rows.timestamp_to_sql(run.started_at),
            "finished_at": self.rows.timestamp_to_sql(run.finished_at),
            "total": summary.total,
            "matches": summary.matches,
            "mismatches": summary.mismatches,
            "errors": summary.errors,
            "total_drift_stroops": self.rows.stroops_to_sql(summary.total_drift),
            "drift_threshold": summary.threshold,
            "alerted": run.alerted,
        }

    def _result_params(self, run: ReconciliationRun, result: RunResult) -> Params:
        check = result.check
        return {
            "run_id": run.id,
            "tenant_id": run.tenant_id,
            "invoice_id": check.invoice_id,
            "escrow_address": result.escrow_address,
            "store_funded_stroops": self.rows.stroops_to_sql(check.store_funded),
            "chain_funded_stroops": _amount(self.rows, check.chain_funded),
            "outcome": check.outcome.value,
            "drift_stroops": _amount(self.rows, check.drift),
            "failure": None if check.failure is None else check.failure.value,
            "contract_error": check.contract_error,
        }

    def _run(self, row: Row, results: tuple[RunResult, ...]) -> ReconciliationRun:
        return ReconciliationRun(
            id=str(row["id"]),
            tenant_id=str(row["tenant_id"]),
            started_at=self.rows.timestamp_from_sql(row["started_at"]),
            finished_at=self.rows.timestamp_from_sql(row["finished_at"]),
            summary=RunSummary(
                total=int(row["total"]),
                matches=int(row["matches"]),
                mismatches=int(row["mismatches"]),
                errors=int(row["errors"]),
                total_drift=int(row["total_drift_stroops"]),
                threshold=int(row["drift_threshold"]),
            ),
            alerted=bool(row["alerted"]),
            results=results,
        )

    @staticmethod
    def _result(row: Row) -> RunResult:
        chain = row["chain_funded_stroops"]
        failure = row["failure"]
        contract_error = row["contract_error"]
        check = InvoiceReconciliation(
            invoice_id=str(row["invoice_id"]),
            store_funded=int(row["store_funded_stroops"]),
            chain_funded=None if chain is None else int(chain),
            failure=None if failure is None else ReadFailure(failure),
            contract_error=None if contract_error is None else int(contract_error),
        )
        address = row["escrow_address"]
        return RunResult(None if address is None else str(address), check)


def _amount(rows: RowConverter, value: int | None) -> Any:
    # Chain amounts and drifts may exceed the invoices' 10^18 (the contract's i128, and a
    # drift is negative when the chain holds less): the stroop mapping, without its range.
    return None if value is None else rows.stroops_to_sql(value)
