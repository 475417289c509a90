"""The prepaid wallet: verify ``customer_wallet`` on 100,000 customers and 2,000,000 ledger rows,
and charge throughput with 8 concurrent workers, each beside its baseline measured in the same run.

- verify, beside the floor (one hand-written ``GROUP BY`` compare of the same three fields)
  and beside a per-customer loop (one query per customer);
- charges through the service layer (the posting core: the ledger row, the customer's totals and
  status, the month, the journal entry, the accounts), spread over 1,000 customers and all on one
  hot customer, beside raw psycopg doing a minimal charge (lock the customer, insert the ledger
  row, update the customer) and doing everything the posting core does; afterwards no balance is
  negative and the wallet and account balance checks are clean.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
import time
from decimal import Decimal

import psycopg
from rich.progress import Progress

from backoffice.models import BUCKETS
from bench.common import WALLETS_FROM_LEDGER, console, migrated_database, report, timed

CUSTOMERS = int(os.environ.get("BENCH_WALLET_CUSTOMERS", 100_000))
ROWS_PER_CUSTOMER = 20
BATCH = 5_000
WORKERS = 8
ATTEMPTS = int(os.environ.get("BENCH_WALLET_ATTEMPTS", 250))
"""Charge attempts per worker."""
SPREAD = 1_000
CHARGE = Decimal("1000.00")
HOT_BALANCE = Decimal("1000000.00")
"""Enough for half of the hot customer's charges: the rest must be refused."""

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
    with psycopg.connect(url) as connection:
        floor_seconds, floor_count = timed(lambda: connection.execute(FLOOR_SQL).fetchone()[0])

    from backoffice import create_app
    from backoffice.models import RunMode
    from backoffice.reconcile.engine import run

    app = create_app()
    with app.app_context():
        verify_seconds, record = timed(lambda: run(RunMode.VERIFY, checks=["customer_wallet"]))
        assert record.mismatched == floor_count == CUSTOMERS // 1000, (record.mismatched, floor_count)
    loop_seconds, loop_count = timed(lambda: _per_customer_loop(url), repeat=1)
    assert loop_count == floor_count

    hot, spread = _prepare_charges(url)
    rates, waits, cpu = {}, {}, {}
    for label, targets in (("spread over 1,000 customers", spread), ("one hot customer", [hot])):
        for via in ("service", "minimal", "raw"):
            _reset_balances(url, hot, spread)
            rates[(label, via)], waits[(label, via)] = _throughput(url, via, targets)
            _assert_no_overdraft(url)
            if via == "minimal":
                _undo_minimal(url)
    for via in ("service", "minimal", "raw"):
        _reset_balances(url, hot, spread)
        cpu[via] = _cpu_per_charge(url, via, spread)
        if via == "minimal":
            _undo_minimal(url)
    with app.app_context():
        clean = run(RunMode.VERIFY, checks=["customer_wallet", "ledger_chain", "account_balance"])
        assert clean.mismatched == CUSTOMERS // 1000, "only the corrupted balances may differ"

    floor = "raw SQL GROUP BY compare (floor)"
    lines = report(
        f"verify customer_wallet, {CUSTOMERS:,} customers, {CUSTOMERS * ROWS_PER_CUSTOMER:,} ledger rows (PostgreSQL)",
        [
            ("engine verify (in process)", verify_seconds, floor, floor_seconds),
            ("per-customer loop", loop_seconds, floor, floor_seconds),
            ("engine verify (in process)", verify_seconds, "per-customer loop", loop_seconds),
        ],
    )
    lines += "\n" + _rates_table(rates, waits) + "\n" + _cpu_table(cpu)
    return lines


def _rates_table(rates: dict, waits: dict) -> str:
    from rich.table import Table

    title = f"charges per second, {WORKERS} concurrent workers × {ATTEMPTS} attempts (PostgreSQL)"
    headers = [
        "workload",
        "posting core /s",
        "minimal raw charge /s",
        "ratio",
        "raw with everything /s",
        "ratio",
        "posting core waiting on locks",
        "raw with everything waiting on locks",
    ]
    table = Table(*headers, title=title)
    lines = [f"### {title}", "", "| " + " | ".join(headers) + " |", "| --- |" + " ---: |" * (len(headers) - 1)]
    for label in dict.fromkeys(label for label, _ in rates):
        service, minimal, raw = (rates[(label, via)] for via in ("service", "minimal", "raw"))
        row = [
            label,
            f"{service:.0f}",
            f"{minimal:.0f}",
            f"{service / minimal:.2f}×",
            f"{raw:.0f}",
            f"{service / raw:.2f}×",
            f"{waits[(label, 'service')]:.0%}",
            f"{waits[(label, 'raw')]:.0%}",
        ]
        table.add_row(*row)
        lines.append("| " + " | ".join(row) + " |")
    console.print(table)
    return "\n".join(lines) + "\n"


