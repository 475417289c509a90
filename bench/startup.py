"""How long ``backoffice`` takes to start, beside Python's and Flask's own start-up, in the same run.

Every command builds the app (settings, extensions, models, blueprints) before it does anything, so
its start-up is paid by every cron line and every script. Measured on an empty, migrated SQLite
database, without ``REDIS_URL``, each command run ``BENCH_STARTUP_RUNS`` times (default 10), the
commands taking turns so that a busy machine slows them alike; the median of each is reported:

- ``python -c pass``: the interpreter alone;
- ``flask --version``: Flask's command line, with no app;
- the libraries every command needs: Flask, Flask-SQLAlchemy and SQLAlchemy's ORM, imported;
- ``backoffice reconcile checks``, ``backoffice reconcile verify --help`` and a real
  ``backoffice reconcile verify`` (every check, on the empty database).

Python writes its bytecode caches as an installed app would have them (``PYTHONDONTWRITEBYTECODE`` is
cleared for the commands), and each command runs once before it is timed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import command_env, report, script

RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", 10))
TARGET_SECONDS = 0.5


def main() -> str:
    with tempfile.TemporaryDirectory() as directory:
        env = command_env(DATABASE_URL=f"sqlite:///{Path(directory) / 'empty.sqlite'}", SECRET_KEY="bench")
        env.pop("REDIS_URL", None)
        subprocess.run([script(), "db", "upgrade"], env=env, check=True, capture_output=True)
        flask = str(Path(sys.executable).with_name("flask"))
        commands = {
            "python": [sys.executable, "-c", "pass"],
            "flask": [flask, "--version"],
            "libraries": [sys.executable, "-c", "import flask, flask_sqlalchemy, sqlalchemy.orm"],
            "checks": [script(), "reconcile", "checks"],
            "help": [script(), "reconcile", "verify", "--help"],
            "verify": [script(), "reconcile", "verify"],
        }
        seconds = _medians(commands, env)
    python, flask_cli, libraries = "`python -c pass`", "`flask --version`", "import Flask, Flask-SQLAlchemy, ORM"
    verify = "`backoffice reconcile verify`, empty SQLite"
    return report(
        f"`backoffice` start-up (median of {RUNS}; target under {TARGET_SECONDS} s)",
        [
            ("`backoffice reconcile checks`", seconds["checks"], flask_cli, seconds["flask"]),
            ("`backoffice reconcile verify --help`", seconds["help"], flask_cli, seconds["flask"]),
            (verify, seconds["verify"], flask_cli, seconds["flask"]),
            (verify, seconds["verify"], python, seconds["python"]),
            (verify, seconds["verify"], libraries, seconds["libraries"]),
        ],
    )


def _medians(commands: dict[str, list[str]], env: dict) -> dict[str, float]:  # float-ok: seconds
    for command in commands.values():
        subprocess.run(command, env=env, check=True, capture_output=True)
    times: dict[str, list[float]] = {name: [] for name in commands}  # float-ok: seconds
    for _ in range(RUNS):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


if __name__ == "__main__":
    print(main())
