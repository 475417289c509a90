"""Real worker processes for the job tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
