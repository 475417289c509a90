"""What every benchmark shares: a PostgreSQL database of its own, timing, and the report."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/backoffice_bench")
console = Console()
BENCH_PASSWORD = "bench-password"
WALLETS_FROM_LEDGER = (
    "UPDATE customers SET balance = l.balance, total_recharged = l.recharged, total_spent = l.spent, "
    "balance_last_updated_at = now() FROM ("
    "  SELECT customer_id, sum(signed_amount) AS balance,"
    "         sum(CASE WHEN kind = 'recharge' THEN amount ELSE 0 END) AS recharged,"
    "         sum(CASE WHEN kind = 'charge' THEN amount ELSE 0 END) AS spent"
    "  FROM balance_transactions GROUP BY customer_id) l WHERE l.customer_id = customers.id"
)
"""Generated wallets made consistent with their generated ledgers."""


def fresh_database(url: str = BENCH_DATABASE_URL) -> str:
    """Drop and recreate the benchmark database; return its URL."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return url


def migrated_database(url: str = BENCH_DATABASE_URL) -> str:
    """A fresh benchmark database with the migrations applied (by the ``backoffice`` command); returns its URL."""
    return migrate(fresh_database(url))


def migrate(url: str) -> str:
    """Apply the migrations not yet applied to the database (by the ``backoffice`` command); returns its URL."""
    subprocess.run([script(), "db", "upgrade"], env=os.environ | {"DATABASE_URL": url}, check=True, capture_output=True)
    return url


def script() -> str:
    """The ``backoffice`` command of this environment."""
    return str(Path(sys.executable).with_name("backoffice"))


def command_env(**settings: str) -> dict[str, str]:
    """The environment of a ``backoffice`` command run as an installation runs it: with these settings, and
    Python keeping its bytecode caches (a ``PYTHONDONTWRITEBYTECODE`` of the caller's would have every run
    compile the whole package again)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | settings


def reset_peak() -> int:
    """Reset the process's peak resident memory to what it holds now (Linux), and return that, in KiB."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return status_kib("VmRSS")


def status_kib(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status`` (``VmRSS``, ``VmHWM``), in KiB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])


def timed(function: Callable[[], object], repeat: int = 3) -> tuple[float, object]:  # float-ok: seconds
    """The median wall time over ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def report(title: str, rows: list[tuple[str, float, str, float]]) -> str:  # float-ok: seconds
    """Print each figure beside its baseline as a ratio; return the same as a Markdown table."""
    table = Table("measure", "seconds", "baseline", "baseline s", "ratio", title=title)
    lines = [
        f"### {title}",
        "",
        "| measure | seconds | baseline | baseline s | ratio |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for measure, seconds, baseline, baseline_seconds in rows:
        ratio = f"{seconds / baseline_seconds:.2f}×"
        table.add_row(measure, f"{seconds:.3f}", baseline, f"{baseline_seconds:.3f}", ratio)
        lines.append(f"| {measure} | {seconds:.3f} | {baseline} | {baseline_seconds:.3f} | {ratio} |")
    console.print(table)
    return "\n".join(lines) + "\n"


def logged_in_client(url: str):
    """The app on ``url`` and a test client logged in as a finance clerk made for the benchmarks."""
    os.environ["DATABASE_URL"] = url
    from backoffice import create_app
    from backoffice.models import Role, User
    from backoffice.platform.extensions import db

    app = create_app({"SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    with app.app_context():
        if db.session.scalar(db.select(User).where(User.email == "bench@example.com")) is None:
            user = User(email="bench@example.com", name="Bench", role=Role.FINANCE)
            user.set_password(BENCH_PASSWORD)
            db.session.add(user)
            db.session.commit()
    client = app.test_client()
    client.post("/login", data={"email": "bench@example.com", "password": BENCH_PASSWORD})
    return app, client


def print_measure(start: float, cpu: float, before: int, size: int) -> None:  # float-ok: seconds
    """One measure as the JSON line :func:`measure_in_process` reads: seconds, CPU seconds, MiB grown, size."""
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    grown = status_kib("VmHWM") - before
    print(json.dumps({"seconds": seconds, "cpu": cpu, "mib": grown / 1024, "size": size}))


def measure_in_process(module: str, url: str, what: str, label: str) -> dict:
    """Run ``module.measure(url, what)`` in a process of its own (its memory peak is its own) and read its line."""
    console.print(f"Measuring: {label}…")
    code = f"from {module} import measure; measure({url!r}, {what!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def as_the_app_writes(app, written: dict | None = None) -> None:
    """Give rows written with raw SQL what the application's own writes give them: a history version of each
    versioned record written (``written``: a model's rows by a condition; all of every versioned model's rows when
    not given) and a seal on each row of evidence, as migration 0032 sealed an installation's existing rows. The
    checks then find them as the application leaves them, and a fix or a rebuild trusts them (it refuses evidence
    without a seal)."""
    from sqlalchemy import text, true
    from sqlalchemy_continuum import versioning_manager

    from backoffice.evidence import sealing
    from backoffice.models.history import HistoryOperation, record
    from backoffice.platform.extensions import db

    with app.app_context(), db.engine.begin() as connection:
        if written is None:
            for model in versioning_manager.version_class_map:
                record(connection, model, true(), HistoryOperation.CREATE)
        else:
            for model, where in written.items():
                record(connection, model, where, HistoryOperation.EDIT)
        sealing.seal_existing(connection)
        # The planner's statistics, as autovacuum would leave them: without, it takes the seals for a handful of rows.
        connection.execute(text("ANALYZE"))


def managers_and_customers(connection) -> None:
    """50 account managers and 1,000 customers spread over them, for the orders the benchmarks generate."""
    connection.execute(
        "INSERT INTO account_managers (name, email, active) "
        "SELECT 'Manager ' || n, 'manager' || n || '@example.com', true FROM generate_series(1, 50) n"
    )
    connection.execute(
        "INSERT INTO customers (code, name, account_manager_id, status, created_at) "
        "SELECT 'C' || lpad(n::text, 6, '0'), 'Customer ' || n, 1 + n % 50, 'active', now() "
        "FROM generate_series(1, 1000) n"
    )


def verify_in_turns(url: str, floor_sql: str, check: str, turns: int, wrong: int) -> tuple[list, list]:
    """The floor (``floor_sql``, a count of the wrong rows) and the engine's verify of ``check`` taking turns, in
    the app's context; each must find ``wrong`` rows. Their times, the floor's first."""
    from backoffice.models import RunMode
    from backoffice.reconcile.engine import run

    floor_times, verify_times = [], []
    with psycopg.connect(url) as connection:
        for _ in range(turns):
            seconds, floor_count = timed(lambda: connection.execute(floor_sql).fetchone()[0], repeat=1)
            floor_times.append(seconds)
            seconds, record = timed(lambda: run(RunMode.VERIFY, checks=[check]), repeat=1)
            verify_times.append(seconds)
            assert record.mismatched == floor_count == wrong, (record.mismatched, floor_count)
    return floor_times, verify_times
