"""The prepaid wallet: verify ``customer_wallet`` on 100,000 customers and 2,000,000 ledger rows,
and charges with 8 concurrent workers, each beside a baseline doing the same work, measured in turns.

- verify, beside the floor (one hand-written ``GROUP BY`` compare of the same three fields), the two
  taking turns, and beside a per-customer loop (one query per customer);
- charges through the service layer (the posting core), spread over 1,000 customers and all on one
  hot customer, beside two hand-written charges through psycopg:

  - **raw with everything** writes what the posting core writes, in as many statements: the customer's
    row moved, the ledger row, its month, the journal entry posted with its two lines and the accounts'
    buckets in one statement; then the seals as the core makes them (the entry with its lines read, the
    ledger row with its chain's last seal read, the two seals inserted); then the commit. A refused
    charge reads, as the core does, why (the customer, its open findings), and rolls back;
  - **minimal** is the least a charge can be: the customer's row moved under the same conditions and a
    ledger row, in one statement, then the commit. Its ledger, ``bench_minimal_ledger``, is a copy of
    the real one (its rows, indexes, checks, foreign keys and triggers, read from the catalog), but for
    the journal entry its rows do not have: ``entry_id`` may be empty, so its foreign key checks nothing.

  Core, minimal and raw take turns (``BENCH_WALLET_ROUNDS`` rounds, default 5, each running the three
  one after another on each workload: 8 workers spread, 8 workers on the hot customer, one process
  alone); every worker makes six charges on a customer kept for that before the clock starts, so that
  each has its connection, its compiled and prepared statements and its caches. The figures are the
  medians of the rounds, beside their least and most, and the ratio within each round. Processor time
  per attempt is read from ``/proc/<pid>/schedstat`` (nanoseconds) of the charging processes and of
  their database server processes. Afterwards no balance is negative and the wallet, ledger chain and
  account balance checks find nothing but what was corrupted on purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import os
import random
import re
import statistics
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
from rich.progress import Progress
from rich.table import Table

from backoffice.models import BUCKETS
from backoffice.platform.money import MAX_BALANCE
from bench.common import WALLETS_FROM_LEDGER, console, migrated_database, report, timed, verify_in_turns

CUSTOMERS = int(os.environ.get("BENCH_WALLET_CUSTOMERS", 100_000))
ROWS_PER_CUSTOMER = 20
BATCH = 5_000
WORKERS = 8
ATTEMPTS = int(os.environ.get("BENCH_WALLET_ATTEMPTS", 250))
"""Charge attempts per worker."""
ROUNDS = int(os.environ.get("BENCH_WALLET_ROUNDS", 5))
WARM_UP = 6
"""Charges each worker makes before the clock starts: psycopg prepares a statement on its fifth execution."""
SPREAD = 1_000
CHARGE = Decimal("1000.00")
HOT_BALANCE = CHARGE * WORKERS * ATTEMPTS / 2
"""Enough for half of the hot customer's charges: the rest must be refused."""
AMPLE = Decimal("1000000000.00")
VIAS = {"service": "posting core", "minimal": "minimal charge", "raw": "raw with everything"}
TIMEZONE = ZoneInfo("Asia/Jakarta")

FLOOR_SQL = """
SELECT count(*) FROM customers c LEFT JOIN (
    SELECT customer_id,
           round(sum(signed_amount), 2) AS balance,
           round(sum(CASE WHEN kind = 'recharge' THEN signed_amount
                          WHEN kind = 'reversal' AND signed_amount < 0 THEN signed_amount ELSE 0 END), 2) AS recharged,
           round(sum(CASE WHEN kind = 'charge' THEN -signed_amount
                          WHEN kind = 'reversal' AND signed_amount > 0 THEN -signed_amount ELSE 0 END), 2) AS spent
    FROM balance_transactions GROUP BY customer_id
) l ON l.customer_id = c.id
WHERE c.balance <> coalesce(l.balance, 0) OR c.total_recharged <> coalesce(l.recharged, 0)
   OR c.total_spent <> coalesce(l.spent, 0)
"""


