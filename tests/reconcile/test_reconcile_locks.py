"""One writing run per check at a time: a second is refused with a message (a scheduled one waits)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import (
    CustomerPricing,
    Discrepancy,
    JobRecord,
    JobStatus,
    ReconciliationRun,
    RunMode,
    RunStatus,
    RunTrigger,
    User,
)
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run, scope_for
from backoffice.reconcile.locks import RunRefused
from backoffice.services import meter_lifecycle, metering
from tests.checkout import ROOT
from tests.factories import CustomerFactory, MeterFactory, OrderFactory, TargetFactory, UserFactory, corrupt, stored
from tests.workers import run_worker, worker_env

BACKOFFICE = str(Path(sys.executable).parent / "backoffice")


def corrupted_orders(count: int = 3, **fields) -> list:
    orders = [OrderFactory(**fields) for _ in range(count)]
    for order in orders:
        corrupt("orders", "grand_total", order.id, "1")
    return orders


def fixes_recorded() -> int:
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.count(Discrepancy.id)).where(Discrepancy.check == "order_grand_total", Discrepancy.fixed)
    )


@contextmanager
def run_in_progress(app, mode: RunMode, *, user_id: int | None = None, **options):
    """A run started in another thread and held after its first chunk until the block ends; yields its id."""
    db.session.commit()  # what the test wrote, for the run's own connections to read
    paused, resume = threading.Event(), threading.Event()
    outcome: dict = {}

    def hold(check: str, done: int, total: int) -> None:
        paused.set()
        resume.wait(60)

    def target() -> None:
        with app.app_context():
            try:
                user = db.session.get(User, user_id) if user_id else None
                on_start = lambda record: outcome.setdefault("run_id", record.id)  # noqa: E731
                run(mode, user=user, progress=hold, on_start=on_start, **options)
            except BaseException as error:
                outcome["error"] = error
            finally:
                paused.set()

    thread = threading.Thread(target=target)
    thread.start()
    try:
        assert paused.wait(60)
        if "error" in outcome:
            raise outcome["error"]
        yield outcome["run_id"]
    finally:
        resume.set()
        thread.join(60)


def test_a_second_writing_run_of_a_check_is_refused_while_the_first_runs(app):
    admin = UserFactory(email="admin@example.com", role="admin")
    corrupted_orders()
    holder = dict(checks=["order_grand_total"], user_id=admin.id, trigger=RunTrigger.USER)

    with run_in_progress(app, RunMode.REBUILD, **holder) as first:
        for mode in (RunMode.REBUILD, RunMode.FIX):
            with pytest.raises(RunRefused) as refused:
                run(mode, checks=["order_grand_total"])
            assert str(refused.value) == (
                f"A rebuild of order grand total is already running (run #{first}, started by admin@example.com); "
                "try again when it ends."
            )
        reading = [run(mode, checks=["order_grand_total"]) for mode in (RunMode.VERIFY, RunMode.DRY_RUN)]
        other_check = run(RunMode.REBUILD, checks=["target_achieved"])

    assert all(r.status is RunStatus.SUCCEEDED for r in (*reading, other_check))
    assert db.session.scalar(sa.select(sa.func.count(ReconciliationRun.id))) == 4
    assert fixes_recorded() == 3
    assert run(RunMode.REBUILD, checks=["order_grand_total"]).status is RunStatus.SUCCEEDED


def test_runs_for_other_customers_write_side_by_side_but_never_beside_a_full_run(app):
    OrderFactory(customer=CustomerFactory(code="HOTEL"))
    OrderFactory(customer=CustomerFactory(code="BAKERY"))
    hotel, bakery = scope_for(["HOTEL"]), scope_for(["BAKERY"])

    with run_in_progress(app, RunMode.FIX, scope=hotel):
        assert run(RunMode.FIX, scope=bakery).status is RunStatus.SUCCEEDED
        for scope in (hotel, None):
            with pytest.raises(RunRefused, match="A fix of order grand total is already running"):
                run(RunMode.FIX, scope=scope)
    with run_in_progress(app, RunMode.REBUILD):
        with pytest.raises(RunRefused, match="A rebuild of order grand total is already running"):
            run(RunMode.FIX, scope=bakery)


def test_a_scheduled_run_waits_for_the_run_ahead_instead_of_being_refused(app):
    corrupted_orders()
    finished: dict = {}

    def nightly() -> None:
        with app.app_context():
            finished["run"] = run(RunMode.FIX, checks=["order_grand_total"], trigger=RunTrigger.SCHEDULE).status

    with run_in_progress(app, RunMode.REBUILD, checks=["order_grand_total"]):
        waiting = threading.Thread(target=nightly)
        waiting.start()
        time.sleep(1)
        assert waiting.is_alive() and not finished
        assert db.session.scalar(sa.select(sa.func.count(ReconciliationRun.id))) == 1
    waiting.join(60)

    assert finished["run"] is RunStatus.SUCCEEDED
    assert fixes_recorded() == 3


def test_the_cli_refuses_a_rebuild_while_a_fix_runs_and_exits_1(app, runner):
    corrupted_orders()
    with run_in_progress(app, RunMode.FIX) as first:
        refused = runner.invoke(args=["reconcile", "rebuild", "--check", "order_grand_total"])
        dry_run = runner.invoke(args=["reconcile", "rebuild", "--dry-run", "--check", "order_grand_total"])

    assert refused.exit_code == 1
    assert f"A fix of order grand total is already running (run #{first}, started from the command line)" in (
        refused.output
    )
    assert dry_run.exit_code == 0, dry_run.output
    assert fixes_recorded() == 3


def test_auto_heal_while_a_rebuild_runs_answers_409_and_starts_nothing(app, client):
    app.config["API_TOKEN"] = "s3cret-token"
    corrupted_orders()
    with run_in_progress(app, RunMode.REBUILD, trigger=RunTrigger.API) as first:
        response = client.post("/admin/balance-health/auto-heal", headers={"Authorization": "Bearer s3cret-token"})

    assert response.status_code == 409
    assert response.json == {
        "status": "error",
        "message": f"A rebuild of order grand total is already running (run #{first}, started through the API); "
        "try again when it ends.",
        "run_id": first,
        "job_id": None,
        "request_id": response.headers["X-Request-ID"],
    }
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(ReconciliationRun.id))) == 1


def test_the_rebuild_button_while_a_fix_runs_says_so_and_starts_nothing(app, client, auth):
    auth.login("admin")
    OrderFactory()
    with run_in_progress(app, RunMode.FIX):
        panel = client.post("/reconciliation/runs", data={"mode": "rebuild"}, headers={"HX-Request": "true"})
        page = client.post("/reconciliation/runs", data={"mode": "rebuild"}, follow_redirects=True)

    assert panel.status_code == 409 and "A fix of order grand total is already running" in panel.text
    assert "A fix of order grand total is already running" in page.text
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 0


def test_a_pricing_change_while_a_fix_runs_is_saved_and_says_why_no_job_started(app, client, auth):
    auth.login("finance")
    customer = CustomerFactory(code="HOTEL")
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, date(2026, 11, 1))
    metering.set_pricing(customer.id, date(2026, 11, 1), Decimal("1000.00"), Decimal("1.000000"))
    metering.record_reading(meter.id, date(2026, 11, 20), Decimal("10"))
    app.config["REPRICE_IN_REQUEST_LIMIT"] = 0
    form = {"pricing-effective_from": "2026-11-10", "pricing-price_per_sm3": "1.500", "pricing-meter_correction": "1"}

    with run_in_progress(app, RunMode.FIX):
        response = client.post("/customers/HOTEL/pricing", data=form, follow_redirects=True)

    assert response.status_code == 200
    assert "re-pricing 1 reading(s) is pending: A fix of" in response.text and "is already running" in response.text
    assert db.session.scalar(sa.select(sa.func.count(CustomerPricing.id))) == 2
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 0


@pytest.mark.production_path("real workers")
def test_a_rebuild_job_that_meets_a_running_fix_ends_failed_with_the_reason(app, redis_url):
    order = OrderFactory()
    TargetFactory(account_manager=order.account_manager)
    record, _ = jobs.enqueue("rebuild", {})
    corrupt("orders", "grand_total", order.id, "1")

    with run_in_progress(app, RunMode.FIX, checks=["target_achieved"]) as first:
        run_worker(app, redis_url)

    db.session.rollback()
    record = db.session.get(JobRecord, record.id)
    assert (record.status, record.run_id) == (JobStatus.FAILED, None)
    assert record.error == (
        f"A fix of target achieved is already running (run #{first}, started from the command line); "
        "try again when it ends."
    )
    assert stored("orders", "grand_total", order.id) == 1


def test_two_rebuilds_at_once_record_each_fix_once(app):
    orders = corrupted_orders(6)
    blocker = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"]).connect()
    blocker.execute(sa.text("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE"))  # reads pass, writes wait
    rebuilds = [
        subprocess.Popen(
            [BACKOFFICE, "reconcile", "rebuild", "--check", "order_grand_total"],
            cwd=ROOT,
            env=worker_env(app, ""),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # Within a transaction the activity statistics are a snapshot taken at their first read: take a new one.
            blocker.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
            waiting = blocker.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            ).scalar()
            if waiting + sum(rebuild.poll() is not None for rebuild in rebuilds) == 2:
                break
            time.sleep(0.1)
    finally:
        blocker.rollback()
        blocker.close()
    outputs = [rebuild.communicate(timeout=60) for rebuild in rebuilds]

    assert fixes_recorded() == len(orders)
    assert sorted(rebuild.returncode for rebuild in rebuilds) == [0, 1], outputs
    assert any("A rebuild of order grand total is already running" in err for _out, err in outputs), outputs
    assert all(stored("orders", "grand_total", order.id) == 9300000 for order in orders)


HOLD_A_REBUILD = """
import time
from backoffice import create_app
from backoffice.models import RunMode
from backoffice.reconcile.engine import run


def hold(*_):
    print("holding", flush=True)
    time.sleep(600)


with create_app().app_context():
    run(RunMode.REBUILD, checks=["order_grand_total"], progress=hold)
"""


@pytest.mark.production_path("a killed worker")
def test_a_run_killed_mid_way_leaves_no_claim_behind(app):
    corrupted_orders()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_REBUILD], cwd=ROOT, env=worker_env(app, ""), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(RunRefused, match="A rebuild of order grand total is already running"):
            run(RunMode.REBUILD, checks=["order_grand_total"])
    finally:
        holder.kill()
        holder.wait()

    assert run(RunMode.REBUILD, checks=["order_grand_total"]).status is RunStatus.SUCCEEDED
