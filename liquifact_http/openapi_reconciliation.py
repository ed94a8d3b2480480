"""The OpenAPI entries of the reconciliation runs (issue 12, item 8). Built with the helpers
of ``liquifact_http.openapi``, which merges these into the document."""

from __future__ import annotations

from liquifact_core.reconciliation import RUN_ID_PATTERN
from liquifact_core.services.reconciliation import RunsQuery
from liquifact_http import reconciliation_bodies as bodies
from liquifact_http.openapi import Component, Object, _json_response, _operation, _schema, response
from liquifact_http.openapi_auth import _errors
from liquifact_http.routes.reconciliation import RUNS_PATH

_TAG = "Reconciliation"
_STORE_DOWN = "The data store is unavailable; retry later with backoff."
_TENANT = "A missing or invalid X-Tenant-Id header, or an unknown parameter."


def components() -> dict[str, Component]:
    """The object schemas of these routes, with the classes they are generated from."""
    return {
        **response(bodies.RunSummaryBody, "A reconciliation run of the tenant (summary)."),
        **response(bodies.RunResultBody, "One invoice of a reconciliation run."),
        **response(bodies.RunDetailBody, "A reconciliation run of the tenant with its results."),
        **response(bodies.RunPageBody, "The tenant's reconciliation runs, newest first."),
    }


def parameters() -> Object:
    return {
        "RunId": {
            "name": "runId",
            "in": "path",
            "required": True,
            "description": "A reconciliation run's id (else 400 INVALID_RUN_ID).",
            "schema": {"type": "string", "pattern": RUN_ID_PATTERN, "maxLength": 124},
        },
    }


def paths() -> Object:
    return {
        RUNS_PATH: {
            "get": _operation(
                "listReconciliationRuns",
                "List the tenant's reconciliation runs",
                _TAG,
                {
                    "200": _json_response(
                        "One page of runs (summaries; no per-invoice results).",
                        _schema("ReconciliationRunList"),
                    ),
                    **_errors({400: "Invalid page or limit. Or: " + _TENANT, 503: _STORE_DOWN}),
                },
                description="Runs compare the store's funded total with the escrow contract's "
                "`funded_amount` for every invoice in `linked_escrow`, `partially_funded` or "
                "`funded` (nightly at 02:00 UTC, or `liquifact reconcile`). Newest first.",
                parameters=("TenantId",),
                query=RunsQuery,
                query_notes={"page": "Page number, from 1.", "limit": "Runs per page."},
            )
        },
        f"{RUNS_PATH}/{{runId}}": {
            "get": _operation(
                "getReconciliationRun",
                "One reconciliation run with its per-invoice results",
                _TAG,
                {
                    "200": _json_response(
                        "The run and its results, by invoice id.",
                        _schema("ReconciliationRunDetail"),
                    ),
                    **_errors(
                        {
                            400: "The run id is not `rec_` and 1-120 of [A-Za-z0-9_] "
                            "(INVALID_RUN_ID). Or: " + _TENANT,
                            404: "The tenant has no such run (RECONCILIATION_RUN_NOT_FOUND).",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                parameters=("TenantId", "RunId"),
            )
        },
    }


TAGS = [
    {
        "name": _TAG,
        "description": "Our books against the escrow contracts: the tenant's reconciliation "
        "runs (admins).",
    },
]
