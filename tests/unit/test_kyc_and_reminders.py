"""The pure rules of KYC (status mapping, record changes, the gate) and of maturity reminders
(the window, deterministic job ids, masked and sanitised dead letters)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.errors import Forbidden, Unprocessable, ValidationError
from liquifact_core.kyc import (
    PASSING,
    PROVIDER_STATUS_PATTERN,
    PROVIDER_STATUSES,
    ExemptKyc,
    KycEvent,
    KycRecord,
    KycRole,
    KycStatus,
    KycView,
    exempted,
    map_provider_status,
    new_record,
    normalise_provider_status,
    parse_subject,
    require_passing,
    with_provider_status,
)
from liquifact_core.reminders import (
    DeadLetterReason,
    DueInvoice,
    MailFailure,
    RecipientRole,
    dead_letter,
    invoice_link,
    mask_email,
    planned,
    reminder_job,
    reminder_job_id,
    window,
)
from liquifact_core.rules import CONTACT_EMAIL_PATTERN, is_single_address

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _record(status: KycStatus = KycStatus.PENDING) -> KycRecord:
    return attrs.evolve(new_record("t-1", "alice", "kyc_1", KycRole.INVESTOR, T0), status=status)


# ---- provider statuses ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("approved", KycStatus.VERIFIED),
        ("Verified", KycStatus.VERIFIED),
        ("declined", KycStatus.REJECTED),
        ("In Review", KycStatus.PENDING),
        ("in-progress", KycStatus.PENDING),
        ("not required", KycStatus.EXEMPTED),
    ],
)
def test_provider_words_map_to_the_spec_statuses(word: str, status: KycStatus) -> None:
    assert map_provider_status(word) is status


@given(st.sampled_from(sorted(PROVIDER_STATUSES)))
def test_every_known_word_maps_whatever_its_case_and_separators(word: str) -> None:
    spelled = word.upper().replace("_", "-")
    assert map_provider_status(spelled) is PROVIDER_STATUSES[word]
    assert normalise_provider_status(spelled) == word


@given(st.text(min_size=1, max_size=70))
def test_anything_else_is_refused_never_guessed(word: str) -> None:
    known = PROVIDER_STATUSES.get(normalise_provider_status(word))
    if known is not None and re.fullmatch(PROVIDER_STATUS_PATTERN, word):
        assert map_provider_status(word) is known
        return
    with pytest.raises(Unprocessable) as refused:
        map_provider_status(word)
    assert refused.value.code == "KYC_STATUS_UNKNOWN"


# ---- record changes -------------------------------------------------------------------------
def test_a_provider_status_moves_the_record_and_counts_a_version() -> None:
    moved = with_provider_status(_record(), KycStatus.VERIFIED, T0, provider_reference="app-1")
    assert moved is not None
    assert (moved.status, moved.version, moved.provider_reference) == (
        KycStatus.VERIFIED,
        2,
        "app-1",
    )


def test_an_older_event_changes_nothing() -> None:
    newer = with_provider_status(_record(), KycStatus.REJECTED, T0, event_at=T0, reason="no id")
    assert newer is not None and newer.reason == "no id"
    older = with_provider_status(newer, KycStatus.VERIFIED, T0, event_at=T0 - timedelta(seconds=1))
    assert older is None


def test_an_exemption_outlives_provider_events() -> None:
    exempt = exempted(_record(), "Regulated bank", T0)
    after = with_provider_status(exempt, KycStatus.REJECTED, T0, event_at=T0, reason="x")
    assert after is not None
    assert (after.status, after.reason) == (KycStatus.EXEMPTED, "Regulated bank")


@pytest.mark.parametrize("status", list(KycStatus))
def test_the_gate_passes_verified_and_exempted_only(status: KycStatus) -> None:
    view = KycView("alice", status, None, "mock")
    for role, code in (
        (KycRole.INVESTOR, "INVESTOR_KYC_NOT_VERIFIED"),
        (KycRole.SME, "SME_KYC_NOT_VERIFIED"),
    ):
        if status in PASSING:
            require_passing(view, role)
        else:
            with pytest.raises(Forbidden) as refused:
                require_passing(view, role)
            assert refused.value.code == code


def test_a_subject_never_started_is_refused_as_not_started() -> None:
    with pytest.raises(Forbidden, match="not started"):
        require_passing(KycView("bob", None, None, "http"), KycRole.INVESTOR)


def test_commands_check_their_fields() -> None:
    with pytest.raises(ValidationError):
        ExemptKyc("")
    with pytest.raises(ValidationError) as bad:
        KycEvent(event_id="", reference="nope", status="ok!")
    assert {e.field for e in bad.value.field_errors} == {"eventId", "reference", "status"}
    with pytest.raises(ValidationError):
        parse_subject("two words")


# ---- reminders ------------------------------------------------------------------------------
def test_the_window_runs_from_today_to_days_ahead() -> None:
    assert window(date(2026, 3, 1), 7) == (date(2026, 3, 1), date(2026, 3, 8))
    with pytest.raises(ValueError, match="days_before"):
        window(date(2026, 3, 1), 0)


@given(st.tuples(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20)))
def test_job_ids_are_deterministic_valid_and_distinct(pair: tuple[str, str]) -> None:
    first, second = pair
    a = reminder_job_id("t", "inv_1", first)
    assert a == reminder_job_id("t", "inv_1", first)
    assert len(a) == len("job_rem_") + 40 and a[8:].isalnum()
    if first != second:
        assert a != reminder_job_id("t", "inv_1", second)


def test_a_reminder_job_has_the_retries_and_names_no_address() -> None:
    due = DueInvoice("t-1", "inv_1", "sme-1", date(2026, 3, 5))
    job = reminder_job(planned(due, "sme-1", RecipientRole.SME, T0), T0, 3)
    assert (job.type, job.max_attempts) == ("maturity_reminder", 4)
    assert dict(job.payload) == {"invoiceId": "inv_1", "recipient": "sme-1", "role": "sme"}


def test_dead_letters_mask_the_address_and_sanitise_the_error() -> None:
    due = DueInvoice("t-1", "inv_1", "sme-1", date(2026, 3, 5))
    reminder = planned(due, "sme-1", RecipientRole.SME, T0)
    failure = MailFailure(
        "The recipient was refused: SMTP 550 <carol@example.com> unknown; password=hunter2",
        permanent=True,
        code=550,
    )
    letter = dead_letter("rdl_1", reminder, "carol@example.com", failure, 1, T0)
    assert letter.reason is DeadLetterReason.PERMANENT_ERROR
    assert letter.recipient_hint == "c***@example.com"
    assert "carol@example.com" not in letter.error and "hunter2" not in letter.error
    assert letter.smtp_code == 550
    transient = dead_letter(
        "rdl_2", reminder, "c@x.io", MailFailure("451", permanent=False, code=451), 4, T0
    )
    assert transient.reason is DeadLetterReason.MAX_RETRIES_EXCEEDED


def test_masking_and_links() -> None:
    assert mask_email("a@b.co") == "a***@b.co"
    assert mask_email("broken") == "***"
    assert invoice_link("https://app.example/", "inv_1") == "https://app.example/invoices/inv_1"


@pytest.mark.parametrize(
    "address",
    [
        # An RFC 2047 encoded word decodes, in the To header, to a second recipient.
        "=?utf-8?q?evil=40attacker.test=2C?=me@example.com",
        "me@example.com,postmaster",  # a second (local) recipient
        "me@example.com;root",
        '"Me"<me@example.com>',  # a display name: not an address
        "me(comment)@example.com",
        "0@0.)",  # not a host name (found by the API document's fuzz test)
        ".me@example.com",
        "me..you@example.com",
        "me@-example.com",
        "m\u00e9@example.com",  # contacts are ASCII: what the document's pattern states
        "a" * 243 + "@example.com",  # 255 characters
    ],
)
def test_a_contact_is_one_plain_address_never_a_header_list(address: str) -> None:
    from liquifact_core.reminders import ContactUpdate

    with pytest.raises(ValidationError):
        ContactUpdate(address)


@pytest.mark.parametrize(
    "address", ["me@example.com", "first.last+tag@sub.example.co", "o'brien@example.ie"]
)
def test_plain_contacts_are_kept(address: str) -> None:
    from liquifact_core.reminders import ContactUpdate

    assert ContactUpdate(address).email == address


@given(st.from_regex(CONTACT_EMAIL_PATTERN, fullmatch=True).filter(lambda a: len(a) <= 254))
def test_every_address_the_contact_pattern_admits_is_one_plain_recipient(address: str) -> None:
    """The document states CONTACT_EMAIL_PATTERN as the whole rule: whatever it admits, the
    To header reads as that one address, and the rule keeps it."""
    from liquifact_core.reminders import ContactUpdate

    assert is_single_address(address)
    assert ContactUpdate(address).email == address
