"""The app behind Debian's pgbouncer in transaction pooling mode, in front of a PostgreSQL server of the tests' own.

pgbouncer gives each transaction of a client whichever of its few server connections is free, and keeps nothing of a
client's between its transactions: what a connection sets, prepares or locks for longer than a transaction is left to
the next client. So a part of the suite runs through it, in a process of its own (web pages that post and list money,
jobs run by real workers, the runs' claims), each client sharing a handful of server connections; and two runs'
claims are taken through it on two client connections, which session locks would get wrong.

pgbouncer runs as the ``postgres`` user when the tests run as root (it refuses root), on a free port, and is stopped,
its files removed, when the tests are done. Where its binary is missing (``make pgbouncer`` installs Debian's
package), the tests skip; under CI they fail.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from redis import Redis
from redis.exceptions import RedisError

from backoffice import create_app, register_migrations
from backoffice.platform.databases import database_url, engine_options
from backoffice.platform.extensions import db
from backoffice.reconcile import CHECKS, Scope
from backoffice.reconcile.locks import RunRefused, claim
from tests import clusters
from tests.checkout import ROOT
from tests.conftest import DEFAULT_REDIS, require_service

pytestmark = pytest.mark.production_path("the pooler")

POOL = 8
"""Server connections of the slice's database: far fewer than its clients (each test's app, its workers, their
threads), and enough for the transactions its tests hold open at once (two chunks held at a gate, the gate, the test's
own): a transaction that waits for a server connection those hold waits as long as they do."""
CLAIMS_POOL = 2
"""Server connections of the claims' database: one for a claim held, one for a second run that asks for it."""
SLICE = [
    "tests/customers/test_wallet_web.py",
    "tests/customers/test_ledger_web.py::test_a_recharge_dated_last_month_counts_there_and_the_form_offers_today",
    "tests/customers/test_ledger_web.py::test_the_reversal_says_what_it_posts_then_posts_it_back_to_cash",
    "tests/customers/test_ledger_web.py::test_two_reversals_of_one_movement_at_once_post_one_and_the_second_is_told",
    "tests/lists/test_lists_web.py::test_ledger_movements_are_filtered_by_customer_kind_date_and_amount",
    "tests/lists/test_lists_web.py::test_the_ledger_csv_has_every_movement_the_filters_select",
    "tests/lists/test_lists_web.py::test_postgresql_writes_orders_journal_and_customers_csv_as_python_byte_for_byte",
    "tests/posting/test_posting.py::test_one_movement_and_a_batch_of_it_write_the_same_rows",
    "tests/metering/test_repricing.py::test_a_repricing_taking_a_total_beyond_its_column_is_refused_and_writes_nothing",
    "tests/jobs/test_jobs.py::test_recalculate_customer_from_the_web_is_done_by_a_worker",
    "tests/jobs/test_jobs.py::test_a_job_that_raises_ends_failed_with_its_error",
    "tests/reconcile/test_reconcile_locks.py",
    "tests/jobs/test_fanout.py::test_a_verify_and_a_fix_split_over_two_workers_end_as_the_run_in_one_process",
    "tests/jobs/test_fanout.py::test_a_killed_worker_s_chunk_is_redone_once_and_the_run_ends_as_in_one_process",
]
"""The suite's tests run through pgbouncer: money posted and listed through the pages and the commands, exports
streamed by server-side cursors and ``COPY``, batches posted through a temporary table, jobs run by real workers, and
the runs' claims: every test of them (two runs at once, a run killed mid-way), and runs split over workers, one of them
killed mid-chunk."""


def binary() -> str | None:
    """Debian's pgbouncer, in /usr/sbin (outside a user's ``PATH``)."""
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    return found if os.access(found, os.X_OK) else None