def main() -> str:
    url = migrated_database()
    _generate(url)
    os.environ["DATABASE_URL"] = url

    from backoffice import create_app
    from backoffice.models import RunMode
    from backoffice.reconcile.engine import run

    app = create_app()
    with app.app_context():
        floor_times, verify_times = verify_in_turns(url, FLOOR_SQL, "customer_wallet", ROUNDS, CUSTOMERS // 1000)
    loop_seconds, loop_count = timed(lambda: _per_customer_loop(url), repeat=1)
    assert loop_count == CUSTOMERS // 1000

    hot, spread, warm = _prepare_charges(url)
    the_core_s_seals_read(app)
    with psycopg.connect(url) as connection:
        for customer_id in [*spread, warm]:
            _raw_move(connection, customer_id, AMPLE, "recharge")
    load_before = os.getloadavg()
    measures = defaultdict(list)
    for _ in range(ROUNDS):
        for workload, targets, workers in (
            (f"spread over 1,000 customers, {WORKERS} workers", spread, WORKERS),
            (f"one hot customer, {WORKERS} workers", [hot], WORKERS),
            ("spread over 1,000 customers, one process alone", spread, 1),
        ):
            for via in VIAS:
                _top_up(url, hot)
                measures[(workload, via)].append(_measure(url, via, targets, warm, workers))
                _assert_no_overdraft(url)
                if via == "minimal":
                    _undo_minimal(url)
    load_after = os.getloadavg()
    with app.app_context():
        clean = run(RunMode.VERIFY, checks=["customer_wallet", "ledger_chain", "account_balance"])
        assert clean.mismatched == CUSTOMERS // 1000, "only the corrupted balances may differ"

    floor = "raw SQL GROUP BY compare (floor)"
    lines = report(
        f"verify customer_wallet, {CUSTOMERS:,} customers, {CUSTOMERS * ROWS_PER_CUSTOMER:,} ledger rows (PostgreSQL)",
        [
            ("engine verify (in process)", statistics.median(verify_times), floor, statistics.median(floor_times)),
            ("per-customer loop", loop_seconds, floor, statistics.median(floor_times)),
            ("engine verify (in process)", statistics.median(verify_times), "per-customer loop", loop_seconds),
        ],
    )
    lines += "\n" + _spread_table(
        "verify customer_wallet, seconds", {"engine verify": verify_times, floor: floor_times}
    )
    lines += "\n" + _charges(measures)
    load = "load average (1, 5, 15 min) {:.1f} {:.1f} {:.1f}"
    said = f"Charges measured from {load.format(*load_before)} to {load.format(*load_after)}.\n"
    console.print(said)
    return lines + "\n" + said


def _charges(measures: dict) -> str:
    """The charges' reports: each figure over its baselines, the rounds' spread, the time waiting on locks."""
    workloads = list(dict.fromkeys(workload for workload, _via in measures))
    wall, cpu, server = {}, {}, {}
    for workload in workloads:
        for via, name in VIAS.items():
            taken = measures[(workload, via)]
            wall[f"{name}, {workload}"] = [1000 / m.rate for m in taken]
            cpu[f"{name}, {workload}"] = [m.client + m.server for m in taken]
            server[f"{name}, {workload}"] = [m.server for m in taken]
    title = f"charges, {ATTEMPTS} attempts a process: seconds per 1,000 attempts (PostgreSQL)"
    lines = report(title, _over_baselines(wall, workloads))
    lines += "\n" + _spread_table(title, wall, _within_rounds(wall))
    title = "processor time, client and database server: seconds per 1,000 attempts (PostgreSQL)"
    lines += "\n" + report(title, _over_baselines(cpu, workloads))
    lines += "\n" + _spread_table(title, cpu, _within_rounds(cpu))
    title = "processor time, database server alone: seconds per 1,000 attempts (PostgreSQL)"
    lines += "\n" + report(title, _over_baselines(server, workloads))
    return lines + "\n" + _waits_table(measures, [workload for workload in workloads if "alone" not in workload])


def _over_baselines(series: dict[str, list[float]], workloads: list[str]) -> list:  # float-ok: seconds
    """For each workload, the medians of the posting core over raw with everything and over the minimal charge,
    and of raw with everything over the minimal charge."""
    rows = []
    for workload in workloads:
        median = {via: statistics.median(series[f"{name}, {workload}"]) for via, name in VIAS.items()}
        for measure, baseline in (("service", "raw"), ("service", "minimal"), ("raw", "minimal")):
            rows.append((f"{VIAS[measure]}, {workload}", median[measure], VIAS[baseline], median[baseline]))
    return rows


def _within_rounds(series: dict[str, list[float]]) -> dict[str, list[float]]:  # float-ok: ratios
    """The posting core's figure over each baseline's within each round: the three took turns."""
    ratios = {}
    for name, times in series.items():
        if name.startswith(VIAS["service"]):
            for via in ("raw", "minimal"):
                baseline = series[name.replace(VIAS["service"], VIAS[via], 1)]
                ratios[f"{name} ÷ {VIAS[via]}"] = [a / b for a, b in zip(times, baseline, strict=True)]
    return ratios


def _spread_table(title: str, series: dict[str, list[float]], ratios: dict | None = None) -> str:  # float-ok: s
    """Each measure's least, median and most over the rounds; then the ratios of the rounds, likewise."""
    headers = ["measure", "rounds", "least", "median", "most"]
    table = Table(*headers, title=f"{title}: spread over the rounds")
    lines = [f"### {title}: spread over the rounds", "", "| " + " | ".join(headers) + " |", "| --- |" + " ---: |" * 4]
    for name, values in (series | (ratios or {})).items():
        unit = "×" if name in (ratios or {}) else ""
        row = [
            name,
            str(len(values)),
            *(f"{v:.3f}{unit}" for v in (min(values), statistics.median(values), max(values))),
        ]
        table.add_row(*row)
        lines.append("| " + " | ".join(row) + " |")
    console.print(table)
    return "\n".join(lines) + "\n"


def _waits_table(measures: dict, workloads: list[str]) -> str:
    headers = ["workload", *(f"{name} waiting on locks" for name in VIAS.values())]
    title = "share of the workers' time in a transaction spent waiting on locks (median of the rounds)"
    table = Table(*headers, title=title)
    lines = [f"### {title}", "", "| " + " | ".join(headers) + " |", "| --- |" + " ---: |" * len(VIAS)]
    for workload in workloads:
        row = [workload, *(f"{statistics.median(m.waiting for m in measures[(workload, via)]):.0%}" for via in VIAS)]
        table.add_row(*row)
        lines.append("| " + " | ".join(row) + " |")
    console.print(table)
    return "\n".join(lines) + "\n"


def _generate(url: str) -> None:
    with psycopg.connect(url) as connection, Progress(console=console, transient=True) as progress:
        connection.execute(
            "INSERT INTO customers (code, name, status, created_at, balance, total_recharged, total_spent, "
            "suspend_below, use_realtime_calculation) "
            "SELECT 'W' || lpad(n::text, 7, '0'), 'Customer ' || n, 'active', now(), 0, 0, 0, 0, true "
            "FROM generate_series(1, %s) n",
            (CUSTOMERS,),
        )
        task = progress.add_task(f"Generating {CUSTOMERS * ROWS_PER_CUSTOMER:,} ledger rows", total=CUSTOMERS)
        for start in range(1, CUSTOMERS + 1, BATCH):
            stop = min(start + BATCH - 1, CUSTOMERS)
            first, last = (start - 1) * ROWS_PER_CUSTOMER + 1, stop * ROWS_PER_CUSTOMER
            # Each row's journal entry has the row's id (a draft: the history's accounts are not under test).
            connection.execute(
                "INSERT INTO journal_entries (id, number, entry_date, description, status, source_type, source_id,"
                " created_at) SELECT n, 'JE-' || n, current_date, '', 'draft', 'balance_transaction', n, now() "
                "FROM generate_series(%s::int, %s::int) n",
                (first, last),
            )
            connection.execute(
                "INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before, "
                "balance_after, value_date, entry_id, description, created_at) "
                "SELECT (c - 1) * %s + k, c, kind, amount, signed, running - signed, running, current_date, "
                "(c - 1) * %s + k, '', now() FROM ("
                "  SELECT c, k, kind, amount, signed, sum(signed) OVER (PARTITION BY c ORDER BY k) AS running FROM ("
                "    SELECT c, k, kind, amount, CASE WHEN k = 1 THEN amount ELSE -amount END AS signed FROM ("
                "      SELECT c, k, CASE WHEN k = 1 THEN 'recharge' ELSE 'charge' END AS kind,"
                "      CASE WHEN k = 1 THEN 1000000.00 ELSE ((c * 7 + k * 13) %% 40000 + 100) + 0.25 END AS amount"
                "      FROM generate_series(%s::int, %s::int) c, generate_series(1, %s::int) k) raw) rows) chained"
                " ORDER BY c, k",
                (ROWS_PER_CUSTOMER, ROWS_PER_CUSTOMER, start, stop, ROWS_PER_CUSTOMER),
            )
            connection.commit()
            progress.update(task, completed=stop)
        for table in ("journal_entries", "balance_transactions"):
            connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        _minimal_ledger(connection)
        connection.execute(WALLETS_FROM_LEDGER)
        connection.execute("UPDATE customers SET balance = balance + 1 WHERE id % 1000 = 0")
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def _minimal_ledger(connection) -> None:
    """The minimal charge's ledger: a copy of the real one, its rows, and its indexes, checks, foreign keys and
    triggers as the catalog has them; but ``entry_id`` may be empty (the minimal charge writes no journal entry)
    and the ids come from a sequence of its own."""
    connection.execute("CREATE TABLE bench_minimal_ledger (LIKE balance_transactions INCLUDING ALL)")
    connection.execute("INSERT INTO bench_minimal_ledger SELECT * FROM balance_transactions")
    connection.execute("ALTER TABLE bench_minimal_ledger ALTER COLUMN entry_id DROP NOT NULL")
    connection.execute("CREATE SEQUENCE bench_minimal_ledger_id_seq OWNED BY bench_minimal_ledger.id")
    connection.execute(
        "ALTER TABLE bench_minimal_ledger ALTER COLUMN id SET DEFAULT nextval('bench_minimal_ledger_id_seq')"
    )
    connection.execute("SELECT setval('bench_minimal_ledger_id_seq', (SELECT max(id) FROM bench_minimal_ledger))")
    keys = connection.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'balance_transactions'::regclass AND contype = 'f'"
    ).fetchall()
    for name, definition in keys:
        itself = definition.replace("REFERENCES balance_transactions(", "REFERENCES bench_minimal_ledger(")
        connection.execute(f'ALTER TABLE bench_minimal_ledger ADD CONSTRAINT "bench_{name}" {itself}')
    triggers = connection.execute(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'balance_transactions'::regclass "
        "AND NOT tgisinternal"
    ).fetchall()
    for (definition,) in triggers:
        copied, replaced = re.subn(r" ON (public\.)?balance_transactions ", " ON bench_minimal_ledger ", definition)
        assert replaced == 1, definition
        connection.execute(copied)


