"""Monthly customer balances, recalculation requests, and customers not calculated in real time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import current_app

from backoffice import jobs
from backoffice.models import (
    BalanceTransaction,
    Customer,
    MonthlyCustomerBalance,
    RecalculationRequest,
    RunMode,
    TransactionCalculation,
)
from backoffice.models.types import local_month, local_month_of, next_month_start, utcnow
from backoffice.platform.extensions import db
from backoffice.posting.installation import Installation
from backoffice.reconcile.engine import discrepancies, run
from backoffice.services import billing, customers, metering, wallet
from tests.factories import corrupt, forged_recharge, metered_customer
from tests.rows import balance
from tests.verifying import clean

D = Decimal
AUG = date(2026, 8, 1)


@pytest.fixture
def site(app):
    """A customer with a meter and a price of Rp1.000 per Sm³ (correction 1) from August 2026."""
    customer, meter = metered_customer("BAKERY", AUG, D("1000.00"))
    return customer.id, meter.id


def now_month() -> str:
    return local_month_of(utcnow(), current_app.config["TIMEZONE"])


def months(customer_id: int) -> dict[str, tuple]:
    """``{month: (opening, deposits, purchases, closing, volume)}`` as stored."""
    db.session.rollback()
    rows = db.session.scalars(
        sa.select(MonthlyCustomerBalance)
        .where(MonthlyCustomerBalance.customer_id == customer_id)
        .order_by(MonthlyCustomerBalance.year_month)
    )
    return {
        r.year_month: (r.opening_balance, r.total_deposits, r.total_purchases, r.closing_balance, r.total_volume_sm3)
        for r in rows
    }


def pending(customer_id: int) -> list[RecalculationRequest]:
    db.session.rollback()
    return metering.pending_recalculations(customer_id)


def test_readings_count_in_their_month_and_deposits_in_the_month_posted(site):
    customer_id, meter_id = site
    wallet.recharge(customer_id, D("1000000"))
    metering.record_reading(meter_id, date(2026, 8, 10), D("100"))
    metering.record_reading(meter_id, date(2026, 9, 5), D("50"))
    metering.record_reading(meter_id, date(2026, 9, 20), D("10"))
    assert months(customer_id) == {
        "2026-08": (D("0.00"), D("0.00"), D("100000.00"), D("-100000.00"), D("100.0000")),
        "2026-09": (D("-100000.00"), D("0.00"), D("60000.00"), D("-160000.00"), D("60.0000")),
        now_month(): (D("-160000.00"), D("1000000.00"), D("0.00"), D("840000.00"), D("0.0000")),
    }
    assert balance(customer_id) == D("840000.00")
    assert clean()


def test_editing_an_old_reading_moves_every_later_months_opening_and_closing(site):
    customer_id, meter_id = site
    wallet.recharge(customer_id, D("1000000"))
    august = metering.record_reading(meter_id, date(2026, 8, 10), D("100"))
    metering.record_reading(meter_id, date(2026, 9, 5), D("50"))
    metering.correct_reading(august, date(2026, 8, 10), D("200"))
    assert months(customer_id) == {
        "2026-08": (D("0.00"), D("0.00"), D("200000.00"), D("-200000.00"), D("200.0000")),
        "2026-09": (D("-200000.00"), D("0.00"), D("50000.00"), D("-250000.00"), D("50.0000")),
        now_month(): (D("-250000.00"), D("1000000.00"), D("0.00"), D("750000.00"), D("0.0000")),
    }
    # Moved into September, the reading leaves August empty: a month without movement has no row.
    metering.correct_reading(august, date(2026, 9, 1), D("200"))
    assert list(months(customer_id)) == ["2026-09", now_month()]
    assert months(customer_id)["2026-09"] == (D("0.00"), D("0.00"), D("250000.00"), D("-250000.00"), D("250.0000"))
    assert balance(customer_id) == D("750000.00")
    assert clean()


def test_deleting_a_reading_posts_a_reversal_and_takes_it_out_of_its_month(site):
    customer_id, meter_id = site
    metering.record_reading(meter_id, date(2026, 9, 5), D("50"))
    doomed = metering.record_reading(meter_id, date(2026, 9, 20), D("10"))
    metering.delete_reading(doomed)
    last = db.session.scalar(sa.select(BalanceTransaction).order_by(BalanceTransaction.id.desc()))
    assert (last.kind.value, last.signed_amount, last.reference_id) == ("reversal", D("10000.00"), doomed)
    assert months(customer_id) == {
        "2026-09": (D("0.00"), D("0.00"), D("50000.00"), D("-50000.00"), D("50.0000")),
    }
    assert clean()


def test_a_deposit_moves_its_month_and_every_later_one(site, monkeypatch):
    customer_id, meter_id = site
    later = next_month_start(date.fromisoformat(now_month() + "-01"))
    # No reading is dated after today: this one is recorded as if today were already next month.
    monkeypatch.setattr(billing, "local_today", lambda: later)
    monkeypatch.setattr(Installation, "today", lambda _installation: later)
    metering.record_reading(meter_id, later, D("10"))
    monkeypatch.undo()
    wallet.recharge(customer_id, D("25000"))
    rows = months(customer_id)
    assert rows[now_month()] == (D("0.00"), D("25000.00"), D("0.00"), D("25000.00"), D("0.0000"))
    assert rows[later.strftime("%Y-%m")] == (D("25000.00"), D("0.00"), D("10000.00"), D("15000.00"), D("10.0000"))
    assert balance(customer_id) == D("15000.00")
    assert clean()


def test_the_check_finds_wrong_missing_and_stray_months_and_the_fix_rebuilds_them(site):
    customer_id, meter_id = site
    wallet.recharge(customer_id, D("1000000"))
    metering.record_reading(meter_id, date(2026, 8, 10), D("100"))
    metering.record_reading(meter_id, date(2026, 9, 5), D("50"))
    right = months(customer_id)
    ids = dict(db.session.execute(sa.select(MonthlyCustomerBalance.year_month, MonthlyCustomerBalance.id)).all())
    corrupt("monthly_customer_balances", "closing_balance", ids["2026-09"], "1")
    db.session.execute(sa.delete(MonthlyCustomerBalance).where(MonthlyCustomerBalance.id == ids["2026-08"]))
    db.session.add(
        MonthlyCustomerBalance(
            customer_id=customer_id,
            year_month="2026-05",
            opening_balance=D(0),
            total_deposits=D(7),
            total_purchases=D(0),
            closing_balance=D(7),
            total_volume_sm3=D(0),
        )
    )
    db.session.commit()

    verify = run(RunMode.VERIFY, checks=["monthly_balance"])
    assert verify.results[0].checked == 4  # August (missing), September, this month, and May (stray)
    found = {(d.period, d.field): (d.stored, d.expected) for d in db.session.scalars(discrepancies(verify.id))}
    assert found[("2026-09", "closing_balance")] == (D("1.00"), D("-150000.00"))
    assert found[("2026-08", "total_purchases")] == (None, D("100000.00"))
    assert found[("2026-05", "total_deposits")] == (D("7.00"), None)
    assert {d.entity_id for d in db.session.scalars(discrepancies(verify.id))} == {customer_id}
    assert verify.results[0].mismatched == 3

    fix = run(RunMode.FIX, checks=["monthly_balance"])
    assert fix.results[0].fixed == 3
    assert months(customer_id) == right
    assert clean()


def test_the_latest_closing_must_equal_the_wallet_balance(site):
    customer_id, _meter_id = site
    wallet.recharge(customer_id, D("5000"))
    corrupt("customers", "balance", customer_id, "4000")
    verify = run(RunMode.VERIFY, checks=["monthly_balance"])
    (found,) = db.session.scalars(discrepancies(verify.id))
    assert (found.period, found.field, found.stored, found.expected) == (
        now_month(),
        "closing_equals_wallet_balance",
        D("5000.00"),
        D("4000.00"),
    )
    run(RunMode.FIX, checks=["customer_wallet"])
    assert clean()


def test_a_fix_leaves_months_whose_customer_s_ledger_chain_is_broken_and_says_why(site):
    customer_id, _meter_id = site
    wallet.recharge(customer_id, D("5000"))
    right = months(customer_id)
    forged = forged_recharge(customer_id, "70000")
    fix = run(RunMode.FIX, checks=["monthly_balance"])
    found = {(d.field, d.fixed, d.reason) for d in db.session.scalars(discrepancies(fix.id))}
    because = f"left unfixed: the ledger chain of BAKERY is broken at movement #{forged}; deal with the ledger first"
    assert found == {("total_deposits", False, because), ("closing_balance", False, because)}
    assert months(customer_id) == right


@pytest.mark.parametrize(
    ("moment", "month"),
    [
        (datetime(2026, 11, 30, 16, 59, tzinfo=UTC), "2026-11"),  # 23:59 in Jakarta
        (datetime(2026, 11, 30, 17, 0, tzinfo=UTC), "2026-12"),  # midnight in Jakarta
    ],
)
def test_a_movement_belongs_to_the_month_of_the_installations_time_zone(app, moment, month):
    stored_as = sa.literal(moment, sa.DateTime(timezone=True))
    in_sql = db.session.scalar(sa.select(local_month(stored_as, sa.literal("Asia/Jakarta"))))
    assert in_sql == local_month_of(moment, "Asia/Jakarta") == month


def test_a_pricing_change_past_the_limit_is_left_to_a_job_and_shown_pending(site):
    customer_id, meter_id = site
    current_app.config["REPRICE_IN_REQUEST_LIMIT"] = 1
    for day in (3, 4, 5):
        metering.record_reading(meter_id, date(2026, 9, day), D("10"))
    impact = metering.set_pricing(customer_id, date(2026, 9, 1), D("2000.00"), D("1"))
    assert (impact.deferred, impact.readings, impact.purchases_change) == (True, 3, D("30000.00"))
    (request,) = pending(customer_id)
    assert (request.reason.value, request.from_date) == ("pricing_change", date(2026, 9, 1))
    assert balance(customer_id) == D("-30000.00")  # not re-priced yet
    assert metering.process_recalculations() == 1
    assert pending(customer_id) == []
    assert balance(customer_id) == D("-60000.00")
    assert months(customer_id)["2026-09"][2] == D("60000.00")
    assert clean()


def test_the_pricing_screen_starts_the_job_or_says_the_nightly_run_will_do_it(site, client, auth):
    customer_id, meter_id = site
    current_app.config["REPRICE_IN_REQUEST_LIMIT"] = 0
    metering.record_reading(meter_id, date(2026, 9, 3), D("10"))
    auth.login("finance")
    form = {"pricing-effective_from": "2026-09-01", "pricing-price_per_sm3": "2000", "pricing-meter_correction": "1"}

    current_app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    page = client.post("/customers/BAKERY/pricing", data=form, follow_redirects=True).get_data(as_text=True)
    assert "job queue cannot be reached: the nightly run will do it" in page
    assert "Recalculation pending" in page and "1 readings to re-price" in page

    current_app.config["REDIS_URL"] = None  # jobs run in-process
    form["pricing-price_per_sm3"] = "3000"
    page = client.post("/customers/BAKERY/pricing", data=form, follow_redirects=True).get_data(as_text=True)
    assert "a job is doing it now" in page and "Recalculation pending" not in page
    assert balance(customer_id) == D("-30000.00")
    assert clean()


def test_a_customer_not_calculated_in_real_time_waits_for_the_nightly_run(site):
    customer_id, meter_id = site
    customers.set_realtime(customer_id, False)
    reading = metering.record_reading(meter_id, date(2026, 9, 3), D("10"))
    wallet.recharge(customer_id, D("50000"))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(TransactionCalculation.id))) == 0
    assert balance(customer_id) == D("50000.00")  # the deposit is money: it moves at once
    assert months(customer_id) == {}
    assert [r.reason.value for r in pending(customer_id)] == ["deferred", "deferred"]

    record, _ = jobs.enqueue("nightly_maintenance", {"date": "2026-11-22"})
    assert record.result["recalculations_done"] == 2
    assert pending(customer_id) == []
    assert db.session.scalar(
        sa.select(TransactionCalculation.total_price).where(TransactionCalculation.reading_id == reading)
    ) == D("10000.00")
    assert balance(customer_id) == D("40000.00")
    assert months(customer_id)["2026-09"][3] == D("-10000.00")
    assert clean()


def test_the_monthly_tab_shows_the_table_and_the_chart_and_admins_switch_real_time(site, client, auth):
    customer_id, meter_id = site
    metering.record_reading(meter_id, date(2026, 8, 10), D("100"))
    metering.record_reading(meter_id, date(2026, 9, 5), D("50"))
    auth.login("finance")
    page = client.get("/customers/BAKERY?tab=monthly").get_data(as_text=True)
    assert "August 2026" in page and "September 2026" in page and page.count('<rect class="volume"') == 2
    assert ">08/2026</text>" in page and ">09/2026</text>" in page
    assert "Stop real-time calculation" not in page
    assert client.post("/customers/BAKERY/realtime/off").status_code == 403
    auth.logout()
    auth.login("admin")
    page = client.post("/customers/BAKERY/realtime/off", follow_redirects=True).get_data(as_text=True)
    assert "no longer calculated in real time" in page and "Calculate in real time" in page
    db.session.rollback()
    assert db.session.get(Customer, customer_id).use_realtime_calculation is False


def test_the_rebuild_command_initialises_months_from_one_with_dry_run_and_threshold(site, runner):
    customer_id, meter_id = site
    metering.record_reading(meter_id, date(2026, 8, 10), D("100"))
    metering.record_reading(meter_id, date(2026, 9, 5), D("1"))
    right = months(customer_id)
    db.session.execute(sa.delete(MonthlyCustomerBalance))
    db.session.commit()
    scope = ["--check", "monthly_balance", "--customer", "BAKERY", "--from-month", "2026-09"]

    dry = runner.invoke(args=["reconcile", "rebuild", *scope, "--dry-run", "--threshold", "5000"])
    assert dry.exit_code == 1, dry.output
    assert "customer 1 2026-09" in dry.output and "would be" in dry.output
    assert "2026-08" not in dry.output and months(customer_id) == {}

    done = runner.invoke(args=["reconcile", "rebuild", *scope])
    assert done.exit_code == 0, done.output
    # Its opening is what August made it, although August itself is outside the scope.
    assert months(customer_id) == {"2026-09": (D("-100000.00"), D("0.00"), D("1000.00"), D("-101000.00"), D("1.0000"))}
    assert runner.invoke(args=["reconcile", "rebuild", "--check", "monthly_balance"]).exit_code == 0
    assert months(customer_id) == right
    assert clean()


def test_monitoring_sees_pending_recalculations(site, client):
    customer_id, meter_id = site
    current_app.config["API_TOKEN"] = "t0ken"
    current_app.config["REPRICE_IN_REQUEST_LIMIT"] = 0
    metering.record_reading(meter_id, date(2026, 9, 3), D("10"))
    metering.set_pricing(customer_id, date(2026, 9, 1), D("2000.00"), D("1"))
    headers = {"Authorization": "Bearer t0ken"}
    body = client.get("/admin/balance-health/check", headers=headers).get_json()
    assert body["data"]["pending_recalculations"]["requests"] == 1
    assert body["data"]["pending_recalculations"]["customers"] == 1
    assert "backoffice_recalculations_pending 1.0" in client.get("/metrics", headers=headers).get_data(as_text=True)
    metering.process_recalculations()
    body = client.get("/admin/balance-health/check", headers=headers).get_json()
    assert body["data"]["pending_recalculations"] == {"requests": 0, "customers": 0, "oldest_requested_at": None}


def test_every_run_that_writes_does_the_pending_recalculations_first(site, runner):
    customer_id, meter_id = site
    customers.set_realtime(customer_id, False)
    metering.record_reading(meter_id, date(2026, 9, 3), D("10"))
    assert run(RunMode.VERIFY, checks=["reading_calculation"]).mismatched == 1  # not priced yet: it shows
    fixed = runner.invoke(args=["reconcile", "verify", "--fix", "--customer", "BAKERY"])
    assert "1 pending recalculation request(s) done first." in fixed.output and fixed.exit_code == 0, fixed.output
    assert pending(customer_id) == [] and balance(customer_id) == D("-10000.00")

    metering.record_reading(meter_id, date(2026, 9, 4), D("1"))
    record, _ = jobs.enqueue("verify", {"fix": True})
    assert record.result["recalculations_done"] == 1 and pending(customer_id) == []
    assert clean()
