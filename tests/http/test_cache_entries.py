"""Cached responses: an entry decodes to the response stored, afresh on every hit, and the
parsed entries kept to spare the decoding stay within their bound."""

from __future__ import annotations

from starlette.responses import Response

from liquifact_http import caching


def _stored(body: bytes) -> bytes:
    response = Response(body, media_type="application/json", headers={"ETag": '"v1"'})
    return caching._encode(response)


def test_every_hit_is_a_fresh_copy_of_the_stored_response() -> None:
    raw = _stored(b'{"data":[]}')
    first = caching._decode(raw)
    first.headers["X-Cache"] = "HIT"
    second = caching._decode(raw)
    assert second is not first and "x-cache" not in second.headers
    assert second.body == b'{"data":[]}' and second.headers["etag"] == '"v1"'
    assert second.raw_headers == caching._decode(bytes(raw)).raw_headers  # an equal copy too


def test_parsed_entries_stay_within_their_bound() -> None:
    for n in range(40):
        caching._decode(_stored(b"x" * 400_000 + str(n).encode()))
    assert caching._parsed.currsize <= caching.PARSED_ENTRIES_MAX_BYTES
    assert len(caching._parsed) < 40