def _per_customer_loop(url: str) -> int:
    """The naive verifier: one query per customer for its ledger sums."""
    wrong = 0
    with psycopg.connect(url) as connection:
        customers = connection.execute("SELECT id, balance, total_recharged, total_spent FROM customers").fetchall()
        for customer_id, balance, recharged, spent in customers:
            sums = connection.execute(
                "SELECT coalesce(sum(signed_amount), 0),"
                " coalesce(sum(CASE WHEN kind = 'recharge' THEN signed_amount ELSE 0 END), 0),"
                " coalesce(sum(CASE WHEN kind = 'charge' THEN -signed_amount ELSE 0 END), 0)"
                " FROM balance_transactions WHERE customer_id = %s",
                (customer_id,),
            ).fetchone()
            if (balance, recharged, spent) != tuple(sums):
                wrong += 1
    return wrong


def _prepare_charges(url: str) -> tuple[int, list[int], int]:
    """The hot customer, the spread ones, and the one each worker warms up on."""
    with psycopg.connect(url) as connection:
        ids = [
            row[0]
            for row in connection.execute("SELECT id FROM customers WHERE id %% 1000 <> 0 LIMIT %s", (SPREAD + 2,))
        ]
    return ids[0], ids[2:], ids[1]


def _top_up(url: str, hot: int) -> None:
    """Bring the hot customer back to its balance for half the attempts, by a recharge through the raw path."""
    with psycopg.connect(url) as connection:
        (balance,) = connection.execute("SELECT balance FROM customers WHERE id = %s", (hot,)).fetchone()
        if balance < HOT_BALANCE:
            _raw_move(connection, hot, HOT_BALANCE - balance, "recharge")


