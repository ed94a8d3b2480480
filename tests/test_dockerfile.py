"""The Dockerfile keeps its hardening (no Docker engine here: the file itself is checked)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[1]
SECRET_NAME = re.compile(r"SECRET|KEY|PASSWORD|PASSWD|TOKEN|CREDENTIAL|DATABASE_URL", re.I)


@attrs.frozen
class Instruction:
    keyword: str
    argument: str


def _instructions(text: str) -> list[Instruction]:
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, argument = line.partition(" ")
        result.append(Instruction(keyword.upper(), argument.strip()))
    return result


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for instruction in _instructions((ROOT / "Dockerfile").read_text()):
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, "the Dockerfile must start with FROM"
        stages[-1].append(instruction)
    return stages


STAGES = _stages()
FINAL = STAGES[-1]


def _all(keyword: str, stage: list[Instruction] | None = None) -> list[str]:
    instructions = stage if stage is not None else [i for s in STAGES for i in s]
    return [i.argument for i in instructions if i.keyword == keyword]


def _env_names(stage: list[Instruction]) -> list[str]:
    names = []
    for argument in _all("ENV", stage) + _all("ARG", stage):
        names += [token.split("=", 1)[0] for token in shlex.split(argument)]
    return names


def test_multi_stage_on_python_3_11_slim() -> None:
    assert len(STAGES) >= 2
    for stage in STAGES:
        assert stage[0].argument.split()[0] == "python:3.11-slim"
    assert FINAL[0].argument.endswith("AS runtime")


def test_final_stage_runs_as_uid_1001() -> None:
    users = _all("USER", FINAL)
    assert users, "the runtime stage must switch user"
    assert users[-1] in ("1001", "1001:1001", "appuser", "appuser:appgroup")
    runs = " ".join(_all("RUN", FINAL))
    assert "groupadd --gid 1001 appgroup" in runs
    assert "useradd --uid 1001 --gid appgroup" in runs
    keywords = [i.keyword for i in FINAL]
    assert keywords.index("CMD") > max(i for i, k in enumerate(keywords) if k == "USER")


def test_no_secrets_baked_into_the_image() -> None:
    for stage in STAGES:
        for name in _env_names(stage):
            assert not SECRET_NAME.search(name), f"{name} must come from the runtime environment"
    for argument in _all("COPY") + _all("ADD"):
        assert ".env" not in argument and "secret" not in argument.lower()


def test_runtime_environment() -> None:
    names = dict(
        token.split("=", 1) for argument in _all("ENV", FINAL) for token in shlex.split(argument)
    )
    assert names["HOST"] == "0.0.0.0"
    assert names["PORT"] == "3001"
    assert names["NODE_ENV"] == "production"
    assert _all("EXPOSE", FINAL) == ["3001"]
    assert "liquifact" in _all("CMD", FINAL)[-1] and "serve" in _all("CMD", FINAL)[-1]


def test_healthcheck_probes_readyz_without_curl() -> None:
    (healthcheck,) = _all("HEALTHCHECK", FINAL)
    assert "/readyz" in healthcheck
    assert "urllib.request" in healthcheck and "curl" not in healthcheck
    assert "--start-period=" in healthcheck and "--retries=3" in healthcheck


def test_dependencies_come_from_the_lock() -> None:
    runs = " ".join(_all("RUN", STAGES[0]))
    assert "requirements.lock" in " ".join(_all("COPY", STAGES[0]))
    assert re.search(r"pip install (--constraint|-c|--requirement|-r) requirements\.lock", runs)
    assert not any(argument.startswith(". ") for argument in _all("COPY", FINAL))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_runtime_dependency_is_pinned_in_the_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = {
        _normalise(line.split("==")[0])
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line
    }
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0]
        assert _normalise(name) in locked, f"{name} is not pinned in requirements.lock"


@pytest.mark.parametrize("pattern", [".env", ".venv", "var", ".git", ".pytest_cache"])
def test_dockerignore_keeps_local_state_out(pattern: str) -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    assert pattern in lines
