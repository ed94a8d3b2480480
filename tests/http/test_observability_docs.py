"""docs/prometheus-rules.yml and docs/grafana-dashboard.json: valid, complete, and naming only
metrics the app really emits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from liquifact_http.metrics import Metrics

DOCS = Path(__file__).resolve().parents[2] / "docs"
SPEC_PANELS = {
    "Rejection Rate by Type": "timeseries",
    "Current Rejection Rate": "stat",
    "Rejections by Type (Current)": "bargauge",
    "Cumulative Rejections (Last Hour)": "bargauge",
    "Cumulative Rejections Over Time": "timeseries",
    "Alert Threshold Reference": "bargauge",
    "Historical Rejection Heatmap": "timeseries",
}
PROMQL_WORDS = {
    "rate", "increase", "sum", "min", "max", "avg", "count", "by", "without", "on", "ignoring",
    "and", "or", "unless", "bool", "histogram_quantile", "clamp_min", "le", "offset",
}  # fmt: skip


def emitted_names() -> set[str]:
    """Every series name the app's registry can expose."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_count", "_sum"))
        else:
            names.add(family.name)
    return names


def metric_names(expr: str) -> set[str]:
    bare = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # range selectors
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)  # grouping labels
    bare = re.sub(r"[0-9.]+e-?[0-9]+|\b[0-9.]+\b", "", bare)
    return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare)) - PROMQL_WORDS


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((DOCS / "prometheus-rules.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DOCS / "grafana-dashboard.json").read_text())
    return loaded


def test_metric_name_extraction() -> None:
    assert metric_names(
        'sum by (type) (rate(body_size_limit_rejections_total{type="json"}[5m])) > 0.167'
    ) == {"body_size_limit_rejections_total"}


def test_rules_file_is_valid_and_every_rule_is_complete() -> None:
    found = rules()
    assert len({rule["alert"] for rule in found}) == len(found)
    for rule in found:
        assert rule["expr"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_rules_cover_the_specs_alerts() -> None:
    expressions = {" ".join(rule["expr"].split()) for rule in rules()}
    for kind in ("json", "urlencoded", "invoice", "unknown"):
        assert f'rate(body_size_limit_rejections_total{{type="{kind}"}}[5m]) > 0.167' in expressions
    assert "sum(rate(body_size_limit_rejections_total[5m])) > 0.167" in expressions
    joined = "\n".join(expressions)
    for name in ("rate_limit_rejections_total", "http_requests_total", "readiness_gauge"):
        assert name in joined
    assert 'status=~"5.."' in joined


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_rules_reference_only_emitted_metrics(rule: dict[str, Any]) -> None:
    names = metric_names(rule["expr"])
    assert names and names <= emitted_names(), names - emitted_names()


def test_dashboard_has_every_spec_panel_with_its_type() -> None:
    panels = {panel["title"]: panel for panel in dashboard()["panels"]}
    for title, kind in SPEC_PANELS.items():
        assert title in panels, title
        assert panels[title]["type"] == kind, title
    per_type = panels["Rejection Rate by Type"]["targets"]
    assert any("by (type)" in t["expr"] for t in per_type)
    assert any(t["expr"].startswith("sum(rate(") for t in per_type)
    assert "increase(" in panels["Cumulative Rejections (Last Hour)"]["targets"][0]["expr"]


def test_dashboard_panels_are_well_formed_and_use_emitted_metrics() -> None:
    document = dashboard()
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))
    assert document["title"] and document["uid"]
    for panel in document["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names and names <= emitted_names(), (panel["title"], names - emitted_names())
