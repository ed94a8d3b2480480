"""The settings gate: every failing key reported, no value ever printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from liquifact_adapters.composition import sqlite_path_of
from liquifact_core.network import NetworkName
from liquifact_http.settings import ConfigError, Settings, load_settings
from tests.auth_helpers import SEP10_SECRET

NO_DOTENV = Path("/nonexistent/.env")


def test_defaults() -> None:
    settings = load_settings({}, env_file=NO_DOTENV)
    assert settings == Settings()
    assert settings.port == 3001 and settings.host == "127.0.0.1"
    assert sqlite_path_of(settings.database_url) == "./var/liquifact.db"


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


# ---- authentication, CORS and proxy settings --------------------------------------------------
def _problems(environ: dict[str, str]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, env_file=NO_DOTENV)
    return caught.value.problems


def test_auth_defaults() -> None:
    settings = load_settings({}, env_file=NO_DOTENV)
    assert settings.jwt_secret is None and settings.jwt_algorithms == ("HS256",)
    assert settings.jwt_leeway_seconds == 30 and settings.api_keys == ()
    assert settings.cors_allowed_origins == () and not settings.trust_proxy.enabled


@pytest.mark.parametrize("algorithms", ["none", "HS256,none", "HS256, None", "NONE"])
def test_alg_none_is_refused_even_when_listed(algorithms: str) -> None:
    problems = _problems({"JWT_ALGORITHMS": algorithms, "JWT_SECRET": "s" * 64})
    assert problems == [("JWT_ALGORITHMS", "'none' is never allowed: tokens must be signed")]


@pytest.mark.parametrize("algorithms", ["RS256", "HS256,ES256", "hs256", ",", "HS1"])
def test_only_hmac_algorithms_are_supported(algorithms: str) -> None:
    assert [key for key, _ in _problems({"JWT_ALGORITHMS": algorithms})] == ["JWT_ALGORITHMS"]


def test_secret_must_be_long_enough_for_every_listed_algorithm() -> None:
    environ = {"JWT_ALGORITHMS": "HS256,HS512", "JWT_SECRET": "s" * 48}
    assert _problems(environ) == [
        ("JWT_SECRET", "must be at least 64 bytes for the JWT_ALGORITHMS listed")
    ]
    assert load_settings(
        {**environ, "JWT_SECRET": "s" * 64}, env_file=NO_DOTENV
    ).jwt_algorithms == (
        "HS256",
        "HS512",
    )


def test_secret_file_is_read_when_no_secret_is_set(tmp_path: Path) -> None:
    secret_file = tmp_path / "jwt"
    secret_file.write_text("f" * 40 + "\n")
    assert load_settings({"JWT_SECRET_FILE": str(secret_file)}, env_file=NO_DOTENV).jwt_secret == (
        "f" * 40
    )
    both = {"JWT_SECRET_FILE": str(secret_file), "JWT_SECRET": "e" * 40}
    assert load_settings(both, env_file=NO_DOTENV).jwt_secret == "e" * 40
    secret_file.write_text("short")
    problems = _problems({"JWT_SECRET_FILE": str(secret_file)})
    assert problems == [("JWT_SECRET_FILE", "must name a file holding at least 32 characters")]
    assert [k for k, _ in _problems({"JWT_SECRET_FILE": str(tmp_path / "missing")})] == [
        "JWT_SECRET_FILE"
    ]


SIGN_IN = {"SEP10_SIGNING_SECRET": SEP10_SECRET, "HOME_DOMAIN": "api.example.com"}
# A well-formed Fernet key: production requires one for webhook secrets.
WEBHOOK_KEY = {"WEBHOOK_SECRETS_KEY": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="}
# Invoice documents on the local store sign their URLs with it (S3_BUCKET instead: no need).
STORAGE_KEY = {"STORAGE_URL_SECRET": "s" * 32}


def test_production_needs_a_way_to_authenticate() -> None:
    production = {
        "NODE_ENV": "production",
        "CURSOR_SECRET": "c" * 32,
        **SIGN_IN,
        **WEBHOOK_KEY,
        **STORAGE_KEY,
    }
    problems = _problems(production)
    assert [key for key, _ in problems] == ["JWT_SECRET"]
    assert load_settings({**production, "JWT_SECRET": "p" * 32}, env_file=NO_DOTENV)
    keys = '{"key":"lf_prod_key_1","clientId":"svc","scopes":["invoices:read"]}'
    assert load_settings({**production, "API_KEYS": keys}, env_file=NO_DOTENV)


def test_production_reports_every_missing_setting_at_once() -> None:
    problems = _problems({"NODE_ENV": "production"})
    assert sorted(key for key, _ in problems) == [
        "CURSOR_SECRET",
        "HOME_DOMAIN",
        "JWT_SECRET",
        "SEP10_SIGNING_SECRET",
        "STORAGE_URL_SECRET",
        "WEBHOOK_SECRETS_KEY",
    ]


def test_production_needs_a_storage_url_secret_unless_documents_are_in_s3() -> None:
    production = {
        "NODE_ENV": "production",
        "CURSOR_SECRET": "c" * 32,
        "JWT_SECRET": "p" * 32,
        **SIGN_IN,
        **WEBHOOK_KEY,
    }
    assert [key for key, _ in _problems(production)] == ["STORAGE_URL_SECRET"]
    assert load_settings({**production, **STORAGE_KEY}, env_file=NO_DOTENV)
    in_s3 = load_settings({**production, "S3_BUCKET": "lf-docs"}, env_file=NO_DOTENV)
    assert in_s3.s3_bucket == "lf-docs"
    assert "s" * 32 not in repr(load_settings({**production, **STORAGE_KEY}, env_file=NO_DOTENV))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("S3_BUCKET", "Not_A_Bucket"),
        ("AWS_REGION", "mars"),
        ("S3_ENDPOINT", "ftp://x"),
        ("STORAGE_URL_SECRET", "short"),
    ],
)
def test_storage_settings_are_checked(name: str, value: str) -> None:
    environ = {name: value} if name == "S3_BUCKET" else {"S3_BUCKET": "lf-docs", name: value}
    assert name in {key for key, _ in _problems(environ)}


def test_an_s3_endpoint_needs_a_bucket() -> None:
    assert [key for key, _ in _problems({"S3_ENDPOINT": "http://127.0.0.1:9000"})] == [
        "S3_ENDPOINT"
    ]


def test_wallet_sign_in_settings() -> None:
    settings = load_settings(
        {
            "HOME_DOMAIN": "API.Example.com",
            "STELLAR_NETWORK": "mainnet",
            "SEP10_JWT_TTL_SECONDS": "7200",
            "JWT_MAX_TTL_SECONDS": "600",
            "SEP10_CLIENT_DOMAINS": "wallet.example, Other.example",
            **{"SEP10_SIGNING_SECRET": SEP10_SECRET},
        },
        env_file=NO_DOTENV,
    )
    assert settings.sign_in_endpoint == "https://api.example.com/v1/auth"
    assert settings.network_passphrase == "Public Global Stellar Network ; September 2015"
    assert settings.sign_in_token_ttl_seconds == 600
    assert settings.sep10_client_domains == ("wallet.example", "other.example")
    assert SEP10_SECRET not in repr(settings)
    bad = {
        "SEP10_SIGNING_SECRET": "S" + "A" * 55,
        "HOME_DOMAIN": "https://x.example/",
        "STELLAR_NETWORK": "pubnet",
        "HORIZON_URL": "ftp://horizon",
        "SELF_SERVICE_TENANT": "a b",
    }
    assert sorted(key for key, _ in _problems(bad)) == sorted(bad)
    assert all(SEP10_SECRET not in reason for _, reason in _problems(bad))
    production = _problems(
        {"NODE_ENV": "production", "SEP10_CLIENT_DOMAIN_ALLOW_HTTP": "true", **SIGN_IN}
    )
    assert "SEP10_CLIENT_DOMAIN_ALLOW_HTTP" in {key for key, _ in production}


def test_issuer_audience_and_leeway() -> None:
    settings = load_settings(
        {"JWT_ISSUER": "https://auth.example", "JWT_AUDIENCE": "api", "JWT_LEEWAY_SECONDS": "0"},
        env_file=NO_DOTENV,
    )
    assert (settings.jwt_issuer, settings.jwt_audience, settings.jwt_leeway_seconds) == (
        "https://auth.example",
        "api",
        0,
    )
    for leeway in ("301", "-1", "1.5", "x"):
        assert [k for k, _ in _problems({"JWT_LEEWAY_SECONDS": leeway})] == ["JWT_LEEWAY_SECONDS"]


def test_cors_origins_are_exact_and_normalised() -> None:
    settings = load_settings(
        {"CORS_ALLOWED_ORIGINS": "https://App.Example.com, http://localhost:5173,https://a.b:443"},
        env_file=NO_DOTENV,
    )
    assert settings.cors_allowed_origins == (
        "https://app.example.com",
        "http://localhost:5173",
        "https://a.b",
    )


@pytest.mark.parametrize(
    "origin",
    ["*", "null", "https://app.example.com/", "https://x.com/path", "ftp://x.com", "x.com"],
)
def test_cors_wildcards_paths_and_junk_are_refused(origin: str) -> None:
    problems = _problems({"CORS_ALLOWED_ORIGINS": f"https://ok.example,{origin}"})
    assert [key for key, _ in problems] == ["CORS_ALLOWED_ORIGINS"]
    assert "entry 2" in problems[0][1]


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("1", True), ("false", False)])
def test_trust_proxy(raw: str, value: bool) -> None:
    assert load_settings({"TRUST_PROXY": raw}, env_file=NO_DOTENV).trust_proxy.enabled is value


def test_worker_settings_and_the_embedded_worker_default() -> None:
    default = load_settings({}, env_file=Path("/nonexistent"))
    assert default.runs_embedded_worker  # the embedded SQLite store
    assert (default.worker_lease_seconds, default.job_retry_base_delay_ms) == (60, 500)
    postgres = {"DATABASE_URL": "postgresql://app@db:5432/liquifact"}
    assert not load_settings(postgres, env_file=Path("/nonexistent")).runs_embedded_worker
    forced = load_settings({**postgres, "EMBEDDED_WORKER": "true"}, env_file=Path("/nonexistent"))
    assert forced.runs_embedded_worker
    with pytest.raises(ConfigError) as refused:
        load_settings(
            {"JOB_RETRY_BASE_DELAY_MS": "20000", "WORKER_CONCURRENCY": "0"},
            env_file=Path("/nonexistent"),
        )
    assert [key for key, _ in refused.value.problems] == [
        "WORKER_CONCURRENCY",
        "JOB_RETRY_BASE_DELAY_MS",
    ]


def test_the_network_gate_defaults_to_testnet_and_its_rpc_url() -> None:
    stellar = load_settings({}, env_file=NO_DOTENV).stellar
    assert stellar.name is NetworkName.TESTNET
    assert stellar.rpc_url == "https://soroban-testnet.stellar.org"
    assert stellar.passphrase == "Test SDF Network ; September 2015"
    mainnet = load_settings(
        {"STELLAR_NETWORK": "MAINNET", "SOROBAN_RPC_URL": "https://soroban.stellar.org"},
        env_file=NO_DOTENV,
    )
    assert mainnet.stellar.name is NetworkName.MAINNET
    assert mainnet.network_passphrase == mainnet.stellar.passphrase  # SEP-10 signs for it too


def test_a_mismatched_network_and_rpc_url_stop_the_server_with_the_specs_message() -> None:
    problems = _problems(
        {"STELLAR_NETWORK": "TESTNET", "SOROBAN_RPC_URL": "https://custom-rpc.example.com"}
    )
    assert problems == [
        (
            "SOROBAN_RPC_URL",
            'Mismatch: STELLAR_NETWORK=TESTNET requires SOROBAN_RPC_URL="https://soroban-testnet'
            '.stellar.org", but got "https://custom-rpc.example.com". This combination would '
            "cause on-chain validation failures.",
        )
    ]


def test_standalone_takes_only_a_loopback_rpc_url() -> None:
    local = {"STELLAR_NETWORK": "standalone", "SOROBAN_RPC_URL": "http://127.0.0.1:8000/rpc"}
    settings = load_settings(local, env_file=NO_DOTENV)
    assert settings.stellar.rpc_url == "http://127.0.0.1:8000/rpc"
    assert settings.network_passphrase == "Standalone Network ; February 2017"
    remote = _problems({**local, "SOROBAN_RPC_URL": "http://10.1.2.3:8000/rpc"})
    assert [key for key, _ in remote] == ["SOROBAN_RPC_URL"]
    assert "loopback" in remote[0][1]
    assert [key for key, _ in _problems({"STELLAR_NETWORK": "STANDALONE"})] == ["SOROBAN_RPC_URL"]


def test_an_unknown_network_is_reported_alone() -> None:
    # Not also as a mismatch against the default network.
    problems = _problems({"STELLAR_NETWORK": "pubnet", "SOROBAN_RPC_URL": "https://x.example"})
    assert [key for key, _ in problems] == ["STELLAR_NETWORK"]
    assert "TESTNET, MAINNET, FUTURENET, STANDALONE" in problems[0][1]
