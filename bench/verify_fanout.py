"""verify --check order_grand_total on 10,000,000 orders split over 1, 2 and 4 real ``worker.py`` processes,
each beside the run in one process and the raw SQL floor, measured in the same run.

Run with ``make bench`` (or ``python -m bench verify_fanout``). It builds a PostgreSQL database of its own
(``BENCH_FANOUT_DATABASE_URL``), generates the orders set-based as ``verify_orders`` does (``INSERT … SELECT
generate_series``), corrupts 0.1 % of the grand totals with raw SQL, and uses the Redis database ``BENCH_REDIS_URL``
(emptied). For each number of workers it starts that many workers, then takes turns, ``BENCH_FANOUT_ROUNDS``
times (default 3): the floor (the one ``SELECT count(*) … WHERE grand_total <> …``), the engine's run in this
process (``reconcile.engine.run``), and the verify job split into chunks (``BACKOFFICE_RECONCILE_CHUNK_SIZE``,
the installation's default unless ``BENCH_FANOUT_CHUNK_SIZE`` says otherwise), timed from its enqueue until its
row says it finished. Medians are reported. ``BENCH_FANOUT_ORDERS`` makes the table smaller for a quick run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
from redis import Redis
from rq import Worker

from bench.common import command_env, console, migrated_database, report, timed
from bench.verify_orders import CORRUPT_EVERY, generate

ORDERS = int(os.environ.get("BENCH_FANOUT_ORDERS", 10_000_000))
ROUNDS = int(os.environ.get("BENCH_FANOUT_ROUNDS", 3))
CHUNK_SIZE = int(os.environ.get("BENCH_FANOUT_CHUNK_SIZE", 1_000_000))
WORKERS = (1, 2, 4)
DATABASE_URL = os.environ.get(
    "BENCH_FANOUT_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/backoffice_bench_fanout"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
FLOOR = "SELECT count(*) FROM orders WHERE grand_total <> round(total_price + additions - promo - reductions, 2)"
ROOT = Path(__file__).resolve().parent.parent


def main() -> str:
    url = migrated_database(DATABASE_URL)
    generate(url, ORDERS)
    Redis.from_url(REDIS_URL).flushdb()
    settings = {
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "bench",
        "BACKOFFICE_RECONCILE_CHUNK_SIZE": str(CHUNK_SIZE),
    }
    from backoffice import create_app, jobs
    from backoffice.models import JobStatus, ReconciliationChunk, ReconciliationRun, RunMode
    from backoffice.platform.extensions import db
    from backoffice.reconcile.engine import run

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": REDIS_URL, "RECONCILE_CHUNK_SIZE": CHUNK_SIZE}, web=False
    )
    rows, notes = [], []
    with app.app_context(), psycopg.connect(url) as connection:

        def split() -> tuple[int, int]:
            """The split verify's run: its mismatches and chunks."""
            record, _ = jobs.enqueue("verify", {"checks": ["order_grand_total"]})
            while record.status.active:
                time.sleep(0.02)
                db.session.rollback()
                db.session.refresh(record)
            assert record.status is JobStatus.FINISHED, record.error
            chunks = db.session.scalar(db.select(db.func.count()).where(ReconciliationChunk.run_id == record.run_id))
            return db.session.get(ReconciliationRun, record.run_id).mismatched, chunks

        for count in WORKERS:
            floors, singles, splits = [], [], []
            with _listening(count, settings):
                for _ in range(ROUNDS):
                    seconds, wrong = timed(lambda: connection.execute(FLOOR).fetchone()[0], repeat=1)
                    floors.append(seconds)
                    seconds, record = timed(lambda: run(RunMode.VERIFY, checks=["order_grand_total"]), repeat=1)
                    singles.append(seconds)
                    seconds, (mismatched, chunks) = timed(split, repeat=1)
                    splits.append(seconds)
                    assert wrong == record.mismatched == mismatched == ORDERS // CORRUPT_EVERY
            floor, single, fanned = (statistics.median(times) for times in (floors, singles, splits))
            label = f"split over {count} worker{'s' if count > 1 else ''}"
            rows += [
                (label, fanned, "run in one process", single),
                (label, fanned, "raw SQL count (floor)", floor),
                ("run in one process", single, "raw SQL count (floor)", floor),
            ]
            notes.append(
                f"{count} worker(s), {chunks} chunks; each round's seconds: split {_listed(splits)}, "
                f"one process {_listed(singles)}, floor {_listed(floors)}"
            )
    for note in notes:
        console.print(note)
    return (
        report(
            f"verify order_grand_total split into chunks of {CHUNK_SIZE:,}, {ORDERS:,} orders, "
            f"{ORDERS // CORRUPT_EVERY:,} corrupted (PostgreSQL, {os.cpu_count()} cores)",
            rows,
        )
        + "\n"
        + "\n".join(f"- {note}" for note in notes)
        + "\n"
    )


def _listed(seconds: list[float]) -> str:  # float-ok: seconds
    return ", ".join(f"{s:.2f}" for s in seconds)


@contextmanager
def _listening(count: int, settings: dict[str, str]):
    """``count`` real workers listening until the block ends, once all are in RQ's worker registry."""
    workers = [
        subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=ROOT,
            env=command_env(**settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        connection = Redis.from_url(REDIS_URL)
        deadline = time.monotonic() + 120
        while len(Worker.all(connection=connection)) < count:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=120)


if __name__ == "__main__":
    print(main())
