"""A grown installation, measured: the nightly, the pages, an export and a charge, each against its floor.

Run with ``python -m bench grown``. It builds its own PostgreSQL database (``BENCH_DATABASE_URL``): an installation
of 1,000,000 customers' worth scaled by ``BENCH_GROWN_SCALE`` (default 0.1, a tenth of it; 0.005 makes a quick
run). At 0.1: 100,000 customers of 50 account managers, each with a meter, its assignment and its price, over the
last 12 months; 100 wallet movements a customer (10,000,000: a recharge first and about every fifth, charges
between, and 12 of them the charges of the customer's meter readings, 1,200,000 readings with their calculations),
each with its posted journal entry of two lines; every tenth customer's meter also invoiced monthly (100,000 invoices,
each with its posted entry), the first 8 of them paid (80,000 payments); 10 orders a customer and each manager's
monthly targets. Its history beside the money: the nightly's runs and a customer's checks run from its page (250 a
day at 0.1), each with its job record; a balance adjustment asked and rejected for every 50 customers, and 5 waiting;
a run found changed after it was written and accepted by an admin for every 40 customers.
:class:`Size` counts an installation of a given scale: ``bench.growth`` builds two.

The sources are written set-based (``INSERT … SELECT generate_series``) past the database's guards, as
``bench.pages`` writes them (its generators are shared in ``bench.common``); the figures derived from them are written
by the application's own set-based writers (the checks' expected values, the months' recalculation, the orders'
months); each versioned record gets its first version and every row of evidence its seal, as migration 0032 sealed an
installation's rows, a chunk of ids a transaction; the payments are added after, by the billing service as a clerk
adds them, and the reviewed findings with the seals of the rows as reviewed. Then VACUUM ANALYZE, the seals are made
two days old, the nightly maintenance of the last ``BACKOFFICE_SEAL_SWEEP_DAYS`` + 1 nights runs (the first
verifies every row and anchors every chain, each later one a slice and the chains sealed since, each stripe its file,
as a week after an installation's first night), and the day's changes are appended: 1/365 of the movements
(27,397 at 0.1), charges of today, each with its entry, the customers' wallets and months written by the same writers,
sealed as they commit. The database keeps its scale, the build's time and the anchor.
``BENCH_GROWN_REUSE=1`` measures over the database a previous run built at the same scale (migrated to the head)
instead of building it again; ``BENCH_GROWN_PARTS`` (default ``nightly,pages,export,charges``) names what is measured
(empty: the build alone).

Measured, each beside its floor in the same run, taking turns (``BENCH_GROWN_TURNS``, default 3, after an untimed
warm-up where said):

- the nightly maintenance as production runs it, queued as the scheduler queues it and split into jobs done by
  ``BENCH_GROWN_WORKERS`` real ``worker.py`` processes (default 2, as the operators' guide deploys; 0: in this
  process) connected as the runtime role, every check, from the same anchor each turn (the
  day's changes verified in full, the night's slice of the history's seals, every derived figure compared), on a copy
  of the database made for the turn (a night records its anchor in the database: the kept one stays the last); it must
  find nothing. Its floor: the raw set-based compares of the two largest derived figures (the wallets from the
  ledger, ``bench.wallet``'s; the months from the ledger and the calculations, ``bench.metering``'s) and the raw
  read (``COPY … TO STDOUT``) of the wallet movements and journal entries with their lines and seals that the night
  verifies (those added since the anchor and the night's stripes): what it must read at least, not what it proves;
- the pages, served by gunicorn and loaded with wrk as ``bench.pages`` loads them (its settings ``BENCH_PAGES_*``):
  the orders (one manager's month, unfiltered), the customers, a customer's wallet ledger and the health check,
  each against the floor page;
- the customers export (``/customers/export.csv``, streamed) against PostgreSQL's ``COPY`` of the same rows and
  columns in the same order;
- a charge's latency, ``BENCH_GROWN_CHARGES`` (default 200) of each, on customers picked at random over the whole
  installation, taking turns: through the posting core (``services.wallet.charge``), and raw SQL doing the same
  work (``bench.wallet``'s charge with everything: the customer, the ledger row, its month, the entry and its lines,
  the accounts' buckets in one statement, then the two seals, read and written by hand, then the commit); p50 and
  p95 of each.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from rich.progress import Progress

from bench import pages, wallet
from bench.common import (
    BENCH_DATABASE_URL,
    as_the_app_writes,
    console,
    derive,
    first_days,
    migrate,
    migrated_database,
    nightly_from_anchor,
    orders,
    post_generated,
    queued_as,
    report,
    timed,
)
from bench.exports import _copied, _downloaded
from bench.metering import CALCULATION, FLOOR_VERIFY

SCALE = float(os.environ.get("BENCH_GROWN_SCALE", "0.1"))  # float-ok: a size factor
MANAGERS = 50
MONTHS = 12
"""A year's months: an installation's history is ``Size.years`` of them."""
MOVEMENTS_PER_CUSTOMER = 100
"""A customer's wallet movements in a year of history."""
READING_EVERY = 8
"""A customer's movements 8, 16, … 96 are its readings' charges: 12 readings a customer."""
ORDERS_PER_CUSTOMER = 10
"""A customer's orders in a year of history."""
POSTPAID_EVERY = 10
"""Every tenth customer's meter is invoiced too, once a month for ``INVOICES_PER_METER`` months a year."""
INVOICES_PER_METER = 10
PAID_INVOICES = 8
"""A postpaid meter's invoices are paid but for the last two, each by a payment of its amount ten days after it was
issued: 8 of a year's 10."""
PAYMENTS_BATCH = 500
"""Payments added per unit of work (``services.meter_payments.add_payments``)."""
RUNS_EVERY = 400
"""A customer's checks are run from its page once a day for every 400 customers, beside the nightly's run."""
APPROVALS_EVERY = 50
"""A balance adjustment asked by a clerk and rejected by an admin for every 50 customers."""
PENDING_APPROVALS = 5
"""Adjustments waiting for an admin, whatever the size: the queue of the day, not the installation's history."""
FINDINGS_EVERY = 40
"""A run found without a valid seal and accepted by an admin for every 40 customers: at 0.002 (2,000 customers) the
evidence page's 50 decided findings, a full page at every size ``bench.growth`` measures by default, as every list's
first page is full."""
ADMIN_EMAIL = "admin@example.com"
BATCH = 2_000
"""Customers generated (and derived) per transaction."""
SEAL_CHUNK = 50_000
"""Ids of a kind of evidence sealed per transaction."""
TURNS = int(os.environ.get("BENCH_GROWN_TURNS", 3))
CHARGES = int(os.environ.get("BENCH_GROWN_CHARGES", 200))
WARM_UP = 6
"""Charges each way makes before the clock starts: psycopg prepares a statement on its fifth execution."""
CHARGE = Decimal("1000.00")
REUSE = os.environ.get("BENCH_GROWN_REUSE") == "1"
WORKERS = int(os.environ.get("BENCH_GROWN_WORKERS", 2))
"""Workers the nightly is measured on, as production runs it (:func:`nightly_on_workers`); 0: in this process."""
RUNTIME_ROLE = "backoffice_bench_runtime"
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
ROOT = Path(__file__).resolve().parent.parent
PARTS = [part for part in os.environ.get("BENCH_GROWN_PARTS", "nightly,pages,export,charges").split(",") if part]
BUILT = "bench_grown"
"""The table where a built database keeps its scale, the id its day's changes start above, and its anchor's files."""
CUSTOMERS_COPY = (
    "COPY (SELECT c.code, c.name, m.name, CASE WHEN c.closed_at IS NOT NULL THEN 'closed' ELSE c.status END, "
    "c.balance, c.total_recharged, c.total_spent, c.contact_person, c.email, c.phone FROM customers c "
    "LEFT JOIN account_managers m ON m.id = c.account_manager_id WHERE c.closed_at IS NULL ORDER BY c.code, c.id) "
    "TO STDOUT (FORMAT csv, HEADER)"
)


