"""Exporting the orders list: a million orders streamed as CSV, beside PostgreSQL's own COPY of the same rows (the
floor) and the same rows fetched at once (what an export that loads its rows holds).

The benchmark builds its own PostgreSQL database (BENCH_DATABASE_URL) with ``BENCH_LIST_ORDERS`` orders (default
1,000,000) of 1,000 customers and 50 account managers, written with ``generate_series``. Each measure runs in a
process of its own; the web ones log in through Flask's test client after a warm-up export of nothing:

- **COPY** (the floor): ``COPY (SELECT …) TO STDOUT (FORMAT csv, HEADER)`` of the same columns in the same order,
  read block by block through psycopg: no Python per row;
- **fetched at once** (the memory baseline): the export's query, in the list's order, read into a list (``.all()``);
- **CSV, streamed**: ``GET /orders/export.csv``, the whole list in its usual order (closing date, newest first);
- **CSV, filtered and sorted**: ``GET /orders/export.csv?manager=7&sort=-grand_total``: a fiftieth of the orders,
  by grand total.

Reported: the wall time and its ratio to COPY's, the process's CPU time (the database server's is not in it), and
the growth of the process's peak resident memory during the measure (reset just before through
``/proc/self/clear_refs``, ``VmHWM`` read after) and its ratio to the fetched-at-once baseline's.
"""

from __future__ import annotations

import os
import time

import psycopg
from rich.table import Table

from bench.common import console, logged_in_client, measure_in_process, migrated_database, print_measure, reset_peak

ORDERS = int(os.environ.get("BENCH_LIST_ORDERS", 1_000_000))
BATCH = 100_000
MEASURES = {
    "copy": "PostgreSQL `COPY … TO STDOUT` (floor)",
    "fetched": "rows fetched at once (`.all()`)",
    "csv": "`/orders/export.csv`, streamed",
    "filtered": "`/orders/export.csv?manager=7&sort=-grand_total`, streamed",
}
COPY = (
    "COPY (SELECT o.number, c.code, c.name, m.name, o.closing_date, o.total_price, o.additions, o.promo, "
    "o.reductions, o.grand_total FROM orders o JOIN customers c ON c.id = o.customer_id "
    "JOIN account_managers m ON m.id = o.account_manager_id "
    "ORDER BY o.closing_date DESC, o.id DESC) TO STDOUT (FORMAT csv, HEADER)"
)


def main() -> str:
    url = migrated_database()
    _generate(url)
    found = {what: measure_in_process("bench.lists", url, what, label) for what, label in MEASURES.items()}
    assert found["fetched"]["size"] == ORDERS, found
    floor, fetched = found["copy"], found["fetched"]
    title = f"Orders list export, {ORDERS:,} orders"
    columns = ["measure", "seconds", "over COPY's", "CPU seconds", "peak memory growth (MiB)", "bytes"]
    columns.append("memory over fetched-at-once's")
    table = Table(*columns, title=title)
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for what, label in MEASURES.items():
        result = found[what]
        cells = [
            label,
            f"{result['seconds']:.2f}",
            f"{result['seconds'] / floor['seconds']:.2f}×",
            f"{result['cpu']:.2f}",
            f"{result['mib']:.1f}",
            f"{result['size']:,}" if what != "fetched" else f"{result['size']:,} rows",
            f"{result['mib'] / fetched['mib']:.3f}×",
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    return "\n".join(lines) + "\n"


def measure(url: str, what: str) -> None:
    """In a process of its own: one measure, printed as JSON (``seconds``, ``cpu``, ``mib``, ``size``)."""
    os.environ["DATABASE_URL"] = url
    if what == "copy":
        with psycopg.connect(url) as connection:
            before = reset_peak()
            start, cpu = time.perf_counter(), time.process_time()
            with connection.cursor().copy(COPY) as copy:
                size = sum(len(block) for block in copy)
            print_measure(start, cpu, before, size)
        return
    from backoffice.extensions import db
    from backoffice.models import Order
    from backoffice.web import orders

    app, client = logged_in_client(url)
    client.get("/orders/export.csv?month=1999-01").close()
    before = reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    if what == "fetched":
        with app.app_context():
            query = orders.export_query().order_by(Order.closing_date.desc(), Order.id.desc())
            size = len(db.session.execute(query).all())
    else:
        path = "/orders/export.csv" + ("?manager=7&sort=-grand_total" if what == "filtered" else "")
        response = client.get(path, buffered=False)
        assert response.status_code == 200, response.status_code
        size = sum(len(chunk) for chunk in response.response)
        response.close()
    print_measure(start, cpu, before, size)


def _generate(url: str) -> None:
    console.print(f"Generating {ORDERS:,} orders…")
    with psycopg.connect(url) as connection:
        connection.execute(
            "INSERT INTO account_managers (name, email, active) "
            "SELECT 'Manager ' || n, 'manager' || n || '@example.com', true FROM generate_series(1, 50) n"
        )
        connection.execute(
            "INSERT INTO customers (code, name, account_manager_id, status, created_at) "
            "SELECT 'C' || lpad(n::text, 6, '0'), 'Customer ' || n, 1 + n % 50, 'active', now() "
            "FROM generate_series(1, 1000) n"
        )
        for start in range(1, ORDERS + 1, BATCH):
            stop = min(start + BATCH - 1, ORDERS)
            with connection.transaction():
                connection.execute("SET LOCAL session_replication_role = replica")
                connection.execute(
                    "INSERT INTO orders (number, customer_id, account_manager_id, closing_date, total_price, "
                    "additions, promo, reductions, grand_total, created_at, updated_at) "
                    "SELECT 'L-' || n, 1 + n %% 1000, 1 + (n %% 1000) %% 50, date '2025-01-01' + (n %% 700), "
                    "t, a, p, r, t + a - p - r, now(), now() FROM ("
                    "  SELECT n, (1000000 + n %% 9000000)::numeric(15,2) AS t, (n %% 500000)::numeric(15,2) AS a,"
                    "         (n %% 100000)::numeric(15,2) AS p, (n %% 7 * 1000)::numeric(15,2) + 0.25 AS r"
                    "  FROM generate_series(%s::int, %s::int) n) g",
                    (start, stop),
                )
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