def _cpu_table(cpu: dict) -> str:
    from rich.table import Table

    title = f"processor time per charge, one process charging {ATTEMPTS} times in a row (PostgreSQL, ms)"
    headers = ["charge", "client", "database server", "both", "minimal's both ÷ this"]
    table = Table(*headers, title=title)
    lines = [f"### {title}", "", "| " + " | ".join(headers) + " |", "| --- |" + " ---: |" * (len(headers) - 1)]
    names = {"service": "posting core", "minimal": "minimal raw charge", "raw": "raw with everything"}
    floor = sum(cpu["minimal"])
    for via, (client, server) in cpu.items():
        both = client + server
        row = [names[via], f"{client:.3f}", f"{server:.3f}", f"{both:.3f}", f"{floor / both:.2f}×"]
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
        # The minimal charge's ledger: the same columns, without the journal entry the posting core requires.
        connection.execute("CREATE TABLE bench_minimal_ledger (LIKE balance_transactions INCLUDING DEFAULTS)")
        connection.execute("ALTER TABLE bench_minimal_ledger ALTER COLUMN entry_id DROP NOT NULL")
        connection.execute(
            "CREATE SEQUENCE bench_minimal_ledger_id OWNED BY bench_minimal_ledger.id; "
            "ALTER TABLE bench_minimal_ledger ALTER COLUMN id SET DEFAULT nextval('bench_minimal_ledger_id')"
        )
        connection.execute(WALLETS_FROM_LEDGER)
        connection.execute("UPDATE customers SET balance = balance + 1 WHERE id % 1000 = 0")
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


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


def _prepare_charges(url: str) -> tuple[int, list[int]]:
    with psycopg.connect(url) as connection:
        ids = [
            row[0]
            for row in connection.execute("SELECT id FROM customers WHERE id %% 1000 <> 0 LIMIT %s", (SPREAD + 1,))
        ]
    return ids[0], ids[1:]


def _reset_balances(url: str, hot: int, spread: list[int]) -> None:
    """Give the charged customers a fresh, consistent wallet: a recharge through the raw path."""
    with psycopg.connect(url) as connection:
        for customer_id in [hot, *spread]:
            amount = HOT_BALANCE if customer_id == hot else Decimal("1000000000.00")
            _raw_move(connection, customer_id, amount, "recharge")


def _throughput(url: str, via: str, targets: list[int]) -> tuple[float, float]:  # float-ok: rate and share
    """Charges per second, and the share of the workers' time in a transaction spent waiting for a lock."""
    context = multiprocessing.get_context("fork")
    with context.Pool(WORKERS, initializer=_worker_init, initargs=(url, via)) as pool:
        pool.map(_warm_up, range(WORKERS))
        with _LockWaits(url) as waits:
            started = time.perf_counter()
            pending = [pool.apply_async(_charge_many, (targets, seed)) for seed in range(WORKERS)]
            done = [p.get(timeout=600) for p in pending]
            elapsed = time.perf_counter() - started
    assert sum(done) == WORKERS * ATTEMPTS
    return WORKERS * ATTEMPTS / elapsed, waits.share


def _cpu_per_charge(url: str, via: str, targets: list[int]) -> tuple[float, float]:  # float-ok: milliseconds
    """Milliseconds of processor time a charge takes, in the charging process and in its database server process
    (read from ``/proc``: the server runs on this machine), one process charging alone: what 8 workers share the
    cores for, whatever else the machine is doing."""
    context = multiprocessing.get_context("fork")
    with context.Pool(1, initializer=_worker_init, initargs=(url, via)) as pool:
        pool.apply(_warm_up, (0,))
        return pool.apply(_charge_timed, (targets,))


