"""The settings gate: every failing key reported, no value ever printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from liquifact_http.settings import ConfigError, Settings, load_settings

NO_DOTENV = Path("/nonexistent/.env")


def test_defaults() -> None:
    settings = load_settings({}, env_file=NO_DOTENV)
    assert settings == Settings()
    assert settings.port == 3001 and settings.host == "127.0.0.1"
    assert settings.sqlite_path == "./var/liquifact.db"


def test_every_bad_key_is_reported_without_its_value() -> None:
    secret = "short-secret-value"
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "PORT": "99999",
                "JWT_SECRET": secret,
                "LOG_LEVEL": "loud",
                "DATABASE_URL": "mysql://x",
            },
            env_file=NO_DOTENV,
        )
    keys = [key for key, _ in caught.value.problems]
    assert keys == ["PORT", "DATABASE_URL", "LOG_LEVEL", "JWT_SECRET"]
    report = caught.value.report()
    assert secret not in report and "mysql://x" not in report


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=4000\nLOG_LEVEL=debug\n")
    settings = load_settings({"PORT": "5000"}, env_file=dotenv)
    assert settings.port == 5000
    assert settings.log_level == "debug"


def test_secret_is_not_in_repr() -> None:
    settings = load_settings({"JWT_SECRET": "x" * 40}, env_file=NO_DOTENV)
    assert settings.jwt_secret == "x" * 40
    assert "x" * 40 not in repr(settings)
