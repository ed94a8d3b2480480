"""The settings gate for KYC and reminders: the provider configured whole or not at all (the
spec's "KYC keys are half-configured" refusal), secrets never echoed, SMTP pairs and bounds;
what the library gets; and the demo seed with KYC that verifies nobody by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from liquifact_adapters.composition import open_services
from liquifact_core.invoices import Actor, InvoiceListQuery
from liquifact_core.kyc import KycStatus
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_http.seed import DEMO_TENANTS, seed_demo
from liquifact_http.settings import ConfigError, load_settings, services_config

NO_DOTENV = Path("/nonexistent/.env")
URL = "https://kyc.example.com"
KEY = "provider-key-123456"
SECRET = "provider-webhook-secret-1"


def _problems(environ: dict[str, str]) -> dict[str, str]:
    with pytest.raises(ConfigError) as refused:
        load_settings(environ, env_file=NO_DOTENV)
    return dict(refused.value.problems)


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"KYC_PROVIDER_URL": URL, "KYC_PROVIDER_SECRET": SECRET}, "KYC_PROVIDER_API_KEY"),
        ({"KYC_PROVIDER_API_KEY": KEY, "KYC_PROVIDER_SECRET": SECRET}, "KYC_PROVIDER_URL"),
        ({"KYC_PROVIDER_URL": URL, "KYC_PROVIDER_API_KEY": KEY}, "KYC_PROVIDER_SECRET"),
        ({"KYC_PROVIDER_SECRET": SECRET}, "KYC_PROVIDER_SECRET"),
    ],
)
def test_a_half_configured_provider_stops_the_process(environ: dict[str, str], key: str) -> None:
    problems = _problems(environ)
    assert key in problems
    report = str(problems)
    for value in (KEY, SECRET):
        assert value not in report


def test_the_provider_is_reached_over_https_in_production() -> None:
    problems = _problems(
        {
            "NODE_ENV": "staging",
            "KYC_PROVIDER_URL": "http://kyc.internal",
            "KYC_PROVIDER_API_KEY": KEY,
            "KYC_PROVIDER_SECRET": SECRET,
        }
    )
    assert problems["KYC_PROVIDER_URL"] == "must be https:// in staging and production"


def test_a_whole_provider_reaches_the_library() -> None:
    settings = load_settings(
        {"KYC_PROVIDER_URL": URL, "KYC_PROVIDER_API_KEY": KEY, "KYC_PROVIDER_SECRET": SECRET},
        env_file=NO_DOTENV,
    )
    config = services_config(settings)
    assert (config.kyc_provider_url, config.kyc_provider_api_key) == (URL, KEY)
    assert KEY not in repr(config) and SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("environment", "explicit", "expected"),
    [
        ("development", None, KycStatus.VERIFIED),
        ("production", None, KycStatus.PENDING),
        ("production", "exempted", KycStatus.EXEMPTED),
        ("test", "pending", KycStatus.PENDING),
    ],
)
def test_the_mock_policy_by_environment(
    environment: str, explicit: str | None, expected: KycStatus
) -> None:
    environ = {"NODE_ENV": environment, "JWT_SECRET": "j" * 32}
    if environment == "production":
        environ.update(
            CURSOR_SECRET="c" * 32,
            SEP10_SIGNING_SECRET="SCZANGBA5YHTNYVVV4C3U252E2B6P6F5T3U6MM63WBSBZATAQI3EBTQ4",
            HOME_DOMAIN="api.example.com",
            WEBHOOK_SECRETS_KEY="A" * 43 + "=",
            STORAGE_URL_SECRET="s" * 32,
        )
    if explicit is not None:
        environ["KYC_MOCK_DEFAULT_STATUS"] = explicit
    settings = load_settings(environ, env_file=NO_DOTENV)
    assert services_config(settings).kyc_mock_default_status is expected


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"SMTP_USER": "mailer"}, "SMTP_PASS"),
        ({"SMTP_PASS": "pw"}, "SMTP_USER"),
        ({"SMTP_FROM": "not an address"}, "SMTP_FROM"),
        ({"SMTP_MAX_RETRIES": "10"}, "SMTP_MAX_RETRIES"),
        (
            {"SMTP_RETRY_BASE_DELAY_MS": "5000", "SMTP_RETRY_MAX_DELAY_MS": "10"},
            "SMTP_RETRY_BASE_DELAY_MS",
        ),
        ({"SMTP_TIMEOUT_MS": "20000"}, "SMTP_TIMEOUT_MS"),
        ({"SMTP_TLS_CA_FILE": "/nonexistent/ca.pem"}, "SMTP_TLS_CA_FILE"),
        ({"MATURITY_REMINDER_DAYS": "0"}, "MATURITY_REMINDER_DAYS"),
        ({"KYC_MOCK_DEFAULT_STATUS": "approved"}, "KYC_MOCK_DEFAULT_STATUS"),
    ],
)
def test_mail_and_reminder_settings_are_checked(environ: dict[str, str], key: str) -> None:
    assert key in _problems(environ)


def test_the_spec_defaults() -> None:
    settings = load_settings({}, env_file=NO_DOTENV)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_from) == (
        None,
        587,
        "noreply@liquifact.com",
    )
    assert (settings.smtp_max_retries, settings.maturity_reminder_days) == (3, 7)
    assert not settings.kyc_provider_configured


def test_the_demo_seed_links_escrows_whatever_the_mock_policy(tmp_path: Path) -> None:
    services = open_services(
        database_url=f"sqlite:///{tmp_path / 'seed.sqlite3'}",
        kyc_mock_default_status=KycStatus.PENDING,
    )
    try:
        assert seed_demo(services) > 0
        admin = Actor("demo-admin", Role.ADMIN)
        for tenant in DEMO_TENANTS:
            linked = services.invoices.list(
                tenant, admin, InvoiceListQuery(status=frozenset({InvoiceStatus.LINKED_ESCROW}))
            )
            assert linked.total == 1
            record, _ = services.kyc.record(tenant, admin, "demo-sme")
            assert record.status is KycStatus.EXEMPTED
        assert seed_demo(services) == 0
    finally:
        services.close()
