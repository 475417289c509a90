"""The Prometheus alert rules in deploy/prometheus: valid, tested by promtool, and on metrics the app exports."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.checkout import ROOT
from tests.conftest import require_service

RULES = ROOT / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        require_service("promtool", "Debian's prometheus package is not installed (make test installs it)")
    return found


@pytest.mark.parametrize(("command", "file"), [("check", "alerts.yml"), ("test", "alerts_test.yml")])
def test_promtool_passes_the_rules(promtool, command, file):
    done = subprocess.run(
        [promtool, command, "rules", file], cwd=RULES, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_metric_the_rules_use_is_exported(app):
    app.config["API_TOKEN"] = "t"
    exported = app.test_client().get("/metrics", headers={"Authorization": "Bearer t"}).get_data(as_text=True)
    used = set(re.findall(r"\bbackoffice_[a-z_]+", (RULES / "alerts.yml").read_text()))
    assert used and {name for name in used if not _exported(name, exported)} == set()


def _exported(name: str, exported: str) -> bool:
    """Whether ``/metrics`` writes the family, or is the histogram whose bucket, sum or count series it is."""
    histogram = re.sub(r"_(bucket|sum|count)$", "", name)
    return f"\n# TYPE {name} " in exported or f"\n# TYPE {histogram} histogram\n" in exported


def test_the_slow_requests_alert_s_threshold_is_a_bound_of_the_request_histogram(app, client):
    """A quantile is read between two bounds: the alert at half a second needs one there."""
    app.config["API_TOKEN"] = "t"
    client.get("/no-such-page")
    exported = client.get("/metrics", headers={"Authorization": "Bearer t"}).get_data(as_text=True)
    assert "histogram_quantile(0.95," in (RULES / "alerts.yml").read_text()
    assert re.search(r'^backoffice_request_duration_seconds_bucket\{endpoint="unmatched",le="0\.5",', exported, re.M)
