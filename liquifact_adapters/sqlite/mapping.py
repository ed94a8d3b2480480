"""How SQLite stores the domain's values (the row shapes are shared: ``sql.rows``).

Timestamps are ISO-8601 UTC text with microseconds: fixed width, so text order is time order,
and exact, so a value read back equals the value written. Amounts are exact decimal text, and
so are invoice stroop amounts (10^18 must never pass through a float).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from liquifact_adapters.sql.rows import RowConverter, require_aware


def utc_text(moment: datetime) -> str:
    """An aware instant as fixed-width UTC text; ValueError if naive, OverflowError if the
    instant falls outside years 1-9999 once moved to UTC."""
    return require_aware(moment).astimezone(UTC).isoformat(timespec="microseconds")


class SqliteRows(RowConverter):
    def timestamp_to_sql(self, moment: datetime) -> str:
        return utc_text(moment)

    def timestamp_from_sql(self, value: Any) -> datetime:
        return datetime.fromisoformat(str(value))

    def date_to_sql(self, day: date) -> str:
        return day.isoformat()

    def date_from_sql(self, value: Any) -> date:
        return date.fromisoformat(str(value))

    def decimal_to_sql(self, amount: Decimal) -> str:
        return str(amount)

    def decimal_from_sql(self, value: Any) -> Decimal:
        return Decimal(str(value))

    def stroops_to_sql(self, stroops: int) -> str:
        return str(stroops)

    def json_to_sql(self, value: Any) -> str:
        document = dict(value) if not isinstance(value, list) else value
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def json_from_sql(self, value: Any) -> Any:
        return None if value is None else json.loads(str(value))

    def amount_key(self, amount: Decimal) -> str:
        return amount_key(amount)

    def amount_bound(self, amount: Decimal, rounding: Literal["ceiling", "floor"]) -> str:
        return amount_key(amount, rounding=rounding)


ROWS = SqliteRows()

AMOUNT_KEY_SCALE = 4  # the most decimals any ISO 4217 currency has
AMOUNT_KEY_WIDTH = 22  # 18 integer digits + 4 decimals


def amount_key(amount: Decimal, *, rounding: str = "exact") -> str:
    """The amount x 10^4 as fixed-width digits, so text order is numeric order.

    Stored amounts have at most 4 decimals, so the key is exact. A filter bound with more
    decimals is rounded up (``ceiling``, for a lower bound) or down (``floor``, an upper bound),
    which keeps the inclusive comparison exact.
    """
    scaled = amount.scaleb(AMOUNT_KEY_SCALE)
    if rounding == "ceiling":
        whole = int(scaled.to_integral_value(rounding="ROUND_CEILING"))
    elif rounding == "floor":
        whole = int(scaled.to_integral_value(rounding="ROUND_FLOOR"))
    else:
        whole = int(scaled)
        if whole != scaled:
            raise ValueError("An invoice amount has more than 4 decimals.")
    if whole >= 10**AMOUNT_KEY_WIDTH:
        return "9" * AMOUNT_KEY_WIDTH  # beyond any storable amount
    return format(whole, f"0{AMOUNT_KEY_WIDTH}d")


# Module-level entry points, for bulk loaders (bench/) and tests that write rows directly.
invoice_params = ROWS.invoice_params
invoice_from_row = ROWS.invoice_from_row
