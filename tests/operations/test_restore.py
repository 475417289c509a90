"""Restores, tested: ``backoffice db restore-check URL`` on a ``pg_dump`` restored into a fresh database, and on a
server recovered from a base backup and its archived WAL to a moment between two recharges.

PostgreSQL only, with its programs (``pg_dump``, ``pg_restore``, ``initdb``, ``pg_basebackup``): where they are
missing the tests skip, and under CI they fail (see ``conftest.require_service``). The restored databases live on the
suite's server beside the database the test claimed, the recovered one on a server of its own (``tests/clusters.py``);
each is removed when its test is done.
"""

from __future__ import annotations

import contextlib
import os
import pty
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade

from backoffice import create_app, register_migrations
from backoffice.evidence import anchors, seals
from backoffice.models import ReconciliationRun
from backoffice.platform.extensions import db
from backoffice.platform.runtime_role import grant_runtime
from backoffice.services import meter_invoices, meter_payments, wallet
from tests import clusters
from tests.clusters import Cluster, free_port, wait_for
from tests.conftest import require_service
from tests.factories import CustomerFactory, OrderFactory, hotel_with_meter
from tests.roles import drop_role

pytestmark = pytest.mark.production_path("a restore")

D = Decimal
WRONG_KEY = "not-the-installation-s-key-" + "x" * 40
READY = "The restored database is ready to serve."


@pytest.fixture
def programs() -> None:
    if clusters.binaries() is None:
        require_service("PostgreSQL's programs", "no initdb under /usr/lib/postgresql/*/bin nor on PATH")


@pytest.fixture
def role(app) -> str:
    """A login role of this test process's own, for the source database's runtime role; dropped afterwards (after
    the restored databases, where it holds privileges too)."""
    name = f"{_url().database}_restore_app"
    drop_role(name)
    with db.engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
    yield name
    drop_role(name)


@pytest.fixture
def dump(app, role, programs, tmp_path):
    """The app's database as an installation's: a customer with a meter, recharged, charged, invoiced and paid, an
    order, every movement sealed, the night anchored; the runtime role granted; dumped by ``pg_dump
    --format=custom``."""
    customer, meter = hotel_with_meter(date(2026, 10, 1))
    wallet.charge(customer, D("250000"), description="gas, October")
    meter_invoices.add_invoice(meter, "INV-1", D("500000"), date(2026, 11, 2), date(2026, 11, 30))
    meter_payments.add_payment(meter, D("200000"), date(2026, 11, 10), "TRF-9")
    OrderFactory(customer=customer)
    with db.engine.begin() as connection:
        anchors.anchor(connection, date(2026, 11, 30))
        grant_runtime(connection, role)
    folder = clusters.directory("dump")
    path = folder / "backoffice.dump"
    try:
        clusters.run("pg_dump", "--format=custom", f"--file={path}", f"--dbname={_libpq(_url())}")
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def restore(app, dump):
    """Restore the dump into a fresh database of the same server, with ``pg_restore``'s options given; its URL. The
    databases are dropped afterwards."""
    made: list[str] = []

    def restored(*options: str, grant: str | None = None) -> str:
        name = f"{_url().database}_restored_{len(made)}"
        _on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        made.append(name)
        url = _libpq(_url().set(database=name))
        clusters.run("pg_restore", "--exit-on-error", f"--dbname={url}", *options, dump)
        if grant:  # as the restore's recipe says: the database's own privileges are not in the dump
            _grant_in(url, grant)
        return url

    yield restored
    db.session.remove()
    _on_server(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in made))


