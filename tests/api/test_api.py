"""The operations API: token or admin session, health, auto-heal, reports and metrics."""

import time

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import Queue

from backoffice import jobs
from backoffice.models import JobRecord, JobStatus, RunMode, RunTrigger
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile import CHECKS
from backoffice.reconcile.engine import run, scope_for
from backoffice.reconcile.locks import RunRefused
from backoffice.web.api import health as web_api
from tests.concurrency import race
from tests.factories import OrderFactory, corrupt
from tests.rows import job_row
from tests.workers import kill_with_children, listening_worker

TOKEN = "s3cret-token"


@pytest.fixture
def api(app):
    app.config["API_TOKEN"] = TOKEN
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()

    def call(method, url, token=TOKEN, headers=(), **kwargs):
        authorization = {"Authorization": f"Bearer {token}"} if token else {}
        return client.open(url, method=method, headers=authorization | dict(headers), **kwargs)

    return call


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/admin/balance-health/check"),
        ("POST", "/admin/balance-health/auto-heal"),
        ("GET", "/admin/balance-health/detailed-report"),
        ("POST", "/admin/balance-health/scheduled-maintenance"),
        ("GET", "/metrics"),
    ],
)
def test_every_endpoint_needs_the_token(api, method, url):
    assert api(method, url, token=None).status_code == 401
    wrong = api(method, url, token="guess")
    assert wrong.status_code == 401 and wrong.get_json()["status"] == "error"
    assert api(method, url).status_code == (202 if method == "POST" else 200)


def test_no_token_configured_means_no_bearer_access(app, api):
    app.config["API_TOKEN"] = None
    assert api("GET", "/admin/balance-health/check", token="").status_code == 401
    assert api("GET", "/admin/balance-health/check", token="anything").status_code == 401


def test_health_goes_false_on_a_mismatch_and_true_after_auto_heal(api):
    order = OrderFactory()
    jobs.enqueue_nightly()  # without a nightly that succeeded the health is stale
    run(RunMode.VERIFY)
    assert api("GET", "/admin/balance-health/check").get_json()["balance_status"] is True
    corrupt("orders", "grand_total", order.id, "5")
    run(RunMode.VERIFY)
    health = api("GET", "/admin/balance-health/check").get_json()
    assert health["status"] == "success" and health["balance_status"] is False
    assert health["data"]["is_valid"] is False
    assert health["data"]["checks"]["order_grand_total"]["mismatched"] == 1
    accepted = api("POST", "/admin/balance-health/auto-heal")
    assert accepted.status_code == 202
    body = accepted.get_json()
    assert body["status"] == "accepted" and body["status_url"] == f"/admin/jobs/{body['job_id']}"
    job = api("GET", body["status_url"]).get_json()["data"]
    assert job["status"] == "finished" and job["in_process"] is True and job["progress"] == 100
    assert job["result"]["mode"] == "fix"
    assert job["result"]["checks"][0] == {
        "check": "order_grand_total",
        "checked": 1,
        "mismatched": 1,
        "fixed": 1,
        "totals": {"grand_total": {"before": "5.00", "after": "9300000.00"}},
    }
    assert api("GET", "/admin/balance-health/check").get_json()["balance_status"] is True


def test_detailed_report_gives_each_checks_latest_run_and_discrepancies(api):
    order = OrderFactory()
    corrupt("orders", "grand_total", order.id, "5")
    run(RunMode.VERIFY)
    report = api("GET", "/admin/balance-health/detailed-report").get_json()["data"]["checks"]
    assert report["order_grand_total"]["discrepancies"][0]["difference"] == "9299995.00"
    assert report["target_achieved"]["discrepancies"] == []


def test_scheduled_maintenance_runs_a_maintenance_at_each_call(api):
    order = OrderFactory()
    corrupt("orders", "grand_total", order.id, "5")
    first = api("POST", "/admin/balance-health/scheduled-maintenance")
    assert first.status_code == 202
    body = first.get_json()
    assert body["job_id"].startswith("nightly-") and body["created"] is True
    assert {c["check"]: c["fixed"] for c in body["data"]["result"]["checks"]} == {
        name: 1 if name == "order_grand_total" else 0 for name in CHECKS
    }
    # Six hours later, as a monitor calls it: another maintenance, which heals what drifted since.
    corrupt("orders", "grand_total", order.id, "7")
    again = api("POST", "/admin/balance-health/scheduled-maintenance")
    assert again.status_code == 202
    second = again.get_json()
    assert second["job_id"] != body["job_id"] and second["created"] is True
    assert second["data"]["kind"] == "nightly_maintenance" and second["data"]["status"] == "finished"
    assert {c["check"]: c["fixed"] for c in second["data"]["result"]["checks"]}["order_grand_total"] == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRecord)) == 2
    # The schedule's nightly still runs once a day, whatever the API ran.
    nightly, created = jobs.enqueue_nightly()
    assert (nightly.id, created) == (f"nightly-{local_today()}", True)
    assert jobs.enqueue_nightly() == (nightly, False)


