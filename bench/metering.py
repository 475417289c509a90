"""Monthly balances: rebuild and verify ``monthly_balance`` for 10,000 customers × 24 months × 30 readings,
and recalculate one customer with two years of readings, each beside its baseline measured in the same run.

- rebuild from an empty table, beside the floor: one hand-written ``INSERT … SELECT`` of the same
  rows (the same sums and window) through psycopg;
- verify with 0.1 % of the months corrupted, beside the floor: the same comparison as one query,
  and beside a per-customer loop (one query per customer for its sources, compared in Python);
- one customer: the months recalculated in a transaction (what a fix and a recalculation request
  do) beside the same by hand; and the "Recalculate customer" job end to end (pending requests,
  then verify-and-fix of every check for the customer), as p50 and p95 over 20 customers.
"""

from __future__ import annotations

import os
import random
import statistics
import time

import psycopg
from rich.progress import Progress

from bench.common import WALLETS_FROM_LEDGER, console, migrated_database, report, timed

CUSTOMERS = int(os.environ.get("BENCH_METERING_CUSTOMERS", 10_000))
MONTHS = 24
READINGS_PER_MONTH = 30
BATCH = 250
SAMPLE = 20
FIRST_MONTH = "2024-11-01"
ZONE = "Asia/Jakarta"

SOURCES = f"""
    SELECT customer_id, to_char(timezone('{ZONE}', created_at), 'YYYY-MM') AS year_month,
           CASE WHEN kind = 'charge' OR (kind = 'reversal' AND signed_amount > 0) THEN 0 ELSE signed_amount END AS d,
           CASE WHEN kind = 'charge' OR (kind = 'reversal' AND signed_amount > 0) THEN -signed_amount ELSE 0 END AS p,
           0 AS v
    FROM balance_transactions WHERE (reference_type IS NULL OR reference_type <> 'meter_reading') {{ledger}}
    UNION ALL
    SELECT customer_id, year_month, 0, total_price, volume_sm3 FROM transaction_calculations {{calculations}}
"""
EXPECTED = f"""
    SELECT customer_id, year_month, round(closing - d + p, 2) AS opening, d, p, closing, v FROM (
      SELECT customer_id, year_month, d, p, v,
             round(sum(d - p) OVER (PARTITION BY customer_id ORDER BY year_month), 2) AS closing FROM (
        SELECT customer_id, year_month, round(sum(d), 2) AS d, round(sum(p), 2) AS p, round(sum(v), 4) AS v
        FROM ({SOURCES}) s GROUP BY customer_id, year_month
        HAVING round(sum(d), 2) <> 0 OR round(sum(p), 2) <> 0 OR round(sum(v), 4) <> 0) months) chained
"""
FLOOR_REBUILD = f"""
    INSERT INTO monthly_customer_balances (customer_id, year_month, opening_balance, total_deposits,
        total_purchases, closing_balance, total_volume_sm3, calculation_details, last_calculated_at)
    SELECT customer_id, year_month, opening, d, p, closing, v, '{{{{}}}}', now() FROM ({EXPECTED}) e
"""
FLOOR_VERIFY = f"""
    SELECT count(*) FROM ({EXPECTED.format(ledger="", calculations="")}) e
    FULL JOIN monthly_customer_balances m USING (customer_id, year_month)
    WHERE m.id IS NULL OR e.customer_id IS NULL OR m.opening_balance <> e.opening OR m.total_deposits <> e.d
       OR m.total_purchases <> e.p OR m.closing_balance <> e.closing OR m.total_volume_sm3 <> e.v
"""


