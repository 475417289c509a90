"""Postpaid billing: meter balances from invoices and payments, customer totals over active meters."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.extensions import db
from backoffice.models import Customer, Invoice, Meter, MeterAssignment, RunMode
from backoffice.reconcile.engine import run
from backoffice.services import billing
from tests.factories import CustomerFactory, MeterFactory, corrupt, stored

D = Decimal
DAY = date(2026, 11, 1)
BILLING_CHECKS = ["meter_balance", "customer_meter_totals"]


def meter_totals(meter: Meter) -> tuple[Decimal, Decimal]:
    return stored("meters", "balance", meter.id), stored("meters", "overpayment", meter.id)


def customer_totals(customer: Customer) -> tuple[Decimal, Decimal]:
    return stored("customers", "amount_due", customer.id), stored("customers", "overpayment", customer.id)


def invoice(meter, amount, number=None):
    number = number or f"INV-{meter.id}-{amount}-{db.session.scalar(sa.select(sa.func.count(Invoice.id)))}"
    return billing.add_invoice(meter, number, D(amount), DAY, date(2026, 11, 30))


def assigned(customer, *meters):
    for meter in meters:
        billing.assign_meter(meter, customer, DAY)
    return customer


def clean() -> bool:
    return run(RunMode.VERIFY, checks=BILLING_CHECKS).mismatched == 0


def test_a_meter_owes_its_invoices_less_its_payments(app):
    meter = MeterFactory()
    invoice(meter, "500000")
    invoice(meter, "250000")
    billing.add_payment(meter, D("600000"), DAY, "transfer")
    assert meter_totals(meter) == (D("150000.00"), D("0.00"))
    assert clean()


def test_paying_more_than_invoiced_is_an_overpayment(app):
    meter = MeterFactory()
    invoice(meter, "100000")
    billing.add_payment(meter, D("130000.50"), DAY)
    assert meter_totals(meter) == (D("0.00"), D("30000.50"))
    assert clean()


def test_a_customer_owes_the_sum_over_active_meters_only(app):
    first, second = MeterFactory(), MeterFactory()
    customer = assigned(CustomerFactory(), first, second)
    invoice(first, "100000")
    invoice(second, "40000")
    billing.add_payment(second, D("50000"), DAY)
    assert customer_totals(customer) == (D("100000.00"), D("10000.00"))
    assignment = db.session.scalar(sa.select(MeterAssignment).where(MeterAssignment.meter_id == first.id))
    billing.deactivate(assignment, date(2026, 11, 15))
    assert customer_totals(customer) == (D("0.00"), D("10000.00"))
    billing.reactivate(assignment)
    assert customer_totals(customer) == (D("100000.00"), D("10000.00"))
    assert clean()


def test_moving_a_meter_moves_what_it_owes(app):
    meter = MeterFactory()
    hotel, bakery = assigned(CustomerFactory(), meter), CustomerFactory()
    invoice(meter, "70000")
    billing.assign_meter(meter, bakery, date(2026, 11, 20))
    assert customer_totals(hotel) == (D("0.00"), D("0.00"))
    assert customer_totals(bakery) == (D("70000.00"), D("0.00"))
    assert clean()


def test_deleting_an_invoice_updates_the_meter_and_the_customer(app):
    meter = MeterFactory()
    customer = assigned(CustomerFactory(), meter)
    doomed = invoice(meter, "90000")
    invoice(meter, "10000")
    db.session.delete(db.session.get(Invoice, doomed.id))
    db.session.commit()
    assert meter_totals(meter) == (D("10000.00"), D("0.00"))
    assert customer_totals(customer) == (D("10000.00"), D("0.00"))


def test_the_checks_find_and_heal_corrupted_totals(app):
    meter = MeterFactory()
    customer = assigned(CustomerFactory(), meter)
    invoice(meter, "100000")
    corrupt("meters", "balance", meter.id, "1")
    corrupt("customers", "overpayment", customer.id, "7")
    found = run(RunMode.VERIFY, checks=BILLING_CHECKS)
    assert {(r.check, r.mismatched) for r in found.results} == {("meter_balance", 1), ("customer_meter_totals", 1)}
    healed = run(RunMode.FIX, checks=BILLING_CHECKS)
    assert healed.fixed == 2
    assert meter_totals(meter) == (D("100000.00"), D("0.00"))
    assert customer_totals(customer) == (D("100000.00"), D("0.00"))
    assert clean()


@pytest.mark.parametrize(
    ("attempt", "message"),
    [
        (lambda m, c: billing.add_invoice(m, "INV-1", D("5"), DAY, DAY), "already used"),
        (lambda m, c: billing.add_invoice(m, "INV-2", D("0"), DAY, DAY), "greater than zero"),
        (lambda m, c: billing.add_invoice(m, "INV-3", D("5"), DAY, date(2026, 10, 1)), "due before"),
        (lambda m, c: billing.add_payment(m, D("-1"), DAY), "must not be negative"),
        (lambda m, c: billing.add_payment(m, D("1.001"), DAY), "2 decimal places"),
        (lambda m, c: billing.assign_meter(m, c, DAY), "already assigned"),
        (lambda m, c: billing.add_meter(m.serial), "already exists"),
    ],
)
def test_bad_billing_writes_are_refused_and_write_nothing(app, attempt, message):
    meter = MeterFactory()
    customer = assigned(CustomerFactory(), meter)
    invoice(meter, "5", number="INV-1")
    before = meter_totals(meter), db.session.scalar(sa.select(sa.func.count(Invoice.id)))
    with pytest.raises(billing.BillingError, match=message):
        attempt(db.session.get(Meter, meter.id), db.session.get(Customer, customer.id))
    db.session.rollback()
    assert (meter_totals(meter), db.session.scalar(sa.select(sa.func.count(Invoice.id)))) == before


def test_a_meter_active_elsewhere_cannot_be_reactivated_here_and_the_database_refuses_two(app):
    meter = MeterFactory()
    hotel, bakery = assigned(CustomerFactory(), meter), CustomerFactory()
    billing.assign_meter(meter, bakery, date(2026, 11, 20))
    old = db.session.scalar(sa.select(MeterAssignment).where(MeterAssignment.customer_id == hotel.id))
    with pytest.raises(billing.BillingError, match="assigned to another customer"):
        billing.reactivate(old)
    db.session.rollback()
    db.session.add(MeterAssignment(customer_id=hotel.id, meter_id=meter.id, started_on=DAY, is_active=True))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_billing_tab_assigns_meters_and_records_invoices_and_payments(client, auth):
    auth.login("finance")
    customer = CustomerFactory(code="HOTEL")
    assert (
        client.post(
            "/customers/HOTEL/meters", data={"assign-serial": "m-77", "assign-started_on": "2026-11-01"}
        ).status_code
        == 302
    )
    meter = db.session.scalar(sa.select(Meter).where(Meter.serial == "M-77"))
    invoice_form = {
        "invoice-meter_id": meter.id,
        "invoice-number": "INV-9",
        "invoice-amount": "150.000",
        "invoice-issued_on": "2026-11-01",
        "invoice-due_on": "2026-11-30",
    }
    assert client.post("/customers/HOTEL/invoices", data=invoice_form).status_code == 302
    payment_form = {
        "payment-meter_id": meter.id,
        "payment-amount": "200.000",
        "payment-paid_on": "2026-11-10",
        "payment-reference": "BCA 123",
    }
    assert client.post("/customers/HOTEL/payments", data=payment_form).status_code == 302
    assert customer_totals(customer) == (D("0.00"), D("50000.00"))
    page = client.get("/customers/HOTEL?tab=billing").get_data(as_text=True)
    assert "INV-9" in page and "BCA 123" in page and "Rp50.000,00" in page
    assignment = db.session.scalar(sa.select(MeterAssignment))
    client.post(f"/customers/HOTEL/assignments/{assignment.id}/deactivate")
    assert customer_totals(customer) == (D("0.00"), D("0.00"))
    client.post(f"/customers/HOTEL/assignments/{assignment.id}/reactivate")
    assert customer_totals(customer) == (D("0.00"), D("50000.00"))


@pytest.mark.parametrize(
    ("url", "form", "message"),
    [
        (
            "/customers/HOTEL/invoices",
            {
                "invoice-number": "INV-1",
                "invoice-amount": "1",
                "invoice-issued_on": "2026-11-01",
                "invoice-due_on": "2026-11-02",
            },
            "already used",
        ),
        (
            "/customers/HOTEL/invoices",
            {
                "invoice-number": "INV-2",
                "invoice-amount": "1,5.0",
                "invoice-issued_on": "2026-11-01",
                "invoice-due_on": "2026-11-02",
            },
            "separators",
        ),
        ("/customers/HOTEL/payments", {"payment-amount": "0", "payment-paid_on": "2026-11-01"}, "greater than zero"),
        ("/customers/HOTEL/payments", {"payment-amount": "5", "payment-paid_on": ""}, "Enter the payment date"),
        ("/customers/HOTEL/meters", {"assign-serial": "", "assign-started_on": "2026-11-01"}, "Enter the meter"),
    ],
)
def test_bad_billing_input_on_the_page_is_refused(client, auth, url, form, message):
    auth.login("finance")
    meter = MeterFactory()
    assigned(CustomerFactory(code="HOTEL"), meter)
    invoice(meter, "5", number="INV-1")
    prefix = url.rsplit("/", 1)[1].rstrip("s").replace("meter", "assign")
    form = {f"{prefix}-meter_id": meter.id} | form if prefix != "assign" else form
    before = meter_totals(meter), db.session.scalar(sa.select(sa.func.count(Invoice.id)))
    response = client.post(url, data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert (meter_totals(meter), db.session.scalar(sa.select(sa.func.count(Invoice.id)))) == before


billing_steps = st.lists(
    st.tuples(
        st.sampled_from(["invoice", "payment", "move", "deactivate", "reactivate", "delete_invoice"]),
        st.integers(min_value=0, max_value=2),
        st.integers(min_value=0, max_value=2),
        st.decimals(min_value=D("0.01"), max_value=D("900000"), places=2),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=billing_steps)
def test_random_billing_sequences_leave_the_billing_checks_clean(app, steps):
    meters = [MeterFactory() for _ in range(3)]
    customers = [CustomerFactory() for _ in range(3)]
    for meter, customer in zip(meters, customers, strict=True):
        billing.assign_meter(meter, customer, DAY)
    for n, (operation, meter_index, customer_index, amount) in enumerate(steps):
        meter, customer = meters[meter_index], customers[customer_index]
        try:
            if operation == "invoice":
                billing.add_invoice(meter, f"R-{meter.id}-{n}", amount, DAY, DAY)
            elif operation == "payment":
                billing.add_payment(meter, amount, DAY)
            elif operation == "move":
                billing.assign_meter(meter, customer, DAY)
            else:
                assignment = db.session.scalar(
                    sa.select(MeterAssignment)
                    .where(MeterAssignment.meter_id == meter.id)
                    .order_by(MeterAssignment.id.desc())
                )
                if operation == "deactivate":
                    billing.deactivate(assignment, DAY)
                elif operation == "reactivate":
                    billing.reactivate(assignment)
                elif (doomed := db.session.scalar(sa.select(Invoice).where(Invoice.meter_id == meter.id))) is not None:
                    db.session.delete(doomed)
                    db.session.commit()
        except billing.BillingError:
            db.session.rollback()
    assert clean()


def test_concurrent_payments_on_one_meter_all_count(app):
    customer = assigned(CustomerFactory(), meter := MeterFactory())
    meter_id = meter.id  # read here: the threads must not touch this session's objects
    db.session.commit()
    barrier = threading.Barrier(6)
    failures: list = []

    def pay():
        with app.app_context():
            barrier.wait()
            try:
                billing.add_payment(db.session.get(Meter, meter_id), D("1000"), DAY)
            except Exception as error:  # reported below, with what the thread met
                failures.append(error)

    threads = [threading.Thread(target=pay) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert meter_totals(meter) == (D("0.00"), D("6000.00"))
    assert customer_totals(customer) == (D("0.00"), D("6000.00"))
    assert clean()
