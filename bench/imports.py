"""Importing a million readings: ``backoffice import readings FILE`` beside the posting core's batch posting of the
same readings built in Python, and beside PostgreSQL's ``COPY`` of the same file.

Run with ``python -m bench imports``. It builds an installation in a database of its own (the name of
``BENCH_DATABASE_URL`` followed by ``_imports``): ``BENCH_IMPORT_METERS`` meters (default 10,000), each held by a
customer of its own with its price and a prepaid balance (a recharge, with its posted entry), written set-based past
the guards; the wallets, the meters' balances and the months derived by the application's writers, every versioned
record given its first version and every row of evidence its seal, as ``bench.grown`` builds its installation. Then
a CSV of ``BENCH_IMPORT_READINGS`` readings (default 1,000,000) in the import's template columns, as an Indonesian
installation writes them (``;``-separated, volumes as ``12,5``): every meter read on successive days up to
yesterday, a day's readings after the day before's, each meter by its volume in m³.

Then the master data (:mod:`bench.master_data`): customers, meters, assignments and prices, each beside the floor
of writing the same rows with one statement.

Measured at the full size and at a tenth of it (the file's first lines), each on a fresh copy of the installation
(``CREATE DATABASE … TEMPLATE``):

- **the import**: what the command runs (the file read, ``running.check``, ``running.started``,
  ``running.run_import``: the file checked again, written in chunks of ``running.CHUNK`` rows, each chunk one
  transaction through ``record_readings``, then read back for its report and a verify at its end), in a process of
  its own, its phases timed on the way (the functions wrapped, nothing done twice); its peak resident memory the
  process's (``VmHWM``, reset when the app is up);
- **the baseline**: the same readings built in Python as ``batch.Entry`` objects (the meters' ids and the dates
  known, no file), recorded by ``record_readings`` in chunks of the same size, each its own transaction, in a
  process of its own;
- **the floor**: ``COPY … FROM STDIN`` of the same file into an unlogged table of its columns (all text), the
  median of three.

Beside the import and the posting, autovacuum runs as PostgreSQL runs it by default (:func:`autovacuumed`), for a
server that has it off (as a test server may): the readings' tables start empty, and with the statistics of empty
tables the planner reads a chunk's rows by scanning what the chunks before wrote, each chunk slower than the last.

``BENCH_IMPORT_PROFILE=FILE``: each import's process writes its cProfile statistics to ``FILE.<rows>``.
"""

from __future__ import annotations

import cProfile
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from rich.table import Table

from bench import master_data
from bench.common import (
    BENCH_DATABASE_URL,
    application,
    as_the_app_writes,
    console,
    derive,
    measure_in_process,
    migrated_database,
    post_generated,
    report,
    reset_peak,
    status_kib,
)

