"""Fixtures: every database test runs on PostgreSQL, the one database, against a migrated schema.

The schema comes from the Alembic migrations (never ``create_all``), once per session; the app is built once per
session too. Each test starts from empty tables (every table emptied with ``DELETE``) and with the app's settings
and extensions as built.

The suite runs in several processes (``pytest-xdist``, see the Makefile), and two runs of it may run on
one machine: no two processes share a database. Each claims the PostgreSQL database and the Redis
database it was given, or, when another process holds them, the next free one (``test_2``,
``test_3``…; Redis database 14, 13…). A claim is an exclusive lock on a file that the operating
system releases when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import current_app, g
from flask.testing import FlaskClient
from flask_migrate import upgrade
from redis import Redis
from redis.connection import parse_url
from redis.exceptions import RedisError

from backoffice import create_app, register_migrations
from backoffice.platform import logs
from backoffice.platform.databases import database_url
from backoffice.platform.extensions import db
from backoffice.services import demo, meter_invoices, meter_lifecycle, meter_payments, wallet
from backoffice.web.plumbing.extensions import limiter
from tests import chromium, factories, workers
from tests.factories import past_the_guards
from tests.mailserver import mail_server
from tests.monitoring import TOKEN
from tests.roles import drop_role, grant

# The suite starts many Python processes (its workers, the console script, worker.py, gunicorn, make run), each
# importing the same code. Where the environment says not to write bytecode beside the sources, each process would
# compile all of it again: it is compiled once instead, to a cache of its own outside the checkout, which every
# process started from here uses.
if sys.dont_write_bytecode and not sys.pycache_prefix:
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = sys.pycache_prefix = os.path.join(tempfile.gettempdir(), "backoffice-pycache")
    sys.dont_write_bytecode = False

# Every app the tests build speaks English unless a test says otherwise (the default id_ID would make it Indonesian).
os.environ.setdefault("BACKOFFICE_LANGUAGE", "en")
IN_CI = os.environ.get("CI", "").lower() == "true"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
APPROVAL_LIMIT = Decimal("50000")


LONGEST = (
    "test_pgbouncer.py",
    "test_topology.py",
    "test_embedded.py",
    "test_screens.py",
    "test_fanout.py",
    "test_seal_reading.py",
    "test_language_walk.py",
    "test_cli.py",
)
"""The files whose tests take longest: a slice of the suite through pgbouncer, the deployed setup's nights,
``make run``, the browser's screens, runs split over real workers, three hundred rows read as PostgreSQL seals them,
the language walk, the demo data from the console script."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files' tests first, each file's in its order: the processes then end on short tests, and one
    does not wait long for another's last test."""
    items.sort(key=lambda item: item.path.name not in LONGEST)


