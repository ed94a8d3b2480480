"""The one form in which invoice numbers are compared for uniqueness.

Issue 9 (look-alike identifiers): ``INV-6B0F0``, ``inv-6b0f0`` and ``INV-6B0F0`` written in
fullwidth letters name the same invoice to a person, so they must collide in the store. The
stored number keeps what the client sent; the canonical key sits beside it in its own column
(``invoice_number_key``), under a unique index per (tenant, SME) among live invoices.
"""

from __future__ import annotations

import unicodedata


def canonical_invoice_number(number: str) -> str:
    """``number`` in its canonical form: NFKC, case-folded, trimmed.

    Compatibility normalisation (NFKC) folds width and presentation variants (fullwidth
    letters and digits, ligatures, superscripts); ``casefold`` is Unicode's caseless matching
    (``ß`` matches ``ss``), and NFKC is applied again because case folding can leave a string
    that is not normalised (Unicode 15, section 3.13, D146 "compatibility caseless match").
    Leading and trailing whitespace (any Unicode ``White_Space``) does not count.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", number).casefold())
    return folded.strip()
