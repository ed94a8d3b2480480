"""Webhook payloads and signatures (liquifact_core.webhooks): the spec's example payload byte
for byte, sign-then-verify round trips, any changed byte or stale timestamp is refused, bad
headers raise MalformedSignature, and the Node receiver of docs/webhooks.md agrees."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.invoices import Transition
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.webhooks import (
    MalformedSignature,
    SignatureError,
    SignatureMismatch,
    StaleSignature,
    compute_signature,
    serialise,
    signature_header,
    transition_payload,
    verify_signature,
)

AT = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
SECRET = "whsec_" + "ab" * 32
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"

# The spec's example payload (keys sorted alphabetically).
SPEC_BODY = (
    '{"event":"invoice.pending_to_approved","invoiceId":"inv_abc123","tenantId":"tenant_xyz",'
    '"timestamp":"2025-01-15T12:00:00.000Z","transition":{"actor":"usr_admin","from":"pending",'
    '"reason":null,"to":"approved","transitionedAt":"2025-01-15T12:00:00.000Z"}}'
)


def spec_transition() -> Transition:
    return Transition(
        invoice_id="inv_abc123",
        tenant_id="tenant_xyz",
        sequence=2,
        from_status=InvoiceStatus.PENDING,
        to_status=InvoiceStatus.APPROVED,
        actor_id="usr_admin",
        actor_role=Role.ADMIN,
        at=AT,
    )


def test_the_spec_example_payload_is_reproduced_byte_for_byte() -> None:
    body = serialise(transition_payload(spec_transition(), AT))
    assert body.decode("utf-8") == SPEC_BODY
    assert SPEC_BODY in DOCS.read_text(encoding="utf-8")


def test_a_signature_is_the_hmac_of_timestamp_dot_body() -> None:
    # The HMAC computed independently of compute_signature (standard library only).
    import hashlib
    import hmac

    header = signature_header(SECRET, SPEC_BODY.encode(), AT)
    t = int(AT.timestamp())
    expected = hmac.new(SECRET.encode(), f"{t}.{SPEC_BODY}".encode(), hashlib.sha256).hexdigest()
    assert header == f"t={t},v1={expected}"
    assert verify_signature(SECRET, SPEC_BODY, header, now=AT + timedelta(seconds=299)) == t


bodies = st.binary(max_size=512)
secrets = st.text(min_size=1, max_size=64)
skews = st.integers(-300, 300)


@given(secrets, bodies, skews)
def test_sign_then_verify_round_trips(secret: str, body: bytes, skew: int) -> None:
    header = signature_header(secret, body, AT)
    assert verify_signature(secret, body, header, now=AT + timedelta(seconds=skew)) == int(
        AT.timestamp()
    )


@given(secrets, bodies.filter(bool), st.data())
def test_any_changed_byte_is_refused(secret: str, body: bytes, data: st.DataObject) -> None:
    header = signature_header(secret, body, AT)
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    with pytest.raises(SignatureMismatch):
        verify_signature(secret, changed, header, now=AT)


@given(secrets, bodies, st.integers(301, 10**9), st.booleans())
def test_stale_timestamps_are_refused(secret: str, body: bytes, age: int, future: bool) -> None:
    header = signature_header(secret, body, AT)
    now = AT - timedelta(seconds=age) if future else AT + timedelta(seconds=age)
    with pytest.raises(StaleSignature):
        verify_signature(secret, body, header, now=now)


def test_a_wrong_secret_is_a_mismatch_and_a_rotated_one_still_verifies() -> None:
    body = SPEC_BODY.encode()
    header = signature_header(SECRET, body, AT)
    with pytest.raises(SignatureMismatch):
        verify_signature("another-secret", body, header, now=AT)
    # During a rotation a sender may sign with both secrets; either verifies.
    t = int(AT.timestamp())
    both = f"t={t},v1={compute_signature('old', t, body)},v1={compute_signature(SECRET, t, body)}"
    assert verify_signature(SECRET, body, both, now=AT) == t
    assert verify_signature("old", body, both, now=AT) == t


@pytest.mark.parametrize(
    "header",
    [
        "",
        "v1=" + "0" * 64,
        "t=1736942400",
        "t=abc,v1=" + "0" * 64,
        "t=1736942400,t=1736942400,v1=" + "0" * 64,
        "t=1736942400,v1=" + "0" * 63,
        "t=1736942400,v1=" + "G" * 64,
        "t=1736942400,v1=" + "A" * 64,
        "t=1736942400;v1=" + "0" * 64,
        "t=1736942400,v1",
        "t=-1736942400,v1=" + "0" * 64,
        "t=1736942400,v1=" + "0" * 64 + ",x" * 600,
    ],
)
def test_malformed_headers_are_refused_clearly(header: str) -> None:
    with pytest.raises(MalformedSignature) as refused:
        verify_signature(SECRET, b"{}", header, now=AT)
    assert isinstance(refused.value, SignatureError)
    assert isinstance(refused.value, ValueError)


def test_a_huge_timestamp_is_stale_not_a_crash() -> None:
    header = "t=999999999999,v1=" + "0" * 64
    with pytest.raises(StaleSignature):
        verify_signature(SECRET, b"{}", header, now=AT)


def test_creation_and_reasons_are_in_the_payload() -> None:
    created = Transition("inv_1", "t1", 1, None, InvoiceStatus.PENDING, "sme", Role.SME, AT)
    rejected = Transition(
        "inv_1",
        "t1",
        2,
        InvoiceStatus.PENDING,
        InvoiceStatus.REJECTED,
        "adm",
        Role.ADMIN,
        AT + timedelta(milliseconds=1500),
        reason="Buyer unknown \u00e9",
    )
    assert transition_payload(created, AT)["event"] == "invoice.created"
    payload = json.loads(serialise(transition_payload(rejected, AT)))
    assert payload["event"] == "invoice.pending_to_rejected"
    assert payload["transition"]["reason"] == "Buyer unknown \u00e9"
    assert payload["transition"]["transitionedAt"] == "2025-01-15T12:00:01.500Z"


def _node_receiver() -> str:
    text = DOCS.read_text(encoding="utf-8")
    [snippet] = re.findall(r"```javascript\n(.*?)```", text, re.DOTALL)
    return str(snippet)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_documented_node_receiver_agrees_with_the_library() -> None:
    body = serialise(transition_payload(spec_transition(), AT))
    good = signature_header(SECRET, body, AT)
    cases = {
        "good": (good, body, True),
        "flipped": (good, body.replace(b"approved", b"approvee"), False),
        "stale": (signature_header(SECRET, body, AT - timedelta(minutes=6)), body, False),
        "malformed": ("t=1,v1=zz", body, False),
    }
    script = _node_receiver() + (
        "\nconst cases = JSON.parse(process.argv[1]);\nconst out = {};\n"
        "for (const [name, [header, bodyHex]] of Object.entries(cases)) {\n"
        f"  out[name] = isGenuineWebhook({json.dumps(SECRET)}, Buffer.from(bodyHex, 'hex'), "
        f"header, {int(AT.timestamp() * 1000)});\n"
        "}\nconsole.log(JSON.stringify(out));\n"
    )
    argument = json.dumps({name: [h, b.hex()] for name, (h, b, _) in cases.items()})
    result = subprocess.run(
        ["node", "-e", script, argument],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    verdicts = json.loads(result.stdout)
    assert verdicts == {name: expected for name, (_, _, expected) in cases.items()}
