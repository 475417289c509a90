"""`make run` with no DATABASE_URL: an embedded PostgreSQL from the installed wheel, migrated by its owner, the demo
loaded and served as the runtime role; Ctrl-C, or a TERM to make, stops the web server and PostgreSQL, and the next
run reuses the data."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import psycopg
import pytest
import requests

from tests.checkout import ROOT
from tests.clusters import free_port

pytestmark = pytest.mark.production_path("make run on a clone")


def _serve(data: Path, port: int, environment: dict, log: Path) -> subprocess.Popen:
    """``make run`` in a process group of its own, as a terminal runs it: with Ctrl-C's signal handled as a terminal's
    job handles it, whatever the suite inherited (a suite started in the background ignores it, and so would every
    process it starts)."""
    with log.open("w") as written:
        return subprocess.Popen(
            ["make", "--no-print-directory", "-C", str(ROOT), "run", f"PORT={port}", f"EMBEDDED_DATA={data}"],
            env=environment,
            stdout=written,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_as_a_terminal_s_job,
        )


def _as_a_terminal_s_job() -> None:
    for interrupt in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(interrupt, signal.SIG_DFL)


def _served(log: Path, server: subprocess.Popen, seconds: float = 180) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        said = log.read_text()
        if "Running on http://" in said:
            return said
        assert server.poll() is None, said
        time.sleep(0.2)
    raise AssertionError(log.read_text())


def _postgres_of(data: Path) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["name", "cmdline"])
        if process.info["name"] == "postgres" and str(data) in " ".join(process.info["cmdline"] or ())
    ]


def _stop(server: subprocess.Popen, data: Path, *, term: bool = False) -> None:
    """Ctrl-C, as a terminal sends it, to the whole process group (or, ``term``, a TERM to ``make`` alone, as a
    supervisor or ``kill`` sends it); then wait for PostgreSQL, which runs in a session of its own, to be stopped by
    what ``make run`` does on its way out."""
    if term:
        server.terminate()
    else:
        os.killpg(server.pid, signal.SIGINT)
    server.wait(timeout=60)
    deadline = time.monotonic() + 60
    while ((data / "postmaster.pid").exists() or _postgres_of(data)) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_make_run_serves_the_demo_from_an_embedded_postgresql_as_the_runtime_role(tmp_path):
    data, port = tmp_path / "postgres", free_port()
    environment = {
        name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "BACKOFFICE_ENV")
    } | {
        "SECRET_KEY": "embedded-test",
        "BACKOFFICE_SEAL_KEY": "embedded-test-seal-key-of-enough-length-0123456789",
        "BACKOFFICE_API_TOKEN": "embedded-test-token-of-enough-length-0123456789",
        "BACKOFFICE_ANCHORS_FOLDER": str(tmp_path / "anchors"),
    }
    log = tmp_path / "serve.log"
    server = _serve(data, port, environment, log)
    try:
        said = _served(log, server)
        assert "finance-demo-password" in said and f"Serving on http://127.0.0.1:{port}" in said
        web = requests.Session()
        page = web.get(f"http://127.0.0.1:{port}/login", timeout=10)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        logged_in = web.post(
            f"http://127.0.0.1:{port}/login",
            data={"email": "finance@example.com", "password": "finance-demo-password", "csrf_token": token},
            timeout=10,
        )
        assert logged_in.status_code == 200 and "/login" not in logged_in.url, logged_in.text[:500]
        customers = web.get(f"http://127.0.0.1:{port}/customers", timeout=10)
        assert customers.status_code == 200 and "C0001" in customers.text
        assert _postgres_of(data)
        with psycopg.connect(f"postgresql://postgres@/backoffice?host={data}") as owner:
            serving = owner.execute(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'backoffice' AND pid <> pg_backend_pid()"
            ).fetchall()
        assert serving == [("backoffice_runtime",)]
    finally:
        _stop(server, data)
    assert not _postgres_of(data) and not (data / "postmaster.pid").exists()
    assert "database system is shut down" in (data / "log").read_text()

    again = _serve(data, port, environment, log)
    try:
        said = _served(log, again)
        assert "0 pelanggan ditambahkan" in said or "0 customers added" in said, said
    finally:
        _stop(again, data, term=True)  # a TERM to make alone stops the server and PostgreSQL too
    assert not _postgres_of(data)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/login", timeout=10)
    assert not [
        process
        for process in psutil.process_iter(["cmdline"])
        if f"--port {port}" in " ".join(process.info["cmdline"] or ())
    ]


def test_with_no_database_url_a_command_says_to_start_a_stopped_embedded_postgresql(tmp_path):
    from backoffice import create_app
    from backoffice.platform.databases import embedded_url

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": embedded_url(tmp_path / "postgres"),
            "DATABASE_EMBEDDED": True,
            "SECRET_KEY": "embedded-test",
            "LANGUAGE": "en",
            "REDIS_URL": None,
        },
        web=False,
    )
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["reconcile", "verify"])
    assert result.exit_code == 75, result.output
    assert result.output.strip() == (
        "Error: The database cannot be reached: DATABASE_URL is not set, and the embedded PostgreSQL is not running. "
        "Start it with 'backoffice embedded start' (make run does), or set DATABASE_URL to a PostgreSQL server's URL."
    )