def _charge_timed(targets: list[int]) -> tuple[float, float]:  # float-ok: milliseconds
    if _state["via"] == "service":
        from backoffice.extensions import db

        backend = db.session.execute(db.text("SELECT pg_backend_pid()")).scalar_one()
        db.session.rollback()
    else:
        backend = _state["connection"].execute("SELECT pg_backend_pid()").fetchone()[0]
        _state["connection"].rollback()
    client, server = time.process_time(), _process_seconds(backend)
    _charge_many(targets, seed=WORKERS)
    client, server = time.process_time() - client, _process_seconds(backend) - server
    return client * 1000 / ATTEMPTS, server * 1000 / ATTEMPTS


def _process_seconds(pid: int) -> float:  # float-ok: seconds
    """A process's user and system time so far, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def share(self) -> float:  # float-ok: a share of samples
        return self.waiting / self.busy if self.busy else 0.0

    def _sample(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            while not self.stop.wait(0.02):
                waiting, busy = connection.execute(self._SAMPLE).fetchone()
                self.waiting += waiting
                self.busy += busy


_state: dict = {}


def _worker_init(url: str, via: str) -> None:
    _state["via"] = via
    if via == "service":
        from backoffice import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        context = app.app_context()
        context.push()
        _state["context"] = context
    else:
        _state["connection"] = psycopg.connect(url)


def _warm_up(_n: int) -> None:
    """Open each worker's connection before the clock starts."""
    if _state["via"] == "service":
        from backoffice.extensions import db

        db.session.execute(db.text("SELECT 1"))
        db.session.rollback()
    else:
        _state["connection"].execute("SELECT 1")
        _state["connection"].rollback()


def _charge_many(targets: list[int], seed: int) -> int:
    rng = random.Random(seed)
    if _state["via"] == "service":
        from backoffice.services import wallet

        for _ in range(ATTEMPTS):
            try:
                wallet.charge(rng.choice(targets), CHARGE, description="bench")
            except wallet.InsufficientBalance:
                pass
    else:
        connection = _state["connection"]
        move = _minimal_move if _state["via"] == "minimal" else _raw_move
        for _ in range(ATTEMPTS):
            move(connection, rng.choice(targets), CHARGE, "charge")
    return ATTEMPTS


def _minimal_move(connection, customer_id: int, amount: Decimal, kind: str) -> bool:
    """The least a charge can be: lock the customer, check, insert the ledger row, update the customer, commit."""
    signed = amount if kind == "recharge" else -amount
    with connection.transaction():
        (before,) = connection.execute(
            "SELECT balance FROM customers WHERE id = %s FOR UPDATE", (customer_id,)
        ).fetchone()
        after = before + signed
        if after < 0:
            return False
        connection.execute(
            "INSERT INTO bench_minimal_ledger (customer_id, kind, amount, signed_amount, balance_before, "
            "balance_after, value_date, description, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, current_date, 'bench', now())",
            (customer_id, kind, amount, signed, before, after),
        )
        connection.execute(
            "UPDATE customers SET balance = %s, total_spent = total_spent + %s WHERE id = %s",
            (after, amount, customer_id),
        )
    return True


def _undo_minimal(url: str) -> None:
    """Take the minimal charges back out of the customers' rows: only the posting core's ledger counts."""
    with psycopg.connect(url) as connection:
        connection.execute(
            "UPDATE customers c SET balance = c.balance - m.signed, total_spent = c.total_spent + m.signed "
            "FROM (SELECT customer_id, sum(signed_amount) AS signed FROM bench_minimal_ledger GROUP BY customer_id) m "
            "WHERE m.customer_id = c.id"
        )
        connection.execute("DELETE FROM bench_minimal_ledger")