@dataclass(frozen=True)
class Size:
    """An installation's size: ``scale`` of 1,000,000 customers' worth over ``years`` of history, and what it
    counts. The same customers over a longer history have as many movements, readings, orders and invoices a year,
    and the same day's changes."""

    scale: float  # float-ok: a size factor
    years: int = 1

    @property
    def customers(self) -> int:
        return max(int(1_000_000 * self.scale), 2 * MANAGERS)

    @property
    def months(self) -> list[date]:
        return first_days(MONTHS * self.years)

    @property
    def per_customer(self) -> int:
        """A customer's wallet movements."""
        return MOVEMENTS_PER_CUSTOMER * self.years

    @property
    def movements(self) -> int:
        return self.customers * self.per_customer

    @property
    def day(self) -> int:
        """The day's changes: a year's movements over its days."""
        return max(self.customers * MOVEMENTS_PER_CUSTOMER // 365, 1)


SIZE = Size(SCALE)


def _paid_invoices(years: int) -> int:
    """A postpaid meter's invoices paid, of a history of ``years``: all but the last two."""
    return INVOICES_PER_METER * years - (INVOICES_PER_METER - PAID_INVOICES)


def main() -> str:
    unknown = set(PARTS) - {"nightly", "pages", "export", "charges"}
    if unknown:
        raise SystemExit(f"Unknown part(s) in BENCH_GROWN_PARTS: {', '.join(sorted(unknown))}")
    os.environ.pop("REDIS_URL", None)  # the nightly runs in this process
    os.environ |= {
        "SECRET_KEY": pages.SECRET_KEY,
        "BACKOFFICE_API_TOKEN": pages.API_TOKEN,
        "BACKOFFICE_SEAL_KEY": pages.SEAL_KEY,
    }
    months = SIZE.months
    started = time.perf_counter()
    if REUSE and built_size(BENCH_DATABASE_URL) == SIZE:
        url = migrate(BENCH_DATABASE_URL)
        built = "reused as a previous run built it"
    else:
        url = build(BENCH_DATABASE_URL, SIZE)
        built = f"built in {time.perf_counter() - started:.0f} s"
    sizes = _sizes(url)
    console.print(", ".join(f"{count:,} {name}" for name, count in sizes.items()) + f"; {built}.")
    load_before = os.getloadavg()
    rows, sections = [], []
    if "nightly" in PARTS:
        rows += _nightly_against_floor(url)
    app = application(url)  # connected only now: the nightly copies the database, which nothing may be connected to
    if "pages" in PARTS:
        sections.append(pages.measured(app, url, _pages(months)))
    if "export" in PARTS:
        rows += _export_against_copy(url)
    if "charges" in PARTS:
        rows += _charges_against_raw(app, url)
    load_after = os.getloadavg()
    lines = (
        report(f"A grown installation at scale {SCALE} ({SIZE.customers:,} customers), {TURNS} turns", rows)
        if rows
        else ""
    )
    data = ", ".join(f"{count:,} {name}" for name, count in sizes.items())
    said = (
        f"Data: {data}; the database {_size(url)}, {built}. Load average (1, 5, 15 min): "
        f"{' '.join(f'{a:.2f}' for a in load_before)} before, {' '.join(f'{a:.2f}' for a in load_after)} after.\n"
    )
    console.print(said)
    return "\n".join([lines, *sections, said])


def application(url: str):
    """The app on ``url``, its nightly running in this process, its anchors in a folder of its own."""
    os.environ["DATABASE_URL"] = url
    from backoffice import create_app

    return create_app({"REDIS_URL": None, "ANCHORS_FOLDER": tempfile.mkdtemp(prefix="bench-grown-anchors-")})


def built_size(url: str) -> Size | None:
    """The size the database at ``url`` was built at, when a build finished there."""
    scale = _built(url, "scale")
    return None if scale is None else Size(float(scale), int(_built(url, "years") or 1))


def built_sealed(url: str) -> bool:
    """Whether the database at ``url`` was built sealed and anchored (every build before the option was)."""
    return _built(url, "sealed") != "False"


def built_seconds(url: str) -> int | None:
    """How many seconds the build of the database at ``url`` took, when a build that kept it finished there."""
    kept = _built(url, "seconds")
    return None if kept is None else int(kept)


def _built(url: str, name: str) -> str | None:
    try:
        with psycopg.connect(url) as connection:
            found = connection.execute(f"SELECT to_regclass('{BUILT}') IS NOT NULL").fetchone()[0]
            if not found:
                return None
            row = connection.execute(f"SELECT value FROM {BUILT} WHERE name = %s", (name,)).fetchone()
    except psycopg.OperationalError:  # no such database
        return None
    return row[0] if row else None


def build(url: str, size: Size, *, sealed: bool = True) -> str:
    """The installation of ``size``, generated, derived, sealed and anchored, with the day's changes; returns its
    URL. The database keeps the scale and how long the build took (:func:`built_scale`, :func:`built_seconds`).

    Not ``sealed``: the sources and their derived figures alone, for the pages (no evidence sealed, no payments, no
    findings, no nightly history, no anchor): a tenth of the time, for sizes whose whole build takes hours."""
    started = time.perf_counter()
    url = migrated_database(url)
    customers, months = size.customers, size.months
    console.print(f"Building an installation of {customers:,} customers and {size.movements:,} movements in {url}…")
    generate(url, months, customers, size.years)
    history(url, months, customers)
    app = application(url)
    from backoffice.models import Role, User
    from backoffice.platform.extensions import db

    with app.app_context():
        derive(customers, BATCH, months)
    if sealed:
        console.print("Writing the records' first versions and sealing the evidence…")
        as_the_app_writes(app, chunk=SEAL_CHUNK)
        _payments(app, customers, size.years)
        _findings(app, customers)
    with app.app_context():
        for email, name, role in ((pages.EMAIL, "Clerk", Role.FINANCE), (ADMIN_EMAIL, "Admin", Role.ADMIN)):
            user = User(email=email, name=name, role=role)
            user.set_password(pages.PASSWORD)
            db.session.add(user)
        db.session.commit()
    if sealed:
        with psycopg.connect(url) as connection:
            connection.execute("SET session_replication_role = replica")  # seals are append-only but for this
            connection.execute("UPDATE seals SET sealed_at = sealed_at - interval '2 days'")
    with psycopg.connect(url, autocommit=True) as connection:
        console.print("VACUUM ANALYZE…")
        connection.execute("VACUUM ANALYZE")
    if sealed:
        _anchor_and_the_day(app, url, size)
    with app.app_context():
        db.engine.dispose()  # nothing stays connected: a nightly measured copies the database
    with psycopg.connect(url, autocommit=True) as connection:
        if not sealed:
            connection.execute(f"CREATE TABLE {BUILT} (name text PRIMARY KEY, value text NOT NULL)")
        connection.execute(
            f"INSERT INTO {BUILT} (name, value) VALUES ('seconds', %s), ('scale', %s), ('years', %s), ('sealed', %s)",
            (f"{time.perf_counter() - started:.0f}", str(size.scale), str(size.years), str(sealed)),
        )
    return url


def generate(url: str, months: list[date], customers: int, years: int = 1) -> None:
    """The sources of ``customers`` customers over ``years`` of history, set-based, a batch of customers a
    transaction, with what costs nothing to write with them (the orders' grand totals, the ledger's chain, the
    readings' calculations)."""
    first = months[0]
    days = (date.today() - first).days + 1
    span = days // (MOVEMENTS_PER_CUSTOMER * years)
    with psycopg.connect(url) as connection, Progress(console=console, transient=True) as progress:
        connection.execute("SET session_replication_role = replica")  # the generator's rows skip the guards
        connection.execute(
            "INSERT INTO account_managers (name, email, active) "
            "SELECT 'Manager ' || n, 'manager' || n || '@example.com', true FROM generate_series(1, %s) n",
            (MANAGERS,),
        )
        # One customer in twenty keeps a floor on its balance, under which it is suspended.
        connection.execute(
            "INSERT INTO customers (code, name, account_manager_id, status, created_at, suspend_below) "
            "SELECT 'C' || lpad(n::text, 7, '0'), 'Customer ' || n, 1 + n %% %s, 'active', %s::date, "
            "       CASE WHEN n %% 20 = 0 THEN 8000000 ELSE 0 END "
            "FROM generate_series(1, %s) n",
            (MANAGERS, first, customers),
        )
        connection.execute(
            "INSERT INTO targets (account_manager_id, period_start, target_amount) "
            "SELECT m.id, p, 1000000000 + m.id * 10000000 FROM account_managers m, unnest(%s::date[]) p",
            (months,),
        )
        connection.execute(
            "INSERT INTO meters (id, serial, status, balance, overpayment, created_at) "
            "SELECT n, 'MTR-' || lpad(n::text, 7, '0'), 'active', 0, 0, %s::date FROM generate_series(1, %s) n",
            (first, customers),
        )
        connection.execute(
            "INSERT INTO meter_assignments (customer_id, meter_id, is_active, started_on) "
            "SELECT n, n, true, %s::date FROM generate_series(1, %s) n",
            (first, customers),
        )
        connection.execute(
            "INSERT INTO customer_pricing (customer_id, effective_from, price_per_sm3, meter_correction) "
            "SELECT n, %s::date, 7500.00 + n %% 50, 1.012345 FROM generate_series(1, %s) n",
            (first, customers),
        )
        accounts = dict(connection.execute("SELECT code, id FROM accounts").fetchall())
        connection.commit()
        task = progress.add_task(
            f"Generating {customers * MOVEMENTS_PER_CUSTOMER * years:,} movements, "
            f"{customers * (MOVEMENTS_PER_CUSTOMER * years // READING_EVERY):,} readings, "
            f"{customers // POSTPAID_EVERY * INVOICES_PER_METER * years:,} invoices and "
            f"{customers * ORDERS_PER_CUSTOMER * years:,} orders",
            total=customers,
        )
        for start in range(1, customers + 1, BATCH):
            stop = min(start + BATCH - 1, customers)
            with connection.transaction():
                connection.execute("SET LOCAL session_replication_role = replica")
                orders(
                    connection,
                    start,
                    stop,
                    per=ORDERS_PER_CUSTOMER * years,
                    customers=customers,
                    managers=MANAGERS,
                    first=first,
                    days=days,
                )
                _movements(connection, customers, years, start, stop, first, span, accounts)
                _invoices(connection, customers, years, start, stop, first, accounts)
            progress.update(task, completed=stop)
        for table in (
            "orders",
            "journal_entries",
            "journal_lines",
            "balance_transactions",
            "meter_readings",
            "invoices",
            "meters",
        ):
            connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        connection.commit()


def _movements(
    connection, customers: int, years: int, start: int, stop: int, first: date, span: int, accounts: dict[str, int]
) -> None:
    """Each customer's movements, one every ``span`` days from ``first``: a recharge first and every fifth, the
    charge of a reading every eighth (the reading dated on it, its calculation at the customer's price), charges
    between; each with its entry, in the before/after chain. A movement's id follows its date across customers, as
    posting makes them."""
    values = {"customers": customers, "first": first, "span": span, "start": start, "stop": stop}
    values |= {"per": MOVEMENTS_PER_CUSTOMER * years, "every": READING_EVERY}
    connection.execute(
        "CREATE TEMP TABLE planned ON COMMIT DROP AS "
        "SELECT c, k, (k - 1) * %(customers)s + c AS id,"
        "       %(first)s::date + (k - 1) * %(span)s + c %% %(span)s AS on_date,"
        "       CASE WHEN k %% %(every)s = 0 THEN 'reading' WHEN k %% 5 = 1 THEN 'recharge' ELSE 'charge' END AS kind "
        "FROM generate_series(%(start)s::int, %(stop)s::int) c, generate_series(1, %(per)s) k",
        values,
    )
    connection.execute(
        "INSERT INTO meter_readings (id, meter_id, customer_id, reading_date, volume_flow_meter, note, created_at) "
        "SELECT (k / %(every)s - 1) * %(customers)s + c, c, c, on_date, ((c * 7 + k * 13) %% 90 + 1) + 0.25, '', "
        "       on_date + time '09:00' FROM planned WHERE kind = 'reading' ORDER BY 1",
        values,
    )
    connection.execute(
        f"INSERT INTO transaction_calculations (reading_id, {', '.join(CALCULATION)}) "
        f"SELECT r.id, {', '.join(CALCULATION.values())} FROM meter_readings r "
        f"JOIN customer_pricing p ON p.customer_id = r.customer_id "
        f"WHERE r.customer_id BETWEEN %(start)s AND %(stop)s ORDER BY r.id",
        values,
    )
    connection.execute(
        "CREATE TEMP TABLE generated ON COMMIT DROP AS "
        "SELECT *, sum(signed) OVER (PARTITION BY c ORDER BY k) AS running FROM ("
        "  SELECT p.id, p.c, p.k, p.on_date, m.kind, m.amount, m.ref_type, m.ref_id,"
        "         CASE WHEN m.kind = 'recharge' THEN m.amount ELSE -m.amount END AS signed"
        "  FROM planned p LEFT JOIN transaction_calculations t"
        "    ON p.kind = 'reading' AND t.reading_id = (p.k / %(every)s - 1) * %(customers)s + p.c,"
        "  LATERAL (SELECT CASE WHEN p.kind = 'recharge' THEN 'recharge' ELSE 'charge' END AS kind,"
        "    CASE WHEN p.kind = 'reading' THEN t.total_price WHEN p.k = 1 THEN 5000000 + p.c %% 100 * 10000"
        "         WHEN p.kind = 'recharge' THEN 2000000"
        "         ELSE (p.c * 7 + p.k * 13) %% 400000 + 1000.25 END::numeric(15,2) AS amount,"
        "    CASE WHEN p.kind = 'reading' THEN 'meter_reading' END::varchar AS ref_type, t.reading_id AS ref_id) m"
        ") signed",
        values,
    )
    post_generated(connection, accounts)


def _invoices(
    connection, customers: int, years: int, start: int, stop: int, first: date, accounts: dict[str, int]
) -> None:
    """The invoices of the batch's postpaid meters, one a month from ``first``, each with its posted entry (Dr
    Receivables, Cr Gas revenue; ids above the movements' entries); their outstanding amounts are derived later."""
    values = {
        "start": start,
        "stop": stop,
        "first": first,
        "every": POSTPAID_EVERY,
        "months": INVOICES_PER_METER * years,
    }
    values |= {"postpaid": customers // POSTPAID_EVERY, "entries": customers * MOVEMENTS_PER_CUSTOMER * years}
    connection.execute(
        "CREATE TEMP TABLE invoiced ON COMMIT DROP AS "
        "SELECT (i - 1) * %(postpaid)s + c / %(every)s AS id, c, (%(first)s::date + make_interval(months => i))::date "
        "       - 1 AS issued_on, (1000000 + (c * 7 + i * 13) %% 500000)::numeric(15,2) AS amount "
        "FROM generate_series(%(start)s::int, %(stop)s::int) c, generate_series(1, %(months)s) i "
        "WHERE c %% %(every)s = 0",
        values,
    )
    connection.execute(
        "INSERT INTO journal_entries (id, number, entry_date, description, status, source_type, source_id, "
        "created_at, posted_at) "
        "SELECT %(entries)s + id, 'JE-' || (%(entries)s + id), issued_on, 'Invoice INV-' || lpad(id::text, 8, '0'), "
        "       'posted', 'invoice', id, issued_on + time '11:00', issued_on + time '11:00' FROM invoiced ORDER BY id",
        values,
    )
    connection.execute(
        "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
        "SELECT %(entries)s + id, %(receivables)s, amount, 0, '' FROM invoiced "
        "UNION ALL SELECT %(entries)s + id, %(revenue)s, 0, amount, '' FROM invoiced",
        values | {"receivables": accounts["1100"], "revenue": accounts["4000"]},
    )
    connection.execute(
        "INSERT INTO invoices (id, meter_id, number, amount, issued_on, due_on, entry_id) "
        "SELECT id, c, 'INV-' || lpad(id::text, 8, '0'), amount, issued_on, issued_on + 14, %(entries)s + id "
        "FROM invoiced ORDER BY id",
        values,
    )
    connection.execute(  # each its one line of gas, charged no VAT as the invoice
        "INSERT INTO invoice_lines (invoice_id, position, kind, amount) "
        "SELECT id, 1, 'gas', amount FROM invoiced ORDER BY id"
    )


def history(url: str, months: list[date], customers: int) -> None:
    """What the installation did beside moving money, set-based: a clerk who asks and an admin who decides; a balance
    adjustment asked for every ``APPROVALS_EVERY`` customers and rejected, and ``PENDING_APPROVALS`` asked today; the
    runs of its checks since ``months[0]`` (the nightly's, and a customer's from its page once a day for every
    ``RUNS_EVERY`` customers), each with its job record."""
    from backoffice.reconcile import CHECKS

    first = months[0]
    days = (date.today() - first).days
    decided = max(customers // APPROVALS_EVERY, 1)
    with psycopg.connect(url) as connection:
        connection.execute("SET session_replication_role = replica")  # decided requests are written as they stand
        connection.execute(
            "INSERT INTO users (email, name, password_hash, role, active, created_at, session_token) VALUES "
            "('requester@example.com', 'Requester', '!', 'finance', true, %(first)s, md5('requester')), "
            "('approver@example.com', 'Approver', '!', 'admin', true, %(first)s, md5('approver'))",
            {"first": first},
        )
        connection.execute(
            "INSERT INTO approval_requests (kind, status, amount, signed_amount, customer_id, adjustment_reason, "
            "description, reason, requested_by_id, requested_at, decided_by_id, decided_at, rejection_reason) "
            "SELECT 'adjustment', CASE WHEN waiting THEN 'pending' ELSE 'rejected' END, 25000000, 25000000, "
            "       1 + n * 7919 %% %(customers)s, 'goodwill', '', 'Goodwill for the outage of the month', asker.id, "
            "       at, CASE WHEN NOT waiting THEN approver.id END, "
            "       CASE WHEN NOT waiting THEN at + interval '1 day' END, "
            "       CASE WHEN NOT waiting THEN 'The outage was on the supplier''s side' END "
            "FROM generate_series(1, %(decided)s + %(pending)s) n, "
            "     LATERAL (SELECT n > %(decided)s AS waiting) w, "
            "     LATERAL (SELECT CASE WHEN waiting THEN now() - (%(decided)s + %(pending)s + 1 - n) * interval '1 h'"
            "                     ELSE %(first)s::date + (n - 1) * %(days)s / %(decided)s + time '09:00' END AS at) a, "
            "     users asker, users approver "
            "WHERE asker.email = 'requester@example.com' AND approver.email = 'approver@example.com' ORDER BY n",
            {"customers": customers, "decided": decided, "pending": PENDING_APPROVALS, "first": first, "days": days},
        )
        connection.commit()
    pages.history(
        url,
        list(CHECKS),
        [name for name, check in CHECKS.items() if check.by_customer],
        days=days,
        a_day=max(customers // RUNS_EVERY, 1),
        customers=customers,
    )


def _payments(app, customers: int, years: int = 1) -> None:
    """The payments of the postpaid meters' invoices but their last two, each of its invoice's amount ten days
    after it was issued and applied to it, added by the billing service ``PAYMENTS_BATCH`` at a time: posted,
    allocated, sealed and versioned as a clerk's are, the meters' and customers' totals with them."""
    from sqlalchemy import select

    from backoffice.models import Invoice
    from backoffice.platform.extensions import db
    from backoffice.services import meter_payments

    with app.app_context():
        invoices = db.session.execute(
            select(Invoice.id, Invoice.meter_id, Invoice.amount, Invoice.issued_on)
            .where(Invoice.id <= _paid_invoices(years) * (customers // POSTPAID_EVERY))
            .order_by(Invoice.id)
        ).all()
        db.session.rollback()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"Adding {len(invoices):,} payments", total=len(invoices))
            for start in range(0, len(invoices), PAYMENTS_BATCH):
                batch = invoices[start : start + PAYMENTS_BATCH]
                meter_payments.add_payments(
                    [
                        meter_payments.NewPayment(
                            meter_id, amount, issued_on + timedelta(days=10), f"TRF-{invoice_id:08d}", [invoice_id]
                        )
                        for invoice_id, meter_id, amount, issued_on in batch
                    ]
                )
                progress.advance(task, len(batch))


def _findings(app, customers: int) -> None:
    """Runs of a customer's checks found with a seal that does not match them (changed after they were written), one
    for every ``FINDINGS_EVERY`` customers, each accepted by an admin the day after, as a review leaves them: decided
    with the seal of the row as reviewed, the decision sealed."""
    from sqlalchemy import insert, text, true

    from backoffice.evidence import sealing, seals, verifying
    from backoffice.models import TamperedEvidence
    from backoffice.platform.extensions import db

    evidence = seals.kinds()["reconciliation_runs"]
    wanted = max(customers // FINDINGS_EVERY, 1)
    with app.app_context(), db.engine.begin() as connection:
        approver = connection.scalar(text("SELECT id FROM users WHERE email = 'approver@example.com'"))
        runs = connection.scalar(text("SELECT count(*) FROM reconciliation_runs WHERE trigger = 'user'"))
        found = connection.execute(
            text(
                "SELECT id, finished_at FROM reconciliation_runs WHERE trigger = 'user' AND id % :step = 0 "
                "ORDER BY id LIMIT :wanted"
            ),
            {"step": max(runs // wanted, 1), "wanted": wanted},
        ).all()
        rows = [
            {
                "kind": evidence.kind,
                "row_id": run_id,
                "version": 0,
                "what": verifying.Finding(evidence, run_id, 0, "seal_mismatch").what,
                "found_at": finished + timedelta(days=1),
                "resolution": "accepted",
                "reason": "The run was written again by hand after a restore; its results stand",
                "resolved_by_id": approver,
                "resolved_at": finished + timedelta(days=2),
                "reviewed_seal": verifying.reviewed_seal(connection, evidence, run_id, 0),
            }
            for run_id, finished in found
        ]
        connection.execute(insert(TamperedEvidence.__table__), rows)
        sealing.seal(connection, [("evidence_decisions", true())])


def _anchor_and_the_day(app, url: str, size: Size) -> None:
    """Run the nightly maintenance of the last ``BACKOFFICE_SEAL_SWEEP_DAYS`` + 1 nights over the sealed history,
    as an installation has run them a week after its first: the first night's checks read every row and it anchors
    every chain; each later night reads a slice, anchors what changed (a delta) and writes its stripe's file, so that
    every stripe has one and the checks a clean night to start from. Keep the last anchor's files in the database,
    then append the day's changes: ``size.day`` charges of today, one each on the first customers, their wallets and
    months written by the checks' writers and the months' recalculation, the accounts by theirs, the rows sealed."""
    from backoffice.evidence import sealing, seals
    from backoffice.models import Account
    from backoffice.platform.extensions import db
    from backoffice.posting import months as monthly
    from backoffice.reconcile.account_balance import AccountBalance
    from backoffice.reconcile.customer_status import CustomerStatusCheck
    from backoffice.reconcile.customer_wallet import CustomerWallet

    folder = Path(app.config["ANCHORS_FOLDER"])
    days = app.config["SEAL_SWEEP_DAYS"]
    console.print(f"The nightly maintenance of the last {days + 1} nights, the first of every row, then slices…")
    for night in range(days, -1, -1):
        files = {path.name: path.read_text() for path in folder.iterdir()}
        nightly(app, files, date.today() - timedelta(days=night + 1))
    console.print(f"Appending the day's changes: {size.day:,} movements…")
    with psycopg.connect(url) as connection:
        (mark,) = connection.execute(
            "SELECT greatest((SELECT max(id) FROM balance_transactions), (SELECT max(id) FROM journal_entries))"
        ).fetchone()
        accounts = dict(connection.execute("SELECT code, id FROM accounts").fetchall())
        connection.execute("SET session_replication_role = replica")
        connection.execute(
            "CREATE TEMP TABLE generated ON COMMIT DROP AS "
            "SELECT %(mark)s + n AS id, c.id AS c, 'charge'::varchar AS kind, amount, -amount AS signed, "
            "       c.balance - amount AS running, current_date AS on_date, NULL::varchar AS ref_type, "
            "       NULL::int AS ref_id "
            "FROM generate_series(1, %(day)s) n JOIN customers c ON c.id = 1 + (n - 1) %% %(customers)s, "
            "     LATERAL (SELECT (1000.25 + n %% 1000)::numeric(15,2) AS amount) a",
            {"mark": mark, "day": size.day, "customers": size.customers},
        )
        post_generated(connection, accounts)
        for table in ("journal_entries", "journal_lines", "balance_transactions"):
            connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        connection.execute(f"CREATE TABLE {BUILT} (name text PRIMARY KEY, value text NOT NULL)")
        connection.cursor().executemany(
            f"INSERT INTO {BUILT} (name, value) VALUES (%s, %s)",
            [("mark", str(mark)), *((f"anchor:{path.name}", path.read_text()) for path in folder.iterdir())],
        )
        connection.commit()
    with app.app_context():
        ids = list(range(1, min(size.day, size.customers) + 1))
        for start in range(0, len(ids), BATCH):
            connection = db.session.connection()
            chunk = ids[start : start + BATCH]
            CustomerWallet().write(connection, chunk)
            CustomerStatusCheck().write(connection, chunk)
            monthly.recalculate(connection, chunk)
            db.session.commit()
        AccountBalance().write(db.session.connection(), list(db.session.scalars(db.select(Account.id))))
        db.session.commit()
        with db.engine.begin() as connection:
            kinds = seals.kinds()
            sealing.seal(
                connection, [(kind, kinds[kind].key > mark) for kind in ("balance_transactions", "journal_entries")]
            )
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def _kept(url: str) -> tuple[int, dict[str, str]]:
    """The id the day's changes start above, and the anchor's files, as the build kept them."""
    with psycopg.connect(url) as connection:
        rows = dict(connection.execute(f"SELECT name, value FROM {BUILT}").fetchall())
    files = {name.removeprefix("anchor:"): text for name, text in rows.items() if name.startswith("anchor:")}
    return int(rows["mark"]), files


def anchored_on(url: str) -> date:
    """The night of the anchor the build kept: the latest of its nights' files (beside them, ``latest.json`` and each
    stripe's)."""
    _mark, files = _kept(url)
    return max(date.fromisoformat(name.split(".")[0]) for name in files if name[0].isdigit())


def auto_heal_on_a_copy(url: str, night: date, workers: int = 0) -> float:  # float-ok: seconds
    """The auto-heal of ``night`` (what the nightly of ``night`` reads: the day's changes since the kept anchor and the
    night's stripes), on a copy of the database at ``url`` made for it (not timed) and dropped after, as production
    runs it (:func:`nightly_on_workers`) with ``workers``, in this process with none: its seconds. Nothing may be
    connected to ``url``."""
    from backoffice.platform.extensions import db

    _mark, files = _kept(url)
    with copied(url) as copy:
        app = application(copy)
        try:
            if workers:
                seconds, _run = nightly_on_workers(app, copy, files, night, workers, kind="auto_heal")
            else:
                seconds, _run_id = timed(lambda: nightly_from_anchor(app, files, night, kind="auto_heal"), repeat=1)
        finally:
            with app.app_context():
                db.engine.dispose()
    return seconds


def nightly_on_a_copy(url: str, night: date, workers: int = 0) -> tuple[float, float, int]:  # float-ok: seconds
    """The nightly maintenance of ``night``, every check, from the kept anchor, then its floor, on a copy of the
    database at ``url`` made for them (not timed) and dropped after: the night's anchor, recorded in the database,
    leaves the kept one as the last only in the copy, so that every night starts from the same anchor with the same
    day's changes. With ``workers``, the night runs as production runs it (:func:`nightly_on_workers`); with none, in
    this process. Their seconds, and how many entities the nightly checked. Nothing may be connected to ``url``."""
    from backoffice.platform.extensions import db

    mark, files = _kept(url)
    with copied(url) as copy:
        app = application(copy)
        try:
            if workers:
                seconds, run = nightly_on_workers(app, copy, files, night, workers)
            else:
                seconds, run = timed(lambda: nightly(app, files, night), repeat=1)
            floor, _ = timed(lambda: _nightly_floor(copy, mark, app.config["SEAL_SWEEP_DAYS"], night), repeat=1)
        finally:
            with app.app_context():
                db.engine.dispose()
    return seconds, floor, sum(result.checked for result in run.results)


def nightly_on_workers(
    app, url: str, files: dict[str, str], night: date, workers: int, kind: str = "nightly_maintenance"
):
    """The nightly maintenance of ``night`` (or the auto-heal of that day: ``kind`` ``auto_heal``, queued as the
    operations API queues it) as production runs it: queued as the scheduler queues it, split into
    jobs done by ``workers`` real ``worker.py`` processes side by side, connected as the runtime role
    (:data:`RUNTIME_ROLE`, granted by the owner of ``url`` as ``backoffice db grant-runtime`` grants it), on Redis'
    database ``BENCH_REDIS_URL`` (emptied first; default ``redis://127.0.0.1:6379/14``), its anchors folder holding
    ``files``. The seconds from its queuing to its job's row finished (its anchor written, in the transaction of its
    last chunk), and its run, which found nothing."""
    from redis import Redis
    from rq import Worker

    from backoffice import jobs
    from backoffice.models import JobRecord, JobStatus, ReconciliationRun
    from backoffice.platform.extensions import db
    from backoffice.platform.runtime_role import grant_runtime

    with app.app_context(), db.engine.begin() as connection:
        if connection.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}'").first() is None:
            connection.exec_driver_sql(f'CREATE ROLE "{RUNTIME_ROLE}" LOGIN')
        grant_runtime(connection, RUNTIME_ROLE)
    server, name = url.rsplit("/", 1)
    serving = f"{server.replace('postgres@', f'{RUNTIME_ROLE}@', 1)}/{name}"
    folder = tempfile.mkdtemp(prefix="bench-grown-anchors-")
    for file_name, text in files.items():
        (Path(folder) / file_name).write_text(text)
    redis = Redis.from_url(BENCH_REDIS_URL)
    redis.flushdb()
    settings = {"DATABASE_URL": serving, "REDIS_URL": BENCH_REDIS_URL, "BACKOFFICE_ANCHORS_FOLDER": folder}
    started = [
        subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=ROOT,
            env=os.environ | settings,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # what fails is on the job's row
        )
        for _ in range(workers)
    ]
    try:
        while len(Worker.all(connection=redis)) < workers:
            assert all(worker.poll() is None for worker in started), "a worker stopped as it started"
            time.sleep(0.1)
        from backoffice import create_app

        queuing = create_app(
            {"SQLALCHEMY_DATABASE_URI": serving, "REDIS_URL": BENCH_REDIS_URL, "ANCHORS_FOLDER": folder}
        )
        with queuing.app_context():
            began = time.perf_counter()
            record, _ = jobs.enqueue(kind, {"date": night.isoformat()}, **queued_as(kind, night))
            while (status := _status(record.id)) in (JobStatus.QUEUED, JobStatus.STARTED):
                time.sleep(0.02)
            seconds = time.perf_counter() - began
            ended = db.session.get(JobRecord, record.id)
            assert status is JobStatus.FINISHED, ended.error
            run = db.session.get(ReconciliationRun, ended.run_id)
            found = {result.check: result.mismatched for result in run.results if result.mismatched}
            assert not found, f"the installation is not consistent: {found}"
            db.engine.dispose()
    finally:
        for worker in started:
            worker.terminate()
        for worker in started:
            worker.wait(timeout=60)
    return seconds, run


def _status(job_id: str):
    from backoffice.models import JobRecord
    from backoffice.platform.extensions import db

    db.session.rollback()
    return db.session.scalar(db.select(JobRecord.status).where(JobRecord.id == job_id))


@contextmanager
def copied(url: str) -> Iterator[str]:
    """A copy of the database at ``url`` for the block (its URL), dropped after; named after this process, so that a
    run beside it never drops its copy."""
    server, name = url.rsplit("/", 1)
    copy = f"{name}_night_{os.getpid()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}" STRATEGY FILE_COPY')
    try:
        yield f"{server}/{copy}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')


def nightly(app, files: dict[str, str], night: date):
    """The nightly maintenance of ``night``, every check, from the kept anchor; its run, which found nothing."""
    from backoffice.models import ReconciliationRun
    from backoffice.platform.extensions import db

    run_id = nightly_from_anchor(app, files, night)
    with app.app_context():
        run = db.session.get(ReconciliationRun, run_id)
        found = {result.check: result.mismatched for result in run.results if result.mismatched}
        assert not found, f"the installation is not consistent: {found}"
        return run


def _nightly_floor(url: str, mark: int, days: int, night: date) -> None:
    """The floor of the nightly: the raw compares of the wallets and the months, and the raw read of the movements
    and entries (with their lines) the night verifies, each with its seal."""
    verified = f"(t.id > {mark} OR (t.id / 1000) % {days} = {night.toordinal() % days})"
    with psycopg.connect(url) as connection:
        assert connection.execute(wallet.FLOOR_SQL).fetchone()[0] == 0
        assert connection.execute(FLOOR_VERIFY).fetchone()[0] == 0
    _copied(
        url,
        "COPY (SELECT t.*, s.seal, s.prev_row_id FROM balance_transactions t JOIN seals s "
        f"ON s.kind = 'balance_transactions' AND s.row_id = t.id AND s.version = 0 WHERE {verified}) TO STDOUT",
    )
    _copied(
        url,
        "COPY (SELECT t.*, s.seal, l.id, l.account_id, l.debit, l.credit, l.description FROM journal_entries t "
        "JOIN seals s ON s.kind = 'journal_entries' AND s.row_id = t.id AND s.version = 0 "
        f"JOIN journal_lines l ON l.entry_id = t.id WHERE t.status = 'posted' AND {verified} "
        "ORDER BY t.id, l.id) TO STDOUT",
    )


def _nightly_against_floor(url: str) -> list[tuple]:
    anchored = anchored_on(url)
    nightly_times, floor_times, checked = [], [], []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("The nightly and its floor, taking turns", total=TURNS)
        for turn in range(1, TURNS + 1):
            seconds, floor, entities = nightly_on_a_copy(url, anchored + timedelta(days=turn), WORKERS)
            nightly_times.append(seconds)
            floor_times.append(floor)
            checked.append(entities)
            progress.advance(task)
    ratios = [n / f for n, f in zip(nightly_times, floor_times, strict=True)]
    console.print(
        f"The nightly, every check: {statistics.median(checked):,.0f} entities checked, nothing found; over its floor "
        f"in each of the {TURNS} turns: least {min(ratios):.2f}×, median {statistics.median(ratios):.2f}×, most "
        f"{max(ratios):.2f}×."
    )
    return [
        (
            f"nightly maintenance, every check, {SIZE.day:,} movements of the day",
            statistics.median(nightly_times),
            "raw compares of wallets and months + raw read of the night's movements, entries and seals",
            statistics.median(floor_times),
        )
    ]


def _pages(months: list[date]) -> list[pages.Page]:
    customer = f"C{1 + SIZE.customers // 2:07d}"
    return [
        pages.Page("orders, one manager's month", f"/orders?manager=manager7@example.com&month={months[-2]:%Y-%m}"),
        pages.Page("orders, unfiltered", "/orders"),
        pages.Page("customers", "/customers"),
        pages.Page("a customer (wallet ledger)", f"/customers/{customer}?tab=ledger"),
        pages.Page("search, a name typed with a slip", f"/search?q=Custmer%20{1 + SIZE.customers // 3}"),
        pages.Page("the customer picker, a code's first characters", f"/search/pick/customer?q={customer[:6]}"),
        pages.Page("health check", "/admin/balance-health/check", api=True),
    ]


def _export_against_copy(url: str) -> list[tuple]:
    """The customers export, streamed through the test client, and COPY of its rows, taking turns after a warm-up."""
    from bench.common import logged_in_client

    _, client = logged_in_client(url)
    times = {"export": [], "copy": []}
    for turn in range(TURNS + 1):
        for name, run in (
            ("copy", lambda: _copied(url, CUSTOMERS_COPY)),
            ("export", lambda: _downloaded(client, "/customers/export.csv")),
        ):
            seconds, _ = timed(run, repeat=1)
            if turn:
                times[name].append(seconds)
    return [
        (
            f"`/customers/export.csv`, streamed ({SIZE.customers:,} rows)",
            statistics.median(times["export"]),
            "PostgreSQL `COPY … TO STDOUT` of the same rows",
            statistics.median(times["copy"]),
        )
    ]


def _charges_against_raw(app, url: str) -> list[tuple]:
    """``CHARGES`` charges through the posting core and as many raw, taking turns, on customers picked at random."""
    from backoffice.services import wallet as wallets

    wallet.the_core_s_seals_read(app)
    picked = random.Random(7)
    key = app.config["SEAL_KEY"].encode()
    core, raw = [], []
    with app.app_context(), psycopg.connect(url) as connection:
        for attempt in range(WARM_UP + CHARGES):
            for way, charge in (
                (core, lambda customer: wallets.charge(customer, CHARGE, description="bench")),
                (raw, lambda customer: _raw_charge(connection, customer, key)),
            ):
                customer = picked.randint(1, SIZE.customers)
                seconds, _ = timed(lambda charge=charge, customer=customer: charge(customer), repeat=1)
                if attempt >= WARM_UP:
                    way.append(seconds)
    quantiles = {
        name: statistics.quantiles(times, n=100, method="inclusive") for name, times in (("core", core), ("raw", raw))
    }
    return [
        (
            f"a charge through the posting core, p{percent}",
            quantiles["core"][percent - 1],
            f"raw SQL doing the same work, p{percent}",
            quantiles["raw"][percent - 1],
        )
        for percent in (50, 95)
    ]


def _raw_charge(connection, customer_id: int, key: bytes) -> None:
    """``bench.wallet``'s charge with everything, its seals made with the installation's key as the application
    makes them, so that the nightly after it finds them whole."""
    with connection.transaction():
        given = wallet._parameters(connection, customer_id, CHARGE, "charge")
        row_id, entry_id, buckets = connection.execute(wallet._EVERYTHING, given).fetchone()
        assert buckets == 2, "an account's bucket beyond its column"
        wallet.seal_by_hand(connection, row_id, entry_id, given["moment"], key)


def _sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "customers",
                "balance_transactions",
                "journal_entries",
                "journal_lines",
                "meter_readings",
                "invoices",
                "orders",
                "seals",
            )
        }


def _size(url: str) -> str:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]


if __name__ == "__main__":
    print(main())
