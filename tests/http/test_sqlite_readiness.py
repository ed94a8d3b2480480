"""Readiness on SQLite while another process holds the database (issue 9, item 8): data
requests would wait for the lock and answer 503, so the probes must say not ready too."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from unittest.mock import ANY

import pytest
from starlette.testclient import TestClient

from liquifact_adapters.sqlite import SqliteStore
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import test_settings
from tests.http.openapi_validation import assert_matches_openapi

NOT_READY = {
    "status": "not_ready",
    "checks": {"database": {"status": "down", "error": "unavailable"}},
}


@pytest.mark.parametrize("path", ["/readyz", "/ready"])
def test_probes_are_not_ready_while_the_file_is_exclusively_locked(
    tmp_path: Path, path: str
) -> None:
    db_path = str(tmp_path / "liquifact.sqlite3")
    store = SqliteStore(db_path, ping_timeout_ms=50)
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        with TestClient(create_app(test_settings(), store=store)) as client:
            assert client.get(path).status_code == 200

            holder.execute("BEGIN EXCLUSIVE")
            locked = client.get(path)
            holder.execute("ROLLBACK")

            assert locked.status_code == 503
            assert_matches_openapi(locked)
            # /ready adds whether the cache is shared between processes (issue 9, item 8).
            # /ready names who decides KYC too (issue 15; no provider configured: the mock).
            mock = {"provider": "mock", "mockDefaultStatus": "verified", "warning": ANY}
            detail = {"cache": {"shared": False}, "kyc": mock}
            expected = NOT_READY if path == "/readyz" else {**NOT_READY, **detail}
            assert locked.json() == expected
            assert client.get(path).status_code == 200
    finally:
        holder.close()
        store.close()