def require_service(name: str, reason: str):
    """Skip a test whose server is absent; under CI a missing server is a failure."""
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(message + " (required under CI=true)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def database() -> str:
    """A migrated, empty PostgreSQL database of this run's own; returns its URL."""
    url = _claimed_postgres()
    _reset_postgres(url)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test"})
    register_migrations(app)
    with app.app_context():
        upgrade()
        _SEEDED.update(_seeded_rows())
        db.engine.dispose()
    return url


class IsolatedClient(FlaskClient):
    """A test client whose requests do not share ``g`` with the test's app context.

    The fixture keeps an app context open for factories; Flask reuses it for requests, so
    the logged-in user and the CSRF token that extensions cache in ``g`` would leak from
    one client's request to another's.
    """

    def open(self, *args, **kwargs):
        vars(g).clear()
        try:
            return super().open(*args, **kwargs)
        finally:
            vars(g).clear()


@pytest.fixture(scope="session")
def built_app(database):
    """The app, built once: building one compiles every URL rule, a fifth of a second."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database,
            "SECRET_KEY": "test",
            # The pages in English unless a test asks otherwise (the installation's id_ID would make them Indonesian).
            "LANGUAGE": "en",
            "WTF_CSRF_ENABLED": False,
            "ORDERS_PER_PAGE": 5,
            "REDIS_URL": None,
            # Hashing is deliberately slow in production; tests only need it to work.
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def app(database, built_app, tmp_path_factory):
    """The app on an empty database, as built: what a test changes of its settings and extensions is undone.

    Each test anchors its chains in a folder of its own: an anchor describes the database it was taken of."""
    app = built_app
    config = dict(app.config)
    extensions = dict(app.extensions)
    app.config["ANCHORS_FOLDER"] = str(tmp_path_factory.mktemp("anchors"))
    app.config["DOCUMENTS_FOLDER"] = str(tmp_path_factory.mktemp("documents"))
    # What building the app sets up process-wide, which an app a test builds of its own replaced: the log
    # handler, and the rate limiter's store (a new, empty one).
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    limiter.init_app(app)
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            _empty_tables()
    app.config.clear()
    app.config.update(config)
    app.extensions.clear()
    app.extensions.update(extensions)


@pytest.fixture
def kept(app):
    """``kept(name, make)``: what ``make()`` writes on the test's empty database, made once per process.

    The first test that asks for ``name`` runs ``make`` and gets what it returns (plain values: ids, codes); each
    later one gets its rows put back as that first one left them (``COPY``, past the guards), every sequence where it
    left it, the anchors it wrote put in the test's own anchors folder, and what ``make`` returned then: the same
    rows, ids, seals and anchors, sealed under the app's own key for the process's own database. Putting them back
    empties every table: a test asks for a fixture that keeps before any that writes (a logged-in ``finance``)."""

    def keep(name: str, make):
        if name in _KEPT:
            copied, made = _KEPT[name]
            _put_back(copied)
            return made
        made = make()
        _KEPT[name] = (_copied(), made)
        return made

    return keep


@pytest.fixture
def demo_data(kept) -> None:
    """The demonstration data (``demo.load()``) on the test's empty database, loaded once per process (``kept``)."""
    kept("demo", demo.load)


@pytest.fixture
def new_database_url(database) -> Iterator[str]:
    """An empty database of the test's own (not migrated), on the suite's PostgreSQL server, for a process the test
    starts: its URL, as an installation gives it; dropped after the test."""
    given = sa.make_url(database)
    name = f"{given.database}_new"
    engine = sa.create_engine(given, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield given.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def csrf_app(app):
    """The app with CSRF protection on, as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def redis_url(app):
    """A real, empty Redis database (REDIS_URL; the suite empties it), and the app using it."""
    url = _claimed_redis()
    connection = Redis.from_url(url, socket_connect_timeout=2)
    try:
        connection.ping()
    except RedisError as error:
        require_service("Redis", f"cannot connect to {url} ({error})")
    connection.flushdb()
    app.config["REDIS_URL"] = url
    app.extensions.pop("redis", None)
    yield url
    connection.flushdb()
    connection.close()


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, role: str = "finance", password: str = "correct horse battery"):
        user = factories.UserFactory(role=role, password=password)
        response = self._client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def smtp(app):
    """A real SMTP server on a free local port (``tests.mailserver``), the app sending through it."""
    with mail_server() as server:
        app.config["SMTP_URL"] = server.url
        yield server


@pytest.fixture
def auth(client):
    return AuthActions(client)


# What many tests start from: a clerk or an admin logged in, the two admins of an approval, the approval limit, a
# customer with money, a customer with a meter. A file whose start differs keeps a fixture of its own under a name
# of its own.


@pytest.fixture
def finance(auth):
    """A finance clerk, logged in on ``client``."""
    return auth.login("finance")


@pytest.fixture
def admin(auth):
    """An admin, logged in on ``client``."""
    return auth.login("admin")


@pytest.fixture
def maker(app):
    """The admin who asks for an approval (not logged in; the factories' password)."""
    return factories.UserFactory(email="maker@example.com", role="admin")


@pytest.fixture
def checker(app):
    """The second admin, who approves or rejects (not logged in; the factories' password)."""
    return factories.UserFactory(email="checker@example.com", role="admin")


@pytest.fixture
def admins(maker, checker):
    """The two admins of an approval: the one who asks, and the one who decides."""
    return maker, checker


@pytest.fixture
def limit(app) -> Decimal:
    """Money moved by hand above Rp50.000 waits for a second admin."""
    app.config["APPROVAL_ABOVE"] = APPROVAL_LIMIT
    return APPROVAL_LIMIT


@pytest.fixture
def hotel(app):
    """Hotel Cempaka (HOTEL), with an opening deposit of Rp100.000 dated 2026-10-01."""
    customer = factories.CustomerFactory(code="HOTEL", name="Hotel Cempaka")
    wallet.recharge(customer, Decimal("100000"), description="opening deposit", value_date=date(2026, 10, 1))
    return customer


@pytest.fixture
def metered_hotel(app):
    """The hotel (HOTEL) and its meter M-1, held from 2026-10-01, Rp1.000.000 prepaid, priced from November."""
    return factories.hotel_with_meter(date(2026, 10, 1))


@pytest.fixture
def meter(app):
    """Meter M-1, the hotel's (HOTEL) from 2026-10-01, with invoice INV-1 of Rp500.000 and a payment of
    Rp200.000 (TRF-9)."""
    meter = factories.MeterFactory(serial="M-1")
    meter_lifecycle.assign_meter(meter, factories.CustomerFactory(code="HOTEL"), date(2026, 10, 1))
    meter_invoices.add_invoice(meter, "INV-1", Decimal("500000"), date(2026, 11, 2), date(2026, 11, 30))
    meter_payments.add_payment(meter, Decimal("200000"), date(2026, 11, 10), "TRF-9")
    return meter


@cache
def _claimed_postgres() -> str:
    given = sa.make_url(database_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)))
    names = [given.database] + [f"{given.database}_{n}" for n in range(2, 17)]
    name = _claim("postgresql", given.render_as_string(hide_password=False).rsplit("/", 1)[0], names)
    url = given.set(database=name)
    if name != given.database:
        _create_postgres_database(given, name)
    return url.render_as_string(hide_password=False)


@cache
def _claimed_redis() -> str:
    given = os.environ.get("REDIS_URL", DEFAULT_REDIS)
    first = parse_url(given).get("db", 0)
    numbers = [first] + [n for n in range(15, 0, -1) if n != first]
    number = _claim("redis", given.rsplit("/", 1)[0], numbers)
    return f"{given.rsplit('/', 1)[0]}/{number}"


_CLAIMS: list = []
"""The open lock files of this run's claims, kept open until the process exits."""


def _claim(kind: str, server: str, candidates: list):
    """The first candidate no other run on this machine holds, locked for the rest of this run."""
    for candidate in candidates:
        key = f"{kind}-{server}-{candidate}".replace("/", "_").replace(":", "_").replace("@", "_")
        handle = open(os.path.join(tempfile.gettempdir(), f"backoffice-test-{key}.lock"), "w")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _CLAIMS.append(handle)
        return candidate
    pytest.fail(f"Every {kind} test database on {server} is in use by another run of the suite.", pytrace=False)


def _create_postgres_database(given: sa.URL, name: str) -> None:
    engine = sa.create_engine(given, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        require_service("PostgreSQL", f"cannot create the database {name} on {engine.url!r} ({error.orig})")
    finally:
        engine.dispose()


def _reset_postgres(url: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
    except sa.exc.OperationalError as error:
        require_service("PostgreSQL", f"cannot connect to {engine.url!r} ({error.orig})")
    finally:
        engine.dispose()


_SEEDED: dict[str, list[dict]] = {}
"""The rows the migrations insert (the chart of accounts, the rows written before the facts were
stored: none), put back after each test."""


def _seeded_rows() -> dict[str, list[dict]]:
    with db.engine.connect() as connection:
        found = {
            t.name: [dict(r._mapping) for r in connection.execute(sa.select(t))] for t in db.metadata.sorted_tables
        }
    return {name: rows for name, rows in found.items() if rows}


def _empty_tables() -> None:
    """Every table emptied and its ids started again, then the seeded rows put back, and the statistics'
    counts of deleted rows started again.

    ``DELETE`` of the few rows a test writes takes a hundredth of the time ``TRUNCATE`` takes to give each table
    new files. Triggers (the guards of the ledger, the books and the finished runs, and the foreign keys) do not
    fire for a superuser's ``session_replication_role = replica``, so the order of the tables does not matter.
    """
    with past_the_guards() as connection:
        connection.exec_driver_sql(_emptying(connection))
        for name, rows in _SEEDED.items():
            connection.execute(sa.insert(db.metadata.tables[name]), rows)
            if "id" in db.metadata.tables[name].c:
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), max(id)) FROM {name}"
                )
    with db.engine.connect() as connection:
        # The rows deleted here are not a forger's: each test's database counts deletions of evidence from none, as a
        # database just made does (the first anchor finds any).
        connection.exec_driver_sql("SELECT pg_stat_reset()")


