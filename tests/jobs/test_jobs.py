"""Jobs on real Redis, run by real ``worker.py`` processes."""

from __future__ import annotations

import html
import logging
import subprocess
import sys
import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import Queue
from rq.command import send_stop_job_command
from rq.cron import CronScheduler
from rq.job import Job
from rq.job import JobStatus as RQStatus
from rq.registry import FailedJobRegistry
from rq.suspension import suspend

from backoffice import jobs
from backoffice.evidence import sealing
from backoffice.jobs.kinds import KINDS, _active_key
from backoffice.jobs.messages import facts
from backoffice.models import (
    Customer,
    Discrepancy,
    JobRecord,
    JobStatus,
    Order,
    ReconciliationRun,
    RunMode,
    RunStatus,
    RunTrigger,
    Seal,
)
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.reconcile import engine
from backoffice.reconcile.transitions import move_job
from tests.checkout import ROOT
from tests.factories import CustomerFactory, OrderFactory, UserFactory, corrupt, job_in, past_the_guards, stored
from tests.rows import job_row
from tests.workers import (
    kill_with_children,
    kill_work_horse,
    listening_worker,
    run_worker,
    start_worker,
    worker_env,
)

LOST = "The queue lost this job (Redis restarted without its data); it was not run."
NO_WORKER = "No worker is listening on the queue 'recalc'; the job will run when one starts."


@pytest.mark.production_path("real workers")
def test_recalculate_customer_from_the_web_is_done_by_a_worker(app, client, admin, redis_url):
    hotel, bakery = CustomerFactory(code="HOTEL"), CustomerFactory(code="BAKERY")
    wrong = [OrderFactory(customer=hotel), OrderFactory(customer=hotel)]
    other = OrderFactory(customer=bakery)
    for order in (*wrong, other):
        corrupt("orders", "grand_total", order.id, "1")

    response = client.post("/customers/HOTEL/recalculate", headers={"HX-Request": "true"})
    assert response.status_code == 200
    panel = response.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in panel and "queued" in panel
    record = db.session.scalar(sa.select(JobRecord))
    assert record.status is JobStatus.QUEUED and record.queue == "recalc" and record.user_id == admin.id

    run_worker(app, redis_url)

    record = job_row(record.id)
    assert record.status is JobStatus.FINISHED and record.progress == 100
    checks = {c["check"]: c for c in record.result["checks"]}
    assert (checks["order_grand_total"]["mismatched"], checks["order_grand_total"]["fixed"]) == (2, 2)
    run = db.session.get(ReconciliationRun, record.run_id)
    assert run.scope == {"customers": ["HOTEL"]} and run.status is RunStatus.SUCCEEDED
    assert [stored("orders", "grand_total", o.id) for o in wrong] == [9300000, 9300000]
    assert stored("orders", "grand_total", other.id) == 1
    done = client.get(f"/jobs/{record.id}/panel").get_data(as_text=True)
    assert "finished" in done and "hx-trigger" not in done and "Rp9.300.000,00" not in done


