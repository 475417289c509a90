"""The exports beside PostgreSQL's own ``COPY`` of the same rows and columns: the orders CSV and the journal's CSV
(and its hledger journal).

The benchmark builds its own PostgreSQL database (BENCH_DATABASE_URL), written with ``generate_series``:
``BENCH_LIST_ORDERS`` orders (default 1,000,000) of 1,000 customers and 50 account managers, and
``BENCH_EXPORT_ENTRIES`` posted journal entries (by default half as many, 500,000) of two lines each, written past
the books' guards: ``BENCH_LIST_ORDERS`` alone sizes a quick check.

Each export is measured in a process of its own, logged in through Flask's test client, its response read chunk by
chunk as a browser would, beside its floor: ``COPY (SELECT …) TO STDOUT (FORMAT csv, HEADER)`` of the same rows and
columns in the same order, read block by block through psycopg. Every measure runs once untimed first (caches,
plans, the app's first request), then they take turns (COPY, export, COPY, export…) ``BENCH_EXPORT_TURNS`` times
(default 5), so that the other work on a shared machine slows both alike.

Reported: the median wall time of each, the median's ratio to COPY's, and the least and most of each turn's ratio to
the COPY beside it; the process's CPU time (the database server's is not in it); the largest growth of the process's
peak resident memory in a run, the warm-up included (reset just before through ``/proc/self/clear_refs``, ``VmHWM``
read after); the bytes sent; and the load average before and after.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import psycopg
from rich.table import Table

from bench.common import (
    console,
    logged_in_client,
    managers_and_customers,
    measure_in_process,
    migrated_database,
    reset_peak,
    status_kib,
)

ORDERS = int(os.environ.get("BENCH_LIST_ORDERS", 1_000_000))
ENTRIES = int(os.environ.get("BENCH_EXPORT_ENTRIES", ORDERS // 2))
TURNS = int(os.environ.get("BENCH_EXPORT_TURNS", 5))
BATCH = 100_000
ORDERS_COPY = (
    "COPY (SELECT o.number, c.code, c.name, m.name, o.closing_date, o.total_price, o.additions, o.promo, "
    "o.reductions, o.grand_total FROM orders o JOIN customers c ON c.id = o.customer_id "
    "JOIN account_managers m ON m.id = o.account_manager_id "
    "ORDER BY o.closing_date DESC, o.id DESC) TO STDOUT (FORMAT csv, HEADER)"
)
JOURNAL_COPY = (
    "COPY (SELECT e.number, e.entry_date, e.status, e.description, e.source_type, e.source_id, e.reverses_id, "
    "a.code, a.name, l.debit, l.credit, l.description FROM journal_lines l "
    "JOIN journal_entries e ON e.id = l.entry_id JOIN accounts a ON a.id = l.account_id "
    "ORDER BY e.entry_date, e.id, l.id) TO STDOUT (FORMAT csv, HEADER)"
)
EXPORTS = {
    "orders": ("Orders CSV and workbook", ORDERS_COPY, {"csv": "/orders/export.csv", "xlsx": "/orders/export.xlsx"}),
    "journal": (
        "Journal",
        JOURNAL_COPY,
        {"csv": "/books/journal.csv", "hledger": "/books/journal.journal"},
    ),
}
LABELS = {
    "copy": "PostgreSQL `COPY … TO STDOUT` (floor)",
    "/orders/export.csv": "`/orders/export.csv`, streamed",
    "/orders/export.xlsx": "`/orders/export.xlsx` (a workbook, its rows written by PostgreSQL), streamed",
    "/books/journal.csv": "`/books/journal.csv`, streamed",
    "/books/journal.journal": "`/books/journal.journal` (hledger), streamed",
}


def main() -> str:
    url = migrated_database()
    _generate(url)
    load = os.getloadavg()
    found = {name: measure_in_process("bench.exports", url, name, title) for name, (title, _, _) in EXPORTS.items()}
    after = os.getloadavg()
    columns = ["measure", "median s", "over COPY's", "per turn (least–most)", "CPU s", "memory growth (MiB)", "bytes"]
    sections = []
    for name, (title, _, paths) in EXPORTS.items():
        heading = f"{title}, {ORDERS if name == 'orders' else 2 * ENTRIES:,} rows, {TURNS} turns"
        table = Table(*columns, title=heading)
        lines = [f"### {heading}", "", "| " + " | ".join(columns) + " |", "| --- |" + " ---: |" * 6]
        turns = found[name]
        floor = statistics.median(turns["copy"]["seconds"])
        for what in ["copy", *paths.values()]:
            measured = turns[what]
            median = statistics.median(measured["seconds"])
            ratios = [s / c for s, c in zip(measured["seconds"], turns["copy"]["seconds"], strict=True)]
            cells = [
                LABELS[what],
                f"{median:.2f}",
                f"{median / floor:.2f}×",
                f"{min(ratios):.2f}–{max(ratios):.2f}×",
                f"{statistics.median(measured['cpu']):.2f}",
                f"{max(measured['mib']):.1f}",
                f"{measured['size']:,}",
            ]
            table.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
        console.print(table)
        sections.append("\n".join(lines))
    loads = f"Load average (1, 5, 15 min): {_load(load)} before, {_load(after)} after."
    console.print(loads)
    return "\n\n".join(sections) + f"\n\n{loads}\n"


def measure(url: str, name: str) -> None:
    """In a process of its own: an export and its COPY, taking turns after a warm-up, printed as JSON (per
    measure: ``seconds`` and ``cpu`` of each timed turn, ``mib`` of every run, the warm-up's first, and ``size``)."""
    os.environ["DATABASE_URL"] = url
    _, copy, paths = EXPORTS[name]
    _, client = logged_in_client(url)
    measures = {"copy": lambda: _copied(url, copy)} | {
        path: (lambda path=path: _downloaded(client, path)) for path in paths.values()
    }
    found = {what: {"seconds": [], "cpu": [], "mib": []} for what in measures}
    for turn in range(TURNS + 1):
        for what, run in measures.items():
            before = reset_peak()
            start, cpu = time.perf_counter(), time.process_time()
            found[what]["size"] = run()
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            found[what]["mib"].append((status_kib("VmHWM") - before) / 1024)
            if turn:
                found[what]["seconds"].append(seconds)
                found[what]["cpu"].append(cpu)
    print(json.dumps(found))


def _copied(url: str, statement: str) -> int:
    with psycopg.connect(url) as connection:
        with connection.cursor().copy(statement) as copy:
            return sum(len(block) for block in copy)


def _downloaded(client, path: str) -> int:
    response = client.get(path, buffered=False)
    assert response.status_code == 200, response.status_code
    size = sum(len(chunk) for chunk in response.response)
    response.close()
    return size


def _load(averages: tuple[float, float, float]) -> str:  # float-ok: load averages
    return " ".join(f"{average:.2f}" for average in averages)


def _generate(url: str) -> None:
    console.print(f"Generating {ORDERS:,} orders and {ENTRIES:,} posted entries of two lines…")
    with psycopg.connect(url) as connection:
        managers_and_customers(connection)
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
        for start in range(1, ENTRIES + 1, BATCH):
            stop = min(start + BATCH - 1, ENTRIES)
            with connection.transaction():
                connection.execute("SET LOCAL session_replication_role = replica")
                connection.execute(
                    "INSERT INTO journal_entries (id, number, entry_date, description, status, created_at, posted_at) "
                    "SELECT n, 'JE-' || n, DATE '2025-01-01' + (n %% 700), 'Bench entry ' || n, 'posted', now(), now() "
                    "FROM generate_series(%s::int, %s::int) n",
                    (start, stop),
                )
                connection.execute(
                    "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
                    "SELECT n, a.id, CASE WHEN a.code = '1000' THEN (n %% 100000) / 100.0 + 1 ELSE 0 END, "
                    "       CASE WHEN a.code = '4000' THEN (n %% 100000) / 100.0 + 1 ELSE 0 END, '' "
                    "FROM generate_series(%s::int, %s::int) n "
                    "JOIN accounts a ON a.code IN ('1000', '4000') ORDER BY n, a.code",
                    (start, stop),
                )
        connection.execute("SELECT setval(pg_get_serial_sequence('journal_entries', 'id'), %s)", (max(ENTRIES, 1),))
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
