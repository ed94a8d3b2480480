"""The import-linter contracts in pyproject.toml cover every adapter subpackage (issue 8,
item 6): a framework import added to any adapter breaks `make test`, not only in postgres."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = {
    "starlette", "uvicorn", "sentry_sdk", "prometheus_client", "jwt", "dotenv", "liquifact_http",
}  # fmt: skip


def _contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _adapter_subpackages() -> set[str]:
    adapters = ROOT / "liquifact_adapters"
    return {
        f"liquifact_adapters.{path.parent.name}"
        for path in adapters.glob("*/__init__.py")
        if path.parent.name != "migrations"
    }


def test_every_adapter_subpackage_bans_every_framework() -> None:
    banned: dict[str, set[str]] = {}
    for contract in _contracts():
        if contract["type"] != "forbidden":
            continue
        for source in contract["source_modules"]:
            banned.setdefault(source, set()).update(contract["forbidden_modules"])

    subpackages = _adapter_subpackages()
    assert subpackages >= {"liquifact_adapters.sqlite", "liquifact_adapters.memory"}
    for subpackage in sorted(subpackages):
        assert banned.get(subpackage, set()) >= FRAMEWORKS, subpackage


def test_adapter_technologies_stay_independent() -> None:
    (independence,) = [c for c in _contracts() if c["type"] == "independence"]
    shared = {"liquifact_adapters.sql"}  # the SQL dialects' common logic, on purpose
    assert set(independence["modules"]) == _adapter_subpackages() - shared