class Bouncer:
    """One pgbouncer in transaction pooling mode in front of a server: its directory and its port."""

    def __init__(self, home: Path, port: int, process: subprocess.Popen) -> None:
        self.home, self.port, self.process = home, port, process

    @classmethod
    def start(cls, server: clusters.Cluster, pools: dict[str, int]) -> Bouncer:
        """pgbouncer in front of ``server``'s databases, each with :data:`POOL` server connections but those of
        ``pools``, started and listening."""
        home = clusters.directory("pgbouncer")
        port = clusters.free_port()
        target = f"host=127.0.0.1 port={server.port} user=postgres"
        databases = [f"{name} = {target} dbname={name} pool_size={size}" for name, size in pools.items()]
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": port,
            "unix_socket_dir": home,
            "auth_type": "any",
            "pool_mode": "transaction",
            "default_pool_size": POOL,
            "max_client_conn": 400,
            "admin_users": "postgres",
            "logfile": home / "pgbouncer.log",
            "pidfile": home / "pgbouncer.pid",
        }
        lines = ["[databases]", *databases, f"* = {target}", "[pgbouncer]"]
        (home / "pgbouncer.ini").write_text("\n".join(lines + [f"{k} = {v}" for k, v in settings.items()]) + "\n")
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        process = subprocess.Popen(
            [*prefix, binary(), home / "pgbouncer.ini"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        bouncer = cls(home, port, process)
        clusters.wait_for(bouncer.listening)
        return bouncer

    def listening(self) -> bool:
        assert self.process.poll() is None, f"pgbouncer stopped: {self.log()[-2000:]}"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True
        return False

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def show(self, what: str) -> list[dict]:
        """A ``SHOW`` of pgbouncer's admin console, its rows by column."""
        with psycopg.connect(self.url("pgbouncer"), autocommit=True) as console:
            cursor = console.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]

    def admin(self, command: str) -> None:
        """A command of pgbouncer's admin console."""
        with psycopg.connect(self.url("pgbouncer"), autocommit=True) as console:
            console.execute(command)

    def log(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return (self.home / "pgbouncer.log").read_text()
        return ""

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int((self.home / "pgbouncer.pid").read_text()), signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    """A PostgreSQL server of the tests' own, with the slice's database and the claims' one."""
    if clusters.binaries() is None:
        require_service("PostgreSQL's server", "Debian's postgresql package is not installed")
    if binary() is None:
        require_service("pgbouncer", "Debian's pgbouncer package is not installed (make test installs it)")
    server = clusters.Cluster.create("pooled")
    try:
        for name in ("test", "claims"):
            server.create_database(name)
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def bouncer(server):
    bouncer = Bouncer.start(server, {"claims": CLAIMS_POOL})
    try:
        yield bouncer
    finally:
        bouncer.remove()


def test_a_slice_of_the_suite_passes_through_pgbouncer_on_few_server_connections(bouncer):
    redis = os.environ.get("REDIS_URL", DEFAULT_REDIS)
    try:
        Redis.from_url(redis, socket_connect_timeout=2).ping()
    except RedisError as error:
        require_service("Redis", f"cannot connect to {redis} ({error})")
    environment = os.environ | {
        "TEST_DATABASE_URL": bouncer.url("test"),
        "REDIS_URL": redis,
        "BACKOFFICE_DATABASE_PREPARED_STATEMENTS": "false",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *SLICE],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    said = f"{result.stdout[-20000:]}\n{result.stderr[-2000:]}\n{bouncer.log()[-3000:]}"
    assert result.returncode == 0, said
    assert re.search(r"\d+ passed", result.stdout) and " skipped" not in result.stdout, said

    log = bouncer.log()
    clients = len(re.findall(r"login attempt: db=test ", log))
    servers = len(re.findall(r"test/postgres@127\.0\.0\.1:\d+ new connection to server", log))
    (stats,) = [row for row in bouncer.show("STATS") if row["database"] == "test"]
    assert 0 < servers * 5 < clients, (servers, clients)
    assert stats["total_xact_count"] > 50 * servers, (stats, servers)


@pytest.fixture(scope="module")
def claims_app(bouncer):
    """The app on the claims' database through pgbouncer, migrated through it too."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": bouncer.url("claims"),
            "SECRET_KEY": "test",
            "DATABASE_PREPARED_STATEMENTS": False,
        }
    )
    register_migrations(app)
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_a_claim_held_through_pgbouncer_refuses_a_second_run_until_it_is_released(claims_app, server, bouncer):
    """Two runs' claims on two client connections sharing pgbouncer's two server connections: a session lock would be
    left on the server connection a transaction used, which the second run is given next (and takes it again as its
    own), and would outlive its release there."""
    check, everything = [CHECKS["order_grand_total"]], Scope()
    server.execute("ALTER DATABASE claims SET idle_in_transaction_session_timeout = '1s'")
    bouncer.admin("RECONNECT claims")  # its server connections are opened again, with the timeout
    assert db.session.scalar(sa.text("SHOW idle_in_transaction_session_timeout")) == "1s"
    db.session.rollback()
    for _ in range(2):
        with claim(check, everything, wait=False):
            time.sleep(1.5)  # the server's timeout would have ended a transaction left idle so long
            with pytest.raises(RunRefused, match="Another run is already writing order grand total"):
                with claim(check, everything, wait=False):
                    pass
            (held,) = server.execute(
                "SELECT backend_xmin, backend_xid FROM pg_stat_activity WHERE datname = 'claims' "
                "AND state = 'idle in transaction'"
            )
            assert held == (None, None), "the claim's transaction holds a snapshot, and vacuum back"
        with claim(check, Scope(customer_ids=(1,)), wait=False):
            pass


def test_through_pgbouncer_prepared_statements_fail_and_unprepared_ones_work(bouncer):
    """psycopg prepares a statement on the server once a connection has run it five times; the connection's next
    transaction may be given another server connection, which has it not, or has its name for another statement."""
    statements = [sa.text(f"SELECT {n} + CAST(:n AS integer)") for n in range(3)]

    def run_interleaved(prepared: bool) -> None:
        url = database_url(bouncer.url("claims"))
        engine = sa.create_engine(url, **engine_options({}, prepared=prepared))
        connections = [engine.connect() for _ in statements]
        try:
            for n in range(12):
                for connection, statement in zip(connections, statements, strict=True):
                    connection.execute(statement, {"n": n})
                    connection.commit()
        finally:
            for connection in connections:
                connection.close()
            engine.dispose()

    run_interleaved(prepared=False)
    with pytest.raises(sa.exc.ProgrammingError, match=r'prepared statement "_pg3_\d+" (already exists|does not exist)'):
        run_interleaved(prepared=True)
