"""docs/configuration.md documents every setting the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from liquifact_http.settings import FIELDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def documented_variables() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\| `([A-Z0-9_]+)` \|(.*)", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_every_setting_is_documented() -> None:
    documented = documented_variables()
    missing = [field.env for field in FIELDS if field.env not in documented]
    assert missing == []


def test_secret_column_matches_the_code() -> None:
    documented = documented_variables()
    for field in FIELDS:
        columns = [cell.strip() for cell in documented[field.env].split("|")]
        assert columns[3] == ("yes" if field.secret else "no"), field.env
