"""DATABASE_URL selects PostgreSQL: settings, the composition root and library use."""

from __future__ import annotations

from pathlib import Path

import pytest

from liquifact_adapters.composition import postgres_url_of, sqlite_path_of
from liquifact_adapters.postgres import PostgresStore, known_migrations
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_http.bootstrap import (
    PostgresMigrations,
    SchemaOutdated,
    build_services,
    build_store,
    migration_runner,
)
from liquifact_http.settings import ConfigError, Settings, load_settings
from tests.factories import invoice_draft, new_tenant
from tests.pg import fresh_database

NO_DOTENV = Path("/nonexistent/.env")


@pytest.mark.parametrize(
    "url",
    ["postgresql://app:pw@db.internal:5432/liquifact", "postgres://db/liquifact?sslmode=require"],
)
def test_postgres_urls_and_pool_settings_are_accepted(url: str) -> None:
    settings = load_settings(
        {
            "DATABASE_URL": url,
            "DATABASE_POOL_MIN_SIZE": "2",
            "DATABASE_POOL_MAX_SIZE": "20",
            "DATABASE_STATEMENT_TIMEOUT_MS": "1500",
            "DATABASE_APP_ROLE": "tenant_app",
        },
        env_file=NO_DOTENV,
    )

    assert postgres_url_of(settings.database_url) == url
    assert sqlite_path_of(settings.database_url) is None
    assert (settings.database_pool_min_size, settings.database_pool_max_size) == (2, 20)
    assert settings.database_statement_timeout_ms == 1500
    assert settings.database_app_role == "tenant_app"
    assert "pw" not in repr(settings)


def test_bad_database_settings_are_reported_by_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "DATABASE_POOL_MIN_SIZE": "-1",
                "DATABASE_POOL_MAX_SIZE": "0",
                "DATABASE_STATEMENT_TIMEOUT_MS": "soon",
                "DATABASE_APP_ROLE": "App-Role",
            },
            env_file=NO_DOTENV,
        )

    assert [key for key, _ in caught.value.problems] == [
        "DATABASE_POOL_MIN_SIZE",
        "DATABASE_POOL_MAX_SIZE",
        "DATABASE_STATEMENT_TIMEOUT_MS",
        "DATABASE_APP_ROLE",
    ]


def test_a_pool_minimum_above_the_maximum_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {"DATABASE_POOL_MIN_SIZE": "8", "DATABASE_POOL_MAX_SIZE": "4"}, env_file=NO_DOTENV
        )

    assert caught.value.problems == [
        ("DATABASE_POOL_MIN_SIZE", "must not exceed DATABASE_POOL_MAX_SIZE")
    ]


def test_the_embedded_store_stays_the_default(tmp_path: Path) -> None:
    store = build_store(Settings(database_url=f"sqlite:///{tmp_path / 'default.db'}"))
    try:
        assert isinstance(store, SqliteStore)
    finally:
        store.close()
    assert not isinstance(migration_runner(Settings()), PostgresMigrations)


@pytest.mark.postgres
def test_library_use_on_postgres(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url, database_pool_max_size=2)
    services = build_services(settings)
    tenant, sme, admin = new_tenant(), Actor("sme-1", Role.SME), Actor("ops-1", Role.ADMIN)
    try:
        assert isinstance(services.store, PostgresStore)
        invoice = services.invoices.submit(tenant, sme, invoice_draft())
        services.invoices.approve(tenant, admin, invoice.id)
        assert services.invoices.get(tenant, admin, invoice.id).status is InvoiceStatus.APPROVED
    finally:
        services.close()


@pytest.mark.postgres
def test_an_outdated_schema_stops_the_composition_root() -> None:
    with fresh_database() as url:
        with pytest.raises(SchemaOutdated) as caught:
            build_store(Settings(database_url=url))

        assert "liquifact db migrate" in str(caught.value)
        assert caught.value.pending == tuple(m.label for m in known_migrations())

        runner = migration_runner(Settings(database_url=url))
        assert runner.migrate() == [m.label for m in known_migrations()]
        build_store(Settings(database_url=url)).close()
