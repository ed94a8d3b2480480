"""Every environment variable, read once into a frozen object, validated before the server binds.

``FIELDS`` is the single table of settings; docs/configuration.md documents each (a test checks).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from dotenv import dotenv_values

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
DEFAULT_DATABASE_URL = "sqlite:///./var/liquifact.db"
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(Exception):
    """Invalid configuration: every failing key with a reason, never a value."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {reason}" for key, reason in problems))
        self.problems = problems

    def report(self) -> str:
        lines = ["Invalid configuration; the server was not started:"]
        lines += [f"  - {key}: {reason}" for key, reason in self.problems]
        return "\n".join(lines)


@attrs.frozen
class Settings:
    host: str = "127.0.0.1"
    port: int = 3001
    # A PostgreSQL URL can carry a password; keep it out of reprs, logs and tracebacks.
    database_url: str = attrs.field(default=DEFAULT_DATABASE_URL, repr=False)
    log_level: str = "info"
    log_format: str = "auto"
    environment: str = "development"
    jwt_secret: str | None = attrs.field(default=None, repr=False)
    database_pool_min_size: int = 1
    database_pool_max_size: int = 10
    database_statement_timeout_ms: int = 5000
    database_app_role: str = "liquifact_app"

    @property
    def sqlite_path(self) -> str | None:
        """The SQLite file for a ``sqlite:///`` URL, else None."""
        if self.database_url.startswith(SQLITE_PREFIX):
            return self.database_url[len(SQLITE_PREFIX) :]
        return None

    @property
    def postgres_url(self) -> str | None:
        """The libpq URL for a ``postgresql://`` (or ``postgres://``) URL, else None."""
        if self.database_url.startswith(POSTGRES_PREFIXES):
            return self.database_url
        return None


def _port(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError("must be an integer from 1 to 65535")
    return int(raw)


def _host(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]{1,253}", raw):
        raise ValueError("must be a hostname or IP address")
    return raw


def _database_url(raw: str) -> str:
    if raw.startswith(SQLITE_PREFIX) and len(raw) > len(SQLITE_PREFIX):
        return raw
    if raw.startswith(POSTGRES_PREFIXES):
        return raw
    raise ValueError("must be sqlite:///<path> or postgresql://<user>@<host>:<port>/<database>")


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            raise ValueError(f"must be an integer from {low} to {high}")
        return int(raw)

    return parse


def _role_name(raw: str) -> str:
    # The adapter's rule too: lower case, so the name is the same quoted or not in psql.
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", raw):
        raise ValueError("must be 1-63 of [a-z0-9_], not starting with a digit")
    return raw


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError(f"must be one of: {', '.join(options)}")
        return value

    return parse


def _secret(min_length: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if len(raw) < min_length:
            raise ValueError(f"must be at least {min_length} characters")
        return raw

    return parse


@attrs.frozen
class Field:
    """One setting: its env name, the Settings attribute, its parser, and whether it is secret."""

    env: str
    attribute: str
    parse: Callable[[str], Any]
    secret: bool = False


FIELDS: tuple[Field, ...] = (
    Field("HOST", "host", _host),
    Field("PORT", "port", _port),
    Field("DATABASE_URL", "database_url", _database_url, secret=True),
    Field("LOG_LEVEL", "log_level", _choice(*LOG_LEVELS)),
    Field("LOG_FORMAT", "log_format", _choice("auto", "json", "console")),
    Field("NODE_ENV", "environment", _choice("development", "test", "staging", "production")),
    Field("JWT_SECRET", "jwt_secret", _secret(32), secret=True),
    Field("DATABASE_POOL_MIN_SIZE", "database_pool_min_size", _int_range(0, 100)),
    Field("DATABASE_POOL_MAX_SIZE", "database_pool_max_size", _int_range(1, 1000)),
    Field(
        "DATABASE_STATEMENT_TIMEOUT_MS", "database_statement_timeout_ms", _int_range(1, 3_600_000)
    ),
    Field("DATABASE_APP_ROLE", "database_app_role", _role_name),
)


def _cross_field_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    defaults = Settings()
    low = values.get("database_pool_min_size", defaults.database_pool_min_size)
    high = values.get("database_pool_max_size", defaults.database_pool_max_size)
    if low > high:
        return [("DATABASE_POOL_MIN_SIZE", "must not exceed DATABASE_POOL_MAX_SIZE")]
    return []


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Settings:
    """Settings from ``environ`` (default: the process env) over a ``.env`` file, if present.

    Raises ConfigError listing every failing key; reasons never include the value.
    """
    source: dict[str, str] = {}
    dotenv_path = env_file if env_file is not None else Path(".env")
    if dotenv_path.is_file():
        source.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    source.update(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for field in FIELDS:
        raw = source.get(field.env)
        if raw is None or raw == "":
            continue
        try:
            values[field.attribute] = field.parse(raw)
        except ValueError as error:
            problems.append((field.env, str(error)))
    problems += _cross_field_problems(values)
    if problems:
        raise ConfigError(problems)
    return Settings(**values)
