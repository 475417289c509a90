"""The reconciliation screens, the CSV download, and the dashboard panel."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa
from flask import current_app

from backoffice import jobs
from backoffice.models import ReconciliationRun, RunMode
from backoffice.models.types import local_date_of
from backoffice.platform.extensions import db
from backoffice.reconcile import CHECKS
from backoffice.reconcile.engine import run
from backoffice.services import wallet
from tests.factories import CustomerFactory, OrderFactory, TargetFactory, corrupt, forged_recharge, stored


@pytest.fixture
def corrupted(app):
    target = TargetFactory()
    orders = [OrderFactory(customer__account_manager=target.account_manager) for _ in range(3)]
    corrupt("orders", "grand_total", orders[0].id, "1.00")
    return orders


def test_an_admin_runs_verify_and_fix_from_the_screen(client, auth, corrupted):
    auth.login("admin")
    page = client.get("/reconciliation").get_data(as_text=True)
    assert "Verify now" in page and "Verify and fix" in page and "Rebuild" in page
    response = client.post("/reconciliation/runs", data={"mode": "fix"})
    assert response.status_code == 302
    record = db.session.scalar(sa.select(ReconciliationRun))
    assert record.mode is RunMode.FIX and record.user.is_admin
    assert stored("orders", "grand_total", corrupted[0].id) == 9300000
    job_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "ran in-process" in job_page and "finished" in job_page and "order_grand_total" in job_page
    run_page = client.get(f"/reconciliation/runs/{record.id}").get_data(as_text=True)
    assert "Run #" in run_page and "yes," in run_page


@pytest.mark.parametrize("mode", ["verify", "fix", "rebuild"])
def test_a_finance_user_sees_results_but_cannot_start_a_run(client, auth, corrupted, mode):
    run(RunMode.VERIFY)
    auth.login("finance")
    page = client.get("/reconciliation").get_data(as_text=True)
    assert "#1" in page and "Verify now" not in page
    assert client.post("/reconciliation/runs", data={"mode": mode}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(ReconciliationRun.id))) == 1


def test_a_bad_mode_is_refused(client, auth):
    auth.login("admin")
    assert client.post("/reconciliation/runs", data={"mode": "delete-everything"}).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(ReconciliationRun.id))) == 0


def test_a_runs_page_lists_discrepancies_largest_first_and_filters_by_check(client, auth, corrupted):
    corrupt("orders", "grand_total", corrupted[1].id, "9300000.50")
    record = run(RunMode.VERIFY)
    auth.login("finance")
    page = client.get(f"/reconciliation/runs/{record.id}").get_data(as_text=True)
    assert page.index(">Rp9.299.999,00<") < page.index(">-Rp0,50<")
    only_targets = client.get(f"/reconciliation/runs/{record.id}?check=target_achieved").get_data(as_text=True)
    only_targets = only_targets.split("<h2>Discrepancies</h2>", 1)[1]
    assert ">Order grand totals</td>" not in only_targets and ">Targets achieved</td>" in only_targets
    assert client.get(f"/reconciliation/runs/{record.id}?check=nope").status_code == 404
    assert client.get("/reconciliation/runs/999").status_code == 404


def test_the_csv_download_is_named_by_run_and_date_with_plain_decimals(client, auth, corrupted):
    record = run(RunMode.FIX)
    auth.login("finance")
    response = client.get(f"/reconciliation/runs/{record.id}.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    started = local_date_of(record.started_at, current_app.config["TIMEZONE"])  # the day in Jakarta, not in UTC
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="reconciliation-run-{record.id}-{started.isoformat()}.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][:12] == [
        "run_id",
        "check",
        "entity_type",
        "entity_id",
        "period",
        "field",
        "stored",
        "expected",
        "difference",
        "fixed",
        "fixed_at",
        "reason",
    ]
    assert rows[0][12:] == ["entity_key", "entity_name", "field_label"]
    order_row = next(r for r in rows[1:] if r[1] == "order_grand_total")
    assert order_row[:10] == [
        str(record.id),
        "order_grand_total",
        "order",
        str(corrupted[0].id),
        "",
        "grand_total",
        "1.00",
        "9300000.00",
        "9299999.00",
        "yes",
    ]
    assert order_row[10]


def test_the_home_page_shows_each_checks_last_run_in_green_or_red(client, auth):
    target = TargetFactory()
    OrderFactory(customer__account_manager=target.account_manager)
    corrupt("targets", "achieved_amount", target.id, "2.00")
    auth.login("finance")
    assert "never" in client.get("/").get_data(as_text=True)
    run(RunMode.VERIFY)
    page = client.get("/").get_data(as_text=True)
    assert page.count('<tr class="bad">') == 1 and page.count('<tr class="ok">') == len(CHECKS) - 1
    assert page.index("order_grand_total") < page.index('<tr class="bad">') < page.index("customer_wallet")
    run(RunMode.FIX)
    page = client.get("/").get_data(as_text=True)
    assert page.count('<tr class="ok">') == len(CHECKS)


def test_home_shows_a_check_whose_last_full_run_is_too_old_stale_as_the_health_check(app, client, auth):
    auth.login("finance")
    run(RunMode.VERIFY)
    assert client.get("/").get_data(as_text=True).count('<tr class="ok">') == len(CHECKS)
    app.config["HEALTH_MAX_AGE"] = timedelta(0)  # the run, a moment ago, is now too old
    page = client.get("/").get_data(as_text=True)
    assert page.count('<tr class="stale">') == len(CHECKS) and '<tr class="ok">' not in page
    assert page.count(" · stale: no full run since ") == len(CHECKS)


def test_a_runs_page_says_why_a_fix_left_a_discrepancy(client, auth):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forged = forged_recharge(customer.id, "5000")
    record = run(RunMode.FIX, checks=["customer_wallet"])
    auth.login("finance")
    page = client.get(f"/reconciliation/runs/{record.id}").get_data(as_text=True)
    assert f"no: left unfixed: the ledger chain of HOTEL is broken at movement #{forged}" in page


def test_checks_jobs_and_entities_are_named_as_a_clerk_reads_them(app, client, auth):
    customer = CustomerFactory(code="C0042", name="PT Sinar Jaya Makmur")
    order = OrderFactory(customer=customer)
    corrupt("orders", "grand_total", order.id, "1.00")
    corrupt("customers", "balance", customer.id, "5.00")
    auth.login("admin")
    record, _created = jobs.enqueue("verify", {"fix": True, "checks": ["order_grand_total", "customer_wallet"]})
    recalculation, _created = jobs.enqueue("recalculate_customer", {"customer_id": customer.id})
    assert jobs.title(record) == "Verify and fix Order grand totals, Customer wallets"
    assert jobs.title(recalculation) == "Recalculate customer C0042 — PT Sinar Jaya Makmur"
    page = client.get(f"/reconciliation/runs/{record.run_id}").get_data(as_text=True)
    assert f">order {order.number} of C0042 — PT Sinar Jaya Makmur</a>" in page
    assert ">C0042 — PT Sinar Jaya Makmur</a>" in page
    assert ">Customer wallets</td>" in page and ">customer_wallet<" not in page
    assert "Verify and fix Order grand totals, Customer wallets" in client.get("/jobs").get_data(as_text=True)


def test_volumes_and_factors_a_run_found_are_numbers_not_rupiah(client, auth):
    from datetime import date

    from backoffice.models import TransactionCalculation
    from backoffice.services import meter_lifecycle, metering
    from tests.factories import MeterFactory

    customer, meter = CustomerFactory(code="HOTEL"), MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, date(2026, 1, 1))
    metering.set_pricing(customer.id, date(2026, 1, 1), Decimal("1000.00"), Decimal("1"))
    wallet.recharge(customer, Decimal("1000000"))
    reading = metering.record_reading(meter.id, date(2026, 2, 1), Decimal("668"))
    calculation = db.session.scalar(
        sa.select(TransactionCalculation.id).where(TransactionCalculation.reading_id == reading)
    )
    corrupt("transaction_calculations", "volume_sm3", calculation, "668.0624")
    corrupt("transaction_calculations", "meter_correction", calculation, "1.018100")
    record = run(RunMode.VERIFY, checks=["reading_calculation"])
    auth.login("finance")
    page = client.get(f"/reconciliation/runs/{record.id}").get_data(as_text=True)
    assert ">668,0624<" in page and ">-0,0624<" in page and ">1,018100<" in page and "Rp668" not in page


def test_a_run_says_who_started_it_as_a_clerk_reads_it(client, auth):
    from backoffice.models import RunTrigger

    scheduled = run(RunMode.VERIFY, checks=["order_grand_total"], trigger=RunTrigger.SCHEDULE)
    typed = run(RunMode.VERIFY, checks=["order_grand_total"], trigger=RunTrigger.CLI)
    auth.login("finance")
    runs = client.get("/reconciliation").get_data(as_text=True)
    assert "<td>the schedule</td>" in runs and "<td>the command line</td>" in runs
    assert "by the schedule" in client.get(f"/reconciliation/runs/{scheduled.id}").get_data(as_text=True)
    assert "by the command line" in client.get(f"/reconciliation/runs/{typed.id}").get_data(as_text=True)


def test_a_run_downloads_as_a_workbook_of_the_csv_s_rows_with_amounts_as_numbers(client, auth):
    order = OrderFactory()
    corrupt("orders", "grand_total", order.id, "1")
    record = run(RunMode.VERIFY)
    auth.login("finance")
    response = client.get(f"/reconciliation/runs/{record.id}.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith(
        f"reconciliation-run-{record.id}-"
        + local_date_of(record.started_at, current_app.config["TIMEZONE"]).isoformat()
        + '.xlsx"'
    )
    rows = list(
        openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True).active.iter_rows(values_only=True)
    )
    as_csv = list(
        csv.reader(io.StringIO(client.get(f"/reconciliation/runs/{record.id}.csv").get_data().decode("utf-8-sig")))
    )
    assert list(rows[0]) == as_csv[0] and len(rows) == len(as_csv)
    assert isinstance(rows[1][6], int | float) and rows[1][1] == "order_grand_total"


@pytest.mark.parametrize("language", ["id", "vi"])
def test_a_runs_page_names_entities_and_fields_in_the_readers_language(app, client, auth, language):
    from flask_babel import force_locale

    from backoffice.reconcile.wording import entity_tag, field_label

    target = TargetFactory()
    order = OrderFactory(customer__account_manager=target.account_manager)
    corrupt("orders", "grand_total", order.id, "1.00")
    corrupt("targets", "achieved_amount", target.id, "2.00")
    record = run(RunMode.VERIFY, checks=["order_grand_total", "target_achieved"])
    auth.login("finance")
    page = client.get(f"/reconciliation/runs/{record.id}", headers={"Accept-Language": language}).get_data(as_text=True)
    with app.test_request_context(), force_locale(language):
        said = {
            "order": entity_tag("order", order.number, order.id),
            "order_recorded": entity_tag("order", "", order.id),
            "target_recorded": entity_tag("target", "", target.id),
            "grand_total": field_label("order_grand_total", "grand_total"),
            "achieved": field_label("target_achieved", "achieved_amount"),
        }
    assert said["order"] != f"order {order.number}" and said["order"] in page
    assert f'title="{said["order_recorded"]}"' in page and f'title="{said["target_recorded"]}"' in page
    assert f"order {order.id}" not in page and f"target {target.id}" not in page
    assert f">{said['grand_total']}</td>" in page and f">{said['achieved']}</td>" in page
    assert 'title="grand_total"' not in page and 'title="achieved_amount"' not in page


@pytest.mark.parametrize("language", ["id", "vi"])
def test_a_runs_page_says_a_tampered_row_and_a_hand_edit_in_the_readers_language(app, client, auth, language):
    from flask_babel import force_locale

    from backoffice.models import Discrepancy, Order
    from backoffice.web.oversight.evidence import PROBLEMS, drift_problem
    from tests.factories import quarantine

    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    order = OrderFactory()
    quarantine(customer.id)
    corrupt("orders", "additions", order.id, "7.00")
    record = run(RunMode.VERIFY, checks=["evidence_seals", "history_drift"])
    stored = dict(
        db.session.execute(
            sa.select(Discrepancy.check, Discrepancy.reason).where(
                Discrepancy.run_id == record.id, Discrepancy.entity_type.in_(["evidence", "order"])
            )
        ).all()
    )
    assert "its seal does not match it" in stored["evidence_seals"]
    assert "changed outside the application" in stored["history_drift"]
    auth.login("finance")
    page = client.get(f"/reconciliation/runs/{record.id}", headers={"Accept-Language": language}).get_data(as_text=True)
    with app.test_request_context(), force_locale(language):
        mismatch = str(PROBLEMS["seal_mismatch"])
        changed = drift_problem("changed", ["additions"], Order)
    assert mismatch in page and stored["evidence_seals"] not in page
    assert changed in page and "additions" not in changed
    assert stored["history_drift"] not in page and "differs from its latest history version" not in page