@pytest.mark.production_path("real workers")
def test_a_second_click_shows_the_job_already_queued(app, client, admin, redis_url):
    customer = CustomerFactory(code="HOTEL")
    first = client.post("/customers/HOTEL/recalculate", headers={"HX-Request": "true"}).get_data(as_text=True)
    second = client.post("/customers/HOTEL/recalculate", headers={"HX-Request": "true"}).get_data(as_text=True)
    record = db.session.scalar(sa.select(JobRecord))
    assert record.id[:12] in first and record.id[:12] in second
    assert "already queued or running" in second
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 1
    assert Queue("recalc", connection=Redis.from_url(redis_url)).count == 1
    page = client.get(f"/customers/{customer.code}").get_data(as_text=True)
    assert record.id[:12] in page and "Recalculate customer</button>" not in page
    run_worker(app, redis_url)
    third = client.post("/customers/HOTEL/recalculate", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "already" not in third
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 2


def test_two_schedulers_enqueue_one_nightly_job(app, redis_url):
    night = date(2026, 11, 22)
    first, created_first = jobs.enqueue_nightly(night)
    second, created_second = jobs.enqueue_nightly(night)
    assert (created_first, created_second) == (True, False)
    assert first.id == second.id == "nightly-2026-11-22"
    assert Queue("maintenance", connection=Redis.from_url(redis_url)).get_job_ids() == ["nightly-2026-11-22"]
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 1


def test_the_schedule_registers_nightly_monthly_and_hourly_catch_up(redis_url):
    scheduler = CronScheduler(connection=Redis.from_url(redis_url))
    scheduler.load_config_from_file("backoffice.operations.schedule")
    entries = {job.name: (job.func_name, job.cron, job.queue_name) for job in scheduler.get_jobs()}
    assert entries == {
        "nightly": ("backoffice.jobs.enqueue_nightly", "0 2 * * *", "maintenance"),
        "monthly-rebuild": ("backoffice.jobs.enqueue_monthly_rebuild", "0 3 1 * *", "maintenance"),
        "catch-up": ("backoffice.jobs.catch_up", "17 * * * *", "maintenance"),
    }


def test_the_schedule_runs_the_nightly_and_the_monthly_rebuild_at_the_settings_times(redis_url, monkeypatch):
    monkeypatch.setenv("BACKOFFICE_NIGHTLY_AT", "01:30")
    monkeypatch.setenv("BACKOFFICE_MONTHLY_REBUILD_AT", "04:05")
    scheduler = CronScheduler(connection=Redis.from_url(redis_url))
    scheduler.load_config_from_file("backoffice.operations.schedule")
    crons = {job.name: job.cron for job in scheduler.get_jobs()}
    assert (crons["nightly"], crons["monthly-rebuild"]) == ("30 1 * * *", "5 4 1 * *")


@pytest.mark.parametrize(("hours_ago", "enqueues"), [(25, True), (1, False)])
def test_catch_up_enqueues_the_nightly_only_when_the_last_success_is_over_a_day_old(
    app, redis_url, hours_ago, enqueues
):
    ended = utcnow() - timedelta(hours=hours_ago)
    run = engine.run(RunMode.FIX, trigger=RunTrigger.SCHEDULE)
    job_in(
        JobStatus.FINISHED,
        id="nightly-earlier",
        kind="nightly_maintenance",
        args={},
        queue="maintenance",
        progress=100,
        message="Finished",
        in_process=False,
        attempts=1,
        enqueued_at=ended,
        run_id=run.id,
    )
    with past_the_guards() as connection:  # the run ended then, and was sealed so
        connection.execute(sa.update(ReconciliationRun).values(started_at=ended, finished_at=ended))
        connection.execute(sa.delete(Seal).where(Seal.kind == "reconciliation_runs"))
        sealing.seal_existing(connection)
    record = jobs.catch_up()
    assert (record is not None) == enqueues
    queued = Queue("maintenance", connection=Redis.from_url(redis_url)).get_job_ids()
    assert queued == ([f"nightly-{jobs.local_today()}"] if enqueues else [])


def test_a_nightly_row_queued_by_sql_for_tomorrow_does_not_hold_tomorrow_s_night_off(app, redis_url):
    tomorrow = jobs.local_today() + timedelta(days=1)
    job_in(
        JobStatus.QUEUED,
        id=f"nightly-{tomorrow}",
        kind="nightly_maintenance",
        args={"date": tomorrow.isoformat(), "trigger": "schedule"},
        queue="maintenance",
        in_process=False,
        enqueued_at=utcnow() + timedelta(days=1),
    )
    record, created = jobs.enqueue_nightly(tomorrow)
    assert created and record.id == f"nightly-{tomorrow}_2"
    assert db.session.get(JobRecord, f"nightly-{tomorrow}").status is JobStatus.ABANDONED
    assert Queue("maintenance", connection=Redis.from_url(redis_url)).get_job_ids() == [record.id]


def test_a_nightly_row_inserted_and_finished_by_sql_does_not_hold_the_night_off(app, redis_url, caplog):
    tomorrow = jobs.local_today() + timedelta(days=1)
    job_in(
        JobStatus.FINISHED,
        forged=True,
        id=f"nightly-{tomorrow}",
        kind="nightly_maintenance",
        args={"date": tomorrow.isoformat(), "trigger": "schedule"},
        queue="maintenance",
        in_process=False,
    )
    with caplog.at_level(logging.ERROR, logger="backoffice.jobs"):
        record, created = jobs.enqueue_nightly(tomorrow)
    assert created and record.id == f"nightly-{tomorrow}_2"
    assert Queue("maintenance", connection=Redis.from_url(redis_url)).get_job_ids() == [record.id]
    assert f"The job row nightly-{tomorrow} (nightly_maintenance, finished) was not made by the application" in (
        caplog.text
    )


def nightly_row(job_id: str, status: JobStatus) -> None:
    """Today's nightly attempt ``job_id`` as the scheduler left it, the last success over a day ago."""
    now = utcnow()
    job_in(
        status,
        id=job_id,
        kind="nightly_maintenance",
        args={"date": jobs.local_today().isoformat(), "trigger": "schedule"},
        queue="maintenance",
        progress=0,
        message=status.value,
        in_process=False,
        attempts=1,
        enqueued_at=now,
        heartbeat_at=now,
    )


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.ABANDONED])
def test_catch_up_attempts_a_nightly_that_failed_or_was_abandoned_again_once_a_tick(app, redis_url, status):
    today = jobs.local_today()
    nightly_row(f"nightly-{today}", JobStatus.ABANDONED)
    nightly_row(f"nightly-{today}_2", status)
    record = jobs.catch_up()
    assert record is not None and record.id == f"nightly-{today}_3"
    assert jobs.catch_up() is None  # the new attempt is queued: the next tick leaves it
    queue = Queue("maintenance", connection=Redis.from_url(redis_url))
    assert queue.get_job_ids() == [f"nightly-{today}_3"]
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 3


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.STARTED, JobStatus.FAILED])
def test_catch_up_leaves_a_nightly_queued_running_or_waiting_for_its_retry(app, redis_url, status):
    job_id = f"nightly-{jobs.local_today()}"
    nightly_row(job_id, status)
    # On the queue: waiting for a worker, running, or (failed by the database) waiting for RQ's retry.
    Queue("maintenance", connection=Redis.from_url(redis_url)).enqueue_in(
        timedelta(minutes=5), "backoffice.jobs.execute", job_id, job_id=job_id
    )
    assert jobs.catch_up() is None
    assert db.session.scalar(sa.select(JobRecord.id)) == job_id


