"""Moving an installation in, a kind at a time, as ``backoffice import KIND FILE`` runs it (what the page's check and
run jobs run), beside the floor of writing the same rows with one statement.

Part of ``python -m bench imports``. In a database of its own (the name of ``BENCH_DATABASE_URL`` followed by
``_master``), freshly migrated: 20 account managers, then ``BENCH_IMPORT_MASTER_ROWS`` customers (default 2,000),
as many meters, each meter assigned to a customer of its own, each customer's price; then each customer's opening
balance (which sets the cut-over), last month's route book (a reading a meter, dated before the cut-over: history,
charged nothing), the old system's invoices (one a meter, with what each still asks: half of each is settled in the
system before) and the payments received since (one a meter). Every file is in the import's template columns. Each
import runs in a process of its own (the file read, checked, written in chunks, read back for its report and
verified), one after the other, as an installation is brought in; the approval limit is set above the openings.

**The floor** of each kind: the rows the import wrote, inserted again with one statement (``INSERT … SELECT``) into a
table of the same columns, defaults, constraints and indexes (``LIKE … INCLUDING ALL``), the median of three.
"""

from __future__ import annotations

import cProfile
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from bench.common import BENCH_DATABASE_URL, application, console, measure_in_process, migrated_database

ROWS = int(os.environ.get("BENCH_IMPORT_MASTER_ROWS", "2000"))
PROFILE = os.environ.get("BENCH_IMPORT_PROFILE")
"""``FILE``: each kind's import writes its cProfile statistics to ``FILE.<kind>``."""
MANAGERS = 20
CUT_OVER, HISTORY, PAID = "2026-10-31", "2026-10-15", "2026-11-10"
"""The openings' day (the installation's cut-over), the day of last month's readings and invoices, and the day the
payments since were received."""
FLOOR_TURNS = 3
TABLES = {
    "customers": "customers",
    "meters": "meters",
    "assignments": "meter_assignments",
    "prices": "customer_pricing",
    "balances": "balance_transactions",
    "readings": "meter_readings",
    "invoices": "invoices",
    "payments": "payments",
}
"""Each kind measured, and the table its rows are written to."""


def files(rows: int) -> dict[str, str]:
    """Each kind's file, as an installation moving in writes it (``;``-separated, the template's headers): its master
    lists, then its openings (the cut-over), last month's route book (history, charged nothing), the old system's
    invoices with what each still asks, and the payments received since."""
    return {
        "managers": "Name;Email\n" + "".join(f"Manager {n};m{n}@example.com\n" for n in range(MANAGERS)),
        "customers": "Customer code;Name;Account manager email\n"
        + "".join(f"C{n:06};Customer {n};m{n % MANAGERS}@example.com\n" for n in range(rows)),
        "meters": "Meter serial\n" + "".join(f"S{n:06}\n" for n in range(rows)),
        "assignments": "Meter serial;Customer code;Started on\n"
        + "".join(f"S{n:06};C{n:06};2026-01-01\n" for n in range(rows)),
        "prices": "Customer code;Effective from;Price per Sm³;Meter correction\n"
        + "".join(f"C{n:06};2026-01-01;5.000;1\n" for n in range(rows)),
        "balances": "Customer code;Opening balance;Cut-over date\n"
        + "".join(f"C{n:06};{100_000 + n}.00;{CUT_OVER}\n" for n in range(rows)),
        "readings": "Meter serial;Reading date;Volume (m³)\n"
        + "".join(f"S{n:06};{HISTORY};{10 + n % 90},5\n" for n in range(rows)),
        "invoices": "Invoice number;Meter serial;Amount;Issued on;Due on;Outstanding amount\n"
        + "".join(
            f"INV-{n:06};S{n:06};{50_000 + n}.00;{HISTORY};{CUT_OVER};{(50_000 + n) // 2}.00\n" for n in range(rows)
        ),
        "payments": "Meter serial;Payment reference;Amount;Paid on\n"
        + "".join(f"S{n:06};PAY-{n:06};{(50_000 + n) // 2}.00;{PAID}\n" for n in range(rows)),
    }


def main() -> list[tuple[str, float, str, float]]:  # float-ok: seconds
    """Each kind's import beside its floor, as rows of the report."""
    url = migrated_database(f"{BENCH_DATABASE_URL}_master")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-master-") as folder:
        for kind, text in files(ROWS).items():
            path = Path(folder) / f"{kind}.csv"
            path.write_text(text)
            imported = measure_in_process("bench.master_data", url, f"{kind} {path}", f"the import of {kind}")
            if kind not in TABLES:
                continue
            floor = statistics.median(_floor(url, TABLES[kind]) for _ in range(FLOOR_TURNS))
            console.print(
                f"{kind}: {imported['rows']:,} rows in {imported['seconds']:.2f} s "
                f"({imported['rows'] / imported['seconds']:,.0f} rows a second); one statement {floor:.3f} s"
            )
            rows.append(
                (
                    f"import of {imported['rows']:,} {kind} ({imported['rows'] / imported['seconds']:,.0f} rows/s)",
                    imported["seconds"],
                    "one INSERT of the same rows",
                    floor,
                )
            )
    return rows


def measure(url: str, what: str) -> None:
    """In a process of its own: the import of ``KIND FILE`` as the command runs it, printed as JSON."""
    kind, path = what.split(" ", 1)
    # Openings moved by hand beyond the approval limit wait for a second admin: the limit here is above them.
    os.environ["BACKOFFICE_APPROVAL_ABOVE"] = str(10**12)
    app = application(url)
    with app.app_context():
        from backoffice.imports import running
        from backoffice.imports.kinds import KINDS
        from backoffice.models import Import, ImportStatus
        from backoffice.platform.extensions import db

        spec, path = KINDS[kind], Path(path)
        profile = cProfile.Profile() if PROFILE else None
        start = time.perf_counter()
        if profile:
            profile.enable()
        checked = running.check(spec, running.open_table(spec, path, path.name))
        assert checked.clean, checked.rejected[:3]
        record = running.started(spec, path.name, path, checked, None, valid_only=False)
        running.run_import(record.id)
        seconds = time.perf_counter() - start
        if profile:
            profile.disable()
            profile.dump_stats(f"{PROFILE}.{kind}")
        done = db.session.get(Import, record.id)
        assert done.status == ImportStatus.DONE and done.rows_written == checked.rows, (done.status, done.error)
    print(json.dumps({"rows": checked.rows, "seconds": seconds}))


def _floor(url: str, table: str) -> float:  # float-ok: seconds
    """The seconds one statement takes to insert the table's rows into a table of its shape."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS floor_{table}")
        connection.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING ALL)")
        written = ", ".join(
            name
            for (name,) in connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND is_generated = 'NEVER' "
                "ORDER BY ordinal_position",
                (table,),
            )
        )
        start = time.perf_counter()
        connection.execute(f"INSERT INTO floor_{table} ({written}) SELECT {written} FROM {table}")
        seconds = time.perf_counter() - start
        connection.execute(f"DROP TABLE floor_{table}")
    return seconds
