"""The escrow cache's settings: REDIS_ESCROW_CACHE_TTL_SECONDS is strictly clamped to 5..300
(outside values move to the nearer bound; non-integers are refused), and
REDIS_ESCROW_CACHE_ENABLED needs REDIS_URL (the settings gate refuses it alone)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from liquifact_http.settings import (
    ESCROW_CACHE_TTL_RANGE,
    ConfigError,
    load_settings,
    parse_escrow_cache_ttl,
)

LOW, HIGH = ESCROW_CACHE_TTL_RANGE
REDIS = "redis://127.0.0.1:6379/0"


def problems_of(environ: dict[str, str]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        load_settings(environ, env_file=_no_env_file())
    return info.value.problems


def _no_env_file() -> Path:
    return Path("/nonexistent/.env")  # the test's variables only, never a .env file


@given(st.integers(min_value=-(10**30), max_value=10**30))
@example(LOW - 1)
@example(LOW)
@example(HIGH)
@example(HIGH + 1)
@example(0)
def test_every_integer_is_clamped_to_5_to_300(value: int) -> None:
    assert parse_escrow_cache_ttl(str(value)) == min(max(value, LOW), HIGH)


@given(
    st.integers(min_value=LOW, max_value=HIGH),
    st.sampled_from(["{}", " {} ", "+{}", "0{}", "00{}"]),
)
def test_values_in_range_are_kept_as_written(value: int, form: str) -> None:
    # A plus sign, leading zeros or surrounding blanks do not change an integer.
    assert parse_escrow_cache_ttl(form.format(value)) == value


@given(st.text(max_size=12).filter(lambda s: re.fullmatch(r"\s*[+-]?[0-9]+\s*", s) is None))
@example("1.5")
@example("30s")
@example("1e2")
@example("٣٠")  # Arabic-Indic digits: int() reads them, the setting does not
@example("3_0")
def test_anything_but_an_integer_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="integer number of seconds"):
        parse_escrow_cache_ttl(raw)


def test_an_integer_too_long_for_int_is_clamped_not_refused() -> None:
    assert parse_escrow_cache_ttl("9" * 5000) == HIGH
    assert parse_escrow_cache_ttl("-" + "9" * 5000) == LOW


def test_the_settings_read_the_three_variables() -> None:
    settings = load_settings(
        {
            "REDIS_URL": REDIS,
            "REDIS_ESCROW_CACHE_ENABLED": "true",
            "REDIS_ESCROW_CACHE_TTL_SECONDS": "3600",
            "REDIS_ESCROW_LEDGER_GAP_THRESHOLD": "7",
        },
        env_file=_no_env_file(),
    )
    assert settings.redis_escrow_cache_enabled is True
    assert settings.redis_escrow_cache_ttl_seconds == HIGH  # clamped, not refused
    assert settings.redis_escrow_ledger_gap_threshold == 7
    defaults = load_settings({}, env_file=_no_env_file())
    assert (
        defaults.redis_escrow_cache_enabled,
        defaults.redis_escrow_cache_ttl_seconds,
        defaults.redis_escrow_ledger_gap_threshold,
    ) == (False, 30, 20)


def test_enabled_without_redis_url_is_refused_with_a_clear_message() -> None:
    problems = problems_of({"REDIS_ESCROW_CACHE_ENABLED": "true"})
    assert problems == [
        (
            "REDIS_ESCROW_CACHE_ENABLED",
            "requires REDIS_URL: the escrow cache lives in Redis (set REDIS_URL, or leave the "
            "escrow cache off)",
        )
    ]
    # Off, or on with a Redis: accepted.
    assert not load_settings({}, env_file=_no_env_file()).redis_escrow_cache_enabled
    assert (
        load_settings(
            {"REDIS_ESCROW_CACHE_ENABLED": "false", "REDIS_ESCROW_CACHE_TTL_SECONDS": "1"},
            env_file=_no_env_file(),
        ).redis_escrow_cache_ttl_seconds
        == LOW
    )


def test_a_bad_redis_url_is_reported_once_and_bad_values_name_their_keys() -> None:
    problems = problems_of(
        {
            "REDIS_URL": "http://not-redis",
            "REDIS_ESCROW_CACHE_ENABLED": "yes please",
            "REDIS_ESCROW_CACHE_TTL_SECONDS": "1.5",
            "REDIS_ESCROW_LEDGER_GAP_THRESHOLD": "-1",
        }
    )
    assert [key for key, _ in problems] == [
        "REDIS_URL",
        "REDIS_ESCROW_CACHE_ENABLED",
        "REDIS_ESCROW_CACHE_TTL_SECONDS",
        "REDIS_ESCROW_LEDGER_GAP_THRESHOLD",
    ]
    assert all("not-redis" not in reason and "1.5" not in reason for _, reason in problems)
    # The URL alone is wrong: the cache's own requirement is not reported on top of it.
    only_url = problems_of({"REDIS_URL": "http://not-redis", "REDIS_ESCROW_CACHE_ENABLED": "1"})
    assert [key for key, _ in only_url] == ["REDIS_URL"]