@dataclass(frozen=True)
class _Measure:
    rate: float  # float-ok: attempts per second
    waiting: float  # float-ok: a share of the time in a transaction
    client: float  # float-ok: milliseconds of processor time per attempt
    server: float  # float-ok: milliseconds of processor time per attempt


def _measure(url: str, via: str, targets: list[int], warm: int, workers: int) -> _Measure:
    """``workers`` processes making ``ATTEMPTS`` charge attempts each, once all are warm: attempts per second, the
    share of their time in a transaction spent waiting for a lock, and the processor time an attempt takes in the
    charging processes and in their database server processes (the server runs on this machine: the sum of each
    one's ``/proc/<pid>/schedstat``, in nanoseconds). The processor time is what the workers share the cores for,
    whatever else the machine is doing."""
    context = multiprocessing.get_context("fork")
    ready = context.Queue()
    with (
        context.Pool(workers, initializer=_worker_init, initargs=(url, via, warm, ready)) as pool,
        psycopg.connect(url, autocommit=True) as connection,
    ):
        charging = [ready.get(timeout=600) for _ in range(workers)]
        with _LockWaits(url) as waits:
            client, server = _spent(charging), _spent(_backends(connection, waits.pid))
            started = time.perf_counter()
            done = pool.starmap(_charge_many, [(targets, seed) for seed in range(workers)], chunksize=1)
            elapsed = time.perf_counter() - started
            client = _spent(charging, since=client)
            server = _spent(_backends(connection, waits.pid), since=server)
    attempts = workers * ATTEMPTS
    assert sum(done) == attempts
    return _Measure(attempts / elapsed, waits.share, client / 1e6 / attempts, server / 1e6 / attempts)


