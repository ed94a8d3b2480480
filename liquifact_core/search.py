"""Search keys: the one folding of text that name searches compare, case- and
accent-insensitively.

Folding happens here, once, in the pure core: the stores keep the folded key of each searchable
name in a column (``invoices.buyer_name_key``, ``sme_profiles.display_name_key``) written with
every write of the row, and compare it with the folded search text. SQL never folds, so
SQLite, PostgreSQL and the in-memory store give identical results whatever their collations.
"""

from __future__ import annotations

import unicodedata

# The escape character of the LIKE patterns the stores build (``ESCAPE '\'``).
LIKE_ESCAPE = "\\"


def fold(text: str) -> str:
    """``text`` as a search key: compatibility-decomposed (NFKD), case-folded, then without
    combining marks. "Société" and "SOCIETE" both give "societe"; "Müller" gives "muller";
    "Straße" gives "strasse"; fullwidth letters (U+FF21...) give ASCII ones. Letters that do
    not decompose (``ø``, ``ł``, ``đ``) keep their identity: "Ø" does not match "O".

    Case-folding runs between two decompositions because folding may itself produce a
    combining mark ("İ" folds to "i" + U+0307), which the second pass then drops.
    """
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return "".join(char for char in folded if not unicodedata.combining(char))


def contains_pattern(key: str) -> str:
    """A LIKE pattern (escape character ``LIKE_ESCAPE``) that matches any text containing the
    folded ``key``: ``%`` and ``_`` in it are literal, as is the escape character itself."""
    escaped = (
        key.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"
