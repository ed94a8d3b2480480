"""Signed cursors with edge sort values over HTTP (issue 9, item 6): whoever knows the cursor
secret can sign any value, and an out-of-range one is 400 INVALID_CURSOR, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.marketplace import CursorCodec, Keyset, MarketplaceSearch
from liquifact_http.bootstrap import create_app
from liquifact_http.wire import structure_query
from tests.auth_helpers import test_settings
from tests.factories import new_tenant
from tests.http.openapi_validation import assert_matches_openapi
from tests.http.roles import as_caller, role_header_caller
from tests.http.test_marketplace_api import list_invoice

SECRET = "k" * 40
PARAMS = {"sortBy": "created_at", "limit": "5"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(
        test_settings(cursor_secret=SECRET),
        store=SqliteStore(str(tmp_path / "liquifact.sqlite3")),
        resolve_caller=role_header_caller,
    )
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5))),
    ],
    ids=["year 1 east of UTC", "year 9999 west of UTC"],
)
def test_out_of_range_created_at_is_400_invalid_cursor(
    client: TestClient, moment: datetime
) -> None:
    tenant = new_tenant()
    list_invoice(client, client.app, tenant)  # type: ignore[arg-type]
    search = structure_query(PARAMS.items(), MarketplaceSearch)
    cursor = CursorCodec(SECRET.encode()).encode(tenant, search, Keyset(moment, "inv_x1"))

    response = client.get(
        "/v1/marketplace", params={**PARAMS, "cursor": cursor}, headers=as_caller(tenant)
    )

    assert response.status_code == 400, response.text
    assert_matches_openapi(response)
    assert response.json()["code"] == "INVALID_CURSOR"
