"""Every shell command in README.md and docs/*.md runs as printed (issue 9 item 14).

The README's "Walkthrough" section is run for real: its ```sh blocks, in order, in one bash
session (``set -euo pipefail``: any failing command fails the test and names its block),
against a started ``liquifact serve`` (SQLite in a temp dir, demo data, a development JWT
secret shared with ``make token``). Every other sh/bash block of the README and docs/*.md must
say why it is not run with a ``<!-- not-run: reason -->`` line right above it, so a new block
can never be skipped silently.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path

import attrs
import pytest

from tests.integration.server import running_server

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WALKTHROUGH = "## Walkthrough"
FENCE = re.compile(r"^```(\w*)\s*$")


@attrs.frozen
class Block:
    document: str
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    section: str  # the "## " heading above it
    marker: str | None  # the "<!-- not-run: ... -->" line right above it, if any


def shell_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file (every language; see ``Block``)."""
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            section = line
        opening = FENCE.match(line)
        if opening is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        above = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = above if above.startswith("<!-- not-run") else None
        code = "\n".join(lines[index + 1 : end]) + "\n"
        blocks.append(Block(path.name, index + 1, opening.group(1), code, section, marker))
        index = end + 1
    return blocks


def _shell(blocks: list[Block]) -> list[Block]:
    return [block for block in blocks if block.language in ("sh", "bash", "shell")]


def walkthrough() -> list[Block]:
    return [
        block
        for block in _shell(shell_blocks(ROOT / "README.md"))
        if block.section.startswith(WALKTHROUGH)
    ]


def test_every_shell_block_is_run_or_says_why_not() -> None:
    unmarked = [
        f"{block.document}:{block.line}"
        for path in DOCUMENTS
        for block in _shell(shell_blocks(path))
        if block.marker is None and not block.section.startswith(WALKTHROUGH)
    ]
    assert unmarked == []
    marked = [
        block
        for path in DOCUMENTS
        for block in _shell(shell_blocks(path))
        if block.marker is not None
    ]
    # A marker names its reason, and the walkthrough itself has none.
    assert all(re.match(r"<!-- not-run: \S.* -->$", block.marker or "") for block in marked)
    assert all(block.marker is None for block in walkthrough())


def test_the_walkthrough_covers_the_funding_flow() -> None:
    """Create (as the SME), approve, link, fund with an Idempotency-Key, replay, locks."""
    script = "".join(block.code for block in walkthrough())
    assert len(walkthrough()) >= 5
    for step in (
        'POST "$API/v1/invoices" -H "Authorization: Bearer $SME"',
        "/approve",
        "/link-escrow",
        "/v1/invest/fund-invoice",
        "Idempotency-Key: fund-$INVOICE",
        "idempotent-replayed: true",
        "/v1/investor/locks",
    ):
        assert step in script


def _environment(secret_file: Path, base: str) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        # A surrounding make (make test) must not leak its flags into `make -s token`; a real
        # JWT secret in the environment would win over the server's file.
        if name not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "JWT_SECRET", "JWT_SECRET_FILE"}
    }
    return {**inherited, "API": base, "JWT_SECRET_FILE": str(secret_file)}


@pytest.mark.slow
def test_the_walkthrough_runs_as_printed_against_a_real_server(tmp_path: Path) -> None:
    secret_file = tmp_path / "dev-jwt-secret"
    secret_file.write_text(secrets.token_urlsafe(48))
    secret_file.chmod(0o600)
    server_env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'walkthrough.db'}",
        "JWT_SECRET_FILE": str(secret_file),
        "LOG_LEVEL": "warning",
    }
    blocks = walkthrough()
    script = ["set -euo pipefail"]
    for number, block in enumerate(blocks, start=1):
        script += [block.code, f"printf '\\n::block {number} ok\\n'"]
    with running_server(server_env, "--seed-demo-if-empty", cwd=tmp_path) as base:
        result = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=ROOT,  # `make -s token` runs from the checkout, as a reader's shell does
            env=_environment(secret_file, base),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    done = re.findall(r"^::block (\d+) ok$", result.stdout, re.MULTILINE)
    failed = blocks[len(done)] if len(done) < len(blocks) else None
    where = f"README.md:{failed.line}" if failed else "after the last block"
    assert result.returncode == 0, f"failed in the block at {where}:\n{result.stderr[-3000:]}"
    assert len(done) == len(blocks)
    assert "replayed: the same answer" in result.stdout
    assert re.search(r'"status":\s*"pending"', result.stdout)  # the commitment, then the lock
