"""Driver-neutral loading of SQL-first migrations shipped as package files.

A migrations package holds ``NNNN_name.up.sql`` and ``NNNN_name.down.sql`` pairs. Each SQL
store (``sqlite``, ``postgres``) keeps its own package and applies them with its own driver;
how the files are found and paired is the same for both, so it lives here.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import NamedTuple

import attrs

_FILE_NAME = re.compile(r"(?P<version>[0-9]{4})_(?P<name>[a-z0-9_]+)\.(?P<direction>up|down)\.sql")


@attrs.frozen
class Migration:
    """One schema change and its inverse."""

    version: int
    name: str
    up_sql: str = attrs.field(repr=False)
    down_sql: str = attrs.field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


# A migration that refuses to run on the data it finds raises a message that starts so (SQLite
# RAISE(ABORT, ...) in a temporary trigger, PostgreSQL RAISE EXCEPTION): written for operators.
REFUSAL_PREFIX = "Migration "


class MigrationRefused(Exception):
    """A migration stopped itself, changing nothing, because the data needs an operator first
    (e.g. 0005: contracts linked to more than one invoice). ``str()`` is the migration's own
    message, safe to print: it holds no driver text, connection details or data values."""

    def __init__(self, migration: Migration, message: str) -> None:
        super().__init__(message)
        self.label = migration.label


def refusal_of(migration: Migration, message: str) -> MigrationRefused | None:
    """``MigrationRefused`` when a database error's primary ``message`` is the migration's own
    refusal (it starts with ``REFUSAL_PREFIX``), else None (any other failure stays as is)."""
    return MigrationRefused(migration, message) if message.startswith(REFUSAL_PREFIX) else None


class MigrationStatus(NamedTuple):
    version: int
    name: str
    applied: bool


def load_migrations(package: str) -> tuple[Migration, ...]:
    """Every migration in ``package``, oldest first."""
    scripts: dict[tuple[int, str], dict[str, str]] = {}
    for entry in resources.files(package).iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match is None:
            continue
        key = (int(match["version"]), match["name"])
        scripts.setdefault(key, {})[match["direction"]] = entry.read_text(encoding="utf-8")
    migrations = [
        _paired(version, name, directions)
        for (version, name), directions in sorted(scripts.items())
    ]
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"Two migrations share a version number: {versions}")
    return tuple(migrations)


def _paired(version: int, name: str, directions: dict[str, str]) -> Migration:
    # A migration that cannot be undone would make ``rollback`` lie, so refuse to ship one.
    if set(directions) != {"up", "down"}:
        raise RuntimeError(f"Migration {version:04d}_{name} needs both an up and a down file.")
    return Migration(version, name, directions["up"], directions["down"])


def statuses(known: tuple[Migration, ...], applied: set[int]) -> list[MigrationStatus]:
    """Every known migration with whether its version is in ``applied``, oldest first."""
    return [MigrationStatus(m.version, m.name, m.version in applied) for m in known]


def newest_applied(known: tuple[Migration, ...], applied: set[int]) -> Migration | None:
    """The migration ``rollback`` undoes: the newest applied one, or None when none is.
    RuntimeError when that version is unknown here (newer code applied it: roll back there)."""
    if not applied:
        return None
    newest = max(applied)
    by_version = {migration.version: migration for migration in known}
    if newest not in by_version:
        raise RuntimeError(f"Migration {newest} was applied by newer code; roll back there.")
    return by_version[newest]
