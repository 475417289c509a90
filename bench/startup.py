"""How long ``backoffice`` takes to start, over the libraries every command needs, imported alone, in the same run.

The baseline is a Python process importing Flask, Flask-SQLAlchemy and SQLAlchemy's ORM, nothing else. Measured on
an empty, migrated database of its own on the benchmarks' PostgreSQL server (``BENCH_DATABASE_URL``'s, named
``…_startup``), without ``REDIS_URL``:

- ``backoffice reconcile checks``: the checks listed;
- ``backoffice reconcile verify --help``: a command's help, the command line and its settings and nothing run;
- ``backoffice health``, asking an address where no server listens: the settings read, the question asked, the
  refusal reported (exit status 2);
- ``backoffice reconcile verify``: every check run on the empty database.

Each command and the baseline take turns (baseline, command, baseline, command…), ``BENCH_STARTUP_RUNS`` pairs each
(default 10), so that a busy machine slows both alike; every command runs once before any is timed (bytecode caches
written, files in the page cache). Each pair gives a ratio, command over baseline, of the wall time and of the CPU
time (user and system, which other work on the machine inflates less); the median ratio is reported with the least
and the most, beside the median seconds. Python writes its bytecode caches as an installed app would have them
(``PYTHONDONTWRITEBYTECODE`` is cleared for the commands). The load average is printed before and after.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from rich.table import Table

from bench.common import BENCH_DATABASE_URL, command_env, console, fresh_database, script

RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", 10))
TARGET_RATIO = 1.6
"""A command's start-up within so many times the baseline's is enough: below it, the plain way is taken (imports at the
top of modules), never a hand-written shortcut for a few percent."""
NO_SERVER = "http://127.0.0.1:9"
"""The discard port: nothing listens there, so ``health`` is refused at once."""


def main() -> str:
    with tempfile.TemporaryDirectory() as directory:
        env = command_env(DATABASE_URL=fresh_database(f"{BENCH_DATABASE_URL}_startup"), SECRET_KEY="bench")
        env["BACKOFFICE_ANCHORS_FOLDER"] = directory
        env.pop("REDIS_URL", None)
        subprocess.run([script(), "db", "upgrade"], env=env, check=True, capture_output=True)
        baseline = ([sys.executable, "-c", "import flask, flask_sqlalchemy, sqlalchemy.orm"], 0)
        commands = {
            "`backoffice reconcile checks`": ([script(), "reconcile", "checks"], 0),
            "`backoffice reconcile verify --help`": ([script(), "reconcile", "verify", "--help"], 0),
            "`backoffice health`, no server": ([script(), "health", "--url", NO_SERVER], 2),
            "`backoffice reconcile verify`, empty database": ([script(), "reconcile", "verify"], 0),
        }
        load_before = os.getloadavg()
        pairs = _pairs(baseline, commands, env)
        load_after = os.getloadavg()
    loads = f"load average {_load(load_before)} before, {_load(load_after)} after"
    return "\n".join(_report(kind, pairs, loads) for kind in ("wall", "CPU"))


def _pairs(baseline: tuple, commands: dict[str, tuple], env: dict) -> dict[str, list[tuple[dict, dict]]]:
    """For each command, ``RUNS`` pairs of (baseline, command) measures, each a dict of its wall and CPU seconds."""
    for command in (baseline, *commands.values()):
        _run(command, env)
    pairs: dict[str, list] = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, command in commands.items():
            pairs[name].append((_run(baseline, env), _run(command, env)))
    return pairs


def _run(command: tuple[list[str], int], env: dict) -> dict[str, float]:  # float-ok: seconds
    argv, status = command
    before, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True)
    wall = time.perf_counter() - start
    if done.returncode != status:
        sys.exit(f"{' '.join(argv)} ended with {done.returncode}, not {status}:\n{done.stderr.decode()}")
    return {"wall": wall, "CPU": _children_cpu() - before}


def _report(kind: str, pairs: dict[str, list[tuple[dict, dict]]], loads: str) -> str:
    title = (
        f"`backoffice` start-up over importing Flask, Flask-SQLAlchemy and the ORM, {kind} time "
        f"({RUNS} pairs in turns; target {TARGET_RATIO}×; {loads})"
    )
    columns = ("command", "seconds", "baseline s", "ratio (median)", "ratio (least–most)")
    table = Table(*columns, title=title)
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, measures in pairs.items():
        ratios = [command[kind] / baseline[kind] for baseline, command in measures]
        row = (
            name,
            f"{statistics.median(command[kind] for _, command in measures):.3f}",
            f"{statistics.median(baseline[kind] for baseline, _ in measures):.3f}",
            f"{statistics.median(ratios):.2f}×",
            f"{min(ratios):.2f}–{max(ratios):.2f}×",
        )
        table.add_row(*row)
        lines.append("| " + " | ".join(row) + " |")
    console.print(table)
    return "\n".join(lines) + "\n"


def _load(averages: tuple[float, float, float]) -> str:  # float-ok: load averages
    return " ".join(f"{average:.2f}" for average in averages)


def _children_cpu() -> float:  # float-ok: seconds
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    print(main())
