"""Idempotency outcomes as JSON documents, for the SQL stores (one codec, both dialects).

An ``idempotency_records.outcome`` column (migration 0004) holds what the use case came to, in
domain terms (``liquifact_core.idempotency.RecordedOutcome``: the result, or the recorded
domain error, plus the caller's context), never an HTTP response. The document is plain JSON
(each dialect stores it as its JSON type through ``RowConverter.json_to_sql``: TEXT on SQLite,
jsonb on PostgreSQL), so dates and times are ISO 8601 text (times with their UTC offset) and
amounts in stroops stay JSON integers (exact: at most 10^18). This converter is separate from
the row converter because the row converter maps scalars to each dialect's column types.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import cattrs

from liquifact_core.idempotency import RecordedOutcome

_converter = cattrs.Converter()
_converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
_converter.register_structure_hook(datetime, lambda value, _type: datetime.fromisoformat(value))
_converter.register_unstructure_hook(date, lambda value: value.isoformat())
_converter.register_structure_hook(date, lambda value, _type: date.fromisoformat(value))


def outcome_document(outcome: RecordedOutcome) -> dict[str, Any]:
    """``outcome`` as a JSON object (plain dicts, lists, strings, integers, booleans)."""
    document: dict[str, Any] = _converter.unstructure(outcome)
    return document


def outcome_from_document(document: Any) -> RecordedOutcome:
    """The outcome an ``outcome_document`` describes."""
    return _converter.structure(document, RecordedOutcome)
