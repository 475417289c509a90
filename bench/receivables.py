"""The aging report beside the raw SQL that sums the same open invoices into the same buckets.

The benchmark builds its own PostgreSQL database (BENCH_DATABASE_URL), written with ``generate_series`` past the
guards: ``BENCH_AGING_INVOICES`` invoices (default 100,000) on 1,000 customers' meters, each with its journal entry,
a third of them still asking something (their stored ``outstanding``), due over the last 150 days.

Measured, each the median of ``BENCH_AGING_TURNS`` (default 5) after one untimed run: the report's page
(``/receivables/aging``: the customers' and all totals per bucket, and its first page of invoices) and its CSV (every
open invoice, streamed), each beside its floor: the raw ``SELECT`` summing the open invoices per customer and bucket,
and ``COPY (SELECT …) TO STDOUT`` of the open invoices' rows with their buckets.
"""

from __future__ import annotations

import os
import statistics
import time

import psycopg

from bench.common import console, logged_in_client, managers_and_customers, migrated_database, report

INVOICES = int(os.environ.get("BENCH_AGING_INVOICES", 100_000))
TURNS = int(os.environ.get("BENCH_AGING_TURNS", 5))
AS_OF = "2026-11-24"
BUCKETS = (
    "CASE WHEN d <= 0 THEN 'current' WHEN d <= 30 THEN '1-30' WHEN d <= 60 THEN '31-60' "
    "WHEN d <= 90 THEN '61-90' ELSE 'over_90' END"
)
OPEN = (
    f"SELECT c.code, c.name, m.serial, i.number, i.issued_on, i.due_on, DATE '{AS_OF}' - i.due_on AS d, "
    "i.outstanding FROM invoices i JOIN meters m ON m.id = i.meter_id "
    "JOIN meter_assignments a ON a.meter_id = i.meter_id AND a.started_on <= i.issued_on "
    "AND (a.ended_on IS NULL OR i.issued_on < a.ended_on) JOIN customers c ON c.id = a.customer_id "
    f"WHERE i.outstanding > 0 AND i.withdrawn_at IS NULL AND i.issued_on <= DATE '{AS_OF}'"
)
SUMMED = f"SELECT code, {BUCKETS} AS bucket, sum(outstanding) FROM ({OPEN}) o GROUP BY code, bucket"
ROWS = f"COPY (SELECT o.*, {BUCKETS} AS bucket FROM ({OPEN}) o ORDER BY code, serial, issued_on) TO STDOUT (FORMAT csv)"


def main() -> str:
    url = migrated_database()
    _generate(url)
    _, client = logged_in_client(url)
    measures = {
        "page": lambda: _read(client, f"/receivables/aging?as_of={AS_OF}"),
        "summed": lambda: _selected(url, SUMMED),
        "csv": lambda: _read(client, f"/receivables/aging.csv?as_of={AS_OF}"),
        "copy": lambda: _copied(url, ROWS),
    }
    seconds = {name: [] for name in measures}
    for turn in range(TURNS + 1):
        for name, measure in measures.items():
            start = time.perf_counter()
            measure()
            if turn:
                seconds[name].append(time.perf_counter() - start)
    median = {name: statistics.median(found) for name, found in seconds.items()}
    console.print(f"{INVOICES:,} invoices, {TURNS} turns")
    return report(
        f"Aging report over {INVOICES:,} invoices",
        [
            (
                "`/receivables/aging` (totals and first page)",
                median["page"],
                "raw SQL sum per customer and bucket",
                median["summed"],
            ),
            ("`/receivables/aging.csv`, streamed", median["csv"], "`COPY` of the open invoices' rows", median["copy"]),
        ],
    )


def _read(client, path: str) -> int:
    response = client.get(path, buffered=False)
    assert response.status_code == 200, (path, response.status_code)
    size = sum(len(chunk) for chunk in response.response)
    response.close()
    return size


def _selected(url: str, sql: str) -> int:
    with psycopg.connect(url) as connection:
        return len(connection.execute(sql).fetchall())


def _copied(url: str, sql: str) -> int:
    size = 0
    with psycopg.connect(url) as connection, connection.cursor().copy(sql) as copy:
        for block in copy:
            size += len(block)
    return size


def _generate(url: str) -> None:
    console.print(f"Generating {INVOICES:,} invoices on 1,000 meters…")
    with psycopg.connect(url) as connection:
        managers_and_customers(connection)
        with connection.transaction():
            connection.execute("SET LOCAL session_replication_role = replica")
            connection.execute(
                "INSERT INTO meters (id, serial, status, balance, overpayment, created_at) "
                "SELECT n, 'MTR-' || n, 'active', 0, 0, now() FROM generate_series(1, 1000) n"
            )
            connection.execute(
                "INSERT INTO meter_assignments (customer_id, meter_id, is_active, started_on) "
                "SELECT n, n, true, DATE '2024-01-01' FROM generate_series(1, 1000) n"
            )
            connection.execute(
                "INSERT INTO journal_entries (id, number, entry_date, description, status, created_at, posted_at) "
                "SELECT n, 'JE-' || n, DATE '2026-06-01', 'Invoice INV-' || n, 'posted', now(), now() "
                "FROM generate_series(1, %s::int) n",
                (INVOICES,),
            )
            connection.execute(
                "INSERT INTO invoices (id, meter_id, number, amount, issued_on, due_on, entry_id, outstanding) "
                "SELECT n, 1 + n %% 1000, 'INV-' || n, 1000000, DATE '2026-11-24' - 14 - (n %% 150), "
                "DATE '2026-11-24' - (n %% 150), n, CASE WHEN n %% 3 = 0 THEN 400000 ELSE 0 END "
                "FROM generate_series(1, %s::int) n",
                (INVOICES,),
            )
            connection.execute(
                "INSERT INTO invoice_lines (invoice_id, position, kind, amount) "
                "SELECT n, 1, 'gas', 1000000 FROM generate_series(1, %s::int) n",
                (INVOICES,),
            )
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