def test_catch_up_leaves_a_nightly_that_finished(app, redis_url):
    nightly_row(f"nightly-{jobs.local_today()}", JobStatus.FINISHED)
    run = engine.run(RunMode.FIX, trigger=RunTrigger.SCHEDULE)  # its own run: a row finished without one holds nothing
    db.session.execute(sa.update(JobRecord).values(ended_at=utcnow() - timedelta(hours=25), run_id=run.id))
    db.session.commit()
    assert jobs.catch_up() is None
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 1


@pytest.mark.production_path("real workers")
def test_a_job_that_raises_ends_failed_with_its_error(app, redis_url):
    order = OrderFactory()
    corrupt("orders", "promo", order.id, "99999999.00")  # the fix would store a negative total
    # A customer's run is one job (a run over everyone split into jobs is tested in test_fanout).
    record, _ = jobs.enqueue("verify", {"fix": True, "customers": [order.customer.code]})
    run_worker(app, redis_url)
    record = job_row(record.id)
    assert record.status is JobStatus.FAILED
    assert "IntegrityError" in record.error
    failed = FailedJobRegistry("recalc", connection=Redis.from_url(redis_url)).get_job_ids()
    assert failed == [record.id]
    assert db.session.get(ReconciliationRun, record.run_id).status is RunStatus.FAILED