READINGS = int(os.environ.get("BENCH_IMPORT_READINGS", 1_000_000))
METERS = int(os.environ.get("BENCH_IMPORT_METERS", 10_000))
DAYS = -(-READINGS // METERS)
"""The days every meter is read on, the last yesterday."""
HELD_BEFORE = 30
"""The days before the first reading that the customers hold their meters, priced and recharged."""
RECHARGE = Decimal("1000000000.00")
"""Each customer's prepaid balance: more than a reading a day for years charges."""
BATCH = 2_000
"""Customers derived per transaction."""
PROFILE = os.environ.get("BENCH_IMPORT_PROFILE")
FLOOR_TURNS = 3
BLOCK = 1024 * 1024
STAGED = (
    "CREATE UNLOGGED TABLE staged_readings (meter text, reading_date text, volume text, meter_index text, "
    "rollover_digits text, start_index text, note text)"
)
COPY = "COPY staged_readings FROM STDIN (FORMAT csv, DELIMITER ';', HEADER true)"
Figures = dict[str, list[float]]  # float-ok: seconds, MiB
"""Each phase of the import's figure at each of its calls."""
NAPTIME = 60
"""``autovacuum_naptime``'s default: how often autovacuum looks at a database, in seconds."""
DUE = (
    "SELECT s.relname, s.n_dead_tup > 50 + 0.2 * c.reltuples OR s.n_ins_since_vacuum > 1000 + 0.2 * c.reltuples, "
    "       s.n_mod_since_analyze > 50 + 0.1 * c.reltuples "
    "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid ORDER BY s.relname"
)
"""The tables autovacuum would vacuum and analyse now, by its default thresholds and scale factors (a table never
analysed counts as empty)."""


def main() -> str:
    name = BENCH_DATABASE_URL.rsplit("/", 1)[1]
    template = f"{BENCH_DATABASE_URL}_imports"
    first = date.today() - timedelta(days=DAYS)
    started = time.perf_counter()
    build(migrated_database(template), first)
    built = time.perf_counter() - started
    sizes = [max(READINGS // 10, 1), READINGS]
    rows, found = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as folder:
        files = {size: Path(folder) / f"readings-{size}.csv" for size in sizes}
        header = _header(template)
        for size, path in files.items():
            write_file(path, header, size, first)
        console.print(
            f"{METERS:,} meters, {READINGS:,} readings from {first} ({DAYS} days); built in {built:.0f} s; "
            f"files of {', '.join(f'{path.stat().st_size:,}' for path in files.values())} bytes."
        )
        for size, path in files.items():
            load = os.getloadavg()
            copy = f"{BENCH_DATABASE_URL}_imports_run"
            with autovacuumed(_copy(template, copy)) as posted_beside:
                baseline = measure_in_process("bench.imports", copy, f"baseline {size} {first}", f"posting {size:,}")
            with autovacuumed(_copy(template, copy)) as imported_beside:
                imported = measure_in_process("bench.imports", copy, f"import {path}", f"the import of {size:,}")
            baseline["autovacuum"], imported["autovacuum"] = posted_beside, imported_beside
            floor = statistics.median(_copied(_copy(template, copy), path, size) for _ in range(FLOOR_TURNS))
            found[size] = {"baseline": baseline, "import": imported, "floor": floor, "load": (load, os.getloadavg())}
            rows += _rows(size, imported, baseline["seconds"], floor)
        _drop(f"{BENCH_DATABASE_URL}_imports_run")
    lines = report(f"Importing {READINGS:,} readings of {METERS:,} meters (PostgreSQL)", rows)
    lines += "\n" + _memory(found) + "\n" + _said(name, built, found)
    lines += "\n" + report(f"Importing master data, {master_data.ROWS:,} rows a kind (PostgreSQL)", master_data.main())
    return lines


def build(url: str, first: date) -> None:
    """The installation (:func:`generate`), derived and sealed, its statistics made."""
    console.print(f"Building {METERS:,} customers with a meter, a price and a prepaid balance in {url}…")
    generate(url, first)
    app = application(url)
    from backoffice.platform.extensions import db

    with app.app_context():
        derive(METERS, BATCH, [])
    as_the_app_writes(app)
    with app.app_context():
        db.engine.dispose()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def generate(url: str, first: date, meters: int = METERS) -> None:
    """Each of ``meters`` meters held by a customer of its own from ``HELD_BEFORE`` days before ``first``, priced
    from then, with a recharge of ``RECHARGE`` that day (its posted entry of two lines), written past the guards."""
    held = first - timedelta(days=HELD_BEFORE)
    with psycopg.connect(url) as connection:
        connection.execute("SET session_replication_role = replica")  # the generator's rows skip the guards
        values = {"meters": meters, "held": held, "recharge": RECHARGE}
        connection.execute(
            "INSERT INTO customers (id, code, name, status, created_at) "
            "SELECT n, 'C' || lpad(n::text, 7, '0'), 'Customer ' || n, 'active', %(held)s::date "
            "FROM generate_series(1, %(meters)s) n",
            values,
        )
        connection.execute(
            "INSERT INTO meters (id, serial, status, balance, overpayment, created_at) "
            "SELECT n, 'MTR-' || lpad(n::text, 7, '0'), 'active', 0, 0, %(held)s::date "
            "FROM generate_series(1, %(meters)s) n",
            values,
        )
        connection.execute(
            "INSERT INTO meter_assignments (customer_id, meter_id, is_active, started_on) "
            "SELECT n, n, true, %(held)s::date FROM generate_series(1, %(meters)s) n",
            values,
        )
        connection.execute(
            "INSERT INTO customer_pricing (customer_id, effective_from, price_per_sm3, meter_correction) "
            "SELECT n, %(held)s::date, 7500.00 + n %% 50, 1.012345 FROM generate_series(1, %(meters)s) n",
            values,
        )
        connection.execute(
            "CREATE TEMP TABLE generated ON COMMIT DROP AS "
            "SELECT n AS id, n AS c, 'recharge'::varchar AS kind, %(recharge)s::numeric(15,2) AS amount, "
            "       %(recharge)s::numeric(15,2) AS signed, %(recharge)s::numeric(15,2) AS running, "
            "       %(held)s::date AS on_date, NULL::varchar AS ref_type, NULL::int AS ref_id "
            "FROM generate_series(1, %(meters)s) n",
            values,
        )
        post_generated(connection, dict(connection.execute("SELECT code, id FROM accounts").fetchall()))
        for table in ("customers", "meters", "journal_entries", "balance_transactions"):
            connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        connection.commit()


@contextmanager
def autovacuumed(url: str) -> Iterator[list[str]]:
    """Autovacuum on the database at ``url`` while the block runs, as PostgreSQL runs it by default: every
    ``NAPTIME`` seconds, each table due vacuumed or analysed, at autovacuum's cost delay. Yields what it ran (the
    list grows as it runs)."""
    done: list[str] = []
    stop = threading.Event()

    def run() -> None:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("SET vacuum_cost_delay = '2ms'")  # autovacuum_vacuum_cost_delay's default
            while not stop.wait(NAPTIME):
                for table, vacuum, analyze in connection.execute(DUE).fetchall():
                    if vacuum or analyze:
                        what = "VACUUM (ANALYZE)" if vacuum and analyze else "VACUUM" if vacuum else "ANALYZE"
                        connection.execute(f'{what} "{table}"')
                        done.append(f"{what} {table}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join()


def readings(count: int, first: date, meters: int = METERS) -> Iterator[tuple[int, date, int]]:
    """The first ``count`` readings of ``meters`` meters: each meter's id, the day, and the volume in tenths of m³
    (1,0 to 90,9); a day's readings meter by meter, then the next day's."""
    for n in range(count):
        day, meter = divmod(n, meters)
        yield meter + 1, first + timedelta(days=day), (meter * 7 + day * 13) % 900 + 10


def write_file(path: Path, header: list[str], count: int, first: date, meters: int = METERS) -> None:
    """The readings as a CSV of the template's columns, as an Indonesian installation writes them."""
    empty = ";" * (len(header) - 3)
    with path.open("w", encoding="utf-8", newline="\n") as file:
        file.write(";".join(header) + "\n")
        file.writelines(
            f"MTR-{meter:07d};{day.isoformat()};{tenths // 10},{tenths % 10}{empty}\n"
            for meter, day, tenths in readings(count, first, meters)
        )


def _header(url: str) -> list[str]:
    app = application(url)
    from backoffice.imports.kinds import READINGS as KIND
    from backoffice.platform.extensions import db

    with app.app_context():
        header = KIND.template()
        db.engine.dispose()
    assert header[:3] == ["Meter serial *", "Reading date *", "Volume (m³)"], header
    return header


def measure(url: str, what: str) -> None:
    """In a process of its own: ``import FILE`` or ``baseline COUNT FIRST-DAY``, printed as JSON (``seconds``,
    ``cpu``, ``peak`` and ``grown``: the process's peak resident memory and its growth since the app was up, in MiB;
    an import's ``phases``, in seconds)."""
    part, argument = what.split(" ", 1)
    app = application(url)
    with app.app_context():
        before = reset_peak()
        start, cpu = time.perf_counter(), time.process_time()
        if part == "import":
            path = Path(argument)
            profile = cProfile.Profile() if PROFILE else None
            if profile:
                profile.enable()
            phases = _imported(path)
            if profile:
                profile.disable()
                profile.dump_stats(f"{PROFILE}.{phases['rows']}")
        else:
            count, first = argument.split()
            phases = _posted(int(count), date.fromisoformat(first))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        peak = status_kib("VmHWM")
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak": peak / 1024, "grown": (peak - before) / 1024} | phases))


def _imported(path: Path) -> dict:
    """``backoffice import readings FILE`` as the command runs it, its phases timed."""
    from backoffice.imports import running
    from backoffice.imports.kinds import READINGS as KIND
    from backoffice.models import Import, ImportStatus
    from backoffice.platform.extensions import db

    phases: Figures = {}
    peaks: Figures = {}
    for name in ("check", "started", "write", "report", "_verify"):
        _timing(running, name, phases, peaks)
    checked = running.check(KIND, running.open_table(KIND, path, path.name))
    assert checked.clean and checked.good == checked.rows, (checked.rows, checked.good, checked.rejected[:3])
    record = running.started(KIND, path.name, path, checked, None, valid_only=False)
    running.run_import(record.id)
    done = db.session.get(Import, record.id)
    assert done.status == ImportStatus.DONE, done.error
    assert done.rows_written == checked.rows, (done.rows_written, checked.rows)
    verify = done.report["verify"]
    assert verify["mismatched"] == 0, verify
    return {"rows": checked.rows, "phases": phases, "peaks": peaks, "verified": verify["checked"]}


def _timing(module, name: str, phases: Figures, peaks: Figures) -> None:
    """Wrap ``module.name`` so that each call's wall time is added to ``phases[name]``, and the process's peak
    resident memory when it returns (MiB) to ``peaks[name]``."""
    original = getattr(module, name)

    def timed_call(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases.setdefault(name, []).append(time.perf_counter() - start)
            peaks.setdefault(name, []).append(status_kib("VmHWM") / 1024)

    setattr(module, name, timed_call)


def _posted(count: int, first: date) -> dict:
    """The readings as ``batch.Entry`` objects, recorded by ``record_readings`` a chunk of the import's size a
    transaction."""
    from backoffice.imports.running import CHUNK
    from backoffice.services.metering.batch import Entry, record_readings

    chunk: list[Entry] = []
    recorded = 0
    for meter, day, tenths in readings(count, first):
        chunk.append(Entry(meter, day, Decimal(tenths).scaleb(-1)))
        if len(chunk) == CHUNK:
            recorded += len(record_readings(chunk))
            chunk = []
    if chunk:
        recorded += len(record_readings(chunk))
    assert recorded == count, (recorded, count)
    return {"rows": recorded}


def _copied(url: str, path: Path, count: int) -> float:  # float-ok: seconds
    """``COPY`` of the file into a fresh unlogged table of its columns, committed: its wall time."""
    with psycopg.connect(url) as connection:
        connection.execute("DROP TABLE IF EXISTS staged_readings")
        connection.execute(STAGED)
        connection.commit()
        start = time.perf_counter()
        with connection.cursor().copy(COPY) as copy, path.open("rb") as file:
            while block := file.read(BLOCK):
                copy.write(block)
        connection.commit()
        seconds = time.perf_counter() - start
        assert connection.execute("SELECT count(*) FROM staged_readings").fetchone()[0] == count
    return seconds


def _copy(template: str, url: str) -> str:
    """A fresh copy of the database at ``template`` at ``url`` (dropped first); returns its URL."""
    _drop(url)
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}" TEMPLATE "{template.rsplit("/", 1)[1]}"')
    return url


def _drop(url: str) -> None:
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _rows(size: int, imported: dict, baseline: float, floor: float) -> list[tuple]:  # float-ok: seconds
    """The import and its phases beside the batch posting, and the import and the posting beside ``COPY``."""
    phases = {name: sum(times) for name, times in imported["phases"].items()}
    checks = imported["phases"]["check"]
    posting = f"batch posting, {size:,} readings"
    copied = f"COPY of the file, {size:,} readings"
    whole = f"the import, {size:,} readings (the command's whole path)"
    return [
        (whole, imported["seconds"], posting, baseline),
        (whole, imported["seconds"], copied, floor),
        (posting, baseline, copied, floor),
        ("– the check before anything is written", checks[0], posting, baseline),
        ("– run_import: the file checked again", checks[1], posting, baseline),
        ("– run_import: the write (chunks checked, then posted)", phases["write"], posting, baseline),
        ("– run_import: the report (read back)", phases["report"] - phases["_verify"], posting, baseline),
        ("– run_import: the verify at its end", phases["_verify"], posting, baseline),
        ("– started: the file kept with the import's row", phases["started"], posting, baseline),
    ]


def _memory(found: dict) -> str:
    """Each size's rows a second and peak resident memory, the import's and the batch posting's, and COPY's rate."""
    columns = [
        "readings",
        "import rows/s",
        "import peak MiB (growth)",
        "posting rows/s",
        "posting peak MiB (growth)",
        "COPY rows/s",
    ]
    table = Table(*columns, title="Rows a second and peak memory")
    lines = ["| " + " | ".join(columns) + " |", "| ---: |" + " ---: |" * (len(columns) - 1)]
    for size, measured in found.items():
        imported, baseline = measured["import"], measured["baseline"]
        cells = [
            f"{size:,}",
            f"{size / imported['seconds']:,.0f}",
            f"{imported['peak']:.0f} ({imported['grown']:+.0f})",
            f"{size / baseline['seconds']:,.0f}",
            f"{baseline['peak']:.0f} ({baseline['grown']:+.0f})",
            f"{size / measured['floor']:,.0f}",
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    return "\n".join(lines) + "\n"


def _said(name: str, built: float, found: dict) -> str:  # float-ok: seconds
    parts = []
    for size, measured in found.items():
        imported = measured["import"]
        (before, after) = measured["load"]
        peaks = imported["peaks"]
        parts.append(
            f"At {size:,}: the import's peak resident memory (MiB) after its check {peaks['check'][0]:.0f}, after "
            f"keeping the file {peaks['started'][0]:.0f}, after run_import's check {peaks['check'][1]:.0f}, its "
            f"write {peaks['write'][0]:.0f} and its report {peaks['report'][0]:.0f}; its processor time "
            f"{imported['cpu']:.1f} s of {imported['seconds']:.1f} s, "
            f"the posting's {measured['baseline']['cpu']:.1f} s of {measured['baseline']['seconds']:.1f} s; "
            f"its verify checked {imported['verified']:,} rows; autovacuum ran {len(imported['autovacuum'])} "
            f"vacuums and analyses beside the import, {len(measured['baseline']['autovacuum'])} beside the posting. "
            f"Load average (1, 5, 15 min) "
            f"{' '.join(f'{a:.2f}' for a in before)} before, {' '.join(f'{a:.2f}' for a in after)} after."
        )
    said = f"Database {name}_imports, built in {built:.0f} s. " + " ".join(parts) + "\n"
    console.print(said)
    return said


if __name__ == "__main__":
    print(main())
