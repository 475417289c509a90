"""Pages under load: the main pages served by gunicorn from a database the size of a grown installation, each
measured against the application's floor page, taking turns with it.

The data (``BENCH_PAGES_SCALE`` multiplies the counts; 0.05 makes a quick run): 50 account managers, 100,000
customers, 1,000,000 orders over 24 months (each in its customer's manager's name), each manager's target for
each month, and 20 wallet movements per customer (2,000,000 ledger rows: recharges and charges over the 24 months,
each with its posted journal entry of two lines). Written set-based (``INSERT … SELECT generate_series``) past the
database's guards; what is derived from them is written the application's own set-based way: grand totals by
their formula, the ledger's before/after chain by a running sum, the wallets, statuses and achieved amounts by the
checks' expected-value SQL, the orders' months (``order_month_totals``) by the write path's recomputation,
the months by ``months.recalculate``, the accounts' buckets from the journal lines; then each versioned record gets
its first version and every row of evidence its seal, as an installation's existing rows got theirs.
Two years of history besides: a nightly verify-and-fix run each day and 50 runs of a customer's checks a day, with
their job records. Then the nightly maintenance runs in-process, as the scheduler would start it; it must find
nothing to fix, which proves the generated figures consistent, and leaves the health check ``ok``.

Gunicorn serves ``backoffice:create_app()`` (``BENCH_PAGES_WORKERS`` workers × ``BENCH_PAGES_THREADS`` threads) with
``PROMETHEUS_MULTIPROC_DIR`` set, as under several workers it must be, on ``BENCH_PAGES_PORT``: a port another
process listens on stops the benchmark before it starts its own, and so does a server answering that is not the one
started. A finance clerk logs in once over HTTP; wrk sends that session's cookie (the API, the bearer token) with
every request. Every page, the floor's included, is first loaded at 16 connections for ``WARM_UP_SECONDS``, so that
every worker has served it before anything is timed. Then ``BENCH_PAGES_TURNS`` turns: in each, each page is loaded
for ``BENCH_PAGES_SECONDS`` at 16 connections and the floor page just before or after it (the order alternating from
turn to turn), then the same at one connection (what a request takes when it waits for no other); a Lua ``done()``
prints the percentiles. The floor is the log-in form shown to the clerk already logged in: it costs what every page
costs before its own work (the server, the session, the log-in check with its one statement, the page's frame). Each
page's p50 and p95 are divided by the floor's of the same turn; the report gives the median of those ratios over the
turns with their range, the medians of the milliseconds, and the machine's load average (the 2 cores are shared) at
the end of each load.
"""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
from rich.progress import Progress
from rich.table import Table

from bench.common import (
    BENCH_DATABASE_URL,
    as_the_app_writes,
    console,
    derive,
    first_days,
    migrate,
    migrated_database,
    orders,
    post_generated,
)

SCALE = float(os.environ.get("BENCH_PAGES_SCALE", "1"))  # float-ok: a size factor
MANAGERS = 50
MONTHS = 24
CUSTOMERS = max(int(100_000 * SCALE), MANAGERS)
ORDERS = max(int(1_000_000 * SCALE), CUSTOMERS)
MOVEMENTS_PER_CUSTOMER = 20
HISTORY_DAYS = 730
CUSTOMER_RUNS_A_DAY = 50
BATCH = 5_000
"""Customers generated (with their orders' share and their movements) per transaction."""
WORKERS = int(os.environ.get("BENCH_PAGES_WORKERS", 4))
THREADS = int(os.environ.get("BENCH_PAGES_THREADS", 4))
CONNECTIONS = 16
SECONDS = int(os.environ.get("BENCH_PAGES_SECONDS", 10))
"""Seconds each load lasts, at 16 connections and at one alike."""
TURNS = int(os.environ.get("BENCH_PAGES_TURNS", 3))
WARM_UP_SECONDS = 3
BOUND = 2
"""A page's p50 at one connection and its p95 at 16 are to be within this many times the floor page's."""
REUSE = os.environ.get("BENCH_PAGES_REUSE") == "1"
"""Load the pages over the data a previous run left in the benchmark database, migrated to the head, instead of
generating it again (which takes most of the run): for measuring a change to the pages or the schema."""
BIND = "127.0.0.1:" + os.environ.get("BENCH_PAGES_PORT", "8765")
CONFIG = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
SECRET_KEY = "bench-pages"
SEAL_KEY = "bench-pages-seal-key-of-thirty-two-characters-or-more"
API_TOKEN = "bench-pages-token"
EMAIL, PASSWORD = "clerk@example.com", "bench-password"
USER_AGENT = "bench-pages"
"""Sent by the log-in and by wrk alike: a session is bound to the browser that logged in."""
LUA = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, latency:percentile(50), latency:percentile(95),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
"""


@dataclass(frozen=True)
class Page:
    label: str
    path: str
    api: bool = False
    form: bool = False
    """The page is the log-in form (which a clerk already logged in is shown too)."""


FLOOR = Page("the floor: the log-in form, to a clerk logged in", "/login", form=True)


@dataclass(frozen=True)
class Load:
    p50_ms: float  # float-ok: milliseconds
    p95_ms: float  # float-ok: milliseconds
    failed: int
    """Requests unanswered within wrk's timeout (or whose connection failed): not in the percentiles."""
    load_average: float  # float-ok: the machine's load average over the last minute, when the load ended
    unanswered: bool = False
    """No request was answered within the load: its percentiles are the load's length, a bound they exceed."""


