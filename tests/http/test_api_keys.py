"""The API_KEYS registry: the spec's format, strict validation, and a lookup without shortcuts."""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from liquifact_http.api_keys import ApiKeysError, ApiScope, find_key, parse_api_keys
from liquifact_http.settings import ConfigError, load_settings

SPEC_EXAMPLE = (
    '{"key":"lf_svc_key_001","clientId":"billing-service","scopes":["invoices:read",'
    '"invoices:write"]};{"key":"lf_old_key_001","clientId":"legacy-service",'
    '"scopes":["invoices:read"],"revoked":true}'
)


def _entry(**fields: Any) -> str:
    base: dict[str, Any] = {"key": "lf_valid_key_1", "clientId": "svc", "scopes": []}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def test_the_spec_example_parses() -> None:
    billing, legacy = parse_api_keys(SPEC_EXAMPLE)
    assert billing.client_id == "billing-service" and not billing.revoked
    assert billing.scopes == {ApiScope.INVOICES_READ, ApiScope.INVOICES_WRITE}
    assert legacy.revoked and billing.tenants is None


def test_keys_are_kept_only_as_digests() -> None:
    registry = parse_api_keys(SPEC_EXAMPLE)
    assert "lf_svc_key_001" not in repr(registry)
    assert all(len(entry.digest) == 32 for entry in registry)


def test_lookup_finds_revoked_and_live_keys_and_nothing_else() -> None:
    registry = parse_api_keys(SPEC_EXAMPLE)
    assert find_key(registry, "lf_svc_key_001") is registry[0]
    assert find_key(registry, "lf_old_key_001") is registry[1]
    for wrong in ("lf_svc_key_00", "lf_svc_key_0011", "", "LF_SVC_KEY_001", "\udcff"):
        assert find_key(registry, wrong) is None


def test_lookup_compares_every_entry_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = parse_api_keys(SPEC_EXAMPLE + ";" + _entry(key="lf_third_key_1", clientId="c3"))
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert find_key(registry, "lf_svc_key_001") is registry[0]  # the first entry matches
    assert len(calls) == 3  # ... and the other two are still compared
    assert {len(a) for a, _ in calls} == {32}  # digests: equal lengths, no length leak


def test_trailing_and_blank_separators_are_fine() -> None:
    assert len(parse_api_keys(f" {_entry()} ;; ")) == 1


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("not json", "entry 1: is not a JSON object"),
        ("[1]", "entry 1: is not a JSON object"),
        (_entry(key="sk_live_123456"), "entry 1: key must be a string starting with lf_"),
        (_entry(key="lf_short"), "entry 1: key must be 10-256 printable ASCII characters"),
        (_entry(key=12345678901), "entry 1: key must be a string starting with lf_"),
        (_entry(clientId=""), "entry 1: clientId must be 1-128 characters of [A-Za-z0-9._:-]"),
        (_entry(clientId=None), "entry 1: clientId must be 1-128 characters of [A-Za-z0-9._:-]"),
        (_entry(scopes=["admin"]), "entry 1: scopes must be a list of: invoices:read, "),
        (_entry(scopes="invoices:read"), "entry 1: scopes must be a list of"),
        (_entry(revoked="yes"), "entry 1: revoked must be true or false"),
        (_entry(tenants=[]), "entry 1: tenants must be a non-empty list"),
        (_entry(tenants=["../x"]), "entry 1: tenants must be a non-empty list"),
        (_entry(revoke=True), "entry 1: unknown field 'revoke'"),
        ("", "no entries"),
    ],
)
def test_malformed_entries_are_refused(raw: str, problem: str) -> None:
    with pytest.raises(ApiKeysError) as caught:
        parse_api_keys(raw)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_duplicates_are_refused_without_naming_the_key() -> None:
    raw = ";".join(
        [
            _entry(key="lf_secret_dup_1", clientId="a"),
            _entry(key="lf_secret_dup_1", clientId="b"),
            _entry(key="lf_secret_other", clientId="a"),
        ]
    )
    with pytest.raises(ApiKeysError) as caught:
        parse_api_keys(raw)
    assert caught.value.problems == [
        "entries 1 and 2 have the same key",
        "entries 1 and 3 have the same clientId",
    ]


def test_the_settings_gate_lists_every_problem_and_never_a_key() -> None:
    raw = ";".join([_entry(key="lf_secret_value_9", scopes=["nope"]), _entry(key="lf_x")])
    with pytest.raises(ConfigError) as caught:
        load_settings({"API_KEYS": raw}, env_file=Path("/nonexistent/.env"))
    assert [key for key, _ in caught.value.problems] == ["API_KEYS", "API_KEYS"]
    report = caught.value.report()
    assert "entry 1: scopes" in report and "entry 2: key" in report
    assert "lf_secret_value_9" not in report and "lf_x" not in report


def test_tenant_limited_keys() -> None:
    (entry,) = parse_api_keys(_entry(tenants=["t-1", "t-2"]))
    assert entry.allows_tenant("t-1") and not entry.allows_tenant("t-3")