def test_scheduled_maintenance_is_409_while_one_is_queued_or_running(api, redis_url):
    queued = api("POST", "/admin/balance-health/scheduled-maintenance")
    assert queued.status_code == 202 and queued.get_json()["data"]["status"] == "queued"
    job_id = queued.get_json()["job_id"]
    refused = api("POST", "/admin/balance-health/scheduled-maintenance")
    assert refused.status_code == 409
    assert refused.get_json()["message"] == (
        f"A maintenance is already queued or running (job {job_id}); try again when it ends."
    )
    # The schedule's nightly of the day is that maintenance meanwhile, not a second one.
    assert jobs.enqueue_nightly()[0].id == job_id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRecord)) == 1
    assert Queue("maintenance", connection=Redis.from_url(redis_url)).get_job_ids() == [job_id]


def test_auto_heal_is_409_with_the_maintenance_s_job_while_one_is_queued_or_running(api, redis_url):
    queued = api("POST", "/admin/balance-health/scheduled-maintenance")
    job_id = queued.get_json()["job_id"]

    refused = api("POST", "/admin/balance-health/auto-heal")

    assert refused.status_code == 409
    body = refused.get_json()
    assert body["message"] == f"A maintenance is already queued or running (job {job_id}); try again when it ends."
    assert body["job_id"] == job_id and body["run_id"] is None  # queued: its run is not made yet
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRecord)) == 1
    assert Queue("recalc", connection=Redis.from_url(redis_url)).get_job_ids() == []


def test_an_auto_heal_queued_makes_a_second_auto_heal_and_a_maintenance_409(api, redis_url):
    queued = api("POST", "/admin/balance-health/auto-heal")
    assert queued.status_code == 202
    job_id = queued.get_json()["job_id"]
    said = f"A maintenance is already queued or running (job {job_id}); try again when it ends."
    for url in ("/admin/balance-health/auto-heal", "/admin/balance-health/scheduled-maintenance"):
        refused = api("POST", url)
        assert refused.status_code == 409 and refused.get_json()["message"] == said
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRecord)) == 1


def test_an_auto_heal_asked_as_a_maintenance_is_queued_waits_for_it_and_is_refused(app, redis_url):
    """The maintenance's row not yet committed as the auto-heal is asked: the auto-heal waits for it, sees it, and
    is refused; one job is queued, never both."""
    refused = []

    def healing():
        with pytest.raises(RunRefused) as error:
            jobs.enqueue("auto_heal", {"date": "2026-11-27"}, trigger=RunTrigger.API)
        refused.append(error.value.job_id)

    race(app, lambda: jobs.enqueue_maintenance(), healing, hold_after="commit")

    queued = db.session.scalars(sa.select(JobRecord.id)).all()
    assert len(queued) == 1 and refused == queued


def test_an_unknown_job_is_404_json(api):
    response = api("GET", "/admin/jobs/nope")
    assert response.status_code == 404 and response.get_json()["status"] == "error"


def test_metrics_are_prometheus_text(api):
    order = OrderFactory()
    corrupt("orders", "grand_total", order.id, "5")
    run(RunMode.VERIFY)
    response = api("GET", "/metrics")
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert 'backoffice_reconcile_mismatched{check="order_grand_total"} 1.0' in text
    assert 'backoffice_reconcile_mismatched{check="target_achieved"} 0.0' in text
    assert 'backoffice_reconcile_last_run_timestamp_seconds{check="order_grand_total"}' in text
    assert 'backoffice_reconcile_run_duration_seconds{check="target_achieved"}' in text


def test_an_admin_session_works_and_its_posts_need_the_csrf_token(app, client, auth):
    auth.login("admin")
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.get("/admin/balance-health/check").status_code == 200
    refused = client.post("/admin/balance-health/auto-heal")
    assert refused.status_code == 400 and refused.get_json()["status"] == "error"
    page = client.get("/orders").get_data(as_text=True)
    token = page.split('"X-CSRFToken": "', 1)[1].split('"', 1)[0]
    assert client.post("/admin/balance-health/auto-heal", headers={"X-CSRFToken": token}).status_code == 202
    assert app.test_client().get("/admin/balance-health/check").status_code == 401


