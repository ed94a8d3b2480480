"""The audit export's pure parts: CSV-injection neutralising, RFC 4180 quoting through the
``csv`` module, the signed page cursor and the query rules (issue 16)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.audit import AuditEvent
from liquifact_core.audit_export import (
    CSV_COLUMNS,
    SPEC_COLUMNS,
    AuditCursorCodec,
    AuditExportQuery,
    AuditRecord,
    CsvRows,
    ExportFormat,
    csv_fields,
    neutralise,
)
from liquifact_core.errors import ValidationError

# The OWASP CSV-injection payloads, and the spec's whitespace-led ones.
DANGEROUS = [
    "=1+1",
    '=HYPERLINK("http://evil.example","click")',
    "+1+1",
    "-1+1",
    "@SUM(1,1)",
    "|calc",
    "=cmd|' /C calc'!A0",
    "\t=cmd",
    "\r=cmd",
    "\tplain",
    "\rplain",
    "  =1+1",
    "\u00a0@SUM(1)",
    "\ufeff=1",
    "\uff1d1+1",  # full-width equals sign
    "-5",
]
SAFE = ["", "plain", "inv_01ABC", "a=b", "1-2", "x@y.example", "(=1)", "'=already"]


@pytest.mark.parametrize("text", DANGEROUS)
def test_formula_leads_get_a_quote(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", SAFE)
def test_other_text_is_unchanged(text: str) -> None:
    assert neutralise(text) == text


def _event(**changes: object) -> AuditEvent:
    values: dict[str, object] = {
        "id": "aud_1",
        "tenant_id": "t1",
        "actor_id": "ops",
        "actor_role": "admin",
        "action": "invoice.updated",
        "resource_type": "invoice",
        "resource_id": "inv_1",
        "at": datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC),
        "metadata": {},
    }
    values.update(changes)
    return AuditEvent(**values)  # type: ignore[arg-type]


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_the_header_is_the_spec_columns_then_role_and_metadata() -> None:
    rows = CsvRows()
    assert rows.header() == ",".join(CSV_COLUMNS) + "\r\n"
    assert CSV_COLUMNS[: len(SPEC_COLUMNS)] == SPEC_COLUMNS
    assert SPEC_COLUMNS == (
        "id",
        "timestamp",
        "actor",
        "action",
        "resourceType",
        "resourceId",
        "statusCode",
        "ipAddress",
        "userAgent",
    )


def test_a_row_carries_the_metadata_columns() -> None:
    event = _event(
        metadata={"statusCode": 201, "ipAddress": "203.0.113.9", "userAgent": "curl/8", "k": 1}
    )
    [cells] = _read(CsvRows().rows([AuditRecord(1, event)]))

    assert cells == [
        "aud_1",
        "2026-03-01T09:30:15.123Z",
        "ops",
        "invoice.updated",
        "invoice",
        "inv_1",
        "201",
        "203.0.113.9",
        "curl/8",
        "admin",
        '{"ipAddress":"203.0.113.9","k":1,"statusCode":201,"userAgent":"curl/8"}',
    ]


def test_quoting_is_rfc_4180() -> None:
    event = _event(actor_id='a "quoted", name', action="line\nbreak")
    text = CsvRows().rows([AuditRecord(1, event)])

    assert '"a ""quoted"", name"' in text
    assert '"line\nbreak"' in text
    assert text.endswith("\r\n")
    assert _read(text)[0][2:4] == ['a "quoted", name', "line\nbreak"]


def test_every_cell_is_neutralised() -> None:
    event = _event(actor_id="=evil()", action="+x", metadata={"userAgent": "\t=cmd"})
    cells = csv_fields(event)
    assert cells[2] == "'=evil()" and cells[3] == "'+x" and cells[8] == "'\t=cmd"


_CELL = st.text(alphabet=st.sampled_from(list("=+-@|\t\r\n ,\"'ab1\u00a0\uff1d")), max_size=12)


@given(_CELL, _CELL, _CELL)
def test_any_cell_reads_back_neutralised_and_never_as_a_formula(
    actor: str, action: str, agent: str
) -> None:
    event = _event(actor_id=actor, action=action, metadata={"userAgent": agent})
    [cells] = _read(CsvRows().rows([AuditRecord(1, event)]))

    assert cells[2] == neutralise(actor)
    assert cells[3] == neutralise(action)
    assert cells[8] == neutralise(agent)
    for cell in cells:
        first = cell.lstrip()[:1]
        assert cell[:1] not in ("\t", "\r") and first not in ("=", "+", "-", "@", "|"), cell


# ---- the cursor -------------------------------------------------------------------------------
CODEC = AuditCursorCodec(b"k" * 32)


def test_a_cursor_round_trips_for_its_invoice_only() -> None:
    cursor = CODEC.encode("t1", "inv_1", 42)
    assert CODEC.decode("t1", "inv_1", cursor) == 42
    for tenant, invoice in (("t2", "inv_1"), ("t1", "inv_2")):
        with pytest.raises(ValidationError) as refused:
            CODEC.decode(tenant, invoice, cursor)
        assert refused.value.field_errors[0].code == "CURSOR_MISMATCH"


@pytest.mark.parametrize("cursor", ["x", "abc.def", "", "a" * 40])
def test_a_forged_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(ValidationError) as refused:
        CODEC.decode("t1", "inv_1", cursor)
    assert refused.value.field_errors[0].code == "INVALID_CURSOR"


def test_a_cursor_signed_with_another_key_is_refused() -> None:
    other = AuditCursorCodec(b"o" * 32).encode("t1", "inv_1", 1)
    with pytest.raises(ValidationError):
        CODEC.decode("t1", "inv_1", other)


# ---- the query --------------------------------------------------------------------------------
def _query(**raw: Any) -> AuditExportQuery:
    """The query as the wire sends it: text values, checked by the rules."""
    return AuditExportQuery(**raw)


def test_limit_defaults_to_50_and_stops_at_500() -> None:
    assert AuditExportQuery().page_size == 50
    assert _query(limit="500").page_size == 500
    for bad in ("0", "501", "-1", "x"):
        with pytest.raises(ValidationError):
            _query(limit=bad)


def test_csv_takes_no_page_parameters() -> None:
    assert _query(format="csv").format is ExportFormat.CSV
    with pytest.raises(ValidationError) as refused:
        _query(format="csv", limit="5", cursor="c")
    assert [(e.field, e.code) for e in refused.value.field_errors] == [
        ("limit", "NOT_ALLOWED_FOR_FORMAT"),
        ("cursor", "NOT_ALLOWED_FOR_FORMAT"),
    ]


@pytest.mark.parametrize("lead", ["\ufe66", "\ufe62", "\ufe63", "\uff20", "\uff5c"])
def test_compatibility_forms_of_a_formula_lead_are_neutralised(lead: str) -> None:
    # Small forms (U+FE62/63/66) normalise (NFKC) to + - =, as the full-width ones do.
    assert neutralise(f" {lead}cmd") == f"' {lead}cmd"


def test_a_cell_cannot_be_split_into_a_formula_by_a_semicolon_locale() -> None:
    # Excel in a locale whose list separator is ";" splits unquoted fields on it: the
    # second half would start with "=" and be evaluated. Every data cell is quoted.
    agent = "Mozilla;=cmd|' /C calc'!A0"
    text = CsvRows().rows([AuditRecord(1, _event(metadata={"userAgent": agent}))])
    assert f'"{agent}"' in text
    for cell in text.rstrip("\r\n").split(","):
        assert cell.startswith('"') and cell.endswith('"'), cell
    assert _read(text)[0][8] == agent
