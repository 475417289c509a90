"""The home page: the business figures first, then sales, then the checks."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import Customer, JobRecord, JobStatus, Order
from backoffice.models.types import Month
from backoffice.operations import health
from backoffice.platform import extensions
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.services import meter_invoices, meter_lifecycle, meter_payments, metering, wallet
from backoffice.web import home
from tests.factories import CustomerFactory, MeterFactory, OrderFactory, moved_back

D = Decimal


def tile(page: str, name: str) -> str:
    return page.split(f'id="{name}"', 1)[1].split("</div>" if name in ("receivables-due", "gas-sold") else "</a>", 1)[0]


def test_the_home_page_shows_the_business_figures_before_the_checks(client, auth):
    today, first = local_today(), Month.of(local_today()).first_day
    prepaid = CustomerFactory(code="C0001")
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, prepaid, first)
    metering.set_pricing(prepaid.id, first, D("1000.00"), D("1"))
    wallet.recharge(prepaid, D("1000000"))
    metering.record_reading(meter.id, today, D("668.0624"))
    suspended = CustomerFactory(code="C0002", suspend_below=D("100000"))
    wallet.recharge(suspended, D("50000"))
    postpaid = CustomerFactory(code="C0003")
    postpaid_meter = MeterFactory()
    meter_lifecycle.assign_meter(postpaid_meter, postpaid, first)
    meter_invoices.add_invoice(postpaid_meter, "INV-1", D("500000"), today, today)
    meter_payments.add_payment(postpaid_meter, D("100000"), today)
    withdrawn = meter_invoices.add_invoice(postpaid_meter, "INV-2", D("70000"), today, today)
    meter_invoices.withdraw_invoice(withdrawn, "Issued twice")

    auth.login("finance")
    page = client.get("/").get_data(as_text=True)
    assert "Rp381.937,60" in tile(page, "prepaid-total") and "3 customers" in tile(page, "prepaid-total")
    assert "Rp400.000,00" in tile(page, "receivables-due") and "1 customer owing" in tile(page, "receivables-due")
    assert '<span class="value">1</span>' in tile(page, "customers-suspended")
    assert 'href="/customers?status=suspended"' in page
    gas = tile(page, "gas-sold")
    assert "668,0624 Sm³" in gas and "prepaid Rp668.062,40" in gas and "postpaid invoiced Rp500.000,00" in gas
    assert "Rp668,06" not in page
    assert page.index('id="business-figures"') < page.index("Orders closing this month") < page.index("status-panel")


def test_an_empty_installation_shows_zeros(client, auth):
    auth.login("admin")
    page = client.get("/").get_data(as_text=True)
    assert "Rp0,00" in tile(page, "prepaid-total") and "0,0000 Sm³" in tile(page, "gas-sold")
    assert '<span class="value">0</span>' in tile(page, "customers-suspended")


def nightly_card(page: str) -> str:
    return page.split('id="nightly"', 1)[1].split("</div>", 1)[0]


def test_a_new_install_shows_the_nightly_never_run_and_what_to_do_as_health_says(client, auth):
    auth.login("finance")
    card = nightly_card(client.get("/").get_data(as_text=True))
    assert '<span id="nightly-state">never run</span>' in card
    assert "The nightly maintenance has never finished." in health.assess().reasons
    assert "The nightly maintenance has never finished." in card
    assert "02:00" in card and "tell your administrator" in card and "run-nightly" not in card
    # The commands, the setting and the health check are an admin's words.
    assert "make scheduler" not in card and "worker" not in card and "REDIS_URL" not in card
    assert "health check" not in card


def test_an_admin_is_told_the_commands_that_run_the_nightly(client, auth):
    auth.login("admin")
    card = nightly_card(client.get("/").get_data(as_text=True))
    assert "<code>make scheduler</code>" in card and "<code>make worker</code>" in card and "02:00" in card
    assert "<code>REDIS_URL</code>" in card and 'id="run-nightly"' in card and "tell your administrator" not in card


def test_an_admin_runs_the_nightly_from_the_home_page_and_it_shows_ok(client, auth):
    auth.login("admin")
    assert 'id="run-nightly"' in nightly_card(client.get("/").get_data(as_text=True))
    response = client.post("/jobs/nightly")
    assert response.status_code == 302 and "/jobs/nightly-" in response.headers["Location"]
    db.session.rollback()
    record = db.session.scalar(sa.select(JobRecord))
    assert (record.kind, record.status, record.user.role.value) == ("nightly_maintenance", JobStatus.FINISHED, "admin")
    card = nightly_card(client.get("/").get_data(as_text=True))
    assert '<span id="nightly-state">ok</span>' in card and "last finished" in card
    assert "run-nightly" not in card and "nightly-reason" not in card
    assert health.nightly_state().state is health.State.OK and health.assess().valid


def test_a_nightly_past_the_maximum_age_shows_stale_with_the_health_checks_reason(client, auth):
    jobs.enqueue_nightly()
    moved_back(27)
    auth.login("finance")
    card = nightly_card(client.get("/").get_data(as_text=True))
    assert '<span id="nightly-state">stale</span>' in card
    (reason,) = [r for r in health.assess().reasons if r.startswith("The nightly maintenance")]
    assert reason in card and "26 hours ago or more" in reason
    assert "tell your administrator" in card and "whether the latest nightly job" not in card
    auth.logout()
    auth.login("admin")
    assert "whether the latest nightly job" in nightly_card(client.get("/").get_data(as_text=True))


def test_only_an_admin_runs_the_nightly(client, auth):
    auth.login("finance")
    assert client.post("/jobs/nightly").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 0


def test_the_nightly_maintenance_is_told_in_the_readers_language(client, auth):
    auth.login("admin")
    card = nightly_card(client.get("/", headers={"Accept-Language": "id"}).get_data(as_text=True))
    assert '<span id="nightly-state">belum pernah berjalan</span>' in card
    assert "Pemeliharaan malam belum pernah selesai." in card and "never" not in card
    assert "<code>make scheduler</code>" in card and "<code>REDIS_URL</code>" in card
    assert "Jalankan pemeliharaan malam sekarang" in card
    jobs.enqueue_nightly()
    moved_back(27)
    card = nightly_card(client.get("/", headers={"Accept-Language": "vi"}).get_data(as_text=True))
    assert '<span id="nightly-state">đã cũ</span>' in card and "cách đây 26 giờ trở lên" in card
    assert '<a href="/jobs">thất bại</a>' in card


def test_the_home_page_s_figures_are_the_sums_of_the_customers_stored_figures(client, auth):
    today, first = local_today(), Month.of(local_today()).first_day
    for code, recharged in (("P1", D("250000.50")), ("P2", D("1000"))):
        wallet.recharge(CustomerFactory(code=code), recharged)
    wallet.recharge(CustomerFactory(code="S1", suspend_below=D("5000")), D("100"))
    owing, overpaid = CustomerFactory(code="O1"), CustomerFactory(code="O2")
    for customer, invoiced, paid in ((owing, D("300000"), D("120000.25")), (overpaid, D("100000"), D("130000"))):
        meter = MeterFactory()
        meter_lifecycle.assign_meter(meter, customer, first)
        meter_invoices.add_invoice(meter, f"INV-{customer.code}", invoiced, today, today)
        meter_payments.add_payment(meter, paid, today)
    OrderFactory(customer=owing, closing_date=first, total_price=D("2000000"))
    OrderFactory(customer=overpaid, closing_date=today, total_price=D("3000000"))

    shown = home.figures(Month.of(today))
    customers = Customer.__table__.c
    stored = db.session.execute(
        sa.select(
            sa.func.sum(customers.balance),
            sa.func.count(),
            sa.func.sum(customers.amount_due),
            sa.func.count().filter(customers.amount_due > 0),
            sa.func.sum(customers.overpayment),
            sa.func.count().filter(customers.status == "suspended"),
        )
    ).one()
    assert (shown.prepaid, shown.customers.count, shown.due, shown.owing, shown.overpaid, shown.suspended) == stored
    assert stored == (D("251100.50"), 5, D("179999.75"), 1, D("30000.00"), 1) and not shown.customers.more
    orders = db.session.execute(sa.select(sa.func.count(), sa.func.sum(Order.grand_total))).one()
    assert orders == (2, D("3600000.00"))

    auth.login("finance")
    page = client.get("/").get_data(as_text=True)
    assert "Rp251.100,50" in tile(page, "prepaid-total") and "5 customers" in tile(page, "prepaid-total")
    due = tile(page, "receivables-due")
    assert "Rp179.999,75" in due and "1 customer owing" in due and "overpaid Rp30.000,00" in due
    assert '<span class="value">1</span>' in tile(page, "customers-suspended")
    assert '<span class="value">2</span>' in page.split("Orders closing this month", 1)[1]
    assert "Rp3.600.000,00" in page.split("Orders closing this month", 1)[1]


def test_past_the_bound_the_home_page_says_more_than_it_with_the_prepaid_total_exact(client, auth, monkeypatch):
    monkeypatch.setattr(extensions, "COUNTED_UP_TO", 2)
    for code in ("C1", "C2", "C3"):
        wallet.recharge(CustomerFactory(code=code), D("1000"))
    auth.login("finance")
    prepaid = tile(client.get("/").get_data(as_text=True), "prepaid-total")
    assert "Rp3.000,00" in prepaid and "More than 2 customers" in prepaid
