"""The app as production serves it: gunicorn with gunicorn.conf.py on a free local port, driven over HTTP."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.checkout import ROOT
from tests.clusters import free_port

TOKEN = "production-test-token"
"""The API token the served app is given (``BACKOFFICE_API_TOKEN``)."""


@dataclass
class Server:
    """A gunicorn serving the app: its address, its process and its log."""

    url: str
    process: subprocess.Popen
    log: Path
    anchors: Path | None = None
    """The anchors folder it reads (``BACKOFFICE_ANCHORS_FOLDER``): a test that anchors a night writes there."""

    def lines(self) -> list[dict]:
        """The server's log so far: JSON lines, gunicorn's and the app's."""
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def line_of(self, request_id: str) -> dict:
        """The app's line for a request, once it is written (after the answer)."""
        return self._first(lambda line: line["logger"] == "backoffice.requests" and line["request_id"] == request_id)

    def access_line_of(self, request_id: str) -> dict:
        """gunicorn's access line for a request, once it is written (after the answer)."""
        return self._first(
            lambda line: line["logger"] == "gunicorn.access" and line["message"].endswith(f"request_id={request_id}")
        )

    def _first(self, wanted) -> dict:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in self.lines():
                if wanted(line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no such log line:\n{self.log.read_text()[-3000:]}")


@contextmanager
def gunicorn(env: dict, log: Path) -> Iterator[Server]:
    """gunicorn with gunicorn.conf.py on a free local port, its log JSON lines in ``log``, answering; stopped with
    SIGTERM when the block ends."""
    port = free_port()
    env = {"BACKOFFICE_WEB_THREADS": "2", "BACKOFFICE_LOG_FORMAT": "json"} | env
    env["BACKOFFICE_WEB_BIND"] = f"127.0.0.1:{port}"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_it_answers(started)
        yield started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _wait_until_it_answers(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.process.returncode}:\n{server.log.read_text()[-3000:]}")
        try:
            requests.get(server.url + "/login", timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
            time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer within a minute:\n{server.log.read_text()[-3000:]}")


def hidden_fields(page: str) -> dict:
    """The hidden inputs of the page's form: the CSRF token, the row's version."""
    inputs = re.findall(r"<input[^>]*type=\"hidden\"[^>]*>", page)
    return {re.search(r'name="([^"]+)"', i)[1]: re.search(r'value="([^"]*)"', i)[1] for i in inputs}
