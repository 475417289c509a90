"""Verifying the seals of the wallet ledger, beside the raw scan of the same rows and seals.

Run with ``make bench`` (or ``python -m bench seals``). It builds its own PostgreSQL database, appends
``BENCH_SEAL_MOVEMENTS`` wallet movements (default 1,000,000) over 10,000 customers with raw SQL, seals them the
way migration 0032 seals an installation's existing rows (timed: the one-off cost), and then times, taking turns
``BENCH_SEAL_PAIRS`` times (default 5):

- the floor: one ``SELECT`` of every ledger row's columns joined to its seal and its chain's previous seal,
  fetched to the client, the rows the check reads and no HMAC;
- the ``evidence_seals`` check's verify of the same kind, chunk by chunk (``BACKOFFICE_RECONCILE_CHUNK_SIZE``):
  the same rows and seals read with each row's canonical text made by PostgreSQL in the same statement
  (``backoffice.evidence.reading``), an HMAC-SHA256 per row computed and compared in Python, and the seals whose
  row is gone looked for.

The medians are reported, with the check's time over the floor's in each pair.
"""

from __future__ import annotations

import os
import statistics

import psycopg

from bench.common import console, migrated_database, report, timed

MOVEMENTS = int(os.environ.get("BENCH_SEAL_MOVEMENTS", 1_000_000))
PAIRS = int(os.environ.get("BENCH_SEAL_PAIRS", 5))
CUSTOMERS = 10_000

FLOOR = """
SELECT t.*, s.seal, p.seal
FROM balance_transactions t
LEFT JOIN seals s ON s.kind = 'balance_transactions' AND s.row_id = t.id AND s.version = 0
LEFT JOIN seals p ON p.kind = 'balance_transactions' AND p.row_id = s.prev_row_id AND p.version = s.prev_version
"""


def generate(url: str) -> None:
    """Customers with their ledgers and one journal entry per movement, appended by SQL (no seals yet)."""
    with psycopg.connect(url) as connection:
        connection.execute("SET session_replication_role = replica")  # the generator's rows skip the guards
        connection.execute(
            "INSERT INTO account_managers (name, email, active, version) VALUES ('Bench', 'bench@example.com', true, 1)"
        )
        connection.execute(
            "INSERT INTO customers (code, name, account_manager_id, balance, total_recharged, total_spent, status, "
            "suspend_below, use_realtime_calculation, version, email, phone, address, created_at) "
            "SELECT 'C' || lpad(n::text, 6, '0'), 'Customer ' || n, 1, 0, 0, 0, 'active', 0, true, 1, '', '', '', "
            f"now() FROM generate_series(1, {CUSTOMERS}) n"
        )
        connection.execute(
            "INSERT INTO journal_entries (id, number, entry_date, description, status, source_type, created_at, "
            "posted_at) SELECT n, 'JE-' || n, DATE '2026-01-01', 'Recharge', 'posted', 'balance_transaction', "
            f"now(), now() FROM generate_series(1, {MOVEMENTS}) n"
        )
        connection.execute(
            "INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before, "
            "balance_after, value_date, description, entry_id, created_at) "
            f"SELECT n, 1 + n % {CUSTOMERS}, 'recharge', 1000, 1000, (n / {CUSTOMERS}) * 1000, "
            f"(n / {CUSTOMERS} + 1) * 1000, DATE '2026-01-01', 'Recharge', n, now() "
            f"FROM generate_series(1, {MOVEMENTS}) n"
        )
        connection.execute("ANALYZE")


def main() -> str:
    url = migrated_database()
    generate(url)
    os.environ["DATABASE_URL"] = url
    from backoffice import create_app
    from backoffice.evidence import sealing, seals, verifying
    from backoffice.platform.extensions import db
    from backoffice.reconcile import CHECKS

    app = create_app()
    ledger = seals.kinds()["balance_transactions"]
    size = app.config["RECONCILE_CHUNK_SIZE"]

    def verify() -> int:
        low, high = verifying.bounds(db.session.connection(), ledger)
        found = 0
        for start in range(low, high + 1, size):
            found += len(verifying.verify(db.session.connection(), ledger, start, min(start + size - 1, high)).findings)
        db.session.rollback()
        return found

    with app.app_context():
        sealing_seconds, _ = timed(lambda: (sealing.seal_existing(db.session.connection()), db.session.commit()), 1)
        assert "evidence_seals" in CHECKS
    floor_times, check_times = [], []
    with app.app_context(), psycopg.connect(url) as connection:
        for _ in range(PAIRS):
            seconds, rows = timed(lambda: len(connection.execute(FLOOR).fetchall()), repeat=1)
            floor_times.append(seconds)
            seconds, found = timed(verify, repeat=1)
            check_times.append(seconds)
            assert rows == MOVEMENTS and found == 0, (rows, found)
    floor_seconds, check_seconds = statistics.median(floor_times), statistics.median(check_times)
    ratios = [check / floor for check, floor in zip(check_times, floor_times, strict=True)]
    console.print(
        f"Seal verify over the raw scan in each of the {PAIRS} pairs: least {min(ratios):.2f}×, "
        f"median {statistics.median(ratios):.2f}×, most {max(ratios):.2f}×.\n"
    )
    scan = "raw scan of the rows and seals (floor)"
    return report(
        f"evidence_seals over {MOVEMENTS:,} wallet movements (PostgreSQL)",
        [
            ("verify of the ledger's seals (in process)", check_seconds, scan, floor_seconds),
            ("sealing the existing rows once (migration 0032)", sealing_seconds, scan, floor_seconds),
        ],
    )