def main() -> str:
    url = migrated_database()
    _generate(url)
    os.environ["DATABASE_URL"] = url

    from backoffice import create_app, jobs
    from backoffice.extensions import db
    from backoffice.models import RunMode
    from backoffice.reconcile.engine import run
    from backoffice.services import monthly

    app = create_app({"REDIS_URL": None})
    rows = CUSTOMERS * MONTHS
    with psycopg.connect(url) as connection:
        floor_rebuild = _once(url, lambda: connection.execute(FLOOR_REBUILD.format(ledger="", calculations="")))
        connection.commit()
        assert connection.execute("SELECT count(*) FROM monthly_customer_balances").fetchone()[0] == rows
    with app.app_context():
        _truncate(url)
        rebuild_seconds, record = timed(lambda: run(RunMode.REBUILD, checks=["monthly_balance"]), repeat=1)
        assert record.fixed == rows, record.fixed

    with psycopg.connect(url) as connection:
        connection.execute(
            "UPDATE monthly_customer_balances SET total_purchases = total_purchases + 1 "
            "WHERE id % 1000 = (SELECT min(id) FROM monthly_customer_balances) % 1000"
        )
        connection.commit()
        with psycopg.connect(url, autocommit=True) as vacuum:
            vacuum.execute("VACUUM ANALYZE monthly_customer_balances")
        floor_seconds, floor_count = timed(lambda: connection.execute(FLOOR_VERIFY).fetchone()[0])
    with app.app_context():
        verify_seconds, record = timed(lambda: run(RunMode.VERIFY, checks=["monthly_balance"]))
        assert record.mismatched == floor_count > 0, (record.mismatched, floor_count)
    loop_seconds, loop_count = timed(lambda: _per_customer_loop(url), repeat=1)
    assert loop_count == floor_count, (loop_count, floor_count)
    with app.app_context():
        run(RunMode.FIX, checks=["monthly_balance"])

    sample = random.Random(7).sample(range(1, CUSTOMERS + 1), SAMPLE)
    with app.app_context():

        def recalculate(customer_id: int) -> None:
            with db.engine.begin() as connection:
                monthly.recalculate(connection, [customer_id])

        months_times = _each(sample, recalculate)
        job_times = _each(sample, lambda c: jobs.enqueue("recalculate_customer", {"customer_id": c}))
    with psycopg.connect(url) as connection:

        def by_hand(customer_id: int) -> None:
            with connection.transaction():
                connection.execute("DELETE FROM monthly_customer_balances WHERE customer_id = %s", (customer_id,))
                only = {"ledger": "AND customer_id = %(c)s", "calculations": "WHERE customer_id = %(c)s"}
                connection.execute(FLOOR_REBUILD.format(**only), {"c": customer_id})

        raw_times = _each(sample, by_hand)
    with app.app_context():
        # The generated wallets have no journal entries: the books' checks do not apply to them.
        assert run(RunMode.VERIFY, checks=["reading_calculation", "customer_wallet", "monthly_balance"]).mismatched == 0

    floor = "raw SQL (floor)"
    lines = report(
        f"monthly_balance, {CUSTOMERS:,} customers × {MONTHS} months × {READINGS_PER_MONTH} readings (PostgreSQL)",
        [
            (f"engine rebuild, empty table ({rows:,} months)", rebuild_seconds, "raw INSERT … SELECT", floor_rebuild),
            ("engine verify, 0.1 % corrupted", verify_seconds, "raw compare (floor)", floor_seconds),
            ("per-customer loop verify", loop_seconds, "raw compare (floor)", floor_seconds),
            ("engine verify, 0.1 % corrupted", verify_seconds, "per-customer loop", loop_seconds),
        ],
    )
    lines += "\n" + report(
        f"one customer, {MONTHS * READINGS_PER_MONTH} readings over {MONTHS} months (p50 / p95 of {SAMPLE})",
        [
            ("months recalculated, p50", _p(months_times, 50), f"{floor}, p50", _p(raw_times, 50)),
            ("months recalculated, p95", _p(months_times, 95), f"{floor}, p95", _p(raw_times, 95)),
            ("Recalculate customer job, p50", _p(job_times, 50), f"{floor}, p50", _p(raw_times, 50)),
            ("Recalculate customer job, p95", _p(job_times, 95), f"{floor}, p95", _p(raw_times, 95)),
        ],
    )
    return lines


