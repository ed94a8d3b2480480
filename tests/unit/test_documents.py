"""The document rules of liquifact_core.documents: the spec's object keys and its file name
sanitising (its own examples first), magic-byte types, and the UUID drawn through ids."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from liquifact_core.documents import (
    STORED_NAME_MAX,
    Digest,
    DocumentType,
    FileName,
    UploadRequest,
    check_content,
    declared_type,
    invoice_prefix,
    object_key,
    sanitize_filename,
    sniff,
    uuid_text,
)
from liquifact_core.errors import ValidationError
from liquifact_core.ids import sortable_id
from tests.document_samples import EXE, JPEG, PDF, PNG, TIFF

UUID = "550e8400-e29b-41d4-a716-446655440000"


# ---- the spec's examples -----------------------------------------------------------------------
def test_the_spec_key_example() -> None:
    key = object_key("tenant-123", "inv-456", UUID, "invoice.pdf")
    assert key == (
        "tenants/tenant-123/invoices/inv-456/550e8400-e29b-41d4-a716-446655440000-invoice.pdf"
    )


@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\windows\\system32"])
def test_the_spec_traversal_examples_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        sanitize_filename(name)
    assert refused.value.code == "INVALID_FILENAME"
    with pytest.raises(ValidationError):
        FileName().parse(name)
    with pytest.raises(ValidationError):
        object_key("tenant-123", "inv-456", UUID, name)


def test_invoice_pdf_is_accepted_as_it_is() -> None:
    assert sanitize_filename("invoice.pdf") == "invoice.pdf"
    assert FileName().parse("invoice.pdf") == "invoice.pdf"


@pytest.mark.parametrize("tenant", ["../../admin", "tenant/admin", "", "t" * 129, "tenant admin"])
def test_the_spec_tenant_examples_are_rejected(tenant: str) -> None:
    with pytest.raises(ValidationError) as refused:
        object_key(tenant, "inv-456", UUID, "invoice.pdf")
    assert refused.value.field_errors[0].field == "tenantId"


@pytest.mark.parametrize("invoice", ["inv/123", "../inv", "inv.123"])
def test_the_spec_invoice_examples_are_rejected(invoice: str) -> None:
    with pytest.raises(ValidationError) as refused:
        invoice_prefix("tenant-123", invoice)
    assert refused.value.field_errors[0].field == "invoiceId"


def test_null_bytes_are_removed_by_the_storage_layer_and_refused_by_the_api() -> None:
    assert sanitize_filename("in\x00voice.pdf") == "invoice.pdf"
    with pytest.raises(ValidationError) as refused:
        FileName().parse("in\x00voice.pdf")
    assert refused.value.code == "INVALID_TEXT"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Facture n°1 (copie).pdf", "Facture_n_1_copie_.pdf"),
        ("  spaced  name.png ", "spaced_name.png"),
        (".env", "env"),
        ("...", "file"),
        ("発票.pdf", "_.pdf"),
        ("発票", "file"),
        ("a<script>b.tiff", "a_script_b.tiff"),
    ],
)
def test_special_characters_are_sanitised(raw: str, stored: str) -> None:
    assert sanitize_filename(raw) == stored


def test_long_names_are_truncated_keeping_the_extension() -> None:
    stored = sanitize_filename("x" * 300 + ".pdf")
    assert len(stored) == STORED_NAME_MAX
    assert stored.endswith(".pdf")
    assert len(sanitize_filename("y" * 300)) == STORED_NAME_MAX


@given(st.text(max_size=400))
@example("../../etc/passwd")
@example("a\x00/b")
def test_a_sanitised_name_is_always_one_safe_path_segment(raw: str) -> None:
    try:
        stored = sanitize_filename(raw)
    except ValidationError:
        assert (
            "/" in raw.replace("\x00", "")
            or "\\" in raw
            or raw.replace("\x00", "").strip()
            in (
                "",
                ".",
                "..",
            )
        )
        return
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,100}", stored)
    assert not stored.startswith(".") and stored not in (".", "..")
    assert re.search(r"[A-Za-z0-9]", stored)


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=60))
def test_every_name_the_api_accepts_makes_a_key(raw: str) -> None:
    try:
        accepted = FileName().parse(raw)
    except ValidationError:
        return
    key = object_key("tenant-1", "inv_01", UUID, accepted)
    assert key.startswith(f"tenants/tenant-1/invoices/inv_01/{UUID}-")
    assert key.count("/") == 4


# ---- types by their bytes ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PDF, DocumentType.PDF),
        (JPEG, DocumentType.JPEG),
        (PNG, DocumentType.PNG),
        (TIFF, DocumentType.TIFF),
        (b"MM\x00*rest", DocumentType.TIFF),
        (EXE, None),
        (b"PK\x03\x04", None),
        (b"", None),
        (b"<html>", None),
    ],
)
def test_types_are_read_from_magic_bytes(data: bytes, kind: DocumentType | None) -> None:
    assert sniff(data) is kind


def _digest(data: bytes) -> Digest:
    digest = Digest()
    for start in range(0, len(data), 3):  # in small chunks: the head spans several
        digest.update(data[start : start + 3])
    return digest


def test_content_checks() -> None:
    assert check_content(_digest(PDF), DocumentType.PDF, 10_000) is DocumentType.PDF
    assert check_content(_digest(PNG), None, 10_000) is DocumentType.PNG
    cases = [
        (_digest(EXE), DocumentType.PDF, 10_000, "FILE_CONTENT_NOT_ALLOWED"),
        (_digest(PNG), DocumentType.PDF, 10_000, "FILE_CONTENT_MISMATCH"),
        (_digest(b""), DocumentType.PDF, 10_000, "FILE_EMPTY"),
        (_digest(PDF), DocumentType.PDF, 10, "FILE_TOO_LARGE"),
    ]
    for digest, declared, limit, code in cases:
        with pytest.raises(ValidationError) as refused:
            check_content(digest, declared, limit)
        assert [e.code for e in refused.value.field_errors] == [code]


def test_declared_types() -> None:
    assert declared_type("application/pdf; charset=binary") is DocumentType.PDF
    assert declared_type("IMAGE/PNG") is DocumentType.PNG
    assert declared_type("application/octet-stream", undeclared_ok=True) is None
    for unsupported in ("application/octet-stream", "text/plain", "image/gif", "", None):
        with pytest.raises(ValidationError) as refused:
            declared_type(unsupported)
        assert refused.value.code == "UNSUPPORTED_MEDIA_TYPE"


@given(st.integers(0, 2**48 - 1), st.binary(min_size=10, max_size=10))
def test_object_uuids_come_from_sortable_ids(millis: int, entropy: bytes) -> None:
    text = uuid_text(sortable_id("", millis, entropy))
    assert str(uuid.UUID(text)) == text
    assert uuid.UUID(text).int == (millis << 80) | int.from_bytes(entropy, "big")


def test_upload_requests_check_every_field_at_once() -> None:
    with pytest.raises(ValidationError) as refused:
        UploadRequest(
            invoice_id="inv/1",
            filename="../x",
            content_type="text/plain",  # type: ignore[arg-type]  # a wire value, refused
            size=0,
            sha256="XYZ",
        )
    assert {e.field for e in refused.value.field_errors} == {
        "invoiceId",
        "filename",
        "contentType",
        "size",
        "sha256",
    }