def test_a_dump_restored_and_granted_passes_every_line_and_writes_nothing_there(app, restore, role):
    url = restore(grant=role)
    before = _contents(url)

    result = _restore_check(app, url, "--role", role)

    assert result.exit_code == 0, result.output
    lines = _lines(result)
    assert lines["migrations"].startswith("ok ") and "At the code's head" in lines["migrations"]
    assert lines["runtime role"].startswith("ok ") and f"{role} holds what" in lines["runtime role"]
    fingerprint = seals.fingerprint(app.config["SEAL_KEY"].encode())[:12]
    assert lines["seal key"].startswith("ok ") and fingerprint in lines["seal key"]
    assert lines["checks"].startswith("ok ") and "checks are clean" in lines["checks"]
    assert READY in result.output
    # The verify run was the restored database's, rolled back there (its chains proved against no anchor, though the
    # database recorded one: the folder is another moment's); the app's own database is untouched.
    assert _scalar(url, "SELECT count(*) FROM anchor_records") == 1
    assert _scalar(url, "SELECT count(*) FROM reconciliation_runs") == 0
    assert _scalar(url, "SELECT count(*) FROM tampered_evidence") == 0
    assert _contents(url) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReconciliationRun)) == 0

    # The role defaults to the setting; with none, the line says it was not checked, which is no failure.
    app.config["RUNTIME_ROLE"] = role
    assert f"{role} holds what" in _restore_check(app, url).output
    app.config["RUNTIME_ROLE"] = None
    unset = _restore_check(app, url)
    assert unset.exit_code == 0, unset.output
    assert _lines(unset)["runtime role"].startswith("skipped ") and "no runtime role is set" in unset.output


def test_pg_dump_keeps_the_tables_grants_but_not_the_databases(app, restore, role):
    url = restore()

    result = _restore_check(app, url, "--role", role)

    assert result.exit_code == 1, result.output
    database = sa.make_url(url).database
    line = _lines(result)["runtime role"]
    assert line.startswith("WRONG ")
    assert f"Missing: CONNECT, TEMPORARY on database {database}. Extra: none." in line
    assert f"backoffice db grant-runtime {role}" in line
    assert "Error: The restored database is not ready to serve: runtime role." in result.output
    assert [name for name, said in _lines(result).items() if said.startswith("ok ")] == [
        "migrations",
        "seal key",
        "checks",
    ]


def test_a_restore_without_privileges_names_the_missing_grants(app, restore, role):
    url = restore("--no-privileges", "--no-owner")

    result = _restore_check(app, url, "--role", role)

    assert result.exit_code == 1, result.output
    line = _lines(result)["runtime role"]
    assert "Missing: CONNECT, TEMPORARY on database" in line and "; USAGE on schema public; " in line
    assert "; SELECT, INSERT, UPDATE, DELETE on table account_balance_buckets; " in line
    assert "more objects. Extra: none." in line
    assert "not ready to serve: runtime role." in result.output

    # Checked as the role itself, which may read nothing there, the database cannot be checked at all.
    as_role = _restore_check(app, _libpq(sa.make_url(url).set(username=role)))
    assert as_role.exit_code == 2, as_role.output
    assert "Error: Cannot check postgresql://" in as_role.output and "permission denied" in as_role.output
    assert "Traceback" not in as_role.output


def test_a_role_the_server_lacks_is_named(app, restore):
    url = restore()

    result = _restore_check(app, url, "--role", "no_such_role")

    assert result.exit_code == 1, result.output
    assert 'The role "no_such_role" does not exist' in _lines(result)["runtime role"]


def test_a_restore_checked_under_another_seal_key_fails_naming_both_fingerprints(app, restore, role):
    url = restore(grant=role)
    kept = seals.fingerprint(app.config["SEAL_KEY"].encode())
    app.config["SEAL_KEY"] = WRONG_KEY

    result = _restore_check(app, url, "--role", role)

    assert result.exit_code == 1, result.output
    line = _lines(result)["seal key"]
    assert line.startswith("WRONG ") and "sealed with another key" in line
    assert kept[:12] in line and seals.fingerprint(WRONG_KEY.encode())[:12] in line
    assert _lines(result)["checks"].startswith("skipped ")
    assert "not ready to serve: seal key." in result.output
    assert _scalar(url, "SELECT count(*) FROM reconciliation_runs") == 0  # nothing recorded under the wrong key
    assert _scalar(url, "SELECT fingerprint FROM seal_key") == kept


def test_a_balance_forged_after_the_restore_is_named_with_its_check(app, restore, role):
    url = restore(grant=role)
    _execute(url, "UPDATE customers SET balance = balance + 1 WHERE code = 'HOTEL'")

    result = _restore_check(app, url, "--role", role)

    assert result.exit_code == 1, result.output
    line = _lines(result)["checks"]
    assert line.startswith("WRONG ") and "customer_wallet (1)" in line
    assert "HOTEL" in result.output and "balance" in result.output  # the run's discrepancies, as verify prints them
    assert "not ready to serve: checks." in result.output
    assert _scalar(url, "SELECT count(*) FROM reconciliation_discrepancies WHERE \"check\" = 'customer_wallet'") == 0


