"""What every benchmark shares: a PostgreSQL database of its own, timing, and the report."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import Progress
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


def as_the_app_writes(app, written: dict | None = None, chunk: int | None = None) -> None:
    """Give rows written with raw SQL what the application's own writes give them: a history version of each
    versioned record written (``written``: a model's rows by a condition; all of every versioned model's rows when
    not given) and a seal on each row of evidence, as migration 0032 sealed an installation's existing rows. The
    checks then find them as the application leaves them, and a fix or a rebuild trusts them (it refuses evidence
    without a seal). ``chunk``: the evidence is sealed that many ids at a time, each chunk in a transaction of its
    own, with the same seals in the same order as one pass makes (tens of millions of rows are never held in memory
    at once)."""
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
        if chunk is None:
            sealing.seal_existing(connection)
    if chunk is not None:
        seal_in_chunks(app, chunk)
    with app.app_context(), db.engine.begin() as connection:
        # The planner's statistics, as autovacuum would leave them: without, it takes the seals for a handful of rows.
        connection.execute(text("ANALYZE"))


def seal_in_chunks(app, chunk: int) -> None:
    """Seal every row of evidence without a seal, kind by kind in the order of their ids, ``chunk`` ids a
    transaction: each row's seal follows its chain's last sealed row, as the application seals what it writes."""
    from backoffice.evidence import sealing, seals, verifying
    from backoffice.platform.extensions import db

    with app.app_context(), Progress(console=console, transient=True) as progress:
        for evidence in seals.kinds().values():
            with db.engine.connect() as connection:
                low, high = verifying.bounds(connection, evidence)
            if low is None:
                continue
            task = progress.add_task(f"Sealing {evidence.kind}", total=high - low + 1)
            for start in range(low, high + 1, chunk):
                with db.engine.begin() as connection:
                    sealing.seal(connection, [(evidence.kind, evidence.key.between(start, start + chunk - 1))])
                progress.update(task, completed=min(start + chunk, high + 1) - low)


def nightly_from_anchor(
    app, files: dict[str, str], night: date, checks: list[str] | None = None, kind: str = "nightly_maintenance"
) -> int:
    """The nightly maintenance of ``night`` in this process (``checks`` alone, or every check), or the auto-heal of
    that day (``kind`` ``auto_heal``), its anchor folder holding ``files`` again first, so that every turn starts from
    the same anchor: its run's id, once it finished."""
    from backoffice import jobs
    from backoffice.models import JobStatus

    with app.app_context():
        folder = Path(app.config["ANCHORS_FOLDER"])
        for path in folder.iterdir():
            path.unlink()
        for name, text in files.items():
            (folder / name).write_text(text)
        record, _ = jobs.enqueue(
            kind, {"date": night.isoformat()} | ({"checks": checks} if checks else {}), **queued_as(kind, night)
        )
        assert record.status is JobStatus.FINISHED, record.error
        return record.run_id


def queued_as(kind: str, night: date) -> dict:
    """How the nightly (``nightly_maintenance``: as the scheduler queues it) or an auto-heal (``auto_heal``: as the
    operations API queues it) of ``night`` is queued."""
    from backoffice.models import RunTrigger

    if kind == "auto_heal":
        return {"trigger": RunTrigger.API}
    return {"trigger": RunTrigger.SCHEDULE, "job_id": f"bench-nightly-{night}-{time.time_ns()}"}