def _raw_move(connection, customer_id: int, amount: Decimal, kind: str) -> None:
    """Everything the posting core does, by hand: the journal entry, then lock, check, append, update, roll up
    into the month, move the accounts, commit."""
    signed = amount if kind == "recharge" else -amount
    with connection.transaction() as transaction:
        accounts = _account_ids(connection)
        debit, credit = ("1000", "2000") if kind == "recharge" else ("2000", "4000")
        (entry,) = connection.execute(
            "INSERT INTO journal_entries (id, number, entry_date, description, status, source_type, created_at) "
            "SELECT n, 'JE-' || n, (now() AT TIME ZONE 'Asia/Jakarta')::date, 'bench', 'draft', "
            "'balance_transaction', now() FROM (SELECT nextval(pg_get_serial_sequence('journal_entries', 'id'))"
            " AS n) next RETURNING id"
        ).fetchone()
        connection.execute(
            "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
            "VALUES (%(e)s, %(d)s, %(a)s, 0, ''), (%(e)s, %(c)s, 0, %(a)s, '')",
            {"e": entry, "d": accounts[debit], "c": accounts[credit], "a": amount},
        )
        (before,) = connection.execute(
            "SELECT balance FROM customers WHERE id = %s FOR UPDATE", (customer_id,)
        ).fetchone()
        after = before + signed
        if after < 0:
            raise psycopg.Rollback(transaction)  # the entry too: nothing was charged
        (row_id,) = connection.execute(
            "INSERT INTO balance_transactions (customer_id, kind, amount, signed_amount, balance_before, "
            "balance_after, value_date, entry_id, description, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, (now() AT TIME ZONE 'Asia/Jakarta')::date, %s, 'bench', now()) "
            "RETURNING id",
            (customer_id, kind, amount, signed, before, after, entry),
        ).fetchone()
        connection.execute(
            "UPDATE customers SET balance = %s, total_recharged = total_recharged + %s, "
            "total_spent = total_spent + %s, balance_last_updated_at = now(), "
            "status = CASE WHEN %s < suspend_below THEN 'suspended' ELSE 'active' END WHERE id = %s",
            (
                after,
                amount if kind == "recharge" else 0,
                amount if kind == "charge" else 0,
                after,
                customer_id,
            ),
        )
        deposits, purchases = (amount, 0) if kind == "recharge" else (0, amount)
        later = connection.execute(
            "INSERT INTO monthly_customer_balances AS m (customer_id, year_month, opening_balance, total_deposits, "
            "total_purchases, closing_balance, total_volume_sm3, calculation_details, last_calculated_at) "
            "SELECT %(c)s, month, previous, %(d)s, %(p)s, previous + %(net)s, 0, '{}', now() FROM ("
            "  SELECT month, coalesce((SELECT closing_balance FROM monthly_customer_balances WHERE customer_id = %(c)s"
            "    AND year_month < month ORDER BY year_month DESC LIMIT 1), 0) AS previous"
            "  FROM to_char(now() AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM') AS month) this "
            "ON CONFLICT (customer_id, year_month) DO UPDATE SET total_deposits = m.total_deposits + %(d)s, "
            "total_purchases = m.total_purchases + %(p)s, closing_balance = m.closing_balance + %(net)s, "
            "last_calculated_at = now() "
            "RETURNING EXISTS (SELECT 1 FROM monthly_customer_balances WHERE customer_id = %(c)s "
            "AND year_month > to_char(now() AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM'))",
            {"c": customer_id, "d": deposits, "p": purchases, "net": signed},
        )
        if later.fetchone()[0]:
            connection.execute(
                "UPDATE monthly_customer_balances SET opening_balance = opening_balance + %(net)s, "
                "closing_balance = closing_balance + %(net)s WHERE customer_id = %(c)s "
                "AND year_month > to_char(now() AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM')",
                {"c": customer_id, "net": signed},
            )
        # Lines go into a draft, which is then posted: the database refuses a line added to a posted entry.
        connection.execute(
            "UPDATE journal_entries SET status = 'posted', posted_at = now(), source_id = %s WHERE id = %s",
            (row_id, entry),
        )
        # Each account moves in its normal direction (Cash, an asset, up on its debit; Customer deposits, a
        # liability, down on its debit; the credited liability or revenue up), in the customer's bucket, one
        # row at a time in account order.
        by = {accounts[debit]: amount if kind == "recharge" else -amount, accounts[credit]: amount}
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO account_balance_buckets AS b (account_id, bucket, balance) VALUES (%s, %s, %s) "
                "ON CONFLICT (account_id, bucket) DO UPDATE SET balance = b.balance + excluded.balance",
                [(i, customer_id % BUCKETS, by[i]) for i in sorted(by)],
            )


_ACCOUNT_IDS: dict[str, int] = {}


def _account_ids(connection) -> dict[str, int]:
    if not _ACCOUNT_IDS:
        _ACCOUNT_IDS.update(connection.execute("SELECT code, id FROM accounts").fetchall())
    return _ACCOUNT_IDS


def _assert_no_overdraft(url: str) -> None:
    with psycopg.connect(url) as connection:
        negative = connection.execute(
            "SELECT (SELECT count(*) FROM customers WHERE balance < 0) + "
            "(SELECT count(*) FROM balance_transactions WHERE balance_after < 0)"
        ).fetchone()[0]
    assert negative == 0, f"{negative} overdrafts"


if __name__ == "__main__":
    print(main())
