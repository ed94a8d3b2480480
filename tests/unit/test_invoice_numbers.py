"""The canonical form of invoice numbers (issue 9: look-alikes are duplicates)."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.invoice_numbers import canonical_invoice_number

ASCII_VISIBLE = st.text(alphabet=string.ascii_letters + string.digits + "-_/.#", min_size=1)


def fullwidth(text: str) -> str:
    """The fullwidth forms (U+FF01..U+FF5E) of visible ASCII characters."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


def test_the_issue_examples_share_one_key() -> None:
    keys = {
        canonical_invoice_number(number)
        for number in ("INV-6B0F0", "inv-6b0f0", "Inv-6b0F0", fullwidth("INV-6B0F0"), " INV-6B0F0 ")
    }
    assert keys == {"inv-6b0f0"}


def test_case_folding_is_unicode_caseless_matching() -> None:
    assert canonical_invoice_number("STRASSE-1") == canonical_invoice_number("straße-1")
    assert canonical_invoice_number("ÄÖÜ-1") == canonical_invoice_number("äöü-1")
    # Compatibility forms: a ligature and a superscript digit.
    assert canonical_invoice_number("ﬁle-²") == "file-2"


def test_different_numbers_stay_different() -> None:
    assert canonical_invoice_number("INV-001") != canonical_invoice_number("INV-01")
    assert canonical_invoice_number("INV-1") != canonical_invoice_number("INV-l")


@given(ASCII_VISIBLE)
def test_case_and_width_variants_collide(number: str) -> None:
    key = canonical_invoice_number(number)
    assert canonical_invoice_number(number.upper()) == key
    assert canonical_invoice_number(number.lower()) == key
    assert canonical_invoice_number(number.swapcase()) == key
    assert canonical_invoice_number(fullwidth(number)) == key
    assert canonical_invoice_number(f"  {number}\t") == key


@given(st.text())
def test_the_key_is_canonical(number: str) -> None:
    key = canonical_invoice_number(number)
    assert canonical_invoice_number(key) == key  # idempotent: a key is its own key
    assert key == key.strip()