def main() -> str:
    months = first_days(MONTHS)
    os.environ |= {
        "SECRET_KEY": SECRET_KEY,
        "BACKOFFICE_API_TOKEN": API_TOKEN,
        "BACKOFFICE_SEAL_KEY": SEAL_KEY,
        # Its nightly's anchors describe the benchmark's database: kept beside it, never in the instance folder.
        "BACKOFFICE_ANCHORS_FOLDER": str(Path(tempfile.gettempdir()) / f"bench-anchors-{_database_name()}"),
    }
    if REUSE:
        url = migrate(BENCH_DATABASE_URL)
    else:
        url = migrated_database()
        _generate(url, months)
    os.environ["DATABASE_URL"] = url
    from backoffice import create_app

    app = create_app({"REDIS_URL": None})  # the nightly maintenance runs in this process
    if not REUSE:
        _prepare(app, url, months)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    lines = measured(app, url, _pages(months))
    data = ", ".join(f"{count:,} {table_name}" for table_name, count in _sizes(url).items())
    nightly = _nightly(url)
    return lines + (
        f"Data: {data}. The nightly maintenance over it: {nightly['seconds']:.0f} s, {nightly['checked']:,} entities "
        "checked, nothing to fix.\n"
    )


def measured(app, url: str, pages: list[Page]) -> str:
    """The pages served by gunicorn from the database at ``url`` and loaded in turns with the floor page, as the
    module says; the report (printed, and returned as Markdown). The clerk (``EMAIL``) is to exist, and the
    environment to hold the settings the server is started with (``SECRET_KEY``, ``BACKOFFICE_API_TOKEN``,
    ``BACKOFFICE_SEAL_KEY``)."""
    statements = {page: _statements(app, page) for page in [*pages, FLOOR]}
    turns = _serve_and_load(url, pages, FLOOR)
    return _report(pages, FLOOR, turns, statements)


def _pages(months: list[date]) -> list[Page]:
    month = f"{months[-2]:%Y-%m}"
    customer = f"C{1 + CUSTOMERS // 2:07d}"
    return [
        Page("orders, one manager's month", f"/orders?manager=manager7@example.com&month={month}"),
        Page("orders, unfiltered", "/orders"),
        Page("targets", "/targets"),
        Page("a customer (orders)", f"/customers/{customer}"),
        Page("a customer (wallet ledger)", f"/customers/{customer}?tab=ledger"),
        Page("customers", "/customers"),
        Page("reconciliation", "/reconciliation"),
        Page("health check", "/admin/balance-health/check", api=True),
        Page("metrics", "/metrics", api=True),
    ]


