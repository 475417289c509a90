"""How long ``backoffice`` takes to start, beside Python's and Flask's own start-up, in the same run.

Every command builds the app (settings, the database, the models; the web layer only for ``run``,
``routes``, ``shell`` and ``limiter``) before it does anything, so its start-up is paid by every
cron line and every script. Measured on an empty, migrated SQLite database, without ``REDIS_URL``, each command
run ``BENCH_STARTUP_RUNS`` times (default 10), the commands taking turns so that a busy machine
slows them alike. The median of each is reported, of the wall time and of the CPU time (user and
system), which other work on the machine inflates less:

- ``python -c pass``: the interpreter alone;
- ``flask --version``: Flask's command line, with no app;
- the libraries every command needs: Flask, Flask-SQLAlchemy and SQLAlchemy's ORM, imported; and
  imported then left to the exiting process as ``backoffice`` leaves what it built (``gc.freeze()``:
  Python's last garbage collections do not walk them);
- ``backoffice reconcile checks``, ``backoffice reconcile verify --help`` and a real
  ``backoffice reconcile verify`` (every check, on the empty database).

Python writes its bytecode caches as an installed app would have them (``PYTHONDONTWRITEBYTECODE`` is
cleared for the commands), and each command runs once before it is timed.
"""

from __future__ import annotations

import os
import resource
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
            "frozen": [sys.executable, "-c", "import flask, flask_sqlalchemy, sqlalchemy.orm, gc; gc.freeze()"],
            "checks": [script(), "reconcile", "checks"],
            "help": [script(), "reconcile", "verify", "--help"],
            "verify": [script(), "reconcile", "verify"],
        }
        wall, cpu = _medians(commands, env)
    return "\n".join(
        report(f"`backoffice` start-up, {kind} (median of {RUNS}; target under {TARGET_SECONDS} s)", _rows(seconds))
        for kind, seconds in (("wall time", wall), ("CPU time", cpu))
    )


def _rows(seconds: dict[str, float]) -> list[tuple[str, float, str, float]]:  # float-ok: seconds
    python, flask_cli, libraries = "`python -c pass`", "`flask --version`", "import Flask, Flask-SQLAlchemy, ORM"
    frozen = libraries + ", `gc.freeze()` at exit"
    verify = "`backoffice reconcile verify`, empty SQLite"
    return [
        ("`backoffice reconcile checks`", seconds["checks"], flask_cli, seconds["flask"]),
        ("`backoffice reconcile verify --help`", seconds["help"], flask_cli, seconds["flask"]),
        (verify, seconds["verify"], flask_cli, seconds["flask"]),
        (verify, seconds["verify"], python, seconds["python"]),
        (verify, seconds["verify"], libraries, seconds["libraries"]),
        (verify, seconds["verify"], frozen, seconds["frozen"]),
    ]


def _medians(commands: dict[str, list[str]], env: dict) -> tuple[dict, dict]:
    """The median wall time and CPU time of each command, in seconds."""
    for command in commands.values():
        subprocess.run(command, env=env, check=True, capture_output=True)
    wall: dict[str, list] = {name: [] for name in commands}
    cpu: dict[str, list] = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, command in commands.items():
            before, start = _children_cpu(), time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(_children_cpu() - before)
    return (
        {name: statistics.median(values) for name, values in wall.items()},
        {name: statistics.median(values) for name, values in cpu.items()},
    )


def _children_cpu() -> float:  # float-ok: seconds
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    print(main())