_KEPT: dict[str, tuple[dict, object]] = {}
"""What ``kept`` made, by name: the database as its first ``make`` left it (:func:`_copied`), and what it returned."""


def _copied() -> dict:
    """Every table's rows, every sequence's value and every anchor's file, as they are now."""
    with db.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        tables = {}
        for table in _tables(connection):
            with cursor.copy(f'COPY "{table}" TO STDOUT') as copy:
                if rows := b"".join(copy):
                    tables[table] = rows
        sequences = connection.exec_driver_sql(
            "SELECT format('%I', sequencename), last_value FROM pg_sequences WHERE schemaname = current_schema()"
        ).all()
    anchors = Path(current_app.config["ANCHORS_FOLDER"])
    return {
        "tables": tables,
        "anchors": {path.name: path.read_bytes() for path in anchors.iterdir() if path.is_file()},
        "sequences": "SELECT "
        + ", ".join(f"setval('{name}', {value or 1}, {value is not None})" for name, value in sequences),
    }


def _put_back(copied: dict) -> None:
    """The tables emptied, then their rows, the sequences' values and the anchors' files put back as :func:`_copied`
    took them, and the statistics' counts of deleted rows started again (as :func:`_empty_tables` does)."""
    with past_the_guards() as connection:
        connection.exec_driver_sql(_emptying(connection))
        cursor = connection.connection.driver_connection.cursor()
        for table, rows in copied["tables"].items():
            with cursor.copy(f'COPY "{table}" FROM STDIN') as copy:
                copy.write(rows)
        connection.exec_driver_sql(copied["sequences"])
    anchors = Path(current_app.config["ANCHORS_FOLDER"])
    for name, content in copied["anchors"].items():
        (anchors / name).write_bytes(content)
    with db.engine.connect() as connection:
        connection.exec_driver_sql("SELECT pg_stat_reset()")


