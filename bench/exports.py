"""Exporting the journal: a million lines streamed as CSV and as an hledger journal, beside the same lines
fetched at once.

The benchmark builds its own PostgreSQL database (BENCH_DATABASE_URL) with ``BENCH_EXPORT_ENTRIES`` posted
entries (default 500,000) of two lines each, written with ``generate_series`` past the books' guards. Each
measure runs in a process of its own, logged in through Flask's test client, after a warm-up export of nothing:

- **CSV** and **hledger journal**: ``GET /books/journal.csv`` and ``/books/journal.journal``, the response read
  chunk by chunk as a browser would, counting its bytes;
- **fetched at once** (the baseline): the same query's rows read into a list (``.all()``), as an export that
  loads what it writes would hold them before writing a byte.

Reported: the wall time, the process's CPU time (the database server's is not in it), and the growth of the
process's peak resident memory during the measure (Linux: the peak is reset to the memory held just before it,
through ``/proc/self/clear_refs``, and ``VmHWM`` read after).
"""

from __future__ import annotations

import os
import time

import psycopg
from rich.table import Table

from bench.common import console, logged_in_client, measure_in_process, migrated_database, print_measure, reset_peak

ENTRIES = int(os.environ.get("BENCH_EXPORT_ENTRIES", 500_000))
BATCH = 100_000
MEASURES = {
    "fetched": "rows fetched at once (`.all()`)",
    "csv": "CSV, streamed",
    "journal": "hledger journal, streamed",
}


def main() -> str:
    url = migrated_database()
    _generate(url)
    found = {what: measure_in_process("bench.exports", url, what, label) for what, label in MEASURES.items()}
    assert found["fetched"]["size"] == 2 * ENTRIES, found
    base = found["fetched"]
    title = f"Journal exports, {2 * ENTRIES:,} lines"
    columns = ["measure", "seconds", "CPU seconds", "peak memory growth (MiB)", "bytes sent"]
    columns.append("memory over the baseline's")
    table = Table(*columns)
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for what, label in MEASURES.items():
        result = found[what]
        sent = f"{result['size']:,}" if what != "fetched" else "—"
        ratio = f"{result['mib'] / base['mib']:.3f}×"
        cells = [label, f"{result['seconds']:.2f}", f"{result['cpu']:.2f}", f"{result['mib']:.1f}", sent, ratio]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    return "\n".join(lines) + "\n"


def measure(url: str, what: str) -> None:
    """In a process of its own: one measure, printed as JSON (``seconds``, ``mib``, ``size``)."""
    os.environ["DATABASE_URL"] = url
    from backoffice.extensions import db
    from backoffice.services import journal_export

    app, client = logged_in_client(url)
    client.get("/books/journal.csv?since=9999-01-01").close()
    before = reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    if what == "fetched":
        with app.app_context():
            size = len(db.session.execute(journal_export.lines_query([])).all())
    else:
        response = client.get(f"/books/journal.{what}", buffered=False)
        assert response.status_code == 200, response.status_code
        size = sum(len(chunk) for chunk in response.response)
        response.close()
    print_measure(start, cpu, before, size)


def _generate(url: str) -> None:
    console.print(f"Generating {ENTRIES:,} posted entries of two lines…")
    with psycopg.connect(url) as connection:
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
        connection.execute("SELECT setval(pg_get_serial_sequence('journal_entries', 'id'), %s)", (ENTRIES,))
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE journal_entries, journal_lines")