def test_a_database_a_migration_behind_names_its_revision_and_the_head(app, restore, role):
    url = restore(grant=role)
    _migrate(url, downgrade, revision="-1")

    result = _restore_check(app, url, "--role", role)

    assert result.exit_code == 1, result.output
    line = _lines(result)["migrations"]
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    head = script.get_current_head()
    behind = script.get_revision(head).down_revision
    assert f"The database is at {behind}, 1 migration behind the code's head {head}" in line
    assert "backoffice db upgrade" in line
    assert _lines(result)["checks"].startswith("skipped ")
    assert _scalar(url, "SELECT count(*) FROM reconciliation_runs") == 0


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("sqlite:///{tmp}/restored.sqlite", "restore-check checks a PostgreSQL database; sqlite:///"),
        ("not a url", "'not a url' is not a database URL"),
        ("postgresql://postgres@127.0.0.1:port/restored", "is not a database URL"),
        (
            "postgresql+nosuch://postgres@127.0.0.1/restored",
            "restore-check reads PostgreSQL with psycopg 3, not nosuch: write the URL as postgresql://postgres@",
        ),
        ("{server}/restored?no_such_option=1", 'invalid connection option "no_such_option"'),
        ("postgresql://postgres@127.0.0.1:{port}/restored", "Cannot connect to postgresql://postgres@127.0.0.1:"),
        ("{server}/no_such_database", 'database "no_such_database" does not exist'),
    ],
)
def test_what_cannot_be_checked_exits_2_saying_why_and_writes_nothing(app, tmp_path, url, said):
    given = url.format(tmp=tmp_path, port=free_port(), server=_libpq(_url()).rsplit("/", 1)[0])

    result = _restore_check(app, given)

    assert result.exit_code == 2, result.output
    assert "Error: " in result.output and said in result.output and "Traceback" not in result.output
    assert "Restored database" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_recovery_to_a_named_moment_has_the_first_recharge_and_not_the_second(programs, tmp_path):
    """Continuous archiving: a base backup, two recharges with a restore point between them, the WAL archived, the
    primary lost; a server recovered from the backup and the archive to the restore point, then promoted, has the
    first recharge and not the second, and passes the restore check."""
    archive = clusters.directory("archive")
    primary = Cluster.create(archive_mode="on", archive_command=f"'cp %p {archive}/%f'")
    backup, recovered = None, None
    try:
        url = primary.create_database("backoffice")
        primary.execute('CREATE ROLE "backoffice_app" LOGIN')
        app = _app_on(url, str(tmp_path / "anchors"))
        register_migrations(app)
        with app.app_context():
            upgrade()
            with db.engine.begin() as connection:
                grant_runtime(connection, "backoffice_app")
            hotel = CustomerFactory(code="HOTEL")
            backup = primary.base_backup()
            wallet.recharge(hotel, D("100000"), description="first")
            db.session.execute(sa.text("SELECT pg_create_restore_point('between')"))
            db.session.commit()
            wallet.recharge(hotel, D("250000"), description="second")
            db.session.remove()
            db.engine.dispose()
        (segment,) = primary.execute("SELECT pg_walfile_name(pg_switch_wal())")[0]
        wait_for(lambda: _archived(primary) >= segment)
        primary.kill()

        recovered = Cluster.from_backup(
            backup,
            restore_command=f"'cp {archive}/%f %p'",
            recovery_target_name="'between'",
            recovery_target_action="'promote'",
            archive_mode="off",
        )
        wait_for(lambda: not recovered.execute("SELECT pg_is_in_recovery()")[0][0])
        assert 'recovery stopping at restore point "between"' in recovered.log()

        movements = recovered.execute(
            "SELECT description, amount, balance_after FROM balance_transactions ORDER BY id", database="backoffice"
        )
        assert [tuple(row) for row in movements] == [("first", D("100000.00"), D("100000.00"))]
        result = _restore_check(app, recovered.url("backoffice"), "--role", "backoffice_app")
        assert result.exit_code == 0, result.output + recovered.log()
        assert READY in result.output
    finally:
        for cluster in (recovered, primary):
            if cluster is not None:
                cluster.remove()
        if recovered is None and backup is not None:
            shutil.rmtree(backup.parent, ignore_errors=True)
        shutil.rmtree(archive, ignore_errors=True)