def _generate(url: str, months: list[date]) -> None:
    """The sources, set-based, with the figures derived from them that cost nothing to write with them (grand
    totals, the ledger's chain); the rest is the application's to derive (:func:`bench.common.derive`)."""
    first, today = months[0], date.today()
    days = (today - first).days + 1
    span = days // MOVEMENTS_PER_CUSTOMER
    with psycopg.connect(url) as connection, Progress(console=console, transient=True) as progress:
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
            (MANAGERS, first, CUSTOMERS),
        )
        connection.execute(
            "INSERT INTO targets (account_manager_id, period_start, target_amount) "
            "SELECT m.id, p, 1000000000 + m.id * 10000000 FROM account_managers m, unnest(%s::date[]) p",
            (months,),
        )
        accounts = dict(connection.execute("SELECT code, id FROM accounts").fetchall())
        connection.commit()  # each batch below is a transaction of its own
        task = progress.add_task(f"Generating {ORDERS:,} orders and {CUSTOMERS * MOVEMENTS_PER_CUSTOMER:,} movements")
        progress.update(task, total=CUSTOMERS)
        for start in range(1, CUSTOMERS + 1, BATCH):
            stop = min(start + BATCH - 1, CUSTOMERS)
            with connection.transaction():
                # Generated rows are written past the database's guards (as a superuser may): each is whole when
                # committed.
                connection.execute("SET LOCAL session_replication_role = replica")
                orders(
                    connection,
                    start,
                    stop,
                    per=ORDERS // CUSTOMERS,
                    customers=CUSTOMERS,
                    managers=MANAGERS,
                    first=first,
                    days=days,
                )
                _movements(connection, start, stop, first, span, accounts)
            progress.update(task, completed=stop)
        for table in ("orders", "journal_entries", "journal_lines", "balance_transactions"):
            connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        connection.commit()


def _sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("orders", "customers", "balance_transactions", "journal_lines", "targets")
        }


def _nightly(url: str) -> dict:
    """The nightly maintenance's run over the data (the last run the schedule started): how long it took and how
    many entities it checked."""
    with psycopg.connect(url) as connection:
        seconds, checked = connection.execute(
            "SELECT extract(epoch FROM run.finished_at - run.started_at), sum(result.checked) "
            "FROM reconciliation_runs run JOIN reconciliation_check_results result ON result.run_id = run.id "
            "WHERE run.id = (SELECT max(id) FROM reconciliation_runs WHERE trigger = 'schedule') "
            "GROUP BY run.id"
        ).fetchone()
    return {"seconds": seconds, "checked": checked}


def _movements(connection, start: int, stop: int, first: date, span: int, accounts: dict[str, int]) -> None:
    """Each customer's wallet movements, one every ``span`` days from ``first``: a recharge first and every fifth,
    charges between, with the before/after chain, each with its posted journal entry of two lines. A movement's id
    follows its date across customers, as posting makes them."""
    connection.execute(
        "CREATE TEMP TABLE generated ON COMMIT DROP AS "
        "SELECT *, sum(signed) OVER (PARTITION BY c ORDER BY k) AS running FROM ("
        "  SELECT (k - 1) * %(customers)s + c AS id, c, k, kind, amount,"
        "         CASE WHEN kind = 'recharge' THEN amount ELSE -amount END AS signed,"
        "         %(first)s::date + (k - 1) * %(span)s + c %% %(span)s AS on_date FROM ("
        "    SELECT c, k, CASE WHEN k %% 5 = 1 THEN 'recharge' ELSE 'charge' END AS kind,"
        "           CASE WHEN k = 1 THEN 5000000 + c %% 100 * 10000 WHEN k %% 5 = 1 THEN 2000000"
        "                ELSE (c * 7 + k * 13) %% 400000 + 1000.25 END::numeric(15,2) AS amount"
        "    FROM generate_series(%(start)s::int, %(stop)s::int) c, generate_series(1, %(per)s) k) raw) signed, "
        "  LATERAL (SELECT NULL::varchar AS ref_type, NULL::int AS ref_id) unreferenced",
        {"customers": CUSTOMERS, "first": first, "span": span, "start": start, "stop": stop}
        | {"per": MOVEMENTS_PER_CUSTOMER},
    )
    post_generated(connection, accounts)


def _prepare(app, url: str, months: list[date]) -> None:
    """Derive what the sources make, write the history, run the nightly maintenance and create the clerk."""
    from backoffice import jobs
    from backoffice.models import JobStatus, ReconciliationRun, Role, User
    from backoffice.platform.extensions import db
    from backoffice.reconcile import CHECKS

    with app.app_context():
        derive(CUSTOMERS, BATCH, months)
        history(
            url,
            list(CHECKS),
            [name for name, check in CHECKS.items() if check.by_customer],
            days=HISTORY_DAYS,
            a_day=CUSTOMER_RUNS_A_DAY,
            customers=CUSTOMERS,
        )
        console.print("Writing the records' first versions and sealing the evidence…")
        as_the_app_writes(app)
        console.print("Running the nightly maintenance…")
        record, _ = jobs.enqueue_nightly()
        assert record.status is JobStatus.FINISHED, (record.status, record.error)
        run = db.session.get(ReconciliationRun, record.run_id)
        assert run.mismatched == 0, f"the generated figures are not consistent: {run.mismatched} mismatched"
        user = User(email=EMAIL, name="Clerk", role=Role.FINANCE)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()


