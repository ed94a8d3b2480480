"""``set_headers`` does exactly what Starlette's ``MutableHeaders`` item assignment does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import MutableHeaders

from liquifact_http.middleware.response_headers import header_pair, set_headers

_NAMES = st.sampled_from(["Vary", "X-Correlation-Id", "cache-control", "X-Frame-Options", "etag"])
_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8)
_PAIRS = st.lists(st.tuples(_NAMES, _VALUES), max_size=6)


@given(existing=_PAIRS, wanted=_PAIRS)
def test_set_headers_matches_mutable_headers(
    existing: list[tuple[str, str]], wanted: list[tuple[str, str]]
) -> None:
    raw = [header_pair(name, value) for name, value in existing]
    expected = {"type": "http.response.start", "status": 200, "headers": tuple(raw)}
    headers = MutableHeaders(scope=expected)
    for name, value in wanted:
        headers[name] = value
    actual = {"type": "http.response.start", "status": 200, "headers": tuple(raw)}
    set_headers(actual, [header_pair(name, value) for name, value in wanted])
    assert actual["headers"] == expected["headers"]
