"""How PostgreSQL stores the domain's values (the row shapes are shared: ``sql.rows``).

Native types do the work: numeric keeps an amount's exact digits and scale, bigint holds
stroops up to 10^18 exactly, timestamptz keeps microseconds and the instant, jsonb documents.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from psycopg.types.json import Jsonb

from liquifact_adapters.sql.rows import Params, Row, RowConverter, require_aware


def aware(moment: datetime) -> datetime:
    """``moment`` if timezone-aware; the server would read a naive time in its own zone."""
    return require_aware(moment)


class PostgresRows(RowConverter):
    def timestamp_to_sql(self, moment: datetime) -> datetime:
        return aware(moment)

    def timestamp_from_sql(self, value: Any) -> datetime:
        if not isinstance(value, datetime):
            raise TypeError("Expected a timestamptz value.")
        return value

    def date_to_sql(self, day: date) -> date:
        return day

    def date_from_sql(self, value: Any) -> date:
        if not isinstance(value, date):
            raise TypeError("Expected a date value.")
        return value

    def decimal_to_sql(self, amount: Decimal) -> Decimal:
        return amount

    def decimal_from_sql(self, value: Any) -> Decimal:
        # numeric arrives as a Decimal already; Decimal() of it is exact and keeps the scale.
        return Decimal(value)

    def stroops_to_sql(self, stroops: int) -> int:
        return stroops

    def json_to_sql(self, value: Any) -> Jsonb:
        return Jsonb(value if isinstance(value, list) else dict(value))

    def json_from_sql(self, value: Any) -> Any:
        return value

    def amount_key(self, amount: Decimal) -> Decimal:
        # numeric compares exactly at any scale: the amount is its own sort key.
        return amount

    def amount_bound(self, amount: Decimal, rounding: Literal["ceiling", "floor"]) -> Decimal:
        del rounding  # numeric compares exactly at any scale: bounds need no rounding
        return amount


ROWS = PostgresRows()

# Module-level entry points, for bulk loaders (bench/) and tests that write rows directly.
invoice_params = ROWS.invoice_params
invoice_from_row = ROWS.invoice_from_row

__all__ = ["ROWS", "Params", "PostgresRows", "Row", "aware", "invoice_from_row", "invoice_params"]
