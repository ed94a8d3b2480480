"""The library entry point (``liquifact_adapters.open_services``) works without the HTTP shell.

Each check runs in a fresh interpreter: ``sys.modules`` of the test process already holds every
framework the other tests imported, so only a new process can show what the library loads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from liquifact_adapters import (
    SchemaOutdated,
    ServicesConfig,
    migration_runner,
    open_services,
    open_store,
)
from liquifact_adapters.composition import NoMigrations, SqliteMigrations
from liquifact_adapters.memory import InMemoryStore
from liquifact_adapters.sqlite import SqliteStore
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import InvoiceStatus, Role
from tests.factories import invoice_draft, new_tenant
from tests.redis_support import unique_namespace

ROOT = Path(__file__).resolve().parents[2]
# What the HTTP shell brings in; a library user must get none of it.
SHELL_ONLY = ("starlette", "uvicorn", "sentry_sdk", "prometheus_client", "jwt", "dotenv")
# Appended to every script: prints the shell-only top-level modules the script loaded.
REPORT_MODULES = f"""
import json as _json, sys as _sys
_top = {{name.split(".")[0] for name in _sys.modules}}
print("LOADED=" + _json.dumps(sorted(_top & {set(SHELL_ONLY)!r})))
"""


def run_fresh(code: str, cwd: Path) -> tuple[str, list[str]]:
    """Run ``code`` in a new interpreter in ``cwd``; its stdout and the shell modules it loaded."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("DATABASE_URL", "REDIS_URL"):  # the library reads no environment; prove it
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", code + REPORT_MODULES],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    loaded = json.loads(lines[-1].removeprefix("LOADED="))
    return "\n".join(lines[:-1]), loaded


