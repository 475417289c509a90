"""Real worker processes for the job tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from redis import Redis
from rq import Worker

from backoffice.platform.extensions import db
from backoffice.platform.runtime_role import grant_runtime
from tests.checkout import ROOT

LANE = {"production_path": False}
"""Whether the running test is marked ``production_path`` (set for each test by ``tests/conftest.py``): only such a
test starts a real worker, so that ``make test-quick`` leaves every real worker out."""


def worker_env(app, redis_url, **settings) -> dict:
    """A worker's environment as production's: on PostgreSQL it connects as the runtime role (``serving_url``)."""
    db.session.commit()
    env = os.environ | {
        "DATABASE_URL": serving_url(app.config["SQLALCHEMY_DATABASE_URI"]),
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test",
        "BACKOFFICE_ANCHORS_FOLDER": app.config["ANCHORS_FOLDER"],
    }
    return env | {f"BACKOFFICE_{name.upper()}": str(value) for name, value in settings.items()}


def _production_path() -> None:
    assert LANE["production_path"], "a test that starts a real worker is marked production_path"


def serving_url(owner_url: str) -> str:
    """The database as production's web server, workers and scheduler connect to it: as a runtime role of the test
    process's own (``<database>_serve``), made if missing and granted, by the owner of ``owner_url``, what
    ``backoffice db grant-runtime`` grants after the migrations as they are now."""
    url = sa.make_url(owner_url)
    role = f"{url.database}_serve"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            if connection.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}) is None:
                connection.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
            grant_runtime(connection, role)
    finally:
        engine.dispose()
    return url.set(username=role, password=None).render_as_string(hide_password=False)


def run_worker(app, redis_url, **settings) -> subprocess.CompletedProcess:
    """One real worker in burst mode: it works until the queues are empty, then exits."""
    _production_path()
    db.session.commit()
    result = subprocess.run(
        [sys.executable, "worker.py", "--burst"],
        cwd=ROOT,
        env=worker_env(app, redis_url, **settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    db.session.rollback()
    return result


def start_worker(app, redis_url, **settings) -> subprocess.Popen:
    """One real worker that keeps listening (not in burst mode), in a session of its own."""
    _production_path()
    db.session.commit()
    return subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=worker_env(app, redis_url, **settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@contextmanager
def listening_worker(app, redis_url, **settings):
    """A worker listening until the block ends, once it is in RQ's worker registry; stopped with SIGTERM."""
    with listening_workers(app, redis_url, 1, **settings) as workers:
        yield workers[0]


@contextmanager
def listening_workers(app, redis_url, count: int, **settings):
    """``count`` workers listening until the block ends, once all are in RQ's worker registry; stopped with
    SIGTERM (those still running)."""
    workers = [start_worker(app, redis_url, **settings) for _ in range(count)]
    try:
        connection = Redis.from_url(redis_url)
        deadline = time.monotonic() + 60
        while (
            len(Worker.all(connection=connection)) < count
            and all(worker.poll() is None for worker in workers)
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert len(Worker.all(connection=connection)) == count, "the workers did not register"
        yield workers
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)


def kill_with_children(pid: int) -> None:
    """SIGKILL a worker and its work-horse (which runs in a process group of its own)."""
    children = [
        int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit() and _parent_of(entry) == pid
    ]
    for victim in (pid, *children):
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.waitpid(pid, 0)


def kill_work_horse(pid: int) -> None:
    """SIGKILL the work-horse of a worker (its child in a process group of its own); the worker lives on."""
    (horse,) = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _parent_of(entry) == pid and os.getpgid(int(entry.name)) == int(entry.name)
    ]
    os.kill(horse, signal.SIGKILL)


def _parent_of(entry: Path) -> int | None:
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
