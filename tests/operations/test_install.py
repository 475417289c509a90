"""Every install comes from uv.lock, and a lock that no longer says what pyproject.toml asks for installs nothing."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.checkout import ROOT
from tests.conftest import require_service

VENV = ROOT / ".venv"


@pytest.fixture
def project(tmp_path):
    """The project's install files in a folder of their own, beside the installed uv."""
    if not (VENV / "uv" / "bin" / "uv").exists():
        require_service("uv", "make install puts it in .venv/uv")
    for name in ("Makefile", "pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def make_locked(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(folder), "locked", f"VENV={VENV}"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_lock_holds_what_pyproject_asks_for(project):
    checked = make_locked(project)
    assert checked.returncode == 0, checked.stderr


def test_a_lock_that_disagrees_with_pyproject_stops_the_install_with_what_to_do(project):
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"rich>=13,<16",', '"rich>=13,<16",\n    "six>=1.16",'))
    checked = make_locked(project)
    assert checked.returncode != 0
    assert "uv.lock does not match pyproject.toml: run 'make lock' and commit uv.lock." in checked.stderr
    assert (project / "uv.lock").read_text() == (ROOT / "uv.lock").read_text()


@pytest.mark.parametrize(("given", "port"), [([], "5000"), (["PORT=5001"], "5001")])
def test_make_run_serves_on_the_port_it_is_given(given, port):
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(ROOT), "run", *given],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert f"--host 127.0.0.1 --port {port}" in planned
    # The last line, in the installation's language, says where it serves (``demo-data --serving``).
    assert f"demo-data --url http://127.0.0.1:{port} --serving" in planned
