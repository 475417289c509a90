"""Two clerks open the same row; the second save, from a form loaded before the first, is refused.

Each test loads the edit form twice (A and B), saves A, then saves B with another change: B
is refused (409) with a message naming what A changed, and the database holds A's values.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from backoffice.models import (
    AccountManager,
    Customer,
    CustomerPricing,
    Invoice,
    MeterReading,
    Order,
    Payment,
    Role,
    RunMode,
    Target,
    User,
)
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import meter_invoices, meter_lifecycle, meter_payments, metering, wallet
from backoffice.services.orders import delete_order, save_order
from backoffice.services.users import change_user
from tests.concurrency import race
from tests.factories import (
    AccountManagerFactory,
    CustomerFactory,
    MeterFactory,
    OrderFactory,
    TargetFactory,
    UserFactory,
    metered_customer,
    stored,
)
from tests.pages import opened, save_over

D = Decimal


def test_a_stale_order_save_is_refused_and_writes_nothing(client, finance):
    order = OrderFactory()
    save_over(
        client,
        f"/orders/{order.id}/edit",
        {"total_price": "7.777.777"},
        {"promo": "0"},
        says="This order was changed by someone else since you opened it: total price is now Rp7.777.777,00",
    )
    db.session.rollback()
    saved = db.session.get(Order, order.id)
    assert (saved.total_price, saved.promo, saved.grand_total) == (D("7777777.00"), D("1000000.00"), D("7077777.00"))
    assert saved.version == 2


def test_a_save_of_an_order_deleted_meanwhile_says_so(client, finance):
    order = OrderFactory()
    url = f"/orders/{order.id}/edit"
    b = opened(client, url)
    assert client.post(f"/orders/{order.id}/delete").status_code == 302
    response = client.post(url, data=b | {"promo": "0"})
    assert response.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0


def test_saving_an_order_again_from_its_fresh_form_is_not_refused(client, finance):
    order = OrderFactory(closing_date=date(2026, 11, 10))
    url = f"/orders/{order.id}/edit"
    assert client.post(url, data=opened(client, url) | {"promo": "0"}).status_code == 302
    assert client.post(url, data=opened(client, url) | {"promo": "5"}).status_code == 302
    db.session.rollback()
    assert (db.session.get(Order, order.id).promo, db.session.get(Order, order.id).version) == (D("5.00"), 3)


def test_a_stale_target_save_is_refused_and_writes_nothing(client, finance):
    target = TargetFactory()
    other = AccountManagerFactory(name="Budi")
    url = f"/targets/{target.id}/edit"
    save_over(
        client,
        url,
        {"target_amount": "120.000.000"},
        {"period_start": "2026-12"},
        says="This target was changed by someone else since you opened it: target amount is now Rp120.000.000,00",
    )
    db.session.rollback()
    saved = db.session.get(Target, target.id)
    assert (saved.target_amount, saved.period_start, saved.account_manager_id) == (
        D("120000000.00"),
        date(2026, 11, 1),
        target.account_manager_id,
    )
    # A's form is stale too now: saving it again is refused as well.
    form = opened(client, url) | {"version": "1"}
    assert client.post(url, data=form | {"account_manager_id": other.email}).status_code == 409


def test_a_stale_pricing_row_save_is_refused_and_writes_nothing(client, finance):
    customer = CustomerFactory(code="HOTEL")
    metering.set_pricing(customer.id, date(2026, 11, 1), D("1000.00"), D("1.000000"))
    row = db.session.scalar(sa.select(CustomerPricing))
    url, action = f"/customers/HOTEL/pricing/{row.id}", "/customers/HOTEL/pricing"
    form = opened(client, url, action)
    assert (form["pricing-effective_from"], form["pricing-version"]) == ("2026-11-01", "1")
    save_over(
        client,
        url,
        {"pricing-price_per_sm3": "2.000"},
        {"pricing-meter_correction": "1,5"},
        action=action,
        says="This pricing row was changed by someone else since you opened it: price per Sm³ is now Rp2.000,00",
    )
    db.session.rollback()
    saved = db.session.get(CustomerPricing, row.id)
    assert (saved.price_per_sm3, saved.meter_correction, saved.version) == (D("2000.00"), D("1.000000"), 2)


def test_a_stale_invoice_save_is_refused_and_writes_nothing(client, finance):
    customer = CustomerFactory(code="HOTEL")
    meter_lifecycle.assign_meter(meter := MeterFactory(), customer, date(2026, 11, 1))
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("500000"), date(2026, 11, 1), date(2026, 11, 30))
    url = f"/customers/HOTEL/invoices/{invoice.id}/edit"
    save_over(
        client,
        url,
        {"amount": "450.000"},
        {"due_on": "2026-12-15"},
        says="This invoice was changed by someone else since you opened it: amount is now Rp450.000,00",
    )
    db.session.rollback()
    saved = db.session.get(Invoice, invoice.id)
    assert (saved.amount, saved.due_on, saved.version) == (D("450000.00"), date(2026, 11, 30), 2)
    assert stored("meters", "balance", meter.id) == D("450000.00")


def test_an_invoice_is_corrected_on_its_page_and_its_meter_and_books_follow(client, finance):
    customer = CustomerFactory(code="HOTEL")
    meter_lifecycle.assign_meter(meter := MeterFactory(), customer, date(2026, 11, 1))
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("500000"), date(2026, 11, 1), date(2026, 11, 30))
    meter_invoices.add_invoice(meter, "INV-2", D("1"), date(2026, 11, 1), date(2026, 11, 30))
    url = f"/customers/HOTEL/invoices/{invoice.id}/edit"
    assert f'href="{url}"' in client.get("/customers/HOTEL?tab=billing").get_data(as_text=True)
    form = opened(client, url, url)
    for change, message in (({"number": "INV-2"}, "INV-2 is already used"), ({"due_on": "2026-10-01"}, "due before")):
        response = client.post(url, data=form | change)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert client.post(url, data=form | {"amount": "600.000", "number": "INV-1A"}).status_code == 302
    db.session.rollback()
    assert (db.session.get(Invoice, invoice.id).number, stored("meters", "balance", meter.id)) == (
        "INV-1A",
        D("600001.00"),
    )
    assert run(RunMode.VERIFY, checks=["meter_balance", "customer_meter_totals", "account_balance"]).mismatched == 0
    assert client.get(f"/customers/OTHER/invoices/{invoice.id}/edit").status_code == 404


def test_two_clerks_saving_one_order_at_once_the_second_is_refused(app, client, finance):
    order = OrderFactory()
    order_id, url = order.id, f"/orders/{order.id}/edit"
    b = opened(client, url)
    answers = []

    def save_a() -> None:
        order = db.session.get(Order, order_id)
        order.total_price = D("7777777")
        save_order(order, version=1)

    race(app, save_a, lambda: answers.append(client.post(url, data=b | {"promo": "0"})))
    assert answers[0].status_code == 409
    assert "total price is now Rp7.777.777,00" in answers[0].get_data(as_text=True)
    saved = db.session.get(Order, order_id)
    assert (saved.total_price, saved.promo, saved.version) == (D("7777777.00"), D("1000000.00"), 2)


def test_an_order_deleted_while_its_form_is_saved_is_not_saved_and_the_clerk_is_told(app, client, finance):
    order = OrderFactory()
    order_id, url = order.id, f"/orders/{order.id}/edit"
    b = opened(client, url)
    answers = []
    race(
        app,
        lambda: delete_order(db.session.get(Order, order_id)),
        lambda: answers.append(client.post(url, data=b | {"promo": "0"})),
    )
    assert (answers[0].status_code, answers[0].headers["Location"]) == (302, "/orders")
    assert "This order was deleted by someone else since you opened it" in client.get("/orders").get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0


def test_an_order_form_with_a_damaged_version_is_refused_and_writes_nothing(client, finance):
    order = OrderFactory()
    url = f"/orders/{order.id}/edit"
    response = client.post(url, data=opened(client, url) | {"version": "2x", "promo": "0"})
    assert response.status_code == 422
    assert "This form came back damaged; nothing was saved." in response.get_data(as_text=True)
    db.session.rollback()
    assert (db.session.get(Order, order.id).promo, db.session.get(Order, order.id).version) == (D("1000000.00"), 1)


def test_a_stale_customer_save_is_refused_and_writes_nothing(client, finance):
    CustomerFactory(code="HOTEL", name="Hotel")
    save_over(
        client,
        "/customers/HOTEL/edit",
        {"name": "Hotel Indah"},
        {"phone": "021 555 0199"},
        says="This customer was changed by someone else since you opened it: name is now Hotel Indah",
    )
    db.session.rollback()
    saved = db.session.scalar(sa.select(Customer).where(Customer.code == "HOTEL"))
    assert (saved.name, saved.phone, saved.version) == ("Hotel Indah", None, 2)


def test_money_moved_meanwhile_does_not_make_a_customers_form_stale(client, finance):
    customer = CustomerFactory(code="HOTEL", name="Hotel")
    form = opened(client, "/customers/HOTEL/edit")
    wallet.recharge(customer.id, D("1000"))
    assert client.post("/customers/HOTEL/edit", data=form | {"name": "Hotel Indah"}).status_code == 302
    assert stored("customers", "balance", customer.id) == D("1000.00")


def test_a_stale_account_manager_save_is_refused_and_writes_nothing(client, finance):
    manager = AccountManagerFactory(name="Dewi", email="dewi@example.com")
    save_over(
        client,
        f"/managers/{manager.id}/edit",
        {"name": "Dewi Lestari"},
        {"email": "dewi.l@example.com"},
        says="This account manager was changed by someone else since you opened it: name is now Dewi Lestari",
    )
    db.session.rollback()
    saved = db.session.get(AccountManager, manager.id)
    assert (saved.name, saved.email, saved.version) == ("Dewi Lestari", "dewi@example.com", 2)


def test_a_stale_user_save_is_refused_and_writes_nothing(client, auth):
    auth.login("admin")
    clerk = UserFactory(email="clerk@example.com")
    save_over(
        client,
        f"/admin/users/{clerk.id}",
        {"role": "admin"},
        {"password": "another long password"},
        says="This user was changed by someone else since you opened it: role is now admin",
    )
    db.session.rollback()
    saved = db.session.get(User, clerk.id)
    assert saved.role is Role.ADMIN and saved.check_password("correct horse battery")
    assert saved.version == 2


def test_a_stale_reading_correction_is_refused_and_writes_nothing(client, finance):
    customer, meter = metered_customer("HOTEL", date(2026, 10, 1), D("1000.00"), prepaid=D("1000000"))
    reading = metering.record_reading(meter.id, date(2026, 10, 20), D("10"), note="monthly round")
    save_over(
        client,
        f"/customers/HOTEL/readings/{reading}",
        {"volume_flow_meter": "12"},
        {"note": "read twice"},
        says="This reading was changed by someone else since you opened it: flow-meter volume (m³) is now 12",
    )
    db.session.rollback()
    saved = db.session.get(MeterReading, reading)
    assert (saved.volume_flow_meter, saved.note, saved.version) == (D("12.0000"), "monthly round", 2)
    assert stored("customers", "balance", customer.id) == D("988000.00")


def test_a_stale_payment_save_is_refused_and_writes_nothing(client, finance):
    meter_lifecycle.assign_meter(meter := MeterFactory(), CustomerFactory(code="HOTEL"), date(2026, 11, 1))
    payment = meter_payments.add_payment(meter, D("200000"), date(2026, 11, 10), "TRF-9")
    save_over(
        client,
        f"/customers/HOTEL/payments/{payment.id}/edit",
        {"amount": "150.000"},
        {"reference": "TRF-10"},
        says="This payment was changed by someone else since you opened it: amount is now Rp150.000,00",
    )
    db.session.rollback()
    saved = db.session.get(Payment, payment.id)
    assert (saved.amount, saved.reference, saved.version) == (D("150000.00"), "TRF-9", 2)
    assert stored("meters", "overpayment", meter.id) == D("150000.00")


def saved_back(client, url: str, change: dict, back: dict, then: dict, *, what: str) -> str:
    """Clerk B opens ``url``; clerk A saves ``change``, then ``back`` (the values B's form shows), then B saves
    ``then`` from the form loaded before: B is refused, nothing named as changed; the refusal's page."""
    b = opened(client, url, url)
    for values in (change, back):
        assert client.post(url, data=opened(client, url, url) | values).status_code == 302
    response = client.post(url, data=b | then)
    assert response.status_code == 409
    page = " ".join(response.get_data(as_text=True).split())
    assert (
        f"This {what} was changed by someone else since you opened it. "
        "Reload to see the current values; nothing was saved." in page
    )
    return page


def test_a_reading_saved_and_put_back_meanwhile_still_refuses_the_form_loaded_before(client, finance):
    customer, meter = metered_customer("HOTEL", date(2026, 10, 1), D("1000.00"), prepaid=D("1000000"))
    reading = metering.record_reading(meter.id, date(2026, 10, 20), D("10"), note="monthly round")
    url = f"/customers/HOTEL/readings/{reading}"
    saved_back(client, url, {"volume_flow_meter": "12"}, {"volume_flow_meter": "10"}, {"note": "x"}, what="reading")
    db.session.rollback()
    saved = db.session.get(MeterReading, reading)
    assert (saved.volume_flow_meter, saved.note, saved.version) == (D("10.0000"), "monthly round", 3)
    assert stored("customers", "balance", customer.id) == D("990000.00")


def test_a_payment_saved_and_put_back_meanwhile_still_refuses_the_form_loaded_before(client, finance):
    meter_lifecycle.assign_meter(meter := MeterFactory(), CustomerFactory(code="HOTEL"), date(2026, 11, 1))
    payment = meter_payments.add_payment(meter, D("200000"), date(2026, 11, 10), "TRF-9")
    url = f"/customers/HOTEL/payments/{payment.id}/edit"
    saved_back(client, url, {"reference": "TRF-10"}, {"reference": "TRF-9"}, {"amount": "1"}, what="payment")
    db.session.rollback()
    saved = db.session.get(Payment, payment.id)
    assert (saved.amount, saved.reference, saved.version) == (D("200000.00"), "TRF-9", 3)


def test_a_user_saved_and_put_back_meanwhile_still_refuses_the_form_loaded_before(client, auth):
    auth.login("admin")
    clerk = UserFactory(email="clerk@example.com")
    url = f"/admin/users/{clerk.id}"
    saved_back(client, url, {"role": "admin"}, {"role": "finance"}, {"password": "another long password"}, what="user")
    db.session.rollback()
    saved = db.session.get(User, clerk.id)
    assert (saved.role, saved.version) == (Role.FINANCE, 3) and saved.check_password("correct horse battery")


def test_two_clerks_correcting_one_reading_at_once_the_second_is_refused(app, client, finance):
    customer, meter = metered_customer("HOTEL", date(2026, 10, 1), D("1000.00"), prepaid=D("1000000"))
    reading = metering.record_reading(meter.id, date(2026, 10, 20), D("10"), note="monthly round")
    url = f"/customers/HOTEL/readings/{reading}"
    b = opened(client, url, url)
    answers = []
    race(
        app,
        lambda: metering.correct_reading(reading, date(2026, 10, 20), D("12"), note="monthly round", version=1),
        lambda: answers.append(client.post(url, data=b | {"note": "read twice"})),
        hold_after="commit",
    )
    assert answers[0].status_code == 409
    assert "flow-meter volume (m³) is now 12" in answers[0].get_data(as_text=True)
    saved = db.session.get(MeterReading, reading)
    assert (saved.volume_flow_meter, saved.note, saved.version) == (D("12.0000"), "monthly round", 2)
    assert stored("customers", "balance", customer.id) == D("988000.00")


def test_two_clerks_saving_one_payment_at_once_the_second_is_refused(app, client, finance):
    meter_lifecycle.assign_meter(meter := MeterFactory(), CustomerFactory(code="HOTEL"), date(2026, 11, 1))
    payment_id = meter_payments.add_payment(meter, D("200000"), date(2026, 11, 10), "TRF-9").id
    url = f"/customers/HOTEL/payments/{payment_id}/edit"
    b = opened(client, url, url)
    answers = []
    race(
        app,
        lambda: meter_payments.change_payment(db.session.get(Payment, payment_id), D("150000"), "TRF-9", version=1),
        lambda: answers.append(client.post(url, data=b | {"reference": "TRF-10"})),
        hold_after="commit",
    )
    assert answers[0].status_code == 409
    assert "amount is now Rp150.000,00" in answers[0].get_data(as_text=True)
    saved = db.session.get(Payment, payment_id)
    assert (saved.amount, saved.reference, saved.version) == (D("150000.00"), "TRF-9", 2)
    assert stored("meters", "overpayment", meter.id) == D("150000.00")


def test_two_admins_saving_one_user_at_once_the_second_is_refused(app, client, auth):
    auth.login("admin")
    clerk_id = UserFactory(email="clerk@example.com").id
    url = f"/admin/users/{clerk_id}"
    b = opened(client, url)
    answers = []
    race(
        app,
        lambda: change_user(db.session.get(User, clerk_id), Role.ADMIN, True, None, by=None, version=1),
        lambda: answers.append(client.post(url, data=b | {"password": "another long password"})),
    )
    assert answers[0].status_code == 409
    assert "role is now admin" in answers[0].get_data(as_text=True)
    saved = db.session.get(User, clerk_id)
    assert (saved.role, saved.version) == (Role.ADMIN, 2) and saved.check_password("correct horse battery")
