"""Log lines: one per request and one per job step, each stamped with its request id or job id; text for people,
JSON lines for a log collector."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import JobRecord
from backoffice.platform import logs
from backoffice.platform.config import ConfigError, from_environment
from backoffice.platform.extensions import db
from backoffice.web import home
from tests.factories import OrderFactory, corrupt
from tests.workers import run_worker


@pytest.fixture
def json_logs(app):
    """JSON lines, from the app made with text ones on."""
    logs.configure("INFO", "json")
    yield
    logs.configure("INFO", "text")


def logged(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_each_request_writes_one_line_with_method_path_status_duration_id_and_user(client, auth, capsys):
    clerk = auth.login("finance")
    logged(capsys)
    response = client.get("/orders")
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    lines = [line for line in logged(capsys) if " backoffice.requests " in line]
    assert len(lines) == 1
    assert re.search(rf"\[request {request_id}\]: GET /orders 200 \d+\.\d ms {re.escape(clerk.email)}$", lines[0])


def test_a_request_with_nobody_logged_in_names_nobody_and_the_api_s_token_itself(app, client, capsys):
    response = client.get("/login")
    (line,) = [line for line in logged(capsys) if " backoffice.requests " in line]
    assert re.search(rf"\[request {response.headers['X-Request-ID']}\]: GET /login 200 \d+\.\d ms -$", line)
    app.config["API_TOKEN"] = "t0ken"
    client.get("/admin/balance-health/check", headers={"Authorization": "Bearer t0ken"})
    assert logged(capsys)[-1].endswith(" ms bearer token")


@pytest.mark.parametrize(
    "given", ["f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "Root=1-67891233-abcdef012345678912345678", "req_42.a:b"]
)
def test_a_plausible_incoming_request_id_is_kept(client, capsys, given):
    response = client.get("/login", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] == given
    assert f"[request {given}]: GET /login 200" in logged(capsys)[-1]


@pytest.mark.parametrize("given", ["two words", "x" * 129, "", 'quote"d', "-starts-with-a-dash", "ünïcode"])
def test_an_implausible_incoming_request_id_is_replaced(client, given):
    response = client.get("/login", headers={"X-Request-ID": given})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_a_path_cannot_write_a_line_of_its_own(client, capsys):
    forged = "2026-11-23 10:00:00,000 INFO [1] backoffice.requests [request abc]: POST /admin/users 200 1.0 ms admin"
    client.get("/x%0A" + forged.replace(" ", "%20") + "%0D%00/é")
    (line,) = [line for line in logged(capsys) if "backoffice.requests" in line]
    assert " GET /x%0A2026-11-23%2010:00:00,000%20INFO" in line
    assert re.search(r"%0D%00/%C3%A9 4\d\d \d+\.\d ms -$", line)


def test_json_lines_carry_the_request_s_fields(json_logs, client, auth, capsys):
    clerk = auth.login("finance")
    logged(capsys)
    response = client.get("/orders?page=1", headers={"X-Request-ID": "edge-1"})
    lines = [json.loads(line) for line in logged(capsys)]
    (line,) = [line for line in lines if line["logger"] == "backoffice.requests"]
    assert line["level"] == "INFO" and line["request_id"] == "edge-1" == response.headers["X-Request-ID"]
    assert (line["method"], line["path"], line["status"], line["user"]) == ("GET", "/orders", 200, clerk.email)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert datetime.fromisoformat(line["time"]).tzinfo is not None
    assert line["message"].startswith("GET /orders 200 ")


def test_a_streamed_export_s_line_is_written_once_it_is_sent(client, auth, capsys):
    auth.login("finance")
    OrderFactory()
    logged(capsys)
    with client.get("/orders/export.csv") as response:
        assert response.is_streamed
        assert response.get_data(as_text=True).count("\n") == 2
        assert not [line for line in logged(capsys) if " backoffice.requests " in line]
    (line,) = [line for line in logged(capsys) if " backoffice.requests " in line]
    assert f"[request {response.headers['X-Request-ID']}]: GET /orders/export.csv 200 " in line


def test_the_log_level_leaves_out_the_lines_below_it(client, capsys):
    logs.configure("WARNING", "text")
    try:
        client.get("/login")
        assert logged(capsys) == []
    finally:
        logs.configure("INFO", "text")


def test_a_failing_page_shows_the_reference_its_log_lines_have(app, client, auth, monkeypatch, capsys):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the failure is answered, not raised to the test
    auth.login("finance")

    def fails(month):
        raise RuntimeError("the figures broke")

    monkeypatch.setattr(home, "figures", fails)
    logged(capsys)
    response = client.get("/")
    assert response.status_code == 500 and response.mimetype == "text/html"
    request_id = response.headers["X-Request-ID"]
    page = response.get_data(as_text=True)
    assert "Something went wrong on our side and has been logged" in page
    assert f"Reference: <code>{request_id}</code>" in page
    lines = logged(capsys)
    assert any(f"[request {request_id}]: Exception on / [GET]" in line for line in lines)
    assert any(f"[request {request_id}]: GET / 500 " in line for line in lines)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("BACKOFFICE_LOG_LEVEL", "LOUD", "BACKOFFICE_LOG_LEVEL='LOUD' is not a log level: one of DEBUG, INFO"),
        ("BACKOFFICE_LOG_FORMAT", "xml", "BACKOFFICE_LOG_FORMAT='xml' is not a log format: text or json."),
    ],
)
def test_an_unknown_log_level_or_format_stops_the_app_with_a_message(tmp_path, setting, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_environment(str(tmp_path), {"SECRET_KEY": "x", setting: value})


def test_log_settings_are_read_in_any_case(tmp_path):
    settings = from_environment(str(tmp_path), {"BACKOFFICE_LOG_LEVEL": " debug", "BACKOFFICE_LOG_FORMAT": "JSON"})
    assert (settings["LOG_LEVEL"], settings["LOG_FORMAT"]) == ("DEBUG", "json")


def test_a_job_run_in_process_stamps_its_id_and_the_request_s_on_each_step(client, auth, capsys):
    auth.login("admin")
    order = OrderFactory()
    corrupt("orders", "grand_total", order.id, "1")
    logged(capsys)
    response = client.post(f"/customers/{order.customer.code}/recalculate", headers={"HX-Request": "true"})
    record = db.session.scalar(sa.select(JobRecord))
    steps = [line for line in logged(capsys) if " backoffice.jobs " in line]
    assert steps and all(f"[request {response.headers['X-Request-ID']}] [job {record.id}]: " in line for line in steps)
    messages = [line.split("]: ", 1)[1] for line in steps]
    assert messages[0] == f"Started (attempt 1): Recalculate customer {order.customer.code} — {order.customer.name}"
    assert "0%: Doing pending recalculations" in messages
    assert re.fullmatch(r"Finished: run \d+ succeeded: 1 mismatched, 1 fixed; 0 recalculations done", messages[-1])


@pytest.mark.production_path("real workers")
def test_a_worker_writes_json_lines_with_the_job_s_id_on_each_step(app, redis_url):
    scheduled = jobs.queue("maintenance").enqueue(jobs.catch_up)  # as RQ's cron scheduler enqueues it
    result = run_worker(app, redis_url, log_format="json")
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert all(line["level"] in ("INFO", "WARNING") for line in lines), result.stderr[-3000:]
    (queued,) = [line for line in lines if line["message"].startswith("Queued job nightly-")]
    assert queued["job_id"] == scheduled.id  # written by the scheduled function, under RQ's job
    nightly = queued["message"].split()[2]
    # The run is split into a job per chunk, each under an id of its own that starts with the nightly's.
    steps = [
        line["message"]
        for line in lines
        if (line.get("job_id") or "").startswith(nightly) and line["logger"] == "backoffice.jobs"
    ]
    night = date.fromisoformat(nightly.removeprefix("nightly-"))
    assert steps[0] == f"Started (attempt 1): Nightly verify and fix of {night:%-d %b %Y}"
    assert steps[1] == "0%: Doing pending recalculations"
    step = r"\d+%: [\d,]+ of [\d,]+ chunks done \(step \d of \d\)"
    assert any(re.fullmatch(step, message) for message in steps)
    assert re.fullmatch(r"Finished: run \d+ succeeded: 0 mismatched, 0 fixed; 0 recalculations done", steps[-1])
    (finished,) = [line for line in lines if line["message"].startswith("Finished: run ")]
    assert finished["job_id"] == nightly
