"""The spec's redaction of sensitive fields before an audit event is stored (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.audit import REDACTED, AuditEvent, is_sensitive_key, redact, redacted
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role

SEED = "SBKGCMBY56MHTT4EGE3YJIYL4CPWKSGJ7VDEQF4J3B3VO2PLJ4MRQR5E"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_the_spec_keys_are_redacted_at_any_depth() -> None:
    body = {
        "reason": "manual review",
        "password": "hunter2",
        "token": "abc",
        "secret": "s3",
        "apiKey": "lf_live_key_123456",
        "privateKey": "redacted-at-write-time",
        "nested": {"client_secret": "x", "accessToken": "y", "list": [{"x-api-key": "z"}]},
    }

    clean = redact(body)

    assert clean == {
        "reason": "manual review",
        "password": REDACTED,
        "token": REDACTED,
        "secret": REDACTED,
        "apiKey": REDACTED,
        "privateKey": REDACTED,
        "nested": {
            "client_secret": REDACTED,
            "accessToken": REDACTED,
            "list": [{"x-api-key": REDACTED}],
        },
    }


def test_names_that_only_start_with_a_marker_keep_their_value() -> None:
    assert redact({"secretCreated": True, "tokenType": "bearer", "secretRotatedAt": "t"}) == {
        "secretCreated": True,
        "tokenType": "bearer",
        "secretRotatedAt": "t",
    }
    assert is_sensitive_key("passwordHash") and is_sensitive_key("webhookSecret")
    assert not is_sensitive_key("invoiceId")


def test_credentials_in_text_are_redacted_whatever_the_key() -> None:
    clean = redact(
        {
            "url": "https://user:pw@hooks.example/path?token=abc#frag",
            "note": f"seed {SEED} and Bearer abc.def and {JWT} and lf_abcdefgh1234",
        }
    )

    assert clean["url"] == f"https://{REDACTED}@hooks.example/path?{REDACTED}#frag"
    assert SEED not in clean["note"] and JWT not in clean["note"]
    assert "abc.def" not in clean["note"] and "lf_abcdefgh1234" not in clean["note"]


def test_null_sensitive_values_stay_null() -> None:
    assert redact({"token": None}) == {"token": None}


def test_events_are_redacted_when_built_and_when_stored() -> None:
    actor = Actor("ops", Role.ADMIN)
    event = AuditEvent.by(
        actor,
        event_id="aud_1",
        tenant_id="t1",
        action="kyc.approve",
        resource=("kyc_profile", "cus_42"),
        at=datetime(2026, 1, 1, tzinfo=UTC),
        metadata={"body": {"privateKey": "k"}},
    )
    assert event.metadata == {"body": {"privateKey": REDACTED}}

    by_hand = AuditEvent("aud_2", "t1", "ops", "admin", "a", "r", "1", event.at, {"secret": "x"})
    assert redacted(by_hand).metadata == {"secret": REDACTED}
    assert redacted(event) is event  # nothing left to redact


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "password", "apiKey", "secretCreated", "token", "url", "x_seed"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def _sensitive_values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if is_sensitive_key(k) and v not in (None, REDACTED)]
        return found + [x for v in value.values() for x in _sensitive_values(v)]
    if isinstance(value, list):
        return [x for v in value for x in _sensitive_values(v)]
    return []


@given(_JSON)
def test_redaction_is_idempotent_and_leaves_no_sensitive_value(value: Any) -> None:
    once = redact(value)
    assert redact(once) == once
    assert _sensitive_values(once) == []


@pytest.mark.parametrize(
    "key",
    [
        "secretKey",
        "secret_key",
        "aws_secret_access_key",
        "secretAccessKey",
        "seedPhrase",
        "signingKey",
        "encryptionKey",
        "tokens",
        "clientSecrets",
        "seeds",
    ],
)
def test_credential_names_starting_with_a_marker_are_redacted(key: str) -> None:
    # "secretCreated" keeps its value, but these name the credential itself.
    assert redact({key: "hunter2-not-a-seed"}) == {key: REDACTED}
    assert redact({"nested": [{key: ["a", "b"]}]}) == {"nested": [{key: REDACTED}]}
