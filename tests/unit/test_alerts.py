"""The alerts and the dashboard as code (deploy/): promtool checks the rules and runs their tests
(synthetic series for every alert), every metric an alert or a panel names is one the worker or the
projector exports, and the dashboard's JSON is what its builder (Grafana's SDK) makes."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from streams.projector.feed import Progress
from streams.projector.metrics import metrics_text
from streams.worker.metrics import Metrics, WorkerFigures

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "retention.json"
PROMETHEUS_OWN = {"up"}


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("promtool")
    assert command, "promtool is missing: `make test` installs Debian's prometheus package"
    return subprocess.run([command, *arguments], capture_output=True, text=True, check=False, timeout=120)


def exported() -> set[str]:
    """Every series name the worker's and the projector's /metrics can show."""
    metrics = Metrics()
    figures = WorkerFigures(
        pending=1, deleting=1, overdue=0, active_holds=1, holds_expiring_soon=0,
        s3_errors={"delete": 0}, s3_retries={"delete": 0}, lag={("t", 0): 0},
        degraded={"object_store": False}, erasures_open=0, erasures_unconfirmed=0,
        last_sweep={"occurred_at": "2026-03-15T08:00:00+00:00", "details": {"listed": "1"}},
    )  # fmt: skip
    metrics.watch(lambda: figures)
    text = generate_latest(metrics.registry).decode() + metrics_text(Progress())
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        if kind == "counter":
            names.add(name if name.endswith("_total") else f"{name}_total")
        elif kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names


def named_in(expression: str) -> set[str]:
    return set(re.findall(r"\b(retention_[a-z_]+|up)\b", expression))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_fires_in_its_test_and_only_when_it_should() -> None:
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_test_a_summary_and_a_runbook() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {c["alertname"] for t in cases for c in t["alert_rule_test"] if c["exp_alerts"]}
    for rule in alert_rules():
        assert rule["alert"] in fired, f"{rule['alert']} has no test in which it fires"
        assert rule["annotations"]["summary"]
        assert len(rule["annotations"]["runbook"]) > 80, f"{rule['alert']}: a runbook says what to do"


def test_every_metric_an_alert_names_is_exported() -> None:
    known = exported() | PROMETHEUS_OWN
    for rule in alert_rules():
        assert named_in(rule["expr"]) <= known, (rule["alert"], named_in(rule["expr"]) - known)


def test_every_metric_a_panel_names_is_exported() -> None:
    known = exported() | PROMETHEUS_OWN
    expressions = re.findall(r'"expr": "((?:[^"\\]|\\.)*)"', DASHBOARD.read_text())
    assert len(expressions) >= 10
    for expression in expressions:
        assert named_in(expression) <= known, (expression, named_in(expression) - known)


def test_the_dashboard_is_what_its_builder_makes() -> None:
    spec = importlib.util.spec_from_file_location("dashboard", ROOT / "deploy" / "grafana" / "dashboard.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert DASHBOARD.read_text() == module.render(), "run: python deploy/grafana/dashboard.py"


@pytest.mark.parametrize("name", ["retention_media_overdue", "retention_erasures_unconfirmed"])
def test_the_two_promises_are_alerted_on(name: str) -> None:
    assert any(name in rule["expr"] for rule in alert_rules())
