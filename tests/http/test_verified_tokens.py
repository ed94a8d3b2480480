"""Verified bearer tokens are remembered (one signature check per token, not per request),
never past their expiry, never when refused, and within a bound."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import pytest
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.auth import Authenticator
from liquifact_http.bootstrap import create_app
from liquifact_http.settings import Settings
from tests.auth_helpers import TEST_SECRET, bearer, test_settings, token

LIST = "/v1/invoices"
LEEWAY = 30  # JWT_LEEWAY_SECONDS' default


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class CountingAuthenticator(Authenticator):
    """The real authenticator, counting how many times a token goes through every check."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.checks = 0

    def _claims(self, token: str) -> Mapping[str, Any]:
        self.checks += 1
        return super()._claims(token)


def _client(resolver: Authenticator, *, rate_limited: bool = True) -> TestClient:
    settings = test_settings(rate_limit_enabled=rate_limited)
    app = create_app(settings, store=InMemoryStore(), resolve_caller=resolver)
    return TestClient(app)


def test_a_token_is_checked_once_for_many_requests() -> None:
    resolver = CountingAuthenticator(test_settings())
    headers = bearer("admin", "memo-tenant")
    # The rate limiter identifies the caller too: before the memo, two checks per request.
    with _client(resolver) as client:
        for _ in range(3):
            assert client.get(LIST, headers=headers).status_code == 200
    assert resolver.checks == 1


def test_a_remembered_token_is_checked_again_once_it_would_have_expired() -> None:
    clock = FakeClock()
    resolver = CountingAuthenticator(test_settings(), clock=clock)
    now = int(clock.now)
    headers = bearer("admin", "memo-tenant", exp=now - 5, iat=now - 600)  # inside the leeway
    with _client(resolver, rate_limited=False) as client:
        assert client.get(LIST, headers=headers).status_code == 200
        clock.now = now - 5 + LEEWAY - 0.001  # the last moment PyJWT still accepts it
        assert client.get(LIST, headers=headers).status_code == 200
        assert resolver.checks == 1
        clock.now = now - 5 + LEEWAY  # PyJWT would refuse it from here: not served from memory
        client.get(LIST, headers=headers)
    assert resolver.checks == 2


def test_a_fractional_expiry_is_remembered_only_as_long_as_pyjwt_accepts_it() -> None:
    """PyJWT drops the fraction of ``exp`` before comparing: so does the memo."""
    clock = FakeClock()
    resolver = CountingAuthenticator(test_settings(), clock=clock)
    now = int(clock.now)
    headers = bearer("admin", "memo-tenant", exp=now - 5 + 0.98, iat=now - 600)
    with _client(resolver, rate_limited=False) as client:
        assert client.get(LIST, headers=headers).status_code == 200
        clock.now = now - 5 + LEEWAY + 0.5  # past int(exp) + leeway, before exp + leeway
        client.get(LIST, headers=headers)
    assert resolver.checks == 2


def test_a_refused_token_is_checked_and_logged_every_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    resolver = CountingAuthenticator(test_settings())
    forged = {"Authorization": f"Bearer {token('admin', 'memo-tenant', secret=TEST_SECRET * 2)}"}
    with (
        _client(resolver, rate_limited=False) as client,
        caplog.at_level(logging.INFO, logger="liquifact.auth"),
    ):
        statuses = [client.get(LIST, headers=forged).status_code for _ in range(2)]
    assert statuses == [401, 401]
    assert resolver.checks == 2
    failures = [r for r in caplog.records if "authentication_failed" in r.getMessage()]
    assert len(failures) == 2


def test_a_remembered_signature_never_admits_a_bad_claim() -> None:
    resolver = CountingAuthenticator(test_settings())
    headers = bearer("superuser", "memo-tenant")  # signed, but not a role of the API
    with _client(resolver, rate_limited=False) as client:
        statuses = [client.get(LIST, headers=headers).status_code for _ in range(2)]
    assert statuses == [401, 401]


def test_remembered_claims_are_read_only() -> None:
    resolver = Authenticator(test_settings())
    claims = resolver.verify(token("admin", "memo-tenant"))
    with pytest.raises(TypeError):
        claims["role"] = "sme"  # type: ignore[index]


def test_the_memory_is_bounded() -> None:
    resolver = CountingAuthenticator(test_settings(), verified_tokens_max=2)
    first, second, third = (token("admin", "memo-tenant", sub=f"user-{n}") for n in range(3))
    for each in (first, second, third):
        resolver.verify(each)
    resolver.verify(third)
    assert resolver.checks == 3  # the newest is remembered
    resolver.verify(first)  # the oldest was dropped for room: checked again
    assert resolver.checks == 4
