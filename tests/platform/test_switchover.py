"""A database switching over: which errors say so, what the screens and the commands answer, and how the pool lets go
of a server that is not the primary. The whole of a failover, with real servers, is
tests/operations/test_failover.py's."""

from __future__ import annotations

from types import SimpleNamespace

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import errors

from backoffice.models import BalanceTransaction
from backoffice.platform.extensions import db
from backoffice.platform.switchover import drop_the_pool, switching_over
from backoffice.services import wallet

pytestmark = pytest.mark.production_path("a switchover")

SENTENCE = "The database is switching over, try again."


def _raised(kind, original, **options):
    return kind("INSERT INTO balance_transactions …", {}, original, **options)


@pytest.mark.parametrize(
    "error",
    [
        _raised(
            sa.exc.OperationalError, psycopg.OperationalError("consuming input failed: server closed the connection")
        ),
        _raised(sa.exc.OperationalError, psycopg.OperationalError("connection failed: Connection refused")),
        _raised(sa.exc.OperationalError, psycopg.OperationalError("connection failed: session is read-only")),
        _raised(sa.exc.OperationalError, errors.ConnectionTimeout("connection timeout expired")),
        _raised(sa.exc.OperationalError, errors.AdminShutdown("terminating connection due to administrator command")),
        _raised(sa.exc.OperationalError, errors.CrashShutdown("terminating connection because of crash")),
        _raised(sa.exc.OperationalError, errors.CannotConnectNow("the database system is starting up")),
        _raised(sa.exc.OperationalError, errors.ConnectionFailure("could not receive data from client")),
        _raised(
            sa.exc.InternalError, errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction")
        ),
    ],
    ids=lambda error: type(error.orig).__name__ + ": " + str(error.orig)[:30],
)
def test_a_server_lost_or_not_the_primary_is_switching_over(error):
    assert switching_over(error)


@pytest.mark.parametrize(
    "error",
    [
        _raised(sa.exc.OperationalError, errors.QueryCanceled("canceling statement due to statement timeout")),
        _raised(sa.exc.OperationalError, errors.LockNotAvailable("could not obtain lock")),
        _raised(sa.exc.OperationalError, errors.DeadlockDetected("deadlock detected")),
        _raised(sa.exc.OperationalError, errors.SerializationFailure("could not serialize access")),
        _raised(sa.exc.InternalError, errors.InFailedSqlTransaction("current transaction is aborted")),
        _raised(sa.exc.IntegrityError, errors.UniqueViolation("duplicate key"), connection_invalidated=True),
        _raised(sa.exc.ProgrammingError, errors.UndefinedTable("relation does not exist"), connection_invalidated=True),
    ],
    ids=lambda error: type(error.orig).__name__ + ": " + str(error.orig)[:30],
)
def test_a_refusal_or_a_timeout_is_not_switching_over(error):
    assert not switching_over(error)


@pytest.mark.parametrize(
    ("original", "disconnect"),
    [
        (errors.AdminShutdown("terminating connection"), True),
        (errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"), True),
        (errors.UniqueViolation("duplicate key"), False),
        (errors.QueryCanceled("canceling statement due to statement timeout"), False),
    ],
)
def test_the_pool_lets_go_of_a_server_not_the_primary_and_keeps_it_for_a_refusal(original, disconnect):
    context = SimpleNamespace(original_exception=original, is_disconnect=False)
    drop_the_pool(context)
    assert context.is_disconnect is disconnect


# --- A standby's connections (PostgreSQL: read-only, as a hot standby's are) --------------------------------------


@pytest.fixture
def on_a_standby(app):
    """While ``standby.on`` is true, the connections the app opens are read-only, as a standby's are; the pool starts
    empty, so every connection of the test is opened under it."""

    def read_only(dbapi_connection, _record) -> None:
        if standby.on:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_connection.commit()

    standby = SimpleNamespace(on=True)
    db.session.remove()
    db.engine.dispose()
    sa.event.listen(db.engine, "connect", read_only)
    try:
        yield standby
    finally:
        sa.event.remove(db.engine, "connect", read_only)
        db.session.remove()
        db.engine.dispose()


def _movements(key: str) -> int:
    """The movements posted under ``key``, counted on a connection of its own (the pool's are the test's)."""
    engine = sa.create_engine(db.engine.url)
    try:
        with engine.connect() as connection:
            counted = sa.select(sa.func.count()).where(BalanceTransaction.idempotency_key == key)
            return connection.scalar(counted)
    finally:
        engine.dispose()


def test_a_recharge_on_a_standby_is_a_503_to_retry_and_the_retry_posts_once(
    hotel, finance, client, on_a_standby, capsys
):
    form = {"recharge-amount": "50.000", "recharge-idempotency_key": "at-the-switch"}
    refused = client.post("/customers/HOTEL/recharge", data=form)
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "3")
    assert SENTENCE in refused.get_data(as_text=True)
    log = capsys.readouterr().err
    assert "WARNING" in log and "The database is switching over: cannot execute " in log
    assert "Traceback" not in log
    assert _movements("at-the-switch") == 0

    # The standby promoted: the pool let go of the connection the refusal came on, and the next one takes writes.
    on_a_standby.on = False
    assert client.post("/customers/HOTEL/recharge", data=form).status_code == 302
    assert client.post("/customers/HOTEL/recharge", data=form).status_code == 302
    assert _movements("at-the-switch") == 1