def _backends(connection, *besides: int) -> list[int]:
    """The database's server processes but the one asking and ``besides``."""
    return [
        pid
        for (pid,) in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND pid <> ALL(%s)",
            (list(besides),),
        )
    ]


def _spent(pids: list[int], since: dict[int, int] | None = None):
    """Each process's nanoseconds on a processor so far; or, ``since`` such a reading, the sum of what they
    spent after it."""
    spent = {}
    for pid in pids:
        with open(f"/proc/{pid}/schedstat") as schedstat:
            spent[pid] = int(schedstat.read().split()[0])
    return spent if since is None else sum(ns - since.get(pid, 0) for pid, ns in spent.items())


class _LockWaits:
    """Samples ``pg_stat_activity`` every 20 ms: of the connections in a transaction, how many wait for a lock.

    On a machine whose cores are busy, the rate says as much about the CPU as about the database;
    the time spent waiting for another writer's row locks is what a hot row costs.
    """

    _SAMPLE = (
        "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), "
        "count(*) FILTER (WHERE state IN ('active', 'idle in transaction')) "
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )

    def __init__(self, url: str) -> None:
        self.url = url
        self.waiting = self.busy = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample)

    def __enter__(self) -> _LockWaits:
        self.connection = psycopg.connect(self.url, autocommit=True)
        self.pid = self.connection.info.backend_pid
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join()
        self.connection.close()

    @property
    def share(self) -> float:  # float-ok: a share of samples
        return self.waiting / self.busy if self.busy else 0.0

    def _sample(self) -> None:
        while not self.stop.wait(0.02):
            waiting, busy = self.connection.execute(self._SAMPLE).fetchone()
            self.waiting += waiting
            self.busy += busy


_state: dict = {}


def _worker_init(url: str, via: str, warm: int, ready) -> None:
    """Connect, make ``WARM_UP`` charges on the ``warm`` customer, and say so on ``ready``."""
    _state["via"] = via
    if via == "service":
        from backoffice import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        context = app.app_context()
        context.push()
        _state["context"] = context
    else:
        _state["connection"] = psycopg.connect(url)
    for _ in range(WARM_UP):
        _charge(warm)
    ready.put(os.getpid())


def _charge_many(targets: list[int], seed: int) -> int:
    rng = random.Random(seed)
    for _ in range(ATTEMPTS):
        _charge(rng.choice(targets))
    return ATTEMPTS


