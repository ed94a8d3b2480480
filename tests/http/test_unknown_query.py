"""No route ignores a query parameter: an operation whose document names no query parameters
answers 400 UNKNOWN_FIELD to any, before it reads a body or a store (issue 10 attack: detail
and history answered 200 and ignored them)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.access import access_for
from liquifact_http.bootstrap import create_app
from liquifact_http.openapi import openapi_document
from tests.auth_helpers import bearer, test_settings
from tests.factories import account_address
from tests.http.openapi_validation import assert_matches_openapi

# Values that satisfy each path parameter's pattern (nothing needs to exist: the query is
# refused first).
PATH_VALUES = {
    "id": "inv_01M8R0RA38VGM1YWTAZ342AME4",
    "invoiceId": "inv_01M8R0RA38VGM1YWTAZ342AME4",
    "address": account_address(),
    "jobId": "job_01M8R0RA38VGM1YWTAZ342AME4",
    "runId": "rec_01M8R0RA38VGM1YWTAZ342AME4",
    "commitmentId": "cmt_01M8R0RA38VGM1YWTAZ342AME4",
    "subject": "sme-1",
    "fileId": "fil_01M8R0RA38VGM1YWTAZ342AME4",
    "token": "e30." + "A" * 43,
    "policyId": "rpol_01M8R0RA38VGM1YWTAZ342AME4",
    "holdId": "hold_01M8R0RA38VGM1YWTAZ342AME4",
}
WITHOUT_QUERY = [
    (path, method)
    for path, item in openapi_document()["paths"].items()
    for method, operation in item.items()
    if path.startswith("/v1/")
    and not any(
        parameter.get("in") == "query"
        for parameter in operation.get("parameters", [])
        if "$ref" not in parameter
    )
]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(test_settings(rate_limit_enabled=False), store=InMemoryStore())
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(("path", "method"), WITHOUT_QUERY)
def test_an_unknown_query_parameter_is_refused(client: TestClient, path: str, method: str) -> None:
    access = access_for(path, method.upper())
    headers = {}
    if not access.public:
        role = sorted(access.roles)[0].value
        headers = bearer(role, "acme", "u-1", wallet=account_address())
    url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path) + "?surprise=1"
    response = client.request(method.upper(), url, headers=headers)
    assert response.status_code == 400, (method, path, response.text)
    problem = response.json()
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("surprise", "UNKNOWN_FIELD")]
    assert_matches_openapi(response)
