"""Countries: ISO 3166-1 alpha-2 codes, from the maintained ``pycountry`` data set (the ISO
list changes: new codes appear, withdrawn ones go, and a hand-kept copy would drift)."""

from __future__ import annotations

from typing import Any

import pycountry

from liquifact_core.errors import ValidationError

# Every officially assigned alpha-2 code (upper case), sorted.
COUNTRY_CODES: tuple[str, ...] = tuple(sorted(country.alpha_2 for country in pycountry.countries))
_KNOWN = frozenset(COUNTRY_CODES)


def parse_country(raw: Any, field: str = "country") -> str:
    """An ISO 3166-1 alpha-2 code in upper case (``"FR"``); lower case and withdrawn or
    user-assigned codes are refused (ValidationError, field code INVALID_COUNTRY)."""
    if not isinstance(raw, str) or raw not in _KNOWN:
        raise ValidationError.for_field(
            field, "must be an ISO 3166-1 alpha-2 country code such as FR", "INVALID_COUNTRY"
        )
    return raw
