"""A read replica: what only reads goes there, what writes stays on the primary, and a replica unfit to read is not.

A primary and a hot standby of the tests' own (``tests/clusters.py``), the app on the primary with the standby as
``BACKOFFICE_READ_DATABASE_URL``. Where a read runs is shown by the servers' own ``pg_stat_activity``: the primary
takes an ``ACCESS EXCLUSIVE`` lock on a table, which the standby replays, so a read of that table waits wherever it
runs, and each server says who waits there; meanwhile a clerk's recharge is written to the primary.
"""

from __future__ import annotations

import re
import threading
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from werkzeug.serving import make_server

from backoffice import create_app, register_migrations
from backoffice.models import BalanceTransaction, Customer, RunMode
from backoffice.platform import replica
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from tests import factories
from tests.clusters import Cluster, binaries, wait_for
from tests.conftest import require_service

pytestmark = pytest.mark.production_path("a streaming replica")

TEMPLATE = "migrated"


@pytest.fixture(scope="module")
def primary():
    if binaries() is None:
        require_service("PostgreSQL's server binaries", "initdb is not installed (Debian's postgresql package)")
    cluster = Cluster.create()
    try:
        cluster.create_database(TEMPLATE)
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": cluster.url(TEMPLATE), "SECRET_KEY": "test"})
        register_migrations(app)
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="module")
def shared_standby(primary):
    """The standby of the tests that leave it streaming (a test that pauses its replay resumes it)."""
    cluster = Cluster.standby_of(primary)
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def own_standby(primary, database):
    """A standby of the test's own, for a test that stops, kills or promotes it."""
    cluster = Cluster.standby_of(primary)
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def standby(request):
    """The test's standby: its own when it asks for ``own_standby``, else the shared one."""
    return request.getfixturevalue("own_standby" if "own_standby" in request.fixturenames else "shared_standby")


@pytest.fixture
def database(primary) -> str:
    """A database of the test's own on the primary (and, replicated, on every standby): a copy of the migrated one."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    primary.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    yield name
    primary.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def app(primary, database, standby, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": primary.url(database),
            "READ_DATABASE_URL": standby.url(database),
            "SECRET_KEY": "test",
            "LANGUAGE": "en",
            "WTF_CSRF_ENABLED": False,
            "REDIS_URL": None,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "ANCHORS_FOLDER": str(tmp_path / "anchors"),
            "API_TOKEN": "t",
        }
    )
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture
def clerk(app):
    """A finance clerk logged in on a client of their own."""
    return _logged_in(app, "clerk@example.com")


def _logged_in(app, email: str):
    factories.UserFactory(email=email, role="finance", password="correct horse battery")
    db.session.commit()
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": "correct horse battery"})
    assert response.status_code == 302
    return client


@pytest.fixture
def hotel(hotel, standby):
    """The hotel (``conftest.hotel``) with an order, as the standby has replayed it."""
    factories.OrderFactory(customer=hotel)
    db.session.commit()
    caught_up(standby)
    return hotel


def caught_up(standby: Cluster) -> None:
    """Wait until the replica has replayed all the primary wrote, and let the app ask it afresh."""
    wait_for(lambda: replica.assess().state is replica.State.STREAMING and replica.assess().lag_seconds == 0)
    forget()


def forget() -> None:
    """What this process knew of the replica is forgotten: the next read asks it."""
    from flask import current_app

    current_app.extensions.pop("backoffice.replica", None)


class Locked:
    """An ``ACCESS EXCLUSIVE`` lock on ``table`` held on the primary (and, replayed, on the standby) until released."""

    def __init__(self, primary: Cluster, standby: Cluster, table: str) -> None:
        self.engine = primary.engine(_named())
        self.connection = self.engine.connect()
        self.connection.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        self.connection.execute(sa.text("SELECT pg_switch_wal()"))  # the lock's record reaches the standby now
        wait_for(
            lambda: waiting_on(
                standby,
                f"SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                f"WHERE c.relname = '{table}' AND l.mode = 'AccessExclusiveLock'",
            )
        )

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()
        self.engine.dispose()


def waiting_on(cluster: Cluster, query: str) -> list:
    return cluster.execute(query, _named())


def _named() -> str:
    """The test's database."""
    return db.engine.url.database


def waiting_reads(cluster: Cluster, table: str) -> list[str]:
    """The statements waiting for a lock on the server, that read ``table``."""
    return [
        query
        for (query,) in cluster.execute(
            "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()", _named()
        )
        if table in query
    ]


