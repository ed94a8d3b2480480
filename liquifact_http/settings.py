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

from liquifact_core.marketplace import DEVELOPMENT_CURSOR_SECRET

SQLITE_PREFIX = "sqlite:///"
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
    database_url: str = DEFAULT_DATABASE_URL
    log_level: str = "info"
    log_format: str = "auto"
    environment: str = "development"
    jwt_secret: str | None = attrs.field(default=None, repr=False)
    # Outside production an insecure, documented default keeps cursors valid across restarts
    # and processes; production refuses to start without a real one.
    cursor_secret: str = attrs.field(default=DEVELOPMENT_CURSOR_SECRET, repr=False)
    idempotency_key_ttl_hours: int = 24

    @property
    def sqlite_path(self) -> str | None:
        """The SQLite file for a ``sqlite:///`` URL, else None."""
        if self.database_url.startswith(SQLITE_PREFIX):
            return self.database_url[len(SQLITE_PREFIX) :]
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
    raise ValueError("must be sqlite:///<path>")


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


def _hours(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 8760:
        raise ValueError("must be an integer number of hours from 1 to 8760")
    return int(raw)


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
    Field("CURSOR_SECRET", "cursor_secret", _secret(32), secret=True),
    Field("IDEMPOTENCY_KEY_TTL_HOURS", "idempotency_key_ttl_hours", _hours),
)
# Settings a production deployment must set explicitly (their defaults are for development).
REQUIRED_IN_PRODUCTION = ("CURSOR_SECRET",)


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
    if values.get("environment") == "production":
        problems += [
            (name, "is required when NODE_ENV=production")
            for name in REQUIRED_IN_PRODUCTION
            if not source.get(name)
        ]
    if problems:
        raise ConfigError(problems)
    return Settings(**values)