def _charge(customer_id: int) -> None:
    if _state["via"] == "service":
        from backoffice.services import wallet

        try:
            wallet.charge(customer_id, CHARGE, description="bench")
        except wallet.InsufficientBalance:
            pass
    elif _state["via"] == "minimal":
        _minimal_move(_state["connection"], customer_id, CHARGE)
    else:
        _raw_move(_state["connection"], customer_id, CHARGE, "charge")


_MOVE = (
    "UPDATE customers SET balance = round(balance + %(signed)s, 2), "
    "total_recharged = round(total_recharged + %(recharged)s, 2), total_spent = round(total_spent + %(spent)s, 2), "
    "balance_last_updated_at = %(moment)s, "
    "status = CASE WHEN round(balance + %(signed)s, 2) < suspend_below THEN 'suspended' ELSE 'active' END "
    "WHERE id = %(customer)s AND closed_at IS NULL AND (%(kind)s::text <> 'charge' OR NOT EXISTS ("
    "SELECT FROM tampered_evidence t WHERE t.customer_id = customers.id AND t.resolution IS NULL)) "
    "AND (%(signed)s >= 0 OR round(balance + %(signed)s, 2) >= 0) AND abs(round(balance + %(signed)s, 2)) <= %(limit)s "
    "AND round(total_recharged + %(recharged)s, 2) <= %(limit)s AND round(total_spent + %(spent)s, 2) <= %(limit)s "
    "RETURNING balance, code, use_realtime_calculation AS realtime"
)
"""The customer's row moved under the balance rule and the columns' limits, as the posting core moves it."""

_MINIMAL = (
    f"WITH moved AS ({_MOVE}) "
    "INSERT INTO bench_minimal_ledger (customer_id, kind, amount, signed_amount, balance_before, balance_after, "
    "value_date, description, created_at) "
    "SELECT %(customer)s, %(kind)s, %(amount)s, %(signed)s, round(balance - %(signed)s, 2), balance, %(on)s, "
    "'bench', %(moment)s FROM moved"
)


def _minimal_move(connection, customer_id: int, amount: Decimal) -> None:
    """The least a charge can be: the customer's row moved and a ledger row, in one statement; commit."""
    with connection.transaction():
        connection.execute(_MINIMAL, _parameters(connection, customer_id, amount, "charge"))


def _undo_minimal(url: str) -> None:
    """Take the minimal charges back out of the customers' rows and out of their ledger: only the posting core's
    ledger counts. Their ledger is append-only, as the real one is: its own triggers are set aside for this."""
    with psycopg.connect(url) as connection:
        connection.execute(
            "UPDATE customers c SET balance = round(c.balance + m.amount, 2), "
            "total_spent = round(c.total_spent - m.amount, 2) FROM (SELECT customer_id, sum(amount) AS amount "
            "FROM bench_minimal_ledger WHERE entry_id IS NULL GROUP BY customer_id) m WHERE m.customer_id = c.id"
        )
        connection.execute("ALTER TABLE bench_minimal_ledger DISABLE TRIGGER USER")
        connection.execute("DELETE FROM bench_minimal_ledger WHERE entry_id IS NULL")
        connection.execute("ALTER TABLE bench_minimal_ledger ENABLE TRIGGER USER")