def in_thread(app, work):
    """``work()`` in a thread of its own, in an app context of its own; its result or error in ``.outcome``."""
    outcome = {}

    def body():
        with app.app_context():
            try:
                outcome["result"] = work()
            except Exception as error:  # noqa: BLE001 - handed to the test
                outcome["error"] = error
            finally:
                db.session.remove()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.outcome = outcome
    return thread


def verified(record) -> tuple[str, int]:
    return record.status.value, record.mismatched


def downloaded(client, address: str) -> tuple[int, str]:
    """A download, read to its end (it is streamed: its query runs as it is read)."""
    response = client.get(address)
    return response.status_code, response.get_data(as_text=True)


def recharged_by_a_clerk(app, code: str, key: str) -> int:
    """A clerk's recharge through the web, on a client of their own; its HTTP status."""
    client = _logged_in(app, f"{key}@example.com")
    form = {"recharge-amount": "25.000", "recharge-value_date": "", "recharge-idempotency_key": key}
    return client.post(f"/customers/{code}/recharge", data=form).status_code


def test_an_export_reads_the_replica_while_a_clerk_writes_to_the_primary(app, primary, standby, clerk, hotel):
    lock = Locked(primary, standby, "orders")
    try:
        download = in_thread(app, lambda: downloaded(clerk, "/orders/export.csv"))
        waiting = wait_for(lambda: waiting_reads(standby, "orders"))
        assert any(query.startswith("COPY") for query in waiting), waiting
        assert waiting_reads(primary, "orders") == []
        assert recharged_by_a_clerk(app, "HOTEL", "while-exporting") == 302
        assert download.is_alive()  # still waiting on the replica
    finally:
        lock.release()
    download.join(30)
    status, body = download.outcome["result"]
    assert status == 200 and "HOTEL" in body
    assert db.session.scalar(sa.select(sa.func.count()).where(BalanceTransaction.idempotency_key == "while-exporting"))


def test_verify_compares_on_the_replica_and_records_its_run_on_the_primary(app, primary, standby, hotel):
    lock = Locked(primary, standby, "orders")
    try:
        verify = in_thread(app, lambda: verified(run(RunMode.VERIFY)))
        assert wait_for(lambda: waiting_reads(standby, "orders"))
        assert waiting_reads(primary, "orders") == []
        assert recharged_by_a_clerk(app, "HOTEL", "while-verifying") == 302
        assert verify.is_alive()
    finally:
        lock.release()
    verify.join(60)
    assert "error" not in verify.outcome, verify.outcome
    assert verify.outcome["result"] == ("succeeded", 0)


def test_a_fix_finds_on_the_replica_and_heals_on_the_primary(app, primary, standby, hotel):
    factories.corrupt("customers", "balance", hotel.id, "1")
    caught_up(standby)
    fixed = run(RunMode.FIX, checks=["customer_wallet"])
    assert (fixed.mismatched, fixed.fixed) == (1, 1)
    assert primary.execute("SELECT balance FROM customers WHERE code = 'HOTEL'", _named()) == [(Decimal("100000.00"),)]


def test_a_fix_heals_nothing_the_primary_has_right_whatever_the_replica_still_shows(app, primary, standby, hotel):
    factories.corrupt("customers", "balance", hotel.id, "1")
    caught_up(standby)
    standby.execute("SELECT pg_wal_replay_pause()", _named())
    try:
        factories.corrupt("customers", "balance", hotel.id, "100000.00")  # mended on the primary meanwhile
        forget()
        assert replica.current().serving  # a few seconds behind, within the lag allowed
        assert run(RunMode.VERIFY, checks=["customer_wallet"]).mismatched == 1  # what the replica shows
        fixed = run(RunMode.FIX, checks=["customer_wallet"])
        assert (fixed.mismatched, fixed.fixed) == (0, 0)  # compared again on the primary: nothing to heal
        recorded = primary.execute(
            "SELECT count(*) FROM reconciliation_discrepancies WHERE run_id = :id", _named(), id=fixed.id
        )
        assert recorded == [(0,)]
    finally:
        standby.execute("SELECT pg_wal_replay_resume()", _named())


def health(app) -> dict:
    return app.test_client().get("/admin/balance-health/check", headers={"Authorization": "Bearer t"}).get_json()