def test_library_use_loads_no_web_framework(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import liquifact_adapters
        from liquifact_core.invoices import Actor
        from liquifact_core.lifecycle import Role
        from tests.factories import invoice_draft

        services = liquifact_adapters.open_services(
            database_url="sqlite:///{tmp_path / "lib.db"}", cursor_secret="s" * 32
        )
        sme, admin = Actor("sme-1", Role.SME), Actor("ops-1", Role.ADMIN)
        invoice = services.invoices.submit("tenant-lib", sme, invoice_draft())
        services.invoices.approve("tenant-lib", admin, invoice.id)
        print(services.invoices.get("tenant-lib", admin, invoice.id).status.value)
        print(type(services.store).__name__, type(services.cache).__name__)
        services.close()
        """
    )
    output, loaded = run_fresh(script, tmp_path)
    assert output.splitlines() == ["approved", "SqliteStore InProcessCache"]
    assert loaded == []
    assert (tmp_path / "lib.db").is_file()


def test_importing_the_package_loads_no_driver(tmp_path: Path) -> None:
    drivers = "{'psycopg', 'psycopg_pool', 'redis', 'sqlite3', 'cachetools'}"
    script = f"import sys, liquifact_adapters\nprint(sorted({drivers} & set(sys.modules)))"
    output, loaded = run_fresh(script, tmp_path)
    assert output == "[]" and loaded == []


def _readme_library_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Using the domain as a library\n(.*?)(?=^## )", readme, re.M | re.S)
    assert section is not None, "README lost its library section"
    block = re.search(r"^```python\n(.*?)^```", section.group(1), re.M | re.S)
    assert block is not None, "the library section has no python example"
    return block.group(1)


def test_the_readme_library_example_runs_as_printed(tmp_path: Path) -> None:
    example = _readme_library_example()
    assert "liquifact_http" not in example  # the example is the library path, not the shell's
    output, loaded = run_fresh(example, tmp_path)
    # The example ends by printing the approved invoice's status.
    assert output.splitlines()[-1:] == ["approved"]
    assert loaded == []


# ---- the same composition in this process -----------------------------------------------------
def test_open_services_selects_the_store_by_url(tmp_path: Path) -> None:
    sqlite = open_services(database_url=f"sqlite:///{tmp_path / 'a.db'}")
    try:
        assert isinstance(sqlite.store, SqliteStore)
    finally:
        sqlite.close()
    memory = open_services(ServicesConfig(database_url="memory://"))
    assert isinstance(memory.store, InMemoryStore)
    tenant, sme, admin = new_tenant(), Actor("sme-1", Role.SME), Actor("ops-1", Role.ADMIN)
    invoice = memory.invoices.submit(tenant, sme, invoice_draft())
    assert memory.invoices.approve(tenant, admin, invoice.id).status is InvoiceStatus.APPROVED
    assert isinstance(migration_runner(ServicesConfig(database_url="memory://")), NoMigrations)
    runner = migration_runner(ServicesConfig(database_url=f"sqlite:///{tmp_path / 'b.db'}"))
    assert isinstance(runner, SqliteMigrations)
    assert runner.migrate() and runner.migrate() == []  # second run: nothing left to apply


def test_options_override_the_config_and_unknown_names_are_refused(tmp_path: Path) -> None:
    base = ServicesConfig(database_url=f"sqlite:///{tmp_path / 'never.db'}")
    services = open_services(base, database_url="memory://")
    assert isinstance(services.store, InMemoryStore)
    assert not (tmp_path / "never.db").exists()
    with pytest.raises(TypeError):
        open_services(base, databse_url="memory://")


def test_cache_events_reach_plain_callables() -> None:
    evicted: list[str] = []
    services = open_services(
        database_url="memory://", cache_max_entries=1, on_cache_evict=evicted.extend
    )
    services.cache.set("marketplace:t:/a", b"1", 30)
    services.cache.set("marketplace:t:/b", b"2", 30)
    assert evicted == ["marketplace:t:/a"]


@pytest.mark.redis
def test_a_redis_url_selects_the_shared_cache(redis_client: redis.Redis, redis_url: str) -> None:
    prefix = unique_namespace("library")
    services = open_services(database_url="memory://", redis_url=redis_url, redis_key_prefix=prefix)
    services.cache.set("marketplace:t:/a", b"cached", 30)
    # The key the API processes read: the same prefix, the same layout.
    assert redis_client.get(prefix + "cache:marketplace:t:/a") == b"cached"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"database_url": "mysql://root:hunter2@db/x"}, "database_url must be"),
        ({"database_url": "sqlite:///"}, "database_url must be"),
        ({"redis_url": "http://cache"}, "redis_url must be"),
        ({"cursor_secret": "short"}, "cursor_secret must be at least 32"),
        ({"database_pool_min_size": 5, "database_pool_max_size": 2}, "must not be below"),
        ({"idempotency_ttl_hours": 0}, "idempotency_ttl_hours must be at least 1"),
        ({"cache_max_entries": 0}, "cache_max_entries must be at least 1"),
    ],
)
def test_invalid_configuration_names_the_field_never_the_value(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        ServicesConfig(**options)  # type: ignore[arg-type]
    assert "hunter2" not in str(caught.value)


def test_urls_and_secrets_stay_out_of_the_repr() -> None:
    config = ServicesConfig(
        database_url="postgresql://app:hunter2@db/x",
        redis_url="redis://:hunter3@cache/0",
        cursor_secret="c" * 40,
    )
    assert not [secret for secret in ("hunter2", "hunter3", "c" * 40) if secret in repr(config)]


@pytest.mark.postgres
def test_an_unmigrated_postgres_database_raises_schema_outdated() -> None:
    from tests.pg import fresh_database

    with fresh_database() as url:
        config = ServicesConfig(database_url=url, database_pool_max_size=2)
        with pytest.raises(SchemaOutdated) as caught:
            open_services(config)
        assert "liquifact db migrate" in str(caught.value) and caught.value.pending
        migration_runner(config).migrate()
        open_store(config).close()
