"""A serving process keeps its start-up objects out of the cyclic collector's way."""

from __future__ import annotations

import gc

from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_http.bootstrap import create_app
from liquifact_http.gc_tuning import YOUNG_THRESHOLD, tune_for_serving
from tests.auth_helpers import test_settings


def test_starting_an_app_freezes_what_exists_and_raises_the_young_threshold() -> None:
    app = create_app(test_settings(), store=InMemoryStore())
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.isenabled()  # cycles made while serving are still collected


def test_the_tuning_happens_once_per_process() -> None:
    tune_for_serving()
    frozen = gc.get_freeze_count()
    assert tune_for_serving() is False
    assert gc.get_freeze_count() == frozen
