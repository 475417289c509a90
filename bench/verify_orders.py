"""verify --check order_grand_total on 1,000,000 orders, beside the raw SQL floor and a per-order loop.

Run with ``make bench``. It builds its own PostgreSQL database (BENCH_DATABASE_URL),
corrupts 0.1 % of the grand totals with raw SQL, and times, in one run:
the bare ``SELECT count(*) … WHERE grand_total <> …`` (the floor), the engine's verify, the
``backoffice reconcile verify`` command end to end, and a per-order Python loop over the ORM.
The floor and the engine take turns, ``BENCH_VERIFY_PAIRS`` times (default 7), so that a busy
machine slows both alike; their medians are reported, and the least and the median of the
engine's time over the floor's in each pair. ``BENCH_ORDERS`` makes the table smaller.
"""

from __future__ import annotations

import os
import statistics
import subprocess

import psycopg
from rich.progress import Progress

from bench.common import (
    command_env,
    console,
    managers_and_customers,
    migrated_database,
    report,
    script,
    timed,
    verify_in_turns,
)

ORDERS = int(os.environ.get("BENCH_ORDERS", 1_000_000))
PAIRS = int(os.environ.get("BENCH_VERIFY_PAIRS", 7))
CORRUPT_EVERY = 1000
BATCH = 50_000


def main() -> str:
    url = migrated_database()
    generate(url, ORDERS)
    floor_sql = (
        "SELECT count(*) FROM orders WHERE grand_total <> round(total_price + additions - promo - reductions, 2)"
    )
    os.environ["DATABASE_URL"] = url
    from backoffice import create_app
    from backoffice.models import Order, grand_total_of
    from backoffice.platform.extensions import db

    app = create_app()
    floor_count = ORDERS // CORRUPT_EVERY
    with app.app_context():
        floor_times, engine_times = verify_in_turns(url, floor_sql, "order_grand_total", PAIRS, floor_count)

        def per_order_loop() -> int:
            wrong = 0
            for order in db.session.scalars(db.select(Order).execution_options(yield_per=10_000)):
                if order.grand_total != grand_total_of(*order.components()):
                    wrong += 1
            db.session.expunge_all()
            return wrong

        loop_seconds, loop_count = timed(per_order_loop, repeat=1)
        assert loop_count == floor_count
    cli_seconds, _ = timed(
        lambda: subprocess.run(
            [script(), "reconcile", "verify", "--check", "order_grand_total", "--json"],
            env=command_env(DATABASE_URL=url),
            capture_output=True,
            check=False,
        )
    )
    floor_seconds, engine_seconds = statistics.median(floor_times), statistics.median(engine_times)
    ratios = [engine / floor for engine, floor in zip(engine_times, floor_times, strict=True)]
    pairs = (
        f"Engine verify over the floor in each of the {PAIRS} pairs: least {min(ratios):.2f}×, "
        f"median {statistics.median(ratios):.2f}×, most {max(ratios):.2f}×.\n"
    )
    console.print(pairs)
    floor = "raw SQL count (floor)"
    return report(
        f"verify order_grand_total, {ORDERS:,} orders, {floor_count:,} corrupted (PostgreSQL)",
        [
            ("engine verify (in process)", engine_seconds, floor, floor_seconds),
            ("`backoffice reconcile verify` command", cli_seconds, floor, floor_seconds),
            ("per-order Python loop (ORM)", loop_seconds, floor, floor_seconds),
            ("engine verify (in process)", engine_seconds, "per-order Python loop", loop_seconds),
        ],
    ) + ("\n" + pairs)


def generate(url: str, orders: int) -> None:
    """50 managers, 1,000 customers and ``orders`` orders over two years, set-based; every ``CORRUPT_EVERY``-th
    order's grand total one off; then ``VACUUM ANALYZE``."""
    with psycopg.connect(url) as connection, Progress(console=console, transient=True) as progress:
        managers_and_customers(connection)
        task = progress.add_task(f"Generating {orders:,} orders", total=orders)
        for start in range(1, orders + 1, BATCH):
            stop = min(start + BATCH - 1, orders)
            connection.execute(
                "INSERT INTO orders (number, customer_id, account_manager_id, closing_date, total_price, additions, "
                "promo, reductions, grand_total, created_at, updated_at) "
                "SELECT 'B-' || n, 1 + n %% 1000, 1 + (n %% 1000) %% 50, date '2025-01-01' + (n %% 700), "
                "t, a, p, r, t + a - p - r, now(), now() FROM ("
                "  SELECT n, (1000000 + n %% 9000000)::numeric(15,2) AS t, (n %% 500000)::numeric(15,2) AS a,"
                "         (n %% 100000)::numeric(15,2) AS p, (n %% 7 * 1000)::numeric(15,2) + 0.25 AS r"
                "  FROM generate_series(%s::int, %s::int) n) g",
                (start, stop),
            )
            connection.commit()
            progress.update(task, completed=stop)
        connection.execute(f"UPDATE orders SET grand_total = grand_total + 1 WHERE id % {CORRUPT_EVERY} = 0")
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


if __name__ == "__main__":
    print(main())