def first_days(count: int) -> list[date]:
    """The first days of the last ``count`` months, the oldest first, the current one last."""
    today = date.today()
    index = today.year * 12 + today.month - 1
    return [date((index - n) // 12, (index - n) % 12 + 1, 1) for n in range(count - 1, -1, -1)]


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


def orders(connection, start: int, stop: int, *, per: int, customers: int, managers: int, first, days: int) -> None:
    """The orders of customers ``start`` to ``stop`` (``per`` each, in their manager's name, numbered across all
    ``customers``), closing on dates spread over ``days`` days from ``first``."""
    connection.execute(
        "INSERT INTO orders (number, customer_id, account_manager_id, closing_date, total_price, additions, promo, "
        "reductions, grand_total, created_at, updated_at) "
        "SELECT 'SO-' || lpad(n::text, 8, '0'), c, 1 + c %% %(managers)s,"
        "       %(first)s::date + (n::bigint * 7919 %% %(days)s)::int, t, a, p, r, t + a - p - r, now(), now() FROM ("
        "  SELECT n, c, (1000000 + n %% 9000000)::numeric(15,2) AS t, (n %% 500000)::numeric(15,2) AS a,"
        "         (n %% 100000)::numeric(15,2) AS p, (n %% 7 * 1000)::numeric(15,2) + 0.25 AS r"
        "  FROM generate_series(%(start)s::int, %(stop)s::int) c, generate_series(1, %(per)s) k,"
        "       LATERAL (SELECT (k - 1) * %(customers)s + c AS n) number) g",
        {"managers": managers, "first": first, "days": days, "start": start, "stop": stop, "per": per}
        | {"customers": customers},
    )


def post_generated(connection, accounts: dict[str, int]) -> None:
    """Write the wallet movements of the temporary table ``generated`` (``id``, customer ``c``, ``kind``,
    ``amount``, ``signed``, the customer's ``running`` balance after it, ``on_date``, ``ref_type``, ``ref_id``) as
    the posting core writes them: each with its posted journal entry of two lines (the entry's id the movement's),
    the ledger row in its customer's before/after chain, and the customer's last movement's moment."""
    connection.execute(
        "INSERT INTO journal_entries (id, number, entry_date, description, status, source_type, source_id, "
        "created_at, posted_at) "
        "SELECT id, 'JE-' || id, on_date, initcap(kind) || ' #' || id, 'posted', 'balance_transaction', id, "
        "       on_date + time '10:00', on_date + time '10:00' FROM generated"
    )
    debit = f"CASE WHEN kind = 'recharge' THEN {accounts['1000']} ELSE {accounts['2000']} END"
    credit = f"CASE WHEN kind = 'recharge' THEN {accounts['2000']} ELSE {accounts['4000']} END"
    connection.execute(
        f"INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
        f"SELECT id, {debit}, amount, 0, '' FROM generated UNION ALL SELECT id, {credit}, 0, amount, '' FROM generated"
    )
    connection.execute(
        "INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before, "
        "balance_after, value_date, reference_type, reference_id, description, entry_id, created_at) "
        "SELECT id, c, kind, amount, signed, running - signed, running, on_date, ref_type, ref_id, '', id, "
        "       on_date + time '10:00' FROM generated ORDER BY id"
    )
    connection.execute(
        "UPDATE customers SET balance_last_updated_at = last.at FROM ("
        "  SELECT c, max(on_date) + time '10:00' AS at FROM generated GROUP BY c) last WHERE customers.id = last.c"
    )


def derive(customers: int, batch: int, months: list[date]) -> None:
    """In the app's context: the derived figures the generated sources make, written by the checks' own set-based
    writers and the months' recalculation, ``batch`` entities at a time: the invoices' outstanding amounts and the
    meters' balances (where there are meters), then the customers' wallets, meter totals, statuses, search words and
    months; then the targets' achieved amounts, the orders' ``months`` (by the write path's recomputation), the
    accounts and the tallies."""
    from itertools import product

    from sqlalchemy import select

    from backoffice.models import Account, AccountManager, Invoice, Meter, Target, tallies
    from backoffice.platform.extensions import db
    from backoffice.posting import months as monthly
    from backoffice.reconcile.account_balance import AccountBalance
    from backoffice.reconcile.customer_meter_totals import CustomerMeterTotals
    from backoffice.reconcile.customer_status import CustomerStatusCheck
    from backoffice.reconcile.customer_wallet import CustomerWallet
    from backoffice.reconcile.customer_words import CustomerWords
    from backoffice.reconcile.invoice_outstanding import InvoiceOutstanding
    from backoffice.reconcile.meter_balance import MeterBalance
    from backoffice.reconcile.target_achieved import TargetAchieved
    from backoffice.services.orm_hooks import recompute_order_month_totals

    metered = db.session.scalar(select(Meter.id).limit(1)) is not None
    with Progress(console=console, transient=True) as progress:
        if metered:
            for check, model in ((InvoiceOutstanding(), Invoice), (MeterBalance(), Meter)):
                ids = list(db.session.scalars(select(model.id).order_by(model.id)))
                task = progress.add_task(f"Deriving {check.name}", total=len(ids))
                for start in range(0, len(ids), batch):
                    check.write(db.session.connection(), ids[start : start + batch])
                    db.session.commit()
                    progress.update(task, completed=min(start + batch, len(ids)))
        task = progress.add_task("Deriving wallets, statuses and months", total=customers)
        for start in range(1, customers + 1, batch):
            ids = list(range(start, min(start + batch, customers + 1)))
            connection = db.session.connection()
            CustomerWallet().write(connection, ids)
            if metered:
                CustomerMeterTotals().write(connection, ids)
            CustomerStatusCheck().write(connection, ids)
            CustomerWords().write(connection, ids)  # the generator's rows were written with the triggers off
            monthly.recalculate(connection, ids)
            db.session.commit()
            progress.update(task, completed=ids[-1])
    connection = db.session.connection()
    TargetAchieved().write(connection, list(db.session.scalars(select(Target.id))))
    recompute_order_month_totals(connection, set(product(db.session.scalars(select(AccountManager.id)), months)))
    AccountBalance().write(connection, list(db.session.scalars(select(Account.id))))
    tallies.rebuild(connection)  # the generator's rows were written with the triggers off
    db.session.commit()


def application(url: str):
    """The app on ``url``, its jobs run in the process, its anchors in a folder of its own."""
    os.environ["DATABASE_URL"] = url
    from backoffice import create_app

    return create_app({"REDIS_URL": None, "ANCHORS_FOLDER": tempfile.mkdtemp(prefix="bench-imports-anchors-")})
