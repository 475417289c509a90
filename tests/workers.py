"""Real worker processes for the job tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from redis import Redis
from rq import Worker

from backoffice.extensions import db

ROOT = Path(__file__).resolve().parent.parent


def worker_env(app, redis_url, **settings) -> dict:
    env = os.environ | {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test",
    }
    return env | {f"BACKOFFICE_{name.upper()}": str(value) for name, value in settings.items()}


def run_worker(app, redis_url, **settings) -> subprocess.CompletedProcess:
    """One real worker in burst mode: it works until the queues are empty, then exits."""
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
    worker = start_worker(app, redis_url, **settings)
    try:
        connection = Redis.from_url(redis_url)
        deadline = time.monotonic() + 60
        while not Worker.all(connection=connection) and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert Worker.all(connection=connection), "the worker did not register"
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=60)
