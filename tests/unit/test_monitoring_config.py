"""deploy/monitoring: the Prometheus configuration, its alert rules and the Grafana dashboard
load, and every metric they name is one the services export.

What the services export is read from a real ``/metrics`` of an app with the kit's metrics
installed (shared/runtime/metrics.py), its relay's and inboxes' counts and funding's gauges
(the families a scrape lists, as the text format names them, with the series of their types),
not from a list kept here.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.funding.metrics import funding_gauges
from shared.eventsourcing.topics import SERVICES
from shared.runtime.metrics import install_metrics
from shared.runtime.states import States

MONITORING = Path(__file__).parents[2] / "deploy" / "monitoring"
SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum"),
            "summary": ("", "_count", "_sum"), "untyped": ("",)}
# PromQL's own words, and label names, which the name pattern below also matches.
PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "by", "without", "rate", "increase",
                "histogram_quantile", "and", "or", "unless", "on", "ignoring", "label_values"}


@pytest.fixture(scope="module")
def exported() -> set[str]:
    app = FastAPI()
    metrics = install_metrics(app, "funding", None)
    funding_gauges(metrics)
    inbox = SimpleNamespace(consumer="c", outcomes=Counter(), dead_letter_reasons=Counter(),
                            outage_waits=0)
    app.state.ctx = SimpleNamespace(
        relay=SimpleNamespace(topic="t", published=0, quarantined=0, failures_in_a_row=0),
        inboxes=[inbox], kafka_consumers={}, metrics=metrics, pool=None, states=States())
    with TestClient(app) as client:
        assert client.get("/nowhere").status_code == 404
        text = client.get("/metrics").text
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        names.update(name + suffix for suffix in SUFFIXES[kind])
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names an expression uses: words before ``{``, ``[`` or ``)`` or alone, less
    PromQL's words, the labels inside braces and ``by (...)`` lists, and template variables."""
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\$\w+|\"[^\"]*\"", "", expr)  # variables, strings
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {w for w in words if w not in PROMQL_WORDS}


def test_the_exported_set_is_the_real_one(exported: set[str]) -> None:
    for name in ("http_requests_total", "http_request_duration_seconds_bucket",
                 "songji_relay_lag_events", "songji_relay_published_events_total",
                 "songji_consumer_dead_letters_total", "songji_consumer_lag_records",
                 "songji_command_retries_total", "songji_notifications_total",
                 "songji_funding_ledger_lines", "songji_funding_fund_fen"):
        assert name in exported
    assert metric_names('sum by (a) (rate(x_total{b="c"}[5m])) / max(y)') == {"x_total", "y"}


def test_prometheus_configuration_scrapes_metrics_and_loads_the_rules() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert (MONITORING / "alerts.yml").exists()
    jobs = config["scrape_configs"]
    assert jobs and all(job["metrics_path"] == "/metrics" for job in jobs)
    compose = {t for job in jobs for c in job.get("static_configs", ()) for t in c["targets"]}
    assert compose == {f"{s}:8000" for s in SERVICES}


def test_every_alert_names_metrics_the_services_export(exported: set[str]) -> None:
    rules = [r for g in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
             for r in g["rules"]]
    alerts = {r["alert"] for r in rules}
    # relay lag, consumer lag, dead letters, 5xx, failed notifications: each has an alert
    for name in ("SongjiRelayLagging", "SongjiConsumerLagging", "SongjiDeadLetters",
                 "SongjiHttp5xx", "SongjiNotificationsFailing"):
        assert name in alerts
    for rule in rules:
        assert rule["labels"]["severity"] in ("page", "warn")
        assert rule["annotations"]["summary"]
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)


def test_every_dashboard_panel_names_metrics_the_services_export(exported: set[str]) -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    targets = [t for p in dashboard["panels"] for t in p.get("targets", ())]
    assert len(targets) >= 12
    for target in targets:
        used = metric_names(target["expr"])
        assert used and used <= exported, (target["expr"], used - exported)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