def test_the_api_on_a_standby_answers_json_503_to_retry(app, client, on_a_standby):
    app.config["API_TOKEN"] = "t0ken"
    response = client.post("/admin/balance-health/scheduled-maintenance", headers={"Authorization": "Bearer t0ken"})
    assert (response.status_code, response.headers["Retry-After"]) == (503, "3")
    assert response.get_json() == {
        "status": "error",
        "message": SENTENCE,
        "request_id": response.headers["X-Request-ID"],
    }


def test_a_charge_on_a_standby_exits_75_with_the_sentence_and_its_retry_posts_once(hotel, runner, on_a_standby):
    command = ["ledger", "charge", "HOTEL", "10.000", "--idempotency-key", "script-7"]
    refused = runner.invoke(args=command)
    assert refused.exit_code == 75, refused.output
    assert refused.output.strip() == f"Error: {SENTENCE}"
    assert _movements("script-7") == 0

    on_a_standby.on = False
    assert runner.invoke(args=command).exit_code == 0
    assert runner.invoke(args=command).exit_code == 0
    assert _movements("script-7") == 1


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM no_such_table",  # ProgrammingError
        "INSERT INTO accounts SELECT * FROM accounts LIMIT 1",  # IntegrityError: the same id again
    ],
)
def test_a_statement_the_database_refuses_is_a_failure_not_a_503(app, hotel, finance, client, monkeypatch, statement):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the failure is answered, not raised to the test

    def fails(*args, **kwargs):
        db.session.execute(sa.text(statement))

    monkeypatch.setattr(wallet, "recharge", fails)
    response = client.post("/customers/HOTEL/recharge", data={"recharge-amount": "50.000"})
    assert response.status_code == 500
    assert "Something went wrong on our side and has been logged" in response.get_data(as_text=True)
    assert "Retry-After" not in response.headers


# --- A connection lost after the last statement (PostgreSQL: its server process terminated) ------------------------


def _terminate_the_session_s_server_process() -> None:
    """Terminate the server process of the session's connection, as a server shutting down does (``AdminShutdown``)."""
    pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
    engine = sa.create_engine(db.engine.url)
    try:
        with engine.connect() as connection:
            connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        engine.dispose()


def test_a_connection_lost_after_a_request_s_last_statement_does_not_fail_its_end(app, capsys):
    with app.app_context():  # a request's, ended by the teardown as after every request
        _terminate_the_session_s_server_process()
    assert "WARNING" in (log := capsys.readouterr().err)
    assert "The database was lost as the request ended: terminating connection due to administrator command" in log
    assert db.session.scalar(sa.text("SELECT 1")) == 1  # the next request's connection is a new one


def test_a_command_whose_connection_is_lost_once_it_posted_says_what_it_posted(hotel, runner, monkeypatch):
    from backoffice.cli import ledger

    said = ledger._moved

    def lost_after(movement, code) -> None:
        _terminate_the_session_s_server_process()
        said(movement, code)

    monkeypatch.setattr(ledger, "_moved", lost_after)
    result = runner.invoke(args=["ledger", "recharge", "HOTEL", "5.000", "--idempotency-key", "then-lost"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("recharge #")
    assert _movements("then-lost") == 1