def history(url: str, checks: list[str], by_customer: list[str], *, days: int, a_day: int, customers: int) -> None:
    """``days`` of what the installation has run, up to yesterday: a nightly verify-and-fix each day at 02:00 and
    ``a_day`` runs of a customer's checks (the button on its page) on customers among the first ``customers``, each
    with its job record."""
    from backoffice.models import DURATION_BUCKETS

    console.print(f"Writing {days:,} days of runs…")
    each_day = (
        "SELECT d::date AS day FROM generate_series(current_date - %(days)s, current_date - 1, interval '1 day') d"
    )
    with psycopg.connect(url) as connection:
        connection.execute("SET session_replication_role = replica")  # finished runs are written as they stand
        values = {"days": days, "checks": json.dumps(checks), "names": checks}
        connection.execute(
            f"WITH runs AS ("
            f"  INSERT INTO reconciliation_runs (mode, trigger, scope, checks, status, started_at, finished_at)"
            f"  SELECT 'fix', 'schedule', '{{}}', %(checks)s, 'succeeded', day + time '02:00', day + time '02:04'"
            f"  FROM ({each_day}) days ORDER BY day RETURNING id, started_at, finished_at),"
            f" results AS ("
            f'  INSERT INTO reconciliation_check_results (run_id, "check", checked, mismatched, fixed, totals,'
            f"  duration_ms) SELECT id, name, %(customers)s, 0, 0, '{{}}', 10000 FROM runs, unnest(%(names)s::text[])"
            f"  name) "
            f"INSERT INTO jobs (id, kind, args, queue, status, progress, message, result, run_id, in_process, "
            f"attempts, enqueued_at, started_at, ended_at, heartbeat_at) "
            f"SELECT 'nightly-' || to_char(started_at, 'YYYY-MM-DD'), 'nightly_maintenance', "
            f"       json_build_object('date', to_char(started_at, 'YYYY-MM-DD'), 'trigger', 'schedule'), "
            f"       'maintenance', 'finished', 100, 'Finished', '{{}}', id, false, 1, started_at, started_at, "
            f"       finished_at, finished_at FROM runs",
            values | {"customers": customers},
        )
        values = {"days": days, "checks": json.dumps(by_customer), "names": by_customer}
        connection.execute(
            f"WITH picked AS ("
            f"  SELECT day + time '08:00' + n * interval '9 minutes' AS at, c.id, c.code"
            f"  FROM ({each_day}) days, generate_series(1, %(a_day)s) n"
            f"  JOIN customers c ON c.id = 1 + (n * 7919 + extract(doy FROM now())::int) %% %(customers)s),"
            f" runs AS ("
            f"  INSERT INTO reconciliation_runs (mode, trigger, scope, checks, status, started_at, finished_at)"
            f"  SELECT 'fix', 'user', json_build_object('customers', json_build_array(code)), %(checks)s,"
            f"         'succeeded', at, at + interval '1 second' FROM picked ORDER BY at"
            f"  RETURNING id, scope, started_at, finished_at),"
            f" results AS ("
            f'  INSERT INTO reconciliation_check_results (run_id, "check", checked, mismatched, fixed, totals,'
            f"  duration_ms) SELECT id, name, 1, 0, 0, '{{}}', 50 FROM runs, unnest(%(names)s::text[]) name) "
            f"INSERT INTO jobs (id, kind, args, queue, status, progress, message, result, run_id, in_process, "
            f"attempts, enqueued_at, started_at, ended_at, heartbeat_at) "
            f"SELECT md5('recalculate' || r.id), 'recalculate_customer', "
            f"       json_build_object('customer_id', c.id, 'trigger', 'user'), 'recalc', 'finished', 100, "
            f"       'Finished', '{{}}', r.id, false, 1, r.started_at, r.started_at, r.finished_at, r.finished_at "
            f"FROM runs r JOIN customers c ON c.code = r.scope -> 'customers' ->> 0",
            values | {"a_day": a_day, "customers": customers},
        )
        # Each job ended counts in its kind's duration histogram, as the jobs count themselves when they end.
        within = " ".join(
            f"WHEN ended_at - started_at <= interval '{bound} seconds' THEN {index}"
            for index, bound in enumerate(DURATION_BUCKETS)
        )
        connection.execute(
            f"INSERT INTO job_duration_buckets (kind, bucket, jobs, microseconds) "
            f"SELECT kind, CASE {within} ELSE {len(DURATION_BUCKETS)} END AS bucket, count(*), "
            f"       round(extract(epoch FROM sum(ended_at - started_at)) * 1000000) FROM jobs GROUP BY kind, bucket"
        )
        connection.commit()


