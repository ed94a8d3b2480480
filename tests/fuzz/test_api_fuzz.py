"""The fuzz stage of the gate (issue 9): every operation of ``/openapi.json``, in process, on
SQLite and once on PostgreSQL, as admin, SME and investor. See tests/fuzz/harness.py for what
is generated and sent; ``make fuzz`` runs this stage alone.

One run per (store, operation) feeds two tests:

- ``test_operation_answers_as_documented`` (gate): no server error, and every status code,
  content type, response header and response body is the one the document describes;
- ``test_document_and_api_accept_the_same_requests`` (gate): no schema-valid request
  rejected, no schema-violating request accepted. The one exception is a 400 whose every field
  error is a rule the document states in words because JSON Schema cannot (cross-field and
  principal-dependent rules, signed cursors: docs/architecture.md lists them,
  ``tests.http.openapi_validation.is_inexpressible`` recognises them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liquifact_adapters.postgres import PostgresStore, migrate
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.ports import Store
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import test_settings
from tests.fuzz.harness import (
    Budget,
    FuzzTarget,
    budget_from_env,
    document,
    document_operations,
    report,
    strict,
)
from tests.pg import fresh_database

pytestmark = pytest.mark.fuzz

OPERATIONS = document_operations()
# Examples per (operation, role, mode); sized so the whole stage stays under two minutes on a
# 2-core machine (measured in the Makefile's comment on `fuzz`).
BUDGETS = {"sqlite": Budget(examples=5), "postgres": Budget(examples=2)}
NO_LIMITS = 10**9  # the stage sends thousands of requests as three principals


def _target(name: str, store: Store) -> FuzzTarget:
    settings = test_settings(
        log_level="warning",
        rate_limit_max_requests=NO_LIMITS,
        rate_limit_sensitive_max=NO_LIMITS,
        rate_limit_api_key_max=NO_LIMITS,
    )
    app = create_app(settings, store=store)
    return FuzzTarget(name, app, f"fuzz-{name}", budget_from_env(BUDGETS[name]))


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite3"
        sqlite = SqliteStore(str(path))
        fuzz = _target("sqlite", sqlite)
        yield fuzz
        fuzz.close()
        sqlite.close()
        return
    with fresh_database("liquifact_fuzz") as url:
        migrate(url)
        postgres = PostgresStore(url, pool_max_size=4)
        fuzz = _target("postgres", postgres)
        yield fuzz
        fuzz.close()
        postgres.close()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_operation_answers_as_documented(target: FuzzTarget, operation: str) -> None:
    """No 5xx, and status, content type, headers and body as documented, for any request."""
    failures = strict(target.findings(operation))
    assert not failures, report(failures)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_document_and_api_accept_the_same_requests(target: FuzzTarget, operation: str) -> None:
    """The API accepts every request the document allows and refuses every one it forbids."""
    failures = document(target.findings(operation))
    assert not failures, report(failures)


def test_the_stage_covers_every_operation_and_the_aliases() -> None:
    """The parametrisation is the served document's operation list, /api aliases included."""
    assert "POST /v1/invest/fund-invoice" in OPERATIONS
    assert "POST /api/invest/fund-invoice" in OPERATIONS
    assert len(OPERATIONS) == len(set(OPERATIONS)) >= 40
