"""Fixtures shared by every suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from liquifact_adapters.postgres import migrate
from tests.pg import fresh_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated database for this test session (one per xdist worker), dropped at the end.

    Suites share it and stay apart by using a random tenant per test; a test that changes the
    schema itself must use ``tests.pg.fresh_database`` instead.
    """
    with fresh_database() as url:
        migrate(url)
        yield url
