"""`make run` (development only) lets the usual front-end dev origin call the API, unless the
environment or .env chooses the origins."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVE = "exec .venv/bin/liquifact serve --workers 1 --seed-demo-if-empty"


def _origins_make_run_would_serve(cwd: Path, **env: str) -> str | None:
    """The CORS_ALLOWED_ORIGINS `make run` would start the server with (None: unset), found by
    running the recipe make prints with the server start replaced by a print."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    recipe = (
        subprocess.run(
            [make, "-s", "-n", "-C", str(ROOT), "run"],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert recipe.endswith(SERVE), recipe
    script = recipe.removesuffix(SERVE) + 'printf "%s" "${CORS_ALLOWED_ORIGINS-<unset>}"'
    base = {k: v for k, v in os.environ.items() if k not in ("CORS_ALLOWED_ORIGINS", "NODE_ENV")}
    # A configured secret keeps the recipe from creating the development one in `cwd`.
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env={**base, "JWT_SECRET": "s" * 48, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return None if done.stdout == "<unset>" else done.stdout


def test_make_run_allows_the_dev_front_end_by_default(tmp_path: Path) -> None:
    assert _origins_make_run_would_serve(tmp_path) == "http://localhost:3000"


def test_the_environment_chooses_the_origins(tmp_path: Path) -> None:
    chosen = "https://app.example.com,http://localhost:5173"
    assert _origins_make_run_would_serve(tmp_path, CORS_ALLOWED_ORIGINS=chosen) == chosen
    assert _origins_make_run_would_serve(tmp_path, CORS_ALLOWED_ORIGINS="") == ""


def test_production_gets_no_development_origin(tmp_path: Path) -> None:
    assert _origins_make_run_would_serve(tmp_path, NODE_ENV="production") is None


def test_a_dotenv_setting_is_left_to_the_server(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CORS_ALLOWED_ORIGINS=https://app.example.com\n")
    assert _origins_make_run_would_serve(tmp_path) is None  # the server reads .env itself