@pytest.mark.production_path("a killed worker")
def test_a_killed_worker_leaves_the_job_abandoned_and_a_rerun_completes(app, client, redis_url):
    customer = CustomerFactory()
    orders = [OrderFactory(customer=customer) for _ in range(8)]
    for order in orders:
        corrupt("orders", "grand_total", order.id, "1")
    slow = {"job_heartbeat_seconds": 0.2, "job_step_delay_seconds": 0.4, "reconcile_chunk_size": 1}
    record, _ = jobs.enqueue("verify", {"fix": True, "customers": [customer.code]})  # one job (see test_fanout)
    worker = start_worker(app, redis_url, **slow)
    try:
        # Killed once two of the grand totals' chunks are fixed: the job's percentage depends on how many checks
        # there are, so its message, which names the check and the chunk, says where the job is.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and chunks_done(job_row(record.id), "order_grand_total") < 2:
            time.sleep(0.1)
        assert job_row(record.id).status is JobStatus.STARTED
    finally:
        kill_with_children(worker.pid)
    time.sleep(1)

    run_worker(app, redis_url, job_heartbeat_seconds=0.2)
    record = job_row(record.id)
    assert record.status is JobStatus.ABANDONED and "worker stopped" in record.error
    assert db.session.get(ReconciliationRun, record.run_id).status is RunStatus.FAILED
    fixed = {d.entity_id for d in db.session.scalars(sa.select(Discrepancy).where(Discrepancy.fixed))}
    right = {o.id for o in orders if stored("orders", "grand_total", o.id) == 9300000}
    assert fixed == right and 0 < len(right) < len(orders)

    UserFactory(email="admin@example.com", role="admin")
    client.post("/login", data={"email": "admin@example.com", "password": "correct horse battery"})
    assert client.post(f"/jobs/{record.id}/retry").status_code == 302
    run_worker(app, redis_url)
    rerun = db.session.scalars(sa.select(JobRecord).where(JobRecord.id != record.id)).one()
    assert rerun.status is JobStatus.FINISHED
    assert all(stored("orders", "grand_total", o.id) == 9300000 for o in orders)