_EVERYTHING = (
    f"WITH moved AS ({_MOVE}), "
    "new AS (SELECT nextval('balance_transactions_id_seq') AS row_id, nextval('journal_entries_id_seq') AS entry_id,"
    " * FROM moved), "
    "entry AS (INSERT INTO journal_entries (id, number, entry_date, description, status, posted_at, source_type,"
    " source_id, created_at) SELECT entry_id, 'JE-' || entry_id, %(on)s,"
    " %(heading)s::text || ' #' || row_id || ' of ' || code, 'posted', %(moment)s, 'balance_transaction', row_id,"
    " %(moment)s FROM new), "
    "lines AS (INSERT INTO journal_lines (entry_id, account_id, debit, credit, description)"
    " SELECT entry_id, %(debit_account)s, %(amount)s, 0, '' FROM new UNION ALL"
    " SELECT entry_id, %(credit_account)s, 0, %(amount)s, '' FROM new), "
    "row AS (INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before,"
    " balance_after, value_date, description, entry_id, created_at) SELECT row_id, %(customer)s, %(kind)s,"
    " %(amount)s, %(signed)s, round(balance - %(signed)s, 2), balance, %(on)s, 'bench', entry_id, %(moment)s"
    " FROM new), "
    "previous AS (SELECT coalesce((SELECT closing_balance FROM monthly_customer_balances WHERE customer_id ="
    " %(customer)s AND year_month < %(month)s ORDER BY year_month DESC LIMIT 1), 0) AS closing), "
    "month AS (INSERT INTO monthly_customer_balances AS m (customer_id, year_month, opening_balance, total_deposits,"
    " total_purchases, closing_balance, total_volume_sm3, calculation_details, last_calculated_at)"
    " SELECT %(customer)s, %(month)s, closing, %(deposits)s, %(purchases)s, round(closing + %(signed)s, 2), 0,"
    " json_build_object('balance_transaction_id', row_id), %(moment)s FROM new, previous WHERE realtime"
    " ON CONFLICT (customer_id, year_month) DO UPDATE SET"
    " total_deposits = round(m.total_deposits + excluded.total_deposits, 2),"
    " total_purchases = round(m.total_purchases + excluded.total_purchases, 2),"
    " closing_balance = round(m.closing_balance + %(signed)s, 2),"
    " total_volume_sm3 = round(m.total_volume_sm3 + excluded.total_volume_sm3, 4),"
    " calculation_details = excluded.calculation_details, last_calculated_at = excluded.last_calculated_at), "
    "later AS (UPDATE monthly_customer_balances SET opening_balance = round(opening_balance + %(signed)s, 2),"
    " closing_balance = round(closing_balance + %(signed)s, 2) WHERE customer_id = %(customer)s"
    " AND year_month > %(month)s AND (SELECT realtime FROM new)), "
    "request AS (INSERT INTO recalculation_requests (customer_id, from_date, reason, description, requested_at)"
    " SELECT %(customer)s, %(on)s, 'deferred', %(kind)s::text || ' #' || row_id, %(moment)s FROM new"
    " WHERE NOT realtime), "
    "buckets AS (INSERT INTO account_balance_buckets AS b (account_id, bucket, balance)"
    " SELECT %(first_account)s, %(bucket)s, %(first_by)s FROM new UNION ALL"
    " SELECT %(second_account)s, %(bucket)s, %(second_by)s FROM new"
    " ON CONFLICT (account_id, bucket) DO UPDATE SET balance = b.balance + excluded.balance"
    " WHERE abs(b.balance + excluded.balance) <= %(limit)s RETURNING account_id) "
    "SELECT row_id, entry_id, (SELECT count(*) FROM buckets) FROM new"
)
"""Everything the posting core writes for a wallet movement, by hand, in one statement as the core writes it:
the customer's row moved, then, each reading the moved row, the journal entry posted with its two lines, the
ledger row, its month (or a recalculation request), and the two accounts' buckets in account order."""

_EXPLAINED = (
    "SELECT code, balance, closed_at FROM customers WHERE id = %(customer)s",
    "SELECT id, code FROM customers WHERE id = %(customer)s AND id IN "
    "(SELECT customer_id FROM tampered_evidence WHERE resolution IS NULL)",
)
"""What the posting core reads to say why it refused a charge: the customer, and whether it is quarantined."""


def _raw_move(connection, customer_id: int, amount: Decimal, kind: str) -> None:
    """Everything the posting core does for a wallet movement, by hand: the movement in one statement, the seals
    of its journal entry and ledger row, the commit; a refused one read for why, and rolled back."""
    with connection.transaction() as transaction:
        given = _parameters(connection, customer_id, amount, kind)
        written = connection.execute(_EVERYTHING, given).fetchone()
        if written is None:
            for statement in _EXPLAINED:
                connection.execute(statement, given).fetchone()
            raise psycopg.Rollback(transaction)
        row_id, entry_id, buckets = written
        assert buckets == 2, "an account's bucket beyond its column"
        seal_by_hand(connection, row_id, entry_id, given["moment"])