def _statements(app, page: Page) -> int:
    """How many statements the page's request sends the database."""
    from sqlalchemy import event

    from backoffice.platform.extensions import db

    client = app.test_client()
    headers = {"Authorization": f"Bearer {API_TOKEN}"} if page.api else {}
    if not page.api:
        token = _csrf_token(client.get("/login").get_data(as_text=True))
        client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    assert client.get(page.path, headers=headers).status_code == 200, page
    captured = []

    def capture(_connection, _cursor, statement, _parameters, _context, _executemany) -> None:
        captured.append(statement)

    # Each request in an application context of its own, as served: the clerk's row is read for it.
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        response = client.get(page.path, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert response.status_code == 200, (page, response.status_code)
    return len(captured)


def _database_name() -> str:
    return urllib.parse.urlsplit(BENCH_DATABASE_URL).path.lstrip("/")


def _serve_and_load(url: str, pages: list[Page], floor: Page) -> list[dict[Page, tuple[Load, Load, Load, Load]]]:
    """Start gunicorn, log in, warm every worker on every page, then take ``TURNS`` turns: each page and the floor
    loaded one after the other at ``CONNECTIONS``, then at one. Each turn's loads, by page: the page's at
    ``CONNECTIONS``, the floor's beside it, the page's at one connection, the floor's beside it."""
    env = os.environ | {
        "DATABASE_URL": url,
        "BACKOFFICE_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "BACKOFFICE_API_TOKEN": API_TOKEN,
        "BACKOFFICE_SEAL_KEY": SEAL_KEY,
        "BACKOFFICE_WEB_BIND": BIND,
        "BACKOFFICE_WEB_WORKERS": str(WORKERS),
        "BACKOFFICE_WEB_THREADS": str(THREADS),
    }
    command = [str(Path(sys.executable).with_name("gunicorn")), "--config", str(CONFIG)]
    console.print(f"Serving with {' '.join(command[1:])}…")
    _refuse_a_taken_port()
    with tempfile.TemporaryFile() as log, tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            _wait_until_serving(server, log)
            cookie = _log_in()
            script.write(LUA)
            script.flush()
            headers = {
                page: f"Authorization: Bearer {API_TOKEN}" if page.api else f"Cookie: {cookie}"
                for page in [*pages, floor]
            }
            console.print("Warming every worker on every page…")
            for page, header in headers.items():
                _answers(page, header)
                _wrk(page, header, script.name, WARM_UP_SECONDS)
                _settle(server, url)
            turns = []
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("Loading the pages, taking turns with the floor", total=TURNS * len(pages))
                for turn in range(TURNS):
                    loads = {}
                    for page in pages:
                        pair = (floor, page) if turn % 2 else (page, floor)
                        many, one = {}, {}
                        for each in pair:
                            many[each] = _wrk(each, headers[each], script.name, SECONDS)
                            _settle(server, url)
                        for each in pair:
                            one[each] = _wrk(each, headers[each], script.name, SECONDS, 1)
                            _settle(server, url)
                        loads[page] = many[page], many[floor], one[page], one[floor]
                        progress.advance(task)
                    turns.append(loads)
            for page, header in headers.items():
                _answers(page, header)
            _still_ours(server, log)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()
    return turns


def _settle(server: subprocess.Popen, url: str) -> None:
    """Wait for the requests a load left in flight to end: wrk stops with a request outstanding on each connection,
    and a slow page's would keep the workers busy into the next load. Settled: for 0.3 s the workers used no
    processor time and the database ran none of their statements (at most 60 s)."""
    quiet, last = 0, _processor_ticks(server.pid)
    deadline = time.monotonic() + 60
    with psycopg.connect(url, autocommit=True) as connection:
        while quiet < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
            ticks = _processor_ticks(server.pid)
            running = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
                "AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            quiet = quiet + 1 if ticks - last <= 1 and not running else 0
            last = ticks


def _processor_ticks(master: int) -> int:
    """The processor time the server's workers used so far, in clock ticks (user and system)."""
    total = 0
    for worker in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        try:
            fields = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a worker ended meanwhile
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def _refuse_a_taken_port(bind: str | None = None) -> None:
    """Stop when another process listens on the port (of ``bind``, else ``BIND``): the benchmark would start a server
    that cannot bind it and measure the other one (a killed run's server left listening had been measured so)."""
    host, port = (bind or BIND).rsplit(":", 1)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds: a closing socket is no owner
        try:
            probe.bind((host, int(port)))
        except OSError as error:
            sys.exit(f"Port {port} is taken ({error.strerror}): stop what listens there or set BENCH_PAGES_PORT.")


def _wait_until_serving(server: subprocess.Popen, log, bind: str | None = None) -> None:
    """Wait until the server started answers; stop if it stopped, did not answer in 30 s, or another answers."""
    for _ in range(300):
        if server.poll() is not None:
            log.seek(0)
            sys.exit(f"gunicorn stopped:\n{log.read().decode()}")
        try:
            if _get("/login", bind=bind)[0] == 200:
                _still_ours(server, log, bind)
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("gunicorn did not answer within 30 seconds")


def _still_ours(server: subprocess.Popen, log, bind: str | None = None) -> None:
    """Stop unless the server started is running and holds the socket listening on the port."""
    bind = bind or BIND
    if server.poll() is not None or not _listens(server.pid, int(bind.rsplit(":", 1)[1])):
        log.seek(0)
        sys.exit(f"The server on {bind} is not the one the benchmark started:\n{log.read().decode()}")


def _listens(pid: int, port: int) -> bool:
    """The process holds a socket listening on the port (``/proc``: the listening sockets' inodes, the process's
    descriptors)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: listening
                inodes.add(f"socket:[{fields[9]}]")
    return any(_target(descriptor) in inodes for descriptor in Path(f"/proc/{pid}/fd").iterdir())


def _target(descriptor: Path) -> str:
    try:
        return os.readlink(descriptor)
    except FileNotFoundError:  # closed meanwhile
        return ""


def _log_in(bind: str | None = None, email: str = EMAIL) -> str:
    """Log the clerk (or the user of ``email``) in over HTTP; the session cookie (``name=value``)."""
    status, headers, body = _get("/login", bind=bind)
    cookie = _cookie(headers)
    form = urllib.parse.urlencode({"email": email, "password": PASSWORD, "csrf_token": _csrf_token(body)})
    connection = http.client.HTTPConnection(bind or BIND)
    connection.request(
        "POST",
        "/login",
        body=form,
        headers={"Cookie": cookie, "User-Agent": USER_AGENT, "Content-Type": "application/x-www-form-urlencoded"},
    )
    response = connection.getresponse()
    response.read()
    assert response.status == 302, f"the log-in was refused ({response.status})"
    return _cookie(response.getheaders())


def _answers(page: Page, header: str) -> None:
    """The page answers this session 200, not the log-in page."""
    name, value = header.split(": ", 1)
    status, _headers, body = _get(page.path, {name: value})
    assert status == 200 and page.form == ('name="password"' in body), (page.path, status)


def _get(path: str, headers: dict | None = None, bind: str | None = None) -> tuple[int, list, str]:
    connection = http.client.HTTPConnection(bind or BIND, timeout=30)
    connection.request("GET", path, headers={"User-Agent": USER_AGENT} | (headers or {}))
    response = connection.getresponse()
    return response.status, response.getheaders(), response.read().decode()


def _cookie(headers: list[tuple[str, str]]) -> str:
    """The session cookie a response sets, as ``session=value``."""
    cookies = (value.split(";", 1)[0] for name, value in headers if name.lower() == "set-cookie")
    return next(cookie for cookie in cookies if cookie.startswith("session="))


def _csrf_token(page: str) -> str:
    return html.unescape(re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1))


def _wrk(page: Page, header: str, script: str, seconds: int, connections: int = CONNECTIONS) -> Load:
    threads = min(connections, 2)
    command = ["wrk", "--threads", str(threads), "--connections", str(connections), "--duration", f"{seconds}s"]
    command += ["--timeout", "30s", "--script", script, "--header", header, "--header", f"User-Agent: {USER_AGENT}"]
    done = subprocess.run([*command, f"http://{BIND}{page.path}"], capture_output=True, text=True, check=True)
    found = re.search(r"^RESULT (.*)$", done.stdout, re.MULTILINE)
    answered, p50, p95, bad_status, failed = map(int, found.group(1).split())
    assert bad_status == 0, f"{page.path}: {bad_status} answers not 2xx/3xx"
    if not answered:
        return Load(seconds * 1000, seconds * 1000, failed, os.getloadavg()[0], unanswered=True)
    return Load(p50 / 1000, p95 / 1000, failed, os.getloadavg()[0])


def _report(pages, floor, turns, statements: dict) -> str:
    title = (
        f"Pages over the floor page: gunicorn {WORKERS} workers × {THREADS} threads, {SECONDS} s a load, {TURNS} turns"
    )
    columns = ["page", "statements", "16 conn. p50 ms", "16 conn. p95 ms", "floor p50 ms", "floor p95 ms"]
    columns += ["p50 ÷ floor", "p95 ÷ floor", "1 conn. p50 ms", "1 conn. p95 ms", "floor p50 ms", "floor p95 ms"]
    columns += ["1 conn. p50 ÷ floor", "1 conn. p95 ÷ floor", f"within {BOUND}×", "timed out", "load average"]
    table = Table(*columns, title=title)
    rule = "| --- |" + " ---: |" * (len(columns) - 4) + " --- | ---: | ---: |"
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", rule]
    for page in pages:
        loads = [turn[page] for turn in turns]  # (page, floor) at 16 connections, then at one, each turn
        many_p50, many_p95 = _ratios(loads, 0, 1, "p50_ms"), _ratios(loads, 0, 1, "p95_ms")
        one_p50, one_p95 = _ratios(loads, 2, 3, "p50_ms"), _ratios(loads, 2, 3, "p95_ms")
        within = statistics.median(one_p50) <= BOUND and statistics.median(many_p95) <= BOUND
        averages = [load.load_average for turn in loads for load in turn]
        cells = [
            f"{page.label} (`{page.path}`)",
            str(statements[page]),
            *(_median_ms(loads, index, field) for index in (0, 1) for field in ("p50_ms", "p95_ms")),
            _ratio_text(many_p50, _bound(loads, 0)),
            _ratio_text(many_p95, _bound(loads, 0)),
            *(_median_ms(loads, index, field) for index in (2, 3) for field in ("p50_ms", "p95_ms")),
            _ratio_text(one_p50, _bound(loads, 2)),
            _ratio_text(one_p95, _bound(loads, 2)),
            "yes" if within else "no",
            str(sum(load.failed for turn in loads for load in turn)),
            f"{min(averages):.1f}–{max(averages):.1f}",
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    lines += [
        "",
        f"The floor (`{floor.path}`): {statements[floor]} statement. Ratios: the median over the turns of the page's "
        "figure over the floor's of the same turn, with their range; ≥: a load answered nothing within its "
        f"{SECONDS} s, which stand for its figures.",
    ]
    return "\n".join(lines) + "\n"


def _ratios(loads: list[tuple[Load, ...]], page: int, floor: int, field: str) -> list[float]:  # float-ok: ratios
    return [getattr(turn[page], field) / getattr(turn[floor], field) for turn in loads]


def _ratio_text(ratios: list[float], bound: str) -> str:  # float-ok: ratios
    return f"{bound}{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"


def _median_ms(loads: list[tuple[Load, ...]], index: int, field: str) -> str:
    return f"{_bound(loads, index)}{statistics.median(getattr(turn[index], field) for turn in loads):.1f}"


def _bound(loads: list[tuple[Load, ...]], index: int) -> str:
    """``≥`` where a load of the figure answered nothing (its figure is the load's length)."""
    return "≥" if any(turn[index].unanswered for turn in loads) else ""


if __name__ == "__main__":
    print(main())
