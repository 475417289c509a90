"""The Prometheus alert rules in deploy/prometheus: valid, tested by promtool, and on metrics the app exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_service

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"


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
    assert used and {name for name in used if f"\n# TYPE {name} " not in exported} == set()