def metrics(app) -> str:
    return app.test_client().get("/metrics", headers={"Authorization": "Bearer t"}).get_data(as_text=True)


def test_health_and_metrics_name_the_replica_streaming(app, hotel):
    said = health(app)["data"]["replica"]
    assert (said["state"], said["lag_seconds"], said["max_lag_seconds"], said["reads_from"]) == (
        "streaming",
        0.0,
        30.0,
        "replica",
    )
    assert said["said"] == "The read replica is 0.0 s behind the primary: it serves the reads."
    exposed = metrics(app)
    (lag,) = re.findall(r"\nbackoffice_replica_lag_seconds (\S+)\n", exposed)
    assert 0 <= float(lag) < 30, exposed  # float-ok: a gauge's text
    for line in (
        "backoffice_replica_max_lag_seconds 30.0",
        "backoffice_replica_receiving 1.0",
        "backoffice_replica_serving 1.0",
    ):
        assert f"\n{line}\n" in exposed


def exported_customers(client) -> str:
    return client.get("/customers/export.csv").get_data(as_text=True)


def test_a_replica_too_far_behind_is_not_read_and_health_says_so(app, standby, clerk, hotel):
    app.config["READ_MAX_LAG_SECONDS"] = 0.5
    standby.execute("SELECT pg_wal_replay_pause()", _named())
    try:
        lagging(app, clerk)
    finally:
        standby.execute("SELECT pg_wal_replay_resume()", _named())


def lagging(app, clerk) -> None:
    factories.CustomerFactory(code="LATE", name="Written after the pause")
    db.session.commit()
    wait_for(lambda: replica.assess().state is replica.State.LAGGING)
    forget()
    said = health(app)["data"]["replica"]
    assert (said["state"], said["reads_from"]) == ("lagging", "primary") and said["lag_seconds"] > 0.5
    assert said["said"].startswith("The read replica is ") and said["said"].endswith(
        " s behind the primary, more than 0.5 s: reads go to the primary."
    )
    assert "LATE" in exported_customers(clerk)  # read from the primary: the replica has not replayed it
    assert "\nbackoffice_replica_serving 0.0\n" in metrics(app)


def test_a_replica_that_stopped_receiving_is_not_read(app, primary, standby, own_standby, clerk, hotel):
    standby.execute("ALTER SYSTEM SET primary_conninfo = ''")
    standby.execute("SELECT pg_reload_conf()")
    wait_for(lambda: replica.assess().state is replica.State.STOPPED)
    factories.CustomerFactory(code="UNSEEN", name="Written after the replica stopped")
    db.session.commit()
    forget()
    assert health(app)["data"]["replica"]["state"] == "stopped"
    assert "UNSEEN" in exported_customers(clerk)
    assert "\nbackoffice_replica_receiving 0.0\n" in metrics(app)


def test_a_replica_down_is_not_read_and_a_read_it_loses_turns_to_the_primary(app, standby, own_standby, clerk, hotel):
    assert replica.current().serving
    standby.kill()
    # What the process knew is still "streaming": the download that finds it gone fails, and marks it down.
    failed = clerk.get("/customers/export.csv")
    assert failed.status_code == 503
    db.session.rollback()  # as the request's end does: the test's app context is the requests' too
    assert replica.current().state is replica.State.DOWN
    assert "HOTEL" in exported_customers(clerk)
    said = health(app)["data"]["replica"]
    assert (said["state"], said["lag_seconds"], said["reads_from"]) == ("down", None, "primary")
    assert said["said"].startswith("The read replica cannot be reached (")
    assert "\nbackoffice_replica_lag_seconds NaN\n" in metrics(app)


def test_a_promoted_replica_is_not_read(app, standby, own_standby, clerk, hotel):
    standby.promote()
    forget()
    assert health(app)["data"]["replica"]["state"] == "not a standby"
    assert "HOTEL" in exported_customers(clerk)
    assert db.session.scalar(sa.select(Customer.code)) == "HOTEL"


def test_the_health_command_prints_where_the_reads_go(app, hotel):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        asked = app.test_cli_runner().invoke(args=["health", "--url", f"http://127.0.0.1:{server.port}"])
    finally:
        server.shutdown()
    assert asked.exit_code == 1  # never verified: not healthy; the replica is no reason either way
    assert "\nThe read replica is " in asked.output and asked.output.endswith(": it serves the reads.\n")