def test_the_installation_s_own_database_is_checked_only_when_asked_for(app, hotel, tmp_path):
    db.session.commit()
    url = _libpq(_url())
    before = _contents(url)

    refused = _restore_check(app, url)  # no terminal to ask at

    assert refused.exit_code == 2, refused.output
    assert refused.output.splitlines() == [
        f"Error: {_shown(url)} is the database this installation serves (DATABASE_URL), not a restored copy: give "
        "--yes to check it all the same."
    ]
    at_a_terminal = _asked_at_a_terminal(url, app.config["SEAL_KEY"], tmp_path, answer="n")
    assert f"{_shown(url)} is the database this installation serves (DATABASE_URL), not a restored copy. Check it " in (
        at_a_terminal
    )
    assert at_a_terminal.endswith("Aborted!\r\n") and "Restored database" not in at_a_terminal
    checked = _restore_check(app, url, "--yes")
    assert checked.exit_code == 0, checked.output
    assert READY in checked.output
    assert _contents(url) == before


def _asked_at_a_terminal(url: str, seal_key: str, tmp_path, *, answer: str) -> str:
    """What ``backoffice db restore-check URL`` says at a terminal, given ``answer`` when it asks, with URL as the
    installation's ``DATABASE_URL``."""
    env = os.environ | {"DATABASE_URL": url, "SECRET_KEY": "test", "BACKOFFICE_SEAL_KEY": seal_key}
    env |= {"BACKOFFICE_ANCHORS_FOLDER": str(tmp_path / "anchors"), "BACKOFFICE_LANGUAGE": "en"}
    terminal, its_end = pty.openpty()
    command = [Path(sys.executable).with_name("backoffice"), "db", "restore-check", url]
    process = subprocess.Popen(command, env=env, stdin=its_end, stdout=its_end, stderr=its_end)
    os.close(its_end)
    said = b""
    try:
        while b"[y/N]" not in said:
            said += os.read(terminal, 1024)
        os.write(terminal, f"{answer}\n".encode())
        process.wait(timeout=60)
        with contextlib.suppress(OSError):  # the terminal's other end closed: all is read
            while chunk := os.read(terminal, 1024):
                said += chunk
    finally:
        os.close(terminal)
        if process.poll() is None:
            process.kill()
    return said.decode()


def _shown(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def _restore_check(app, url: str, *options: str):
    register_migrations(app)
    return app.test_cli_runner().invoke(args=["db", "restore-check", url, *options])


def _lines(result) -> dict[str, str]:
    """Each finding's line, by what it is about, its verdict first."""
    found = {}
    for line in result.output.splitlines():
        verdict, _space, rest = line.strip().partition(" ")
        name, colon, said = rest.strip().partition(": ")
        if colon and verdict in ("ok", "WRONG", "skipped"):
            found[name] = f"{verdict} {said}"
    return found


def _url() -> sa.URL:
    return sa.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def _libpq(url: sa.URL) -> str:
    """The URL as PostgreSQL's programs read it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _engine(url: str, **options) -> sa.Engine:
    return sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"), **options)


def _on_server(*statements: str) -> None:
    engine = _engine(_libpq(_url()), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _execute(url: str, statement: str) -> None:
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _scalar(url: str, query: str):
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql(query).scalar()
    finally:
        engine.dispose()


def _contents(url: str) -> dict[str, str]:
    """Every table's rows, as a digest per table."""
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            tables = connection.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").scalars()
            return {
                table: connection.exec_driver_sql(
                    f"SELECT md5(coalesce(string_agg(r::text, chr(10) ORDER BY r::text), '')) FROM \"{table}\" r"
                ).scalar()
                for table in tables.all()
            }
    finally:
        engine.dispose()


def _grant_in(url: str, role: str) -> None:
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            grant_runtime(connection, role)
    finally:
        engine.dispose()


def _app_on(url: str, anchors: str):
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "test",
            "LANGUAGE": "en",
            "REDIS_URL": None,
            "ANCHORS_FOLDER": anchors,
        }
    )


def _migrate(url: str, command, **arguments) -> None:
    """A migration command run on the database at ``url``, as its owner would run it."""
    app = _app_on(url, current_app.config["ANCHORS_FOLDER"])
    register_migrations(app)
    with app.app_context():
        try:
            command(**arguments)
        finally:
            db.session.remove()
            db.engine.dispose()


def _archived(cluster: Cluster) -> str:
    return cluster.execute("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")[0][0]
