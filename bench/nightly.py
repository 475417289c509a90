"""A nightly's seals over the same day's changes, on a history of 1× and of 4×.

Run with ``python -m bench nightly``. It builds two PostgreSQL databases (``BENCH_DATABASE_URL`` and the same name
with ``_4x``), each with a history of wallet movements and their journal entries, generated set-based and sealed as
migration 0032 seals an installation's existing rows: ``BENCH_NIGHTLY_HISTORY`` movements (default 100,000) and four
times as many, spread over 10,000 customers. The history's seals are made two days old and anchored as a nightly
anchors them; then the same day's changes, ``BENCH_NIGHTLY_DAY`` movements (default 20,000), are appended and sealed.

Each turn (``BENCH_NIGHTLY_TURNS``, default 7: a whole sweep of ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights) runs the
nightly maintenance of the next night on each database, in process, with the ``evidence_seals`` check alone (what
the history's size moves): the day's changes verified in full, the night's slice of the history, the proof of the
anchors and the new anchor. Before each turn the anchor is put back, so that each night has the same day's changes.
The medians are reported, the 4× over the 1×, and each turn's ratio.

The set-based checks of the derived figures, full every night, are not timed here: their cost follows the history
as the verify benchmarks measure it.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from datetime import date, timedelta
from pathlib import Path

import psycopg

from bench.common import BENCH_DATABASE_URL, console, migrated_database, nightly_from_anchor, report, timed

HISTORY = int(os.environ.get("BENCH_NIGHTLY_HISTORY", 100_000))
DAY = int(os.environ.get("BENCH_NIGHTLY_DAY", 20_000))
TURNS = int(os.environ.get("BENCH_NIGHTLY_TURNS", 7))
CUSTOMERS = 10_000
ANCHORED = date(2026, 11, 1)


def generate(url: str, first: int, last: int) -> None:
    """Movements ``first`` to ``last``, each with its posted journal entry, appended by SQL (no seals yet)."""
    with psycopg.connect(url) as connection:
        connection.execute("SET session_replication_role = replica")  # the generator's rows skip the guards
        if first == 1:
            connection.execute(
                "INSERT INTO account_managers (name, email, active, version) "
                "VALUES ('Bench', 'bench@example.com', true, 1)"
            )
            connection.execute(
                "INSERT INTO customers (code, name, account_manager_id, balance, total_recharged, total_spent, "
                "status, suspend_below, use_realtime_calculation, version, email, phone, address, created_at) "
                "SELECT 'C' || lpad(n::text, 6, '0'), 'Customer ' || n, 1, 0, 0, 0, 'active', 0, true, 1, '', '', "
                f"'', now() FROM generate_series(1, {CUSTOMERS}) n"
            )
        connection.execute(
            "INSERT INTO journal_entries (id, number, entry_date, description, status, source_type, created_at, "
            "posted_at) SELECT n, 'JE-' || n, DATE '2026-01-01', 'Recharge', 'posted', 'balance_transaction', "
            f"now(), now() FROM generate_series({first}, {last}) n"
        )
        connection.execute(
            "INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before, "
            "balance_after, value_date, description, entry_id, created_at) "
            f"SELECT n, 1 + n % {CUSTOMERS}, 'recharge', 1000, 1000, (n / {CUSTOMERS}) * 1000, "
            f"(n / {CUSTOMERS} + 1) * 1000, DATE '2026-01-01', 'Recharge', n, now() "
            f"FROM generate_series({first}, {last}) n"
        )


def build(url: str, history: int):
    """The database with its anchored history and the day's changes; the app on it, and its anchor's files."""
    migrated_database(url)
    generate(url, 1, history)
    os.environ["DATABASE_URL"] = url
    from backoffice import create_app
    from backoffice.evidence import anchors, sealing
    from backoffice.platform.extensions import db

    app = create_app({"ANCHORS_FOLDER": tempfile.mkdtemp(prefix="bench-anchors-")})
    with app.app_context():
        sealing.seal_existing(db.session.connection())
        db.session.commit()
    with psycopg.connect(url) as connection:
        connection.execute("SET session_replication_role = replica")  # seals are append-only but for this
        connection.execute("UPDATE seals SET sealed_at = now() - interval '2 days'")
    with app.app_context():
        anchors.anchor(db.session.connection(), ANCHORED)
        db.session.rollback()
    generate(url, history + 1, history + DAY)
    with app.app_context():
        sealing.seal_existing(db.session.connection())
        db.session.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    folder = Path(app.config["ANCHORS_FOLDER"])
    return app, {path.name: path.read_text() for path in folder.iterdir()}


def nightly(app, kept: dict[str, str], night: date) -> int:
    """The nightly of ``night`` with the ``evidence_seals`` check, from the same anchor; the rows it verified."""
    from backoffice.models import CheckResult
    from backoffice.platform.extensions import db

    run_id = nightly_from_anchor(app, kept, night, ["evidence_seals"])
    with app.app_context():
        result = db.session.scalar(db.select(CheckResult).where(CheckResult.run_id == run_id))
        assert result.mismatched == 0, result.mismatched
        return result.checked


def main() -> str:
    os.environ.pop("REDIS_URL", None)  # the nightly runs in this process
    small = build(BENCH_DATABASE_URL, HISTORY)
    large = build(BENCH_DATABASE_URL + "_4x", 4 * HISTORY)
    times: dict[str, list[float]] = {"1×": [], "4×": []}  # float-ok: seconds
    verified: dict[str, list[int]] = {"1×": [], "4×": []}
    for turn in range(1, TURNS + 1):
        night = ANCHORED + timedelta(days=turn)
        for name, (app, kept) in (("1×", small), ("4×", large)):
            seconds, checked = timed(lambda app=app, kept=kept, night=night: nightly(app, kept, night), repeat=1)
            times[name].append(seconds)
            verified[name].append(checked)
    ratios = [large / small for small, large in zip(times["1×"], times["4×"], strict=True)]
    console.print(
        f"Rows verified a night, 1×: {statistics.median(verified['1×']):,.0f}, 4×: "
        f"{statistics.median(verified['4×']):,.0f}. The nightly on 4× over 1× in each of the {TURNS} turns: least "
        f"{min(ratios):.2f}×, median {statistics.median(ratios):.2f}×, most {max(ratios):.2f}×.\n"
    )
    return report(
        f"A nightly's seals over {DAY:,} movements of the day, on {HISTORY:,} and {4 * HISTORY:,} of history",
        [
            (
                f"nightly, history 4× ({4 * HISTORY + DAY:,} movements)",
                statistics.median(times["4×"]),
                f"nightly, history 1× ({HISTORY + DAY:,})",
                statistics.median(times["1×"]),
            ),
        ],
    )
