"""The job gauges and counters on /metrics move while the embedded worker (started and
stopped by the app's lifespan) runs jobs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from uuid import uuid4

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from liquifact_adapters.memory import InMemoryStore
from liquifact_core.jobs import Job, new_job
from liquifact_http.background import build_worker
from liquifact_http.bootstrap import build_services, create_app
from liquifact_http.metrics import Metrics
from liquifact_http.settings import Settings

TOKEN = "metrics-token-" + "x" * 16
KIND = "test.block"


def scrape(client: TestClient) -> dict[tuple[str, str], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.labels.get("type") == KIND:
                values[(sample.name, KIND)] = sample.value
    return values


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_gauges_and_counters_move_while_the_embedded_worker_runs() -> None:
    settings = Settings(
        worker_concurrency=1, worker_poll_interval_ms=10, metrics_bearer_token=TOKEN
    )
    metrics = Metrics()
    services = build_services(settings, store=InMemoryStore(), metrics=metrics)
    entered, release = threading.Event(), threading.Event()

    def blocking(job: Job) -> None:
        entered.set()
        release.wait(10)

    worker = build_worker(settings, services, metrics, handlers={KIND: blocking})
    app = create_app(settings, services=services, metrics=metrics, worker=worker)
    tenant = f"t-{uuid4().hex[:8]}"
    with services.store.unit_of_work(tenant) as uow:
        for _ in range(2):
            job_id = services.ids.new_id("job_")
            uow.jobs.enqueue(
                new_job(
                    job_id=job_id,
                    tenant_id=tenant,
                    job_type=KIND,
                    payload={},
                    now=services.clock.now(),
                )
            )
        uow.commit()

    with TestClient(app) as client:  # the lifespan starts the worker
        assert entered.wait(10)
        busy = scrape(client)
        assert busy[("liquifact_job_queue_depth", KIND)] == 1  # one thread: one job waits
        assert busy[("liquifact_worker_inflight_count", KIND)] == 1
        assert busy[("liquifact_job_attempts_total", KIND)] == 1
        assert busy[("liquifact_job_successes_total", KIND)] == 0
        release.set()
        wait_for(lambda: scrape(client)[("liquifact_job_successes_total", KIND)] == 2, "2 jobs")
        idle = scrape(client)
    assert idle[("liquifact_job_queue_depth", KIND)] == 0
    assert idle[("liquifact_worker_inflight_count", KIND)] == 0
    assert idle[("liquifact_job_attempts_total", KIND)] == 2
    assert idle[("liquifact_job_dead_letters_total", KIND)] == 0
    assert worker.stopping  # the lifespan stopped it
