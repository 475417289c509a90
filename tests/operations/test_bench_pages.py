"""The pages benchmark measures only the server it started: a port another process listens on is refused before
anything starts, and a server that answers without being the one started stops the run."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from bench import pages


@pytest.fixture
def listening(monkeypatch):
    """A socket of this process listening on a free port, which the benchmark is set to bind."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monkeypatch.setattr(pages, "BIND", f"127.0.0.1:{port}")
        yield port


def test_a_taken_port_is_refused(listening):
    with pytest.raises(SystemExit, match=f"Port {listening} is taken"):
        pages._refuse_a_taken_port()


def test_a_free_port_is_taken(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(pages, "BIND", f"127.0.0.1:{port}")
    pages._refuse_a_taken_port()


@pytest.mark.production_path("a killed worker")
def test_a_server_answering_is_the_one_started(listening, tmp_path):
    other = subprocess.Popen(["sleep", "30"])
    try:
        with open(tmp_path / "log", "w+b") as log:
            pages._still_ours(ThisProcess(), log)  # this process listens there
            with pytest.raises(SystemExit, match="not the one the benchmark started"):
                pages._still_ours(other, log)
    finally:
        other.kill()
        other.wait()


class ThisProcess:
    """This process, as the server started: it holds the listening socket."""

    pid = os.getpid()

    @staticmethod
    def poll() -> None:
        return None