def _tables(connection: sa.Connection) -> list[str]:
    """The schema's tables, but Alembic's."""
    return (
        connection.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
            " ORDER BY tablename"
        )
        .scalars()
        .all()
    )


_EMPTYING: list[str] = []


def _emptying(connection: sa.Connection) -> str:
    """One script of a ``DELETE`` for every table of the schema and the restart of every sequence its ids use."""
    if not _EMPTYING:
        tables = _tables(connection)
        sequences = connection.exec_driver_sql(
            "SELECT s.oid::regclass::text FROM pg_class s"
            " JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')"
            " WHERE s.relkind = 'S' AND s.relnamespace = current_schema()::regnamespace ORDER BY 1"
        ).scalars()
        _EMPTYING.append(
            "".join(f'DELETE FROM "{table}";' for table in tables)
            + "SELECT "
            + ", ".join(f"setval('{sequence}', 1, false)" for sequence in sequences)
        )
    return _EMPTYING[0]


# The browser tests' (test_browser.py, test_screens.py): Debian's chromium, headless, on the app served on localhost
# (tests/chromium.py, which docs/screenshots.py shares).


@pytest.fixture(scope="session")
def browser():
    path = chromium.executable()
    if path is None:
        require_service("chromium", "Debian's chromium package is not installed (make test installs it)")
    with chromium.headless(path) as browser:
        yield browser


@pytest.fixture
def live_server(csrf_app):
    with chromium.served(csrf_app) as url:
        yield url


@pytest.fixture
def page(browser, live_server):
    """A page whose test fails if the Content-Security-Policy blocked anything it needed."""
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    page.set_default_timeout(10_000)
    blocked = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    yield page
    context.close()
    assert blocked == []


@pytest.fixture
def names_from_before(app):
    """Texts written before migration 0072, when a name, a number or a code could hold a control character (a tab,
    a line end): the constraints that now refuse them lifted while the test writes them, then, the rows gone, put
    back validated, as a new database has them (a ``NOT VALID`` one left behind would be reflected by the next test
    of the schema, which SQLAlchemy cannot do)."""
    db.session.commit()
    with db.engine.begin() as connection:
        lifted = connection.execute(
            sa.text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conname LIKE 'ck\\_%\\_one\\_line' AND contype = 'c'"
            )
        ).all()
        for table, name, _definition in lifted:
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    yield
    db.session.rollback()
    _empty_tables()
    with db.engine.begin() as connection:
        for table, name, definition in lifted:
            connection.exec_driver_sql(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition.removesuffix(' NOT VALID')}"
            )


@pytest.fixture
def api(app):
    """A GET with the API token (:data:`tests.monitoring.TOKEN`), answered 200: the answer."""
    app.config["API_TOKEN"] = TOKEN
    client = app.test_client()

    def get(url):
        response = client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        return response

    return get


@pytest.fixture
def role(app):
    """A login role of this test process's own, not yet granted anything; dropped afterwards."""
    name = f"{sa.make_url(app.config['SQLALCHEMY_DATABASE_URI']).database}_runtime"
    drop_role(name)
    with db.engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
    yield name
    drop_role(name)


@pytest.fixture(autouse=True)
def _lane(request):
    """Whether the test is one of production's paths (``production_path``), which ``make test-quick`` leaves out:
    only such a test starts a real worker or serves as the runtime role."""
    workers.LANE["production_path"] = request.node.get_closest_marker("production_path") is not None


@pytest.fixture
def runtime_url(app, role) -> str:
    """The database's URL as the runtime role, granted by the command."""
    assert workers.LANE["production_path"], "a test that serves as the runtime role is marked production_path"
    result = grant(app, role)
    assert result.exit_code == 0, result.output
    url = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(username=role, password=None)
    return url.render_as_string(hide_password=False)
