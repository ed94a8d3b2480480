"""``liquifact token``: a development token the running server accepts, never in production."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.bootstrap import create_app
from liquifact_http.cli import main
from tests.auth_helpers import SEP10_SECRET, TEST_SECRET, test_settings
from tests.factories import account_address


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("JWT_SECRET", "JWT_SECRET_FILE", "NODE_ENV", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)


def _mint(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["token", *args]) == 0
    return capsys.readouterr().out.strip()


def test_token_is_accepted_by_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    wallet = account_address()
    minted = _mint(capsys, "--role", "sme", "--tenant", "t-cli", "--wallet", wallet)
    claims = jwt.decode(minted, TEST_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "demo-sme" and claims["role"] == "sme"
    assert claims["walletAddress"] == wallet and claims["exp"] - claims["iat"] == 3600
    with TestClient(create_app(test_settings(), store=InMemoryStore())) as client:
        response = client.get("/v1/invoices", headers={"Authorization": f"Bearer {minted}"})
    assert response.status_code == 200


def test_token_reads_the_secret_file_and_issuer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    secret_file = tmp_path / "dev-jwt-secret"
    secret_file.write_text("d" * 64 + "\n")
    monkeypatch.setenv("JWT_SECRET_FILE", str(secret_file))
    monkeypatch.setenv("JWT_ISSUER", "https://issuer.test")
    minted = _mint(capsys, "--role", "admin", "--tenant", "t", "--sub", "ops-1", "--ttl", "60")
    claims = jwt.decode(minted, "d" * 64, algorithms=["HS256"], issuer="https://issuer.test")
    assert claims["sub"] == "ops-1" and claims["exp"] - claims["iat"] == 60


def test_token_refuses_without_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--role", "admin", "--tenant", "t"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "JWT_SECRET is not set" in captured.err


def test_token_refuses_in_production(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NODE_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("CURSOR_SECRET", "c" * 32)
    monkeypatch.setenv("SEP10_SIGNING_SECRET", SEP10_SECRET)
    monkeypatch.setenv("HOME_DOMAIN", "api.example.com")
    monkeypatch.setenv("WEBHOOK_SECRETS_KEY", "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=")
    monkeypatch.setenv("STORAGE_URL_SECRET", "s" * 32)
    assert main(["token", "--role", "admin", "--tenant", "t"]) == 2
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--tenant", "../x"],
        ["--tenant", "t", "--wallet", "G" + "A" * 55],
        ["--tenant", "t", "--sub", "has space"],
    ],
)
def test_token_refuses_invalid_claims(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    assert main(["token", "--role", "admin", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Cannot mint a token" in captured.err


@pytest.mark.parametrize("args", [["--role", "service"], ["--role", "admin", "--ttl", "0"]])
def test_token_argument_errors(args: list[str]) -> None:
    with pytest.raises(SystemExit):
        main(["token", "--tenant", "t", *args])


def test_token_refuses_a_lifetime_the_server_would_refuse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("JWT_MAX_TTL_SECONDS", "600")
    assert main(["token", "--role", "admin", "--tenant", "t", "--ttl", "601"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "JWT_MAX_TTL_SECONDS (600)" in captured.err
    assert _mint(capsys, "--role", "admin", "--tenant", "t", "--ttl", "600")