def _parameters(connection, customer_id: int, amount: Decimal, kind: str) -> dict:
    """A movement's parameters: a recharge debits Cash and credits Customer deposits, a charge debits Customer
    deposits and credits Gas revenue; each account moves in its normal direction, in the customer's bucket."""
    recharge = kind == "recharge"
    signed = amount if recharge else -amount
    debit, credit = ("1000", "2000") if recharge else ("2000", "4000")
    accounts = _account_ids(connection)
    (first, first_by), (second, second_by) = sorted(
        {accounts[debit]: amount if recharge else -amount, accounts[credit]: amount}.items()
    )
    moment = datetime.now(UTC)
    on = moment.astimezone(TIMEZONE).date()
    return {
        "customer": customer_id,
        "kind": kind,
        "heading": kind.capitalize(),
        "amount": amount,
        "signed": signed,
        "recharged": amount if recharge else Decimal(0),
        "spent": Decimal(0) if recharge else amount,
        "deposits": amount if recharge else Decimal(0),
        "purchases": Decimal(0) if recharge else amount,
        "moment": moment,
        "on": on,
        "month": on.strftime("%Y-%m"),
        "limit": MAX_BALANCE,
        "debit_account": accounts[debit],
        "credit_account": accounts[credit],
        "bucket": customer_id % BUCKETS,
        "first_account": first,
        "first_by": first_by,
        "second_account": second,
        "second_by": second_by,
    }


_ACCOUNT_IDS: dict[str, int] = {}


def _account_ids(connection) -> dict[str, int]:
    if not _ACCOUNT_IDS:
        _ACCOUNT_IDS.update(connection.execute("SELECT code, id FROM accounts").fetchall())
    return _ACCOUNT_IDS


_SEAL_KEY = hashlib.sha256(b"bench").digest()
_SEALS_READ: dict = {}
"""The posting core's read of what its commit seals, as SQL and its parameters (:func:`the_core_s_seals_read`)."""


def the_core_s_seals_read(app) -> None:
    """The statement the posting core reads a movement's two rows to seal with (their canonical text made by
    PostgreSQL, the ledger row's chain's last seal), as SQL text with numbered parameters, as the application sends
    it (psycopg parses named ones out of every statement over 4 kB again): the raw charge sends the same statement."""
    from sqlalchemy.dialects import postgresql

    from backoffice.evidence import sealing

    with app.app_context():
        compiled = sealing.made_read((("balance_transactions", True), ("journal_entries", True))).compile(
            dialect=postgresql.psycopg.dialect(paramstyle="numeric_dollar")
        )
    _SEALS_READ.update(sql=compiled.string, given=dict(compiled.params), order=compiled.positiontup)


def seal_by_hand(connection, row_id: int, entry_id: int, moment: datetime, key: bytes = _SEAL_KEY) -> None:
    """The seals the posting core writes as its unit of work commits, by hand: the ledger row with its chain's last
    seal and the entry with its lines read in the core's one statement, each as the text its seal covers; an
    HMAC-SHA256 of each over that text and the previous seal (under ``key``: the benchmark's own, or an
    installation's, whose nightly then finds them whole); the two seals inserted."""
    given = _SEALS_READ["given"] | {"row_0_id": row_id, "row_0_version": 0, "row_1_id": entry_id, "row_1_version": 0}
    sealed = []
    read = psycopg.RawCursor(connection).execute(_SEALS_READ["sql"], [given[name] for name in _SEALS_READ["order"]])
    for n, found, _version, chain, prev_row_id, prev_version, prev_seal, _kept, text in read:
        kind = ("balance_transactions", "journal_entries")[n]
        if not prev_seal:
            prev_row_id = prev_version = None
        seal = hmac.digest(key, text + b"\x1e" + prev_seal.encode(), hashlib.sha256).hex()
        sealed.append((kind, found, chain, prev_row_id, prev_version, seal, moment))
    connection.cursor().executemany(
        "INSERT INTO seals (kind, row_id, version, chain, prev_row_id, prev_version, seal, sealed_at) "
        "VALUES (%s, %s, 0, %s, %s, %s, %s, %s)",
        sealed,
    )


def _assert_no_overdraft(url: str) -> None:
    with psycopg.connect(url) as connection:
        negative = connection.execute(
            "SELECT (SELECT count(*) FROM customers WHERE balance < 0) + "
            "(SELECT count(*) FROM balance_transactions WHERE balance_after < 0)"
        ).fetchone()[0]
    assert negative == 0, f"{negative} overdrafts"


if __name__ == "__main__":
    print(main())
