"""Log lines of library-style calls (the job worker's ``extra=``) keep the allowed fields only."""

from __future__ import annotations

import json
import logging

import pytest

from liquifact_http.logs import configure_logging


def test_allowed_extras_reach_the_json_line_and_others_do_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")
    logging.getLogger("liquifact.worker").info(
        "job_settled",
        extra={"job_id": "job_1", "job_type": "webhook_delivery", "attempt": 2, "token": "s3cr3t"},
    )
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    [line] = [line for line in lines if line.get("event") == "job_settled"]
    assert (line["job_id"], line["job_type"], line["attempt"]) == ("job_1", "webhook_delivery", 2)
    assert "token" not in line and "s3cr3t" not in json.dumps(line)


def test_the_retention_purge_line_carries_its_counts(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    logging.getLogger("liquifact.retention").info(
        "retention_purge", extra={"tenant_id": "t1", "dry_run": True, "purged": 3, "held": 1}
    )
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    [line] = [line for line in lines if line.get("event") == "retention_purge"]
    assert (line["tenant_id"], line["dry_run"], line["purged"], line["held"]) == ("t1", True, 3, 1)
