"""Issue 9 item 12: the deprecated ``/api/...`` aliases answer any path exactly as ``/v1/...``
does, plus their Deprecation, Sunset and Link headers; no path makes either answer 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_from_bytes, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from liquifact_http.bootstrap import create_app
from liquifact_http.middleware.deprecation import DEPRECATION, SUNSET
from tests.auth_helpers import bearer, test_settings
from tests.http.asgi_driver import Exchange, call
from tests.http.conftest import HTTP_STORES

ADMIN = bearer("admin", "alias-tenant")["Authorization"]


@pytest.fixture
def alias_app(
    http_store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Starlette]:
    store = HTTP_STORES[http_store_kind](request, tmp_path)
    # Rate limits off: hundreds of requests from one address would end in 429s.
    yield create_app(test_settings(rate_limit_enabled=False), store=store)
    store.close()


def _comparable(answer: Exchange) -> tuple[int, Any]:
    try:
        body = answer.json()
    except ValueError:
        return answer.status, answer.body
    if isinstance(body, dict):
        body.pop("instance", None)
        body.pop("correlation_id", None)
    return answer.status, body


def _as_uvicorn_decodes(raw: str) -> str:
    """The ``path`` an ASGI server derives from a percent-encoded request target."""
    return unquote(raw, errors="replace")


# Suffixes after the prefix: real route shapes, text in any script (no surrogates: a server
# never decodes to one), percent-encoded text and raw bytes (invalid UTF-8 included).
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_SEGMENT = st.one_of(
    st.sampled_from(["invoices", "inv_X", "state", "history", "approve", "marketplace", ""]),
    _TEXT.map(lambda text: _as_uvicorn_decodes(quote(text, safe=""))),
    st.binary(max_size=8).map(lambda raw: _as_uvicorn_decodes(quote_from_bytes(raw, safe=""))),
    _TEXT,
)
_SUFFIX = st.lists(_SEGMENT, max_size=4).map(lambda parts: "/" + "/".join(parts))


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    suffix=_SUFFIX,
    method=st.sampled_from(["GET", "POST", "PATCH", "DELETE"]),
    credentials=st.booleans(),
)
def test_aliases_answer_any_path_like_the_canonical_route(
    alias_app: Starlette, suffix: str, method: str, credentials: bool
) -> None:
    headers = [("Authorization", ADMIN)] if credentials else []
    canonical = call(alias_app, method, "/v1" + suffix, headers=headers)
    alias = call(alias_app, method, "/api" + suffix, headers=headers)
    assert canonical.status < 500 and alias.status < 500, (suffix, alias.body)
    if suffix.startswith("/v1/") or suffix == "/v1":
        return  # /api/v1/... is no alias of anything (404), /v1/v1/... neither
    assert _comparable(alias) == _comparable(canonical), suffix
    assert alias.headers["deprecation"] == DEPRECATION
    assert alias.headers["sunset"] == SUNSET
    link = alias.headers["link"]
    assert link.isascii() and link.endswith('>; rel="successor-version"')
    assert unquote(link[1 : link.index(">")]) == "/v1" + suffix


def test_the_reported_euro_path_is_a_clean_401_with_alias_headers(alias_app: Starlette) -> None:
    alias = call(alias_app, "GET", "/api/invoices/\u20ac")
    assert alias.status == 401
    assert alias.headers["content-type"] == "application/problem+json"
    assert alias.json()["instance"] == "/api/invoices/\u20ac"
    assert alias.headers["link"] == '</v1/invoices/%E2%82%AC>; rel="successor-version"'
    assert json.loads(alias.body)["code"] == "AUTHENTICATION_REQUIRED"
