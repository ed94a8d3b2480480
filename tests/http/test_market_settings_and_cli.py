"""CURSOR_SECRET, IDEMPOTENCY_KEY_TTL_HOURS and ``liquifact idempotency purge``."""

from __future__ import annotations

from pathlib import Path

import pytest

from liquifact_http.cli import development_cursor_secret, main
from liquifact_http.settings import ConfigError, load_settings
from tests.auth_helpers import SEP10_SECRET

NO_DOTENV = Path("/nonexistent/.env")
SECRET = "c" * 48


def test_development_has_no_published_cursor_secret(tmp_path: Path) -> None:
    settings = load_settings({}, env_file=NO_DOTENV)
    assert settings.cursor_secret is None  # `liquifact serve` creates a random file instead
    generated = development_cursor_secret(tmp_path / "var" / "dev-cursor-secret")
    assert len(generated) >= 32
    assert development_cursor_secret(tmp_path / "var" / "dev-cursor-secret") == generated
    assert development_cursor_secret(tmp_path / "other") != generated
    assert settings.idempotency_key_ttl_hours == 24
    assert SECRET not in repr(load_settings({"CURSOR_SECRET": SECRET}, env_file=NO_DOTENV))


# What production needs besides the secrets these tests are about (wallet sign-in).
PRODUCTION = {
    "NODE_ENV": "production",
    "SEP10_SIGNING_SECRET": SEP10_SECRET,
    "HOME_DOMAIN": "api.example.com",
    "WEBHOOK_SECRETS_KEY": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
    "STORAGE_URL_SECRET": "s" * 32,
}


def test_production_requires_a_cursor_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**PRODUCTION, "JWT_SECRET": "j" * 32}, env_file=NO_DOTENV)
    assert caught.value.problems == [("CURSOR_SECRET", "is required when NODE_ENV=production")]
    production = load_settings(
        {**PRODUCTION, "JWT_SECRET": "j" * 32, "CURSOR_SECRET": SECRET}, NO_DOTENV
    )
    assert production.cursor_secret == SECRET


def test_production_takes_the_cursor_secret_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "cursor-secret"
    secret_file.write_text(SECRET + "\n")
    env = {**PRODUCTION, "JWT_SECRET": "j" * 32, "CURSOR_SECRET_FILE": str(secret_file)}
    assert load_settings(env, NO_DOTENV).cursor_secret == SECRET


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"CURSOR_SECRET": "short"}, "CURSOR_SECRET"),
        ({"IDEMPOTENCY_KEY_TTL_HOURS": "0"}, "IDEMPOTENCY_KEY_TTL_HOURS"),
        ({"IDEMPOTENCY_KEY_TTL_HOURS": "24h"}, "IDEMPOTENCY_KEY_TTL_HOURS"),
        ({"IDEMPOTENCY_KEY_TTL_HOURS": "8761"}, "IDEMPOTENCY_KEY_TTL_HOURS"),
    ],
)
def test_bad_values_are_refused(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env, env_file=NO_DOTENV)
    assert [problem[0] for problem in caught.value.problems] == [key]
    assert env.get("CURSOR_SECRET", "\0") not in caught.value.report()


def test_cli_purges_expired_idempotency_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert main(["idempotency", "purge", "--batch-size", "10"]) == 0
    assert "Purged 0 expired idempotency records." in capsys.readouterr().out
