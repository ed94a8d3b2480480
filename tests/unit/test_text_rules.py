"""The text rules (docs/security.md "Text rules"): the core's parsers and the HTTP edge's
body and query checks, example by example and as properties over arbitrary text."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from liquifact_core import validation as v
from liquifact_core.errors import ValidationError
from liquifact_http.bodies import parse_json
from liquifact_http.problems import Problem
from liquifact_http.text_guard import json_path, query_text_errors

# Any code point, lone surrogates included (what a JSON "\ud800" escape decodes to).
any_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF))
FORBIDDEN_ONE_LINE = {"Cc", "Cf", "Cs", "Zl", "Zp"}
FORBIDDEN_KEYS = {"__proto__", "constructor", "prototype"}
# Half arbitrary, half without the refused categories: enough accepted values to check.
mostly_text = any_text | st.text(
    alphabet=st.characters(exclude_categories=["Cc", "Cf", "Cs", "Zl", "Zp"]).filter(
        lambda ch: not v.is_invisible(ch)
    )
)


def _accepted(parse: Any, raw: str) -> str | None:
    """What ``parse`` makes of ``raw``, or None when it refuses it."""
    try:
        value: str = parse(raw)
    except ValidationError:
        return None
    return value


def code_of(parse: Any, raw: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        parse(raw)
    return raised.value.code


# ---- storable text ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["\ud800", "a\udfff", "\udbff\udc00"[::-1], "\x00", "ok\x00"])
def test_surrogates_and_nul_are_not_storable(raw: str) -> None:
    assert not v.is_storable_text(raw)


@pytest.mark.parametrize("raw", ["", "plain", "\U0001f600", "\ufeff\u200b", "\x07\n", "\uffff"])
def test_scalar_values_without_nul_are_storable(raw: str) -> None:
    assert v.is_storable_text(raw)


@given(any_text)
def test_storable_text_is_exactly_what_utf8_and_postgres_can_hold(raw: str) -> None:
    try:
        raw.encode("utf-8")
        encodable = True
    except UnicodeEncodeError:
        encodable = False
    assert v.is_storable_text(raw) == (encodable and "\x00" not in raw)


# ---- one-line text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "INV-\u200b6B0F0",  # zero-width space
        "\ufeffINV-6B0F0",  # byte-order mark
        "INV-6B0F0\u202e",  # right-to-left override
        "INV-6B0F0\u2060",  # word joiner
        "INV-\u2066x\u2069",  # left-to-right isolate ... pop directional isolate
        "INV-\u00ad1",  # soft hyphen
        "INV-\U000e0041",  # tag character
        "\u200b\u200b",  # a name of two zero-width spaces
        "INV\n1",
        "INV\t1",
        "INV\x1b1",
        "INV\x851",  # C1 next line
        "INV\u20281",  # line separator
        "INV\u20291",  # paragraph separator
        "INV-\ud800",
        "INV-\x00",
    ],
)
def test_one_line_text_refuses_invisible_control_and_unstorable_characters(raw: str) -> None:
    assert code_of(v.text(1, 100), raw) == v.INVALID_TEXT


@pytest.mark.parametrize("raw", ["", "   ", "\u3000\u2003", "\n\t "])
def test_one_line_text_blank_after_normalisation_is_refused_by_length(raw: str) -> None:
    assert code_of(v.text(1, 100), raw) == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("e\u0301", "\u00e9"),
        ("  Cafe\u0301 Ltd \n", "Caf\u00e9 Ltd"),
        ("\u212b", "\u00c5"),  # ANGSTROM SIGN has the canonical equivalent A WITH RING
        ("\uff21\u00a0B", "\uff21\u00a0B"),  # compatibility forms are kept (NFC, not NFKC)
        ("Zo\u00eb \U0001f600", "Zo\u00eb \U0001f600"),
    ],
)
def test_one_line_text_is_stored_in_nfc(raw: str, stored: str) -> None:
    assert v.text(1, 100)(raw) == stored


def test_length_counts_characters_after_normalisation() -> None:
    assert v.text(1, 3)("e\u0301" * 3) == "\u00e9" * 3
    assert code_of(v.text(1, 3), "\u00e9" * 4) == "VALIDATION_ERROR"


@given(mostly_text)
def test_accepted_one_line_text_is_clean_nfc_and_stable(raw: str) -> None:
    value = _accepted(v.text(0, 10_000), raw)
    assume(value is not None)  # a refused value broke a rule the checks below restate
    assert value is not None
    assert v.is_storable_text(value)
    assert unicodedata.is_normalized("NFC", value)
    assert value == value.strip(v.TRIMMED)
    assert not {unicodedata.category(ch) for ch in value} & FORBIDDEN_ONE_LINE
    assert not any(v.is_invisible(ch) for ch in value)
    assert v.text(0, 10_000)(value) == value


# Invisible characters outside Cf, found by an outside attack: appended to an invoice number
# they made a second "KSS-1"; alone they made a blank buyer name look filled.
INVISIBLE_SAMPLES = ["\u3164", "\u115f", "\u1160", "\u034f", "\ufe0f", "\u2800", "\uffa0",
                     "\u180b", "\U000e0100"]  # fmt: skip


@pytest.mark.parametrize("invisible", INVISIBLE_SAMPLES)
@pytest.mark.parametrize(
    "parse", [v.text(1, 50), v.multiline_text(1, 50), v.email], ids=["text", "multiline", "email"]
)
def test_invisible_characters_are_refused_anywhere(parse: Any, invisible: str) -> None:
    for raw in (f"KSS-1{invisible}", invisible, f"K{invisible}SS@b.example"):
        assert code_of(parse, raw) == v.INVALID_TEXT, repr(raw)


@pytest.mark.parametrize("control", ["\x1c", "\x1d", "\x1e", "\x1f", "\x85"])
def test_controls_at_the_ends_are_refused_not_trimmed(control: str) -> None:
    # Python's str.strip counts these as whitespace; the text rules refuse every control.
    assert code_of(v.text(1, 50), f"{control}B{control}") == v.INVALID_TEXT
    assert code_of(v.multiline_text(1, 50), f"B{control}") == v.INVALID_TEXT


def test_space_separators_and_ascii_whitespace_are_trimmed() -> None:
    assert v.text(1, 50)("\t\u3000\u00a0 B \u2003\r\n") == "B"


# ---- multi-line text -------------------------------------------------------------------------


def test_multiline_text_keeps_line_breaks_and_tabs() -> None:
    assert v.multiline_text(0, 100)(" a\r\n\tb\nc ") == "a\r\n\tb\nc"


@pytest.mark.parametrize("raw", ["a\x07b", "a\x00b", "a\ud800", "a\u200bb", "a\u2028b", "a\x0cb"])
def test_multiline_text_refuses_other_controls_and_invisible_characters(raw: str) -> None:
    assert code_of(v.multiline_text(0, 100), raw) == v.INVALID_TEXT


@given(mostly_text)
def test_accepted_multiline_text_is_clean_nfc(raw: str) -> None:
    value = _accepted(v.multiline_text(0, 10_000), raw)
    assume(value is not None)
    assert value is not None
    assert unicodedata.is_normalized("NFC", value)
    bad = {ch for ch in value if unicodedata.category(ch) in FORBIDDEN_ONE_LINE}
    assert bad <= {"\n", "\r", "\t"}


# ---- email and reasons -----------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["a\ud800@b.example", "a\x00@b.example", "a\u200b@b.example"])
def test_an_email_with_bad_characters_is_refused_as_text(raw: str) -> None:
    assert code_of(v.email, raw) == v.INVALID_TEXT


def test_an_email_is_stored_in_nfc() -> None:
    # RFC 6532 section 3.1: internationalised addresses should be in NFC.
    assert v.email("jose\u0301@b.example") == "jos\u00e9@b.example"


def test_a_reason_strips_controls_and_normalises() -> None:
    assert v.reason("\x00 Paid\x07 cafe\u0301\n") == "Paid caf\u00e9"


@pytest.mark.parametrize(
    "raw", ["Paid \ud800", "\u200bPaid", "Paid\u202e", "Pa\u2028id", "Paid\u3164", "\u2800"]
)
def test_a_reason_refuses_surrogates_and_invisible_characters(raw: str) -> None:
    with pytest.raises(ValidationError) as raised:
        v.reason(raw)
    assert [(e.field, e.code) for e in raised.value.field_errors] == [("reason", v.INVALID_TEXT)]


def test_a_reason_of_controls_only_is_still_blank() -> None:
    with pytest.raises(ValidationError) as raised:
        v.reason("\x00\x07\n")
    assert raised.value.field_errors[0].code == "INVALID_REASON"


# ---- metadata --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"note": "a\x00"}, "at note"),
        ({"a": [1, {"b": "\ud800"}]}, "at a/1/b"),
        ({"a/b": {"\udfff": 1}}, "at a~1b/\\udfff"),
        ({"\x00": None}, "at \\u0000"),
    ],
)
def test_metadata_refuses_unstorable_keys_and_strings_at_any_depth(
    raw: dict[str, Any], where: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        v.json_object(raw)
    assert raised.value.code == v.INVALID_TEXT
    assert raised.value.message.endswith(f"({where})")


@pytest.mark.parametrize(
    "raw",
    [{1: "x"}, {"a": float("nan")}, {"a": [float("inf")]}, {"a": {1, 2}}, {"a": b"x"}],
)
def test_metadata_refuses_what_json_cannot_carry(raw: dict[Any, Any]) -> None:
    assert code_of(v.json_object, raw) == "VALIDATION_ERROR"


def test_metadata_depth_is_bounded_without_recursion() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(10_000):
        node["k"] = {}
        node = node["k"]
    with pytest.raises(ValidationError, match="nested at most"):
        v.json_object(deep)


def test_metadata_is_returned_as_a_plain_json_copy() -> None:
    raw: dict[str, Any] = {"note": "e\u0301\u200b", "t": (1, 2), "n": {"x": [True, None, 2.5]}}
    copy = v.json_object(raw)
    assert copy == {"note": "e\u0301\u200b", "t": [1, 2], "n": {"x": [True, None, 2.5]}}
    copy["n"]["x"].append(1)
    assert raw["n"]["x"] == [True, None, 2.5]  # the caller's object is not shared


def test_a_field_gets_the_text_code_of_a_parser() -> None:
    with pytest.raises(ValidationError) as raised:
        v.text(1, 10)("\u200b")
    assert raised.value.message == (
        "must not contain control, format (invisible) or line separator characters"
    )
    assert v.field_code(raised.value) == v.INVALID_TEXT
    with pytest.raises(ValidationError) as raised:
        v.text(1, 10)("x" * 11)
    assert v.field_code(raised.value) == "INVALID_VALUE"


# ---- the HTTP body parser --------------------------------------------------------------------


def refused_paths(body: str) -> list[str]:
    with pytest.raises(Problem) as raised:
        parse_json(body.encode())
    assert raised.value.status == 400
    assert {e.code for e in raised.value.field_errors} == {v.INVALID_TEXT}
    return [e.field for e in raised.value.field_errors]


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ('{"a": "\\ud800"}', ["a"]),
        ('{"a": "\\udfff"}', ["a"]),
        ('{"a": "\\ud800\\u0041"}', ["a"]),
        ('{"a": "\\ud800\\ud800"}', ["a"]),
        ('{"a": "\\u0000"}', ["a"]),
        ('{"a": {"b": [0, "\\u0000"]}}', ["a/b/1"]),
        ('{"\\ud800": 1}', ["\\ud800"]),
        ('{"x~/y": {"\\u0000k": "\\udc00"}}', ["x~0~1y/\\u0000k", "x~0~1y/\\u0000k"]),
        ('["\\ud800", {"k": "\\u0000"}]', ["0", "1/k"]),
        ('"\\ud800"', ["body"]),
    ],
)
def test_the_body_parser_names_every_unstorable_string_and_key(body: str, paths: list[str]) -> None:
    assert refused_paths(body) == paths


def test_the_body_parser_accepts_surrogate_pairs_and_other_controls() -> None:
    # A pair is one real character; controls other than NUL are for the field rules to judge.
    assert parse_json(b'{"a": "\\ud83d\\ude00\\u0007"}') == {"a": "\U0001f600\x07"}


def test_the_body_parser_reports_a_bounded_number_of_fields() -> None:
    body = json.dumps({f"k{i}": "@" for i in range(100)}).replace("@", "\\u0000")
    assert len(refused_paths(body)) == 20


def test_a_duplicate_key_message_shows_the_key_escaped() -> None:
    with pytest.raises(Problem) as raised:
        parse_json(b'{"\\ud800": 1, "\\ud800": 2}')
    assert raised.value.detail == "Duplicate key '\\ud800' in JSON object."


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | any_text,
        # Keys the parser refuses for another reason (prototype pollution) are left out.
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                any_text.filter(lambda k: k not in FORBIDDEN_KEYS), children, max_size=4
            )
        ),
        max_leaves=12,
    )
)
def test_the_body_parser_accepts_a_json_value_exactly_when_all_its_text_is_storable(
    value: Any,
) -> None:
    def texts(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [*node, *(t for child in node.values() for t in texts(child))]
        if isinstance(node, list):
            return [t for child in node for t in texts(child)]
        return [node] if isinstance(node, str) else []

    body = json.dumps(value).encode()
    bad = [t for t in texts(value) if not v.is_storable_text(t)]
    if bad:
        assert len(refused_paths(body.decode())) == min(len(bad), 20)
    else:
        assert parse_json(body) == value


def test_json_paths_escape_like_a_json_pointer() -> None:
    assert json_path(()) == "body"
    assert json_path(("metadata", "a/b~c", 0)) == "metadata/a~1b~0c/0"
    assert json_path(("k" * 100,)) == "k" * 64 + "..."


# ---- query strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        (b"status=%00", ["status"]),
        (b"limit=%ff&page=1", ["limit"]),
        (b"a=%c0%80&b=%ed%a0%80&c=%e2%82", ["a", "b", "c"]),  # overlong, surrogate, truncated
        (b"x=%1b&y=%7f&z=%c2%85", ["x", "y", "z"]),  # ESC, DEL, C1 next line
        (b"n%00ame=1", ["n\\u0000ame"]),
        (b"%ff=1", ["\\xff"]),
        (b"raw=\xff", ["raw"]),  # a raw byte that is not UTF-8
    ],
)
def test_query_parameters_that_are_not_clean_utf8_are_named(
    query: bytes, fields: list[str]
) -> None:
    errors = query_text_errors(query)
    assert [e.field for e in errors] == fields
    assert {e.code for e in errors} == {v.INVALID_TEXT}


@pytest.mark.parametrize(
    "query", [b"", b"status=pending&limit=5", b"q=%E2%82%AC+x", b"&&a=&=b", b"k=caf%C3%A9"]
)
def test_clean_query_strings_pass(query: bytes) -> None:
    assert query_text_errors(query) == []