def _generate(url: str) -> None:
    """Customers with a meter, a price, 30 readings a month for 24 months, each with its calculation and
    its charge, and a deposit on the first of each month; wallets consistent with their ledgers."""
    with psycopg.connect(url) as connection, Progress(console=console, transient=True) as progress:
        connection.execute(
            "INSERT INTO customers (code, name, status, created_at, balance, total_recharged, total_spent, "
            "suspend_below, use_realtime_calculation, amount_due, overpayment) "
            "SELECT 'M' || lpad(n::text, 6, '0'), 'Customer ' || n, 'active', now(), 0, 0, 0, -1e12, true, 0, 0 "
            "FROM generate_series(1, %s) n",
            (CUSTOMERS,),
        )
        connection.execute(
            "INSERT INTO meters (serial, status, balance, overpayment, created_at) "
            "SELECT 'BM' || lpad(n::text, 6, '0'), 'active', 0, 0, now() FROM generate_series(1, %s) n",
            (CUSTOMERS,),
        )
        connection.execute(
            "INSERT INTO customer_pricing (customer_id, effective_from, price_per_sm3, meter_correction) "
            "SELECT id, %s, 7500.00 + id %% 50, 1.012345 FROM customers",
            (FIRST_MONTH,),
        )
        task = progress.add_task(
            f"Generating {CUSTOMERS * MONTHS * READINGS_PER_MONTH:,} readings with calculations and charges",
            total=CUSTOMERS,
        )
        for start in range(1, CUSTOMERS + 1, BATCH):
            stop = min(start + BATCH - 1, CUSTOMERS)
            _generate_batch(connection, start, stop)
            connection.commit()
            progress.update(task, completed=stop)
        connection.execute(WALLETS_FROM_LEDGER)
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def _generate_batch(connection, start: int, stop: int) -> None:
    between = {"start": start, "stop": stop, "first": FIRST_MONTH, "months": MONTHS, "per": READINGS_PER_MONTH}
    connection.execute(
        "INSERT INTO meter_readings (meter_id, customer_id, reading_date, volume_flow_meter, note, created_at) "
        "SELECT c, c, (%(first)s::date + make_interval(months => m) + make_interval(days => d))::date, "
        "       ((c * 7 + m * 13 + d * 17) %% 900 + 10) + 0.25, '', now() "
        "FROM generate_series(%(start)s::int, %(stop)s::int) c, generate_series(0, %(months)s - 1) m, "
        "     generate_series(0, %(per)s - 1) d ORDER BY c, m, d",
        between,
    )
    connection.execute(
        "INSERT INTO transaction_calculations (customer_id, reading_id, year_month, transaction_date, "
        "volume_flow_meter, meter_correction, volume_sm3, price_per_sm3, total_price, pricing, calculated_at) "
        "SELECT r.customer_id, r.id, to_char(r.reading_date, 'YYYY-MM'), r.reading_date, r.volume_flow_meter, "
        "       p.meter_correction, round(r.volume_flow_meter * p.meter_correction, 4), p.price_per_sm3, "
        "       round(round(r.volume_flow_meter * p.meter_correction, 4) * p.price_per_sm3, 2), '{}', now() "
        "FROM meter_readings r JOIN customer_pricing p ON p.customer_id = r.customer_id "
        "WHERE r.customer_id BETWEEN %(start)s AND %(stop)s",
        between,
    )
    connection.execute(
        "INSERT INTO balance_transactions (customer_id, kind, amount, signed_amount, balance_before, balance_after, "
        "reference_type, reference_id, description, created_at) "
        "SELECT customer_id, kind, amount, signed, running - signed, running, ref_type, ref_id, '', at FROM ("
        "  SELECT *, sum(signed) OVER (PARTITION BY customer_id ORDER BY at, ref_id NULLS FIRST) AS running FROM ("
        "    SELECT c.customer_id, 'charge' AS kind, c.total_price AS amount, -c.total_price AS signed,"
        "           'meter_reading' AS ref_type, c.reading_id AS ref_id, c.transaction_date + time '12:00' AS at"
        "    FROM transaction_calculations c WHERE c.customer_id BETWEEN %(start)s AND %(stop)s AND c.total_price > 0"
        "    UNION ALL"
        "    SELECT c, 'recharge', 250000000.00, 250000000.00, NULL, NULL,"
        "           %(first)s::date + make_interval(months => m) + time '03:00'"
        "    FROM generate_series(%(start)s::int, %(stop)s::int) c, generate_series(0, %(months)s - 1) m"
        "  ) movements) chained ORDER BY customer_id, at, ref_id NULLS FIRST",
        between,
    )


def _per_customer_loop(url: str) -> int:
    """The naive verifier: each customer's sources and stored months, one query each, compared in Python."""
    wrong = 0
    with psycopg.connect(url) as connection:
        for (customer_id,) in connection.execute("SELECT id FROM customers ORDER BY id").fetchall():
            only = {"ledger": "AND customer_id = %(c)s", "calculations": "WHERE customer_id = %(c)s"}
            expected = {
                row[1]: tuple(row[2:])
                for row in connection.execute(EXPECTED.format(**only), {"c": customer_id}).fetchall()
            }
            stored = {
                row[0]: tuple(row[1:])
                for row in connection.execute(
                    "SELECT year_month, opening_balance, total_deposits, total_purchases, closing_balance, "
                    "total_volume_sm3 FROM monthly_customer_balances WHERE customer_id = %s",
                    (customer_id,),
                ).fetchall()
            }
            wrong += sum(expected.get(month) != stored.get(month) for month in expected.keys() | stored.keys())
    return wrong


def _once(url: str, function) -> float:  # float-ok: seconds
    _truncate(url)
    seconds, _ = timed(function, repeat=1)
    return seconds


def _truncate(url: str) -> None:
    with psycopg.connect(url) as connection:
        connection.execute("TRUNCATE monthly_customer_balances")


def _each(customer_ids: list[int], function) -> list[float]:  # float-ok: seconds
    times = []
    for customer_id in customer_ids:
        start = time.perf_counter()
        function(customer_id)
        times.append(time.perf_counter() - start)
    return times


def _p(times: list[float], percent: int) -> float:  # float-ok: seconds
    return statistics.quantiles(times, n=100, method="inclusive")[percent - 1]


if __name__ == "__main__":
    print(main())
