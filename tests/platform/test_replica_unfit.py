"""A read replica set wrong or out of reach: a ``BACKOFFICE_READ_DATABASE_URL`` that is no PostgreSQL URL stops every
process as it starts, with one line and no traceback; a replica that cannot be reached is not read, and what would
have read it reads the primary, the warning logged once."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice import create_app
from backoffice.platform.config import ConfigError, read
from backoffice.platform.extensions import db
from backoffice.services import wallet
from tests import factories
from tests.checkout import CONSOLE_SCRIPT, ROOT
from tests.clusters import free_port
from tests.factories import PASSWORD

pytestmark = pytest.mark.production_path("a streaming replica")

EXAMPLE = "(e.g. postgresql://backoffice_app@standby/backoffice)"
UNFIT = pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "sqlite:///replica.sqlite",
            f"BACKOFFICE_READ_DATABASE_URL='sqlite:///replica.sqlite' is not a PostgreSQL URL read with psycopg 3 "
            f"{EXAMPLE}.",
        ),
        ("standby.internal", f"BACKOFFICE_READ_DATABASE_URL is not a URL SQLAlchemy can read {EXAMPLE}."),
        (
            "postgresql+nosuch://app:secret@standby/backoffice",
            "BACKOFFICE_READ_DATABASE_URL='postgresql+nosuch://app:***@standby/backoffice' is not a PostgreSQL URL "
            f"read with psycopg 3 {EXAMPLE}.",
        ),
    ],
)


@UNFIT
def test_a_replica_that_is_no_postgresql_url_is_refused_with_the_settings(url, message):
    with pytest.raises(ConfigError) as refused:
        read({"BACKOFFICE_READ_DATABASE_URL": url})
    assert str(refused.value) == message


@pytest.mark.parametrize("given", ["postgres://app@standby/backoffice", "postgresql://app@/backoffice?host=/run/pg"])
def test_a_postgresql_replica_is_read_as_given(given):
    assert read({"BACKOFFICE_READ_DATABASE_URL": given}).read_database_url == given


@UNFIT
def test_a_replica_that_is_no_postgresql_url_stops_every_process_with_one_line(new_database_url, url, message):
    env = os.environ | {
        "DATABASE_URL": new_database_url,
        "SECRET_KEY": "test",
        "BACKOFFICE_READ_DATABASE_URL": url,
        "BACKOFFICE_WEB_BIND": f"127.0.0.1:{free_port()}",
        "BACKOFFICE_WEB_WORKERS": "1",
        "REDIS_URL": "redis://127.0.0.1:9/0",
    }
    started = {
        "Error: ": [CONSOLE_SCRIPT, "reconcile", "verify"],
        "gunicorn.conf.py: ": [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],  # its master
        "worker.py: ": [sys.executable, "worker.py", "--burst"],
    }
    for said, command in started.items():
        ended = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
        assert ended.returncode != 0, (command, ended.stderr)
        assert ended.stderr.splitlines() == [said + message], (command, ended.stderr)
        assert ended.stdout == ""


@pytest.mark.parametrize("out_of_reach", ["nothing listens on its port", "no such database"])
def test_a_replica_out_of_reach_is_not_read_and_its_reads_go_to_the_primary(app, tmp_path, caplog, out_of_reach):
    primary = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    replica = primary.set(port=free_port()) if out_of_reach.startswith("nothing") else primary.set(database="no_such")
    served = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "READ_DATABASE_URL": replica.render_as_string(hide_password=False),
            "SECRET_KEY": "test",
            "LANGUAGE": "en",
            "WTF_CSRF_ENABLED": False,
            "REDIS_URL": None,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "ANCHORS_FOLDER": str(tmp_path / "anchors"),
            "API_TOKEN": "t",
        }
    )
    with served.app_context(), caplog.at_level(logging.INFO, logger="backoffice.platform.replica"):
        try:
            hotel = factories.CustomerFactory(code="HOTEL", name="Hotel Cempaka")
            wallet.recharge(hotel, Decimal("100000"), description="opening deposit", value_date=date(2026, 10, 1))
            factories.OrderFactory(customer=hotel)
            factories.UserFactory(email="clerk@example.com", role="finance", password=PASSWORD)
            db.session.commit()
            clerk = served.test_client()
            assert clerk.post("/login", data={"email": "clerk@example.com", "password": PASSWORD}).status_code == 302
            for address, holding in (
                ("/customers/export.csv", "Hotel Cempaka"),
                ("/orders/export.csv", "HOTEL"),
                ("/customers/HOTEL/statement?month=2026-10", "opening deposit"),
                ("/customers/HOTEL/statement.csv?month=2026-10", "opening deposit,,100000.00,100000.00"),
            ):
                response = clerk.get(address)
                assert response.status_code == 200, address
                assert holding in response.get_data(as_text=True), address
            monitor = {"Authorization": "Bearer t"}
            health = clerk.get("/admin/balance-health/check", headers=monitor)
            assert health.status_code == 200
            said = health.get_json()["data"]["replica"]
            assert (said["state"], said["reads_from"]) == ("down", "primary")
            assert said["said"].startswith("The read replica cannot be reached (")
            metrics = clerk.get("/metrics", headers=monitor)
            assert metrics.status_code == 200
            assert "\nbackoffice_replica_serving 0.0\n" in metrics.get_data(as_text=True)
        finally:
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
    said = [(record.levelno, record.getMessage()) for record in caplog.records if record.name.endswith("replica")]
    assert [level for level, _message in said] == [logging.WARNING], said
    warned = [message for _level, message in said]
    assert warned[0].startswith("The read replica is down (") and warned[0].endswith("): reads go to the primary")