@pytest.mark.production_path("a killed worker")
@pytest.mark.parametrize("how", ["work-horse killed", "stopped"])
def test_a_job_whose_work_horse_is_killed_or_that_is_stopped_is_abandoned_at_once(app, redis_url, how):
    """The worker lives on: it ends the job as RQ's cleanup ends that of a worker that died, with no sweep."""
    customer = CustomerFactory()
    for order in [OrderFactory(customer=customer) for _ in range(8)]:
        corrupt("orders", "grand_total", order.id, "1")
    slow = {"job_step_delay_seconds": 0.4, "reconcile_chunk_size": 1, "worker_sweep_seconds": 3600}
    record, _ = jobs.enqueue("verify", {"fix": True, "customers": [customer.code]})
    with listening_worker(app, redis_url, **slow) as worker:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and chunks_done(job_row(record.id), "order_grand_total") < 1:
            time.sleep(0.1)
        if how == "stopped":
            send_stop_job_command(Redis.from_url(redis_url), record.id)
        else:
            kill_work_horse(worker.pid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and job_row(record.id).status is JobStatus.STARTED:
            time.sleep(0.1)
        assert worker.poll() is None
    record = job_row(record.id)
    assert record.status is JobStatus.ABANDONED and "worker stopped" in record.error and record.active_key is None
    assert db.session.get(ReconciliationRun, record.run_id).status is RunStatus.FAILED


def test_a_started_job_the_queue_lost_is_abandoned_once_no_worker_can_still_run_it(app, redis_url):
    """Redis lost the job as it ran (restarted without its data): RQ has nothing left to clean, so the sweep ends the
    row, once the kind's time limit and the minute RQ grants beyond it have passed since the job started."""
    limit = timedelta(seconds=KINDS["verify"].timeout, minutes=1)
    for job_id, ago in (("long-gone", limit + timedelta(seconds=10)), ("may-run", limit - timedelta(seconds=10))):
        job_in(JobStatus.QUEUED, id=job_id, kind="verify", queue="recalc", in_process=False)
        move_job(job_id, JobStatus.STARTED, from_=(JobStatus.QUEUED,), at=utcnow() - ago)
    db.session.commit()

    assert jobs.sweep_abandoned() == ["long-gone"]

    gone = job_row("long-gone")
    assert gone.status is JobStatus.ABANDONED and "worker stopped" in gone.error
    assert job_row("may-run").status is JobStatus.STARTED


def chunks_done(record: JobRecord, check: str) -> int:
    """The chunks of ``check`` the job's message says are done; 0 while it says something else."""
    found = facts(record.message) or {}
    return found["done"] if found.get("code") == "chunk" and found["check"] == check else 0


def test_without_redis_jobs_run_in_process(app, client, admin):
    order = OrderFactory()
    corrupt("orders", "grand_total", order.id, "1")
    panel = client.post(f"/customers/{order.customer.code}/recalculate", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "ran in-process" in panel and "finished" in panel
    assert stored("orders", "grand_total", order.id) == 9300000


def test_with_redis_unreachable_pages_work_and_the_enqueue_says_so(app, client, admin):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    customer = CustomerFactory(code="HOTEL")
    response = client.post("/customers/HOTEL/recalculate")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "cannot be reached, so the job was not started" in page
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 0
    form = {
        "customer_id": customer.code,
        "account_manager_id": customer.account_manager.email,
        "closing_date": "2026-11-01",
        "total_price": "1.000",
        "additions": "0",
        "promo": "0",
        "reductions": "0",
    }
    assert client.post("/orders/new", data=form).status_code == 302
    assert db.session.scalar(sa.select(Order.grand_total)) == 1000
    htmx = client.post("/customers/HOTEL/recalculate", headers={"HX-Request": "true"})
    assert htmx.status_code == 503 and "cannot be reached" in htmx.get_data(as_text=True)


def test_the_jobs_page_lists_jobs_with_status_who_and_error(app, client, auth):
    user = auth.login("admin")
    order = OrderFactory()
    corrupt("orders", "promo", order.id, "99999999.00")
    failed, _ = jobs.enqueue("verify", {"fix": True}, user=user)
    page = client.get("/jobs").get_data(as_text=True)
    assert failed.id[:12] in page and "failed" in page and "IntegrityError" in page and user.email in page
    assert "Retry</button>" in page
    assert client.post(f"/jobs/{failed.id}/retry").status_code == 302
    corrupt("orders", "promo", order.id, "0")
    finished, _ = jobs.enqueue("verify", {})
    assert client.post(f"/jobs/{finished.id}/retry").status_code == 409


@pytest.mark.production_path("real workers")
def test_a_worker_on_an_unmigrated_database_says_so_in_one_line(new_database_url, redis_url, app):
    env = worker_env(app, redis_url) | {"DATABASE_URL": new_database_url}
    result = subprocess.run(
        [sys.executable, "worker.py", "--burst"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "run: backoffice db upgrade" in result.stderr


def queued_ago(seconds: float, *records: JobRecord) -> None:
    db.session.execute(
        sa.update(JobRecord)
        .where(JobRecord.id.in_([record.id for record in records]))
        .values(enqueued_at=utcnow() - timedelta(seconds=seconds))
    )
    db.session.commit()


def redis_restarts_without_its_data(redis_url: str, *records: JobRecord) -> None:
    """FLUSHDB, as a Redis restarted without persistence; the rows were queued a minute before."""
    Redis.from_url(redis_url).flushdb()
    queued_ago(60, *records)


@pytest.mark.production_path("real workers")
def test_the_sweep_releases_a_queued_job_redis_lost_and_its_retry_runs(app, client, admin, redis_url):
    order = OrderFactory(customer=CustomerFactory(code="HOTEL"))
    corrupt("orders", "grand_total", order.id, "1")
    client.post("/customers/HOTEL/recalculate")
    lost = db.session.scalar(sa.select(JobRecord))
    Redis.from_url(redis_url).flushdb()
    assert jobs.sweep_abandoned() == [], "a row just committed may not be on the queue yet"
    redis_restarts_without_its_data(redis_url, lost)

    assert jobs.sweep_abandoned() == [lost.id]

    lost = job_row(lost.id)
    assert (lost.status, lost.error, lost.active_key) == (JobStatus.ABANDONED, LOST, None)
    assert lost.ended_at is not None and lost.run_id is None
    assert client.post(f"/jobs/{lost.id}/retry").status_code == 302
    retried = db.session.scalars(sa.select(JobRecord).where(JobRecord.id != lost.id)).one()
    assert Queue("recalc", connection=Redis.from_url(redis_url)).get_job_ids() == [retried.id]
    run_worker(app, redis_url)
    assert job_row(retried.id).status is JobStatus.FINISHED
    assert stored("orders", "grand_total", order.id) == 9300000


def test_the_sweep_releases_a_queued_job_the_queue_ended_without_running(app, redis_url):
    """A scheduled job waiting for the run ahead of it, whose retries ran out: RQ failed it, and nothing will run it."""
    waiting, _ = jobs.enqueue("verify", {})
    job = Job.fetch(waiting.id, connection=Redis.from_url(redis_url))
    Queue("recalc", connection=Redis.from_url(redis_url)).remove(job)
    job.set_status(RQStatus.FAILED)
    queued_ago(60, waiting)

    assert jobs.sweep_abandoned() == [waiting.id]

    waiting = job_row(waiting.id)
    assert (waiting.status, waiting.active_key) == (JobStatus.ABANDONED, None)
    assert waiting.error == "The queue ended this job (failed) before it ran to its end; it was not run."
    assert jobs.enqueue("verify", {})[1], "the same job can be queued again"


def test_recalculating_again_after_redis_lost_the_queued_job_queues_a_new_one(app, client, admin, redis_url):
    CustomerFactory(code="HOTEL")
    client.post("/customers/HOTEL/recalculate", headers={"HX-Request": "true"})
    lost = db.session.scalar(sa.select(JobRecord))
    redis_restarts_without_its_data(redis_url, lost)

    assert "Recalculate customer</button>" in client.get("/customers/HOTEL").get_data(as_text=True)
    again = client.post("/customers/HOTEL/recalculate", headers={"HX-Request": "true"}).get_data(as_text=True)

    assert "already queued" not in again
    lost = job_row(lost.id)
    assert (lost.status, lost.error, lost.active_key) == (JobStatus.ABANDONED, LOST, None)
    new = db.session.scalars(sa.select(JobRecord).where(JobRecord.id != lost.id)).one()
    assert new.status is JobStatus.QUEUED and new.id[:12] in again
    assert Queue("recalc", connection=Redis.from_url(redis_url)).get_job_ids() == [new.id]


def test_retrying_a_queued_job_redis_lost_releases_it_and_queues_it_again(app, client, admin, redis_url):
    lost, _ = jobs.enqueue("verify", {})
    redis_restarts_without_its_data(redis_url, lost)
    waiting, _ = jobs.enqueue("verify", {})

    assert client.post(f"/jobs/{lost.id}/retry").status_code == 302
    assert client.post(f"/jobs/{waiting.id}/retry").status_code == 409

    assert (job_row(lost.id).status, job_row(lost.id).error) == (JobStatus.ABANDONED, LOST)
    assert job_row(waiting.id).status is JobStatus.QUEUED
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 3
    assert len(Queue("recalc", connection=Redis.from_url(redis_url)).get_job_ids()) == 2


@pytest.mark.production_path("real workers")
def test_a_nightly_redis_lost_is_released_and_enqueued_again_once(app, redis_url):
    night = date(2026, 11, 22)
    lost, _ = jobs.enqueue_nightly(night)
    redis_restarts_without_its_data(redis_url, lost)

    again, created = jobs.enqueue_nightly(night)
    once_more, created_once_more = jobs.enqueue_nightly(night)

    assert created and not created_once_more and again.id == once_more.id != lost.id
    assert (job_row(lost.id).status, job_row(lost.id).error) == (JobStatus.ABANDONED, LOST)
    assert Queue("maintenance", connection=Redis.from_url(redis_url)).get_job_ids() == [again.id]
    run_worker(app, redis_url)
    assert job_row(again.id).status is JobStatus.FINISHED


@pytest.mark.production_path("real workers")
def test_a_released_job_the_queue_gives_back_is_not_run(app, redis_url):
    order = OrderFactory()
    corrupt("orders", "grand_total", order.id, "1")
    lost, _ = jobs.enqueue("verify", {"fix": True})
    redis_restarts_without_its_data(redis_url, lost)
    jobs.sweep_abandoned()
    Queue("recalc", connection=Redis.from_url(redis_url)).enqueue("backoffice.jobs.execute", lost.id, job_id=lost.id)

    run_worker(app, redis_url)

    lost = job_row(lost.id)
    assert (lost.status, lost.error, lost.run_id) == (JobStatus.ABANDONED, LOST, None)
    assert stored("orders", "grand_total", order.id) == 1


def test_a_job_queued_a_while_with_no_worker_listening_says_so(app, client, admin, redis_url):
    record, _ = jobs.enqueue("verify", {})
    assert NO_WORKER not in client.get(f"/jobs/{record.id}/panel").get_data(as_text=True)

    queued_ago(11, record)

    for page in (f"/jobs/{record.id}/panel", f"/jobs/{record.id}", "/jobs"):
        assert NO_WORKER in html.unescape(client.get(page).get_data(as_text=True)), page
    assert job_row(record.id).status is JobStatus.QUEUED


@pytest.mark.production_path("real workers")
def test_a_job_queued_a_while_with_a_worker_listening_does_not_say_no_worker(app, client, admin, redis_url):
    record, _ = jobs.enqueue("verify", {})
    queued_ago(11, record)
    suspend(Redis.from_url(redis_url))  # the worker listens but takes nothing: the job stays queued

    with listening_worker(app, redis_url):
        panel = client.get(f"/jobs/{record.id}/panel").get_data(as_text=True)
        index = client.get("/jobs").get_data(as_text=True)

    assert "queued" in panel and "No worker" not in panel and "No worker" not in index
    assert job_row(record.id).status is JobStatus.QUEUED


def test_a_page_asks_the_database_for_a_job_by_the_key_its_record_holds(app):
    held, other = CustomerFactory(), CustomerFactory()
    args = {"customer_id": held.id}
    job_in(
        JobStatus.STARTED,
        id="recalculating",
        kind="recalculate_customer",
        args=args,
        queue="default",
        active_key=_active_key(KINDS["recalculate_customer"], args),
    )
    customers = sa.select(Customer.id).subquery()
    asked = sa.select(customers.c.id, jobs.active_job_held("recalculate_customer", {"customer_id": customers.c.id}))
    assert dict(db.session.execute(asked.select_from(customers)).all()) == {held.id: True, other.id: False}


def test_a_scheduled_row_finished_without_its_own_run_does_not_hold_the_night_off(app, redis_url):
    tomorrow = jobs.local_today() + timedelta(days=1)
    earlier = engine.run(RunMode.VERIFY)  # a genuine run, of another job: the forger points the row at it
    job_in(
        JobStatus.QUEUED,
        id=f"nightly-{tomorrow}",
        kind="nightly_maintenance",
        args={"date": tomorrow.isoformat(), "trigger": "schedule"},
        queue="maintenance",
        in_process=False,
    )
    db.session.execute(sa.update(JobRecord).where(JobRecord.id == f"nightly-{tomorrow}").values(run_id=earlier.id))
    move_job(f"nightly-{tomorrow}", JobStatus.STARTED, from_=(JobStatus.QUEUED,))
    move_job(f"nightly-{tomorrow}", JobStatus.FINISHED, from_=(JobStatus.STARTED,))
    db.session.commit()

    record, created = jobs.enqueue_nightly(tomorrow)

    assert created and record.id == f"nightly-{tomorrow}_2"
