"""The app as production runs it: gunicorn with gunicorn.conf.py, on PostgreSQL and Redis, driven over HTTP; and
``backoffice health`` asking it, as an orchestrator's health check does."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from redis import Redis
from redis.exceptions import RedisError

from backoffice import jobs
from backoffice.models import Order, RunMode
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from tests.checkout import ROOT
from tests.clusters import free_port
from tests.conftest import _claimed_redis, require_service
from tests.factories import PASSWORD, CustomerFactory, OrderFactory, UserFactory, corrupt
from tests.serving import TOKEN, gunicorn, hidden_fields
from tests.workers import serving_url


@pytest.fixture(scope="module")
def server(database, tmp_path_factory):
    redis_url = _claimed_redis()
    try:
        Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except RedisError as error:
        require_service("Redis", f"cannot connect to {redis_url} ({error})")
    anchors = tmp_path_factory.mktemp("anchors")
    env = os.environ | {
        "BACKOFFICE_ANCHORS_FOLDER": str(anchors),
        "DATABASE_URL": serving_url(database),
        "REDIS_URL": redis_url,
        "SECRET_KEY": "production-test",
        "BACKOFFICE_API_TOKEN": TOKEN,
        "BACKOFFICE_WEB_WORKERS": "2",
    }
    with gunicorn(env, tmp_path_factory.mktemp("gunicorn") / "server.log") as started:
        started.anchors = anchors
        yield started


def test_a_clerk_logs_in_lists_orders_and_creates_one_through_gunicorn(app, server):
    clerk = UserFactory(role="finance", password=PASSWORD)
    customer = CustomerFactory()
    OrderFactory(number="SO-LISTED", customer=customer)
    browser = requests.Session()
    login = browser.get(server.url + "/login")
    assert login.status_code == 200 and login.headers["Server"].startswith("gunicorn")
    form = hidden_fields(login.text) | {"email": clerk.email, "password": PASSWORD}
    assert browser.post(server.url + "/login", data=form, allow_redirects=False).status_code == 302

    orders = browser.get(server.url + "/orders")
    assert orders.status_code == 200 and "SO-LISTED" in orders.text
    line = server.line_of(orders.headers["X-Request-ID"])
    assert (line["method"], line["path"], line["status"], line["user"]) == ("GET", "/orders", 200, clerk.email)

    new = browser.get(server.url + "/orders/new")
    order = {
        "number": "SO-GUNICORN",
        "customer_id": customer.code,
        "account_manager_id": customer.account_manager.email,
        "closing_date": "2026-11-10",
        "total_price": "10.000.000",
        "additions": "500.000",
        "promo": "1.000.000",
        "reductions": "200.000",
    }
    created = browser.post(server.url + "/orders/new", data=hidden_fields(new.text) | order, allow_redirects=False)
    assert created.status_code == 302, created.text
    saved = db.session.scalar(sa.select(Order).where(Order.number == "SO-GUNICORN"))
    assert saved.grand_total == Decimal("9300000.00") and saved.created_by_id == clerk.id
    assert server.line_of(created.headers["X-Request-ID"])["status"] == 302

    refused = browser.post(server.url + "/orders/new", data=order, allow_redirects=False)  # without the CSRF token
    assert refused.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 2


def test_the_api_answers_json_through_gunicorn_with_its_request_ids(app, server):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    health = requests.get(server.url + "/admin/balance-health/check", headers=bearer, timeout=30)
    assert health.status_code == 200 and health.json()["balance_status"] is False
    assert server.line_of(health.headers["X-Request-ID"])["user"] == "bearer token"

    missing = requests.get(server.url + "/admin/jobs/nope", headers=bearer | {"X-Request-ID": "probe-404"}, timeout=30)
    assert missing.status_code == 404
    assert missing.json() == {"status": "error", "message": "No job nope.", "request_id": "probe-404"}
    assert server.line_of("probe-404")["status"] == 404

    refused = requests.post(server.url + "/admin/balance-health/check", headers=bearer, timeout=30)
    assert refused.status_code == 405 and set(refused.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert refused.json()["request_id"] == refused.headers["X-Request-ID"]
    assert server.line_of(refused.headers["X-Request-ID"])["status"] == 405
    assert (
        '"POST /admin/balance-health/check HTTP/1.1" 405'
        in server.access_line_of(refused.headers["X-Request-ID"])["message"]
    )


def test_metrics_add_up_the_latencies_of_every_gunicorn_worker(app, server):
    for _ in range(12):
        assert requests.get(server.url + "/login", timeout=30).status_code == 200
    metrics = requests.get(server.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).text
    counted = re.search(
        r'backoffice_request_duration_seconds_count\{endpoint="auth.login",method="GET",status="2xx"\} (\S+)', metrics
    )
    logged = [line for line in server.lines() if line.get("path") == "/login" and line.get("status") == 200]
    assert counted and float(counted[1]) == len(logged)  # float-ok: a count in Prometheus' text


def test_the_health_command_exits_0_1_or_2_as_the_server_answers(app, server, runner):
    app.config["API_TOKEN"] = TOKEN
    unhealthy = runner.invoke(args=["health", "--url", server.url])
    assert unhealthy.exit_code == 1, unhealthy.output
    assert "Unhealthy" in unhealthy.output and "  - The nightly maintenance has never finished." in unhealthy.output

    app.config["ANCHORS_FOLDER"] = str(server.anchors)  # the night is anchored where the server reads it
    jobs.enqueue_nightly()  # in-process: the app of the test has no REDIS_URL
    run(RunMode.VERIFY)
    healthy = subprocess.run(  # the command an orchestrator runs
        [Path(sys.executable).parent / "backoffice", "health", "--url", server.url + "/", "--timeout", "30"],
        cwd=ROOT,
        env=os.environ | {"BACKOFFICE_API_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout == "Healthy: the balances can be trusted.\n"

    order = OrderFactory()
    corrupt("orders", "grand_total", order.id, "5")
    run(RunMode.VERIFY)
    mismatched = runner.invoke(args=["health", "--url", server.url])
    assert mismatched.exit_code == 1
    assert "  - order_grand_total: the last full run found 1 mismatched, not fixed yet." in mismatched.output

    app.config["API_TOKEN"] = "not-the-server-s"
    refused = runner.invoke(args=["health", "--url", server.url])
    assert refused.exit_code == 2
    assert "refused the health check with HTTP 401: The bearer token is not valid. (request id " in refused.output


def test_the_health_command_exits_2_when_it_cannot_ask(app, runner):
    app.config["API_TOKEN"] = TOKEN
    closed = runner.invoke(args=["health", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "5"])
    assert closed.exit_code == 2
    assert "Cannot reach http://127.0.0.1:" in closed.output and "Connection refused" in closed.output
    typo = runner.invoke(args=["health", "--url", "127.0.0.1:8000"])
    assert typo.exit_code == 2 and "is not an http:// or https:// address" in typo.output
    app.config["API_TOKEN"] = None
    untold = runner.invoke(args=["health", "--url", "http://127.0.0.1:8000"])
    assert untold.exit_code == 2 and "BACKOFFICE_API_TOKEN is not set" in untold.output


def test_the_health_command_exits_2_on_an_answer_that_is_not_the_health_check_s(app, server, runner):
    app.config["API_TOKEN"] = TOKEN
    elsewhere = runner.invoke(args=["health", "--url", server.url + "/orders"])
    assert elsewhere.exit_code == 2
    assert "/orders/admin/balance-health/check answered HTTP 404" in elsewhere.output


def test_a_hang_up_reloads_the_workers_while_the_server_keeps_answering(app, server):
    before = {line["process"] for line in server.lines() if line["message"].startswith("Booting worker")}
    server.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    statuses = []
    while time.monotonic() < deadline:
        statuses.append(requests.get(server.url + "/login", timeout=30).status_code)
        booted = {line["process"] for line in server.lines() if line["message"].startswith("Booting worker")}
        if len(booted - before) == 2:
            break
    assert len(booted - before) == 2, server.log.read_text()[-3000:]
    assert set(statuses) == {200}
    assert requests.get(server.url + "/login", timeout=30).status_code == 200