def test_a_run_of_one_customer_neither_hides_nor_clears_what_the_full_run_found(api):
    order = OrderFactory()
    other = OrderFactory()
    corrupt("orders", "grand_total", order.id, "5")
    run(RunMode.VERIFY)
    scoped = run(RunMode.VERIFY, scope=scope_for([other.customer.code]))
    assert "account_balance" not in scoped.checks  # the books have no customers: a customer scope leaves them out
    health = api("GET", "/admin/balance-health/check").get_json()
    assert health["balance_status"] is False
    assert health["data"]["checks"]["order_grand_total"]["left"] == 1


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("get", "/admin/balance-health/auto-heal", "POST"),
        ("get", "/admin/balance-health/scheduled-maintenance", "POST"),
        ("post", "/admin/balance-health/check", "GET"),
    ],
)
def test_a_method_the_api_does_not_take_is_405_json(api, method, url, allowed):
    response = api(method.upper(), url)
    assert response.status_code == 405
    assert response.is_json and response.get_json() == {
        "status": "error",
        "message": "This page cannot be used that way.",
        "request_id": response.headers["X-Request-ID"],
    }
    assert allowed in response.headers["Allow"]


@pytest.mark.parametrize(
    "url", ["/admin/jobs/nope/more", "/admin/balance-health/nothing", "/admin/balance-health/check/more", "/metrics/x"]
)
def test_an_address_under_the_api_that_matches_nothing_is_404_json(api, url):
    response = api("GET", url, headers={"X-Request-ID": "lb-7f3a"})
    assert response.status_code == 404
    assert response.get_json() == {
        "status": "error",
        "message": "There is nothing at this address. It may have been deleted.",
        "request_id": "lb-7f3a",
    }
    assert response.headers["X-Request-ID"] == "lb-7f3a"


@pytest.mark.parametrize("url", ["/admin/nothing", "/nothing", "/admin/users/999999"])
def test_a_page_that_is_not_there_stays_an_html_404(client, auth, url):
    auth.login("admin")
    response = client.get(url)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "There is nothing at this address" in response.get_data(as_text=True)


def test_an_unauthorised_call_names_its_request(api):
    response = api("GET", "/admin/balance-health/check", token="guess")
    assert response.status_code == 401
    assert response.get_json()["request_id"] == response.headers["X-Request-ID"]


def test_an_unexpected_failure_is_500_json_with_the_request_id_the_log_has(app, api, monkeypatch, capsys):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the failure is answered, not raised to the test

    def fails():
        raise RuntimeError("the health assessment broke")

    monkeypatch.setattr(web_api, "assess", fails)
    response = api("GET", "/admin/balance-health/check")
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    assert response.get_json() == {
        "status": "error",
        "message": "Something went wrong on our side and has been logged under the request id.",
        "request_id": request_id,
    }
    log = capsys.readouterr().err
    failure = next(line for line in log.splitlines() if "Exception on /admin/balance-health/check" in line)
    assert f"[request {request_id}]" in failure
    assert "RuntimeError: the health assessment broke" in log
    assert f"[request {request_id}]: GET /admin/balance-health/check 500" in log


def test_an_unreachable_job_queue_is_503_json_with_the_request_id_the_log_has(app, api, capsys):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    response = api("POST", "/admin/balance-health/auto-heal")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error" and "cannot be reached" in body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert f"[request {body['request_id']}]: POST /admin/balance-health/auto-heal 503" in capsys.readouterr().err


@pytest.mark.production_path("real workers")
@pytest.mark.parametrize(
    ("running", "asked"),
    [
        ("/admin/balance-health/auto-heal", "/admin/balance-health/scheduled-maintenance"),
        ("/admin/balance-health/scheduled-maintenance", "/admin/balance-health/auto-heal"),
    ],
)
def test_a_409_names_the_job_that_runs_every_time(app, api, redis_url, running, asked):
    """Asked while the other kind's job runs on a real worker, its run holding the checks: the refusal names that
    job, not its run alone."""
    for order in [OrderFactory() for _ in range(6)]:
        corrupt("orders", "grand_total", order.id, "1")
    job_id = api("POST", running).get_json()["job_id"]
    slow = {"job_step_delay_seconds": 0.5, "reconcile_chunk_size": 1, "worker_sweep_seconds": 3600}
    with listening_worker(app, redis_url, **slow) as worker:
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and job_row(job_id).run_id is None:
                time.sleep(0.05)
            assert job_row(job_id).status is JobStatus.STARTED
            for _ in range(4):
                refused = api("POST", asked)
                assert refused.status_code == 409
                body = refused.get_json()
                assert body["job_id"] == job_id and body["run_id"] == job_row(job_id).run_id
                assert job_id in body["message"]
        finally:
            kill_with_children(worker.pid)
