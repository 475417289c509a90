"""Postpaid billing: meter balances from invoices and payments, customer totals by assignment period."""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.models import Customer, Invoice, Meter, MeterAssignment, Payment, RunMode
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import billing, meter_invoices, meter_lifecycle, meter_payments
from tests.factories import CustomerFactory, MeterFactory, corrupt, stored

D = Decimal
DAY = date(2026, 11, 1)
MOVE = date(2026, 11, 20)
BILLING_CHECKS = ["meter_balance", "customer_meter_totals"]


def meter_totals(meter: Meter) -> tuple[Decimal, Decimal]:
    return stored("meters", "balance", meter.id), stored("meters", "overpayment", meter.id)


def customer_totals(customer: Customer) -> tuple[Decimal, Decimal]:
    return stored("customers", "amount_due", customer.id), stored("customers", "overpayment", customer.id)


def invoice(meter, amount, number=None):
    number = number or f"INV-{meter.id}-{amount}-{db.session.scalar(sa.select(sa.func.count(Invoice.id)))}"
    return meter_invoices.add_invoice(meter, number, D(amount), DAY, date(2026, 11, 30))


def tomorrow() -> date:
    return local_today() + timedelta(days=1)


def assigned(customer, *meters):
    for meter in meters:
        meter_lifecycle.assign_meter(meter, customer, DAY)
    return customer


def move(meter, customer, on):
    """Move the meter, confirming the move from where it is now."""
    return meter_lifecycle.assign_meter(meter, customer, on, confirm_move_from=billing.active_assignment(meter.id).id)


def assignments() -> list[tuple]:
    db.session.rollback()
    rows = db.session.execute(
        sa.select(MeterAssignment.customer_id, MeterAssignment.meter_id, MeterAssignment.ended_on).order_by(
            MeterAssignment.id
        )
    )
    return [tuple(row) for row in rows]


def clean() -> bool:
    return run(RunMode.VERIFY, checks=BILLING_CHECKS).mismatched == 0


def test_a_meter_owes_its_invoices_less_its_payments(app):
    meter = MeterFactory()
    assigned(CustomerFactory(), meter)
    invoice(meter, "500000")
    invoice(meter, "250000")
    meter_payments.add_payment(meter, D("600000"), DAY, "transfer")
    assert meter_totals(meter) == (D("150000.00"), D("0.00"))
    assert clean()


def test_paying_more_than_invoiced_is_an_overpayment(app):
    meter = MeterFactory()
    assigned(CustomerFactory(), meter)
    invoice(meter, "100000")
    meter_payments.add_payment(meter, D("130000.50"), DAY)
    assert meter_totals(meter) == (D("0.00"), D("30000.50"))
    assert clean()


def test_a_customer_owes_per_meter_what_is_dated_in_their_periods_even_deactivated(app):
    first, second = MeterFactory(), MeterFactory()
    customer = assigned(CustomerFactory(), first, second)
    invoice(first, "100000")
    invoice(second, "40000")
    meter_payments.add_payment(second, D("50000"), DAY)
    assert customer_totals(customer) == (D("100000.00"), D("10000.00"))
    assignment = db.session.scalar(sa.select(MeterAssignment).where(MeterAssignment.meter_id == first.id))
    meter_lifecycle.deactivate(assignment, date(2026, 11, 15))
    assert customer_totals(customer) == (D("100000.00"), D("10000.00"))
    with pytest.raises(billing.BillingError, match="not assigned to any customer on 16 Nov 2026"):
        meter_payments.add_payment(first, D("1"), date(2026, 11, 16))
    meter_lifecycle.reactivate(assignment)
    meter_payments.add_payment(first, D("1"), date(2026, 11, 16))
    assert customer_totals(customer) == (D("99999.00"), D("10000.00"))
    assert clean()


def test_invoices_and_payments_stay_with_whoever_held_the_meter_on_their_dates(app):
    meter = MeterFactory()
    hotel, bakery = assigned(CustomerFactory(), meter), CustomerFactory()
    invoice(meter, "70000")
    move(meter, bakery, MOVE)
    assert customer_totals(hotel) == (D("70000.00"), D("0.00"))
    assert customer_totals(bakery) == (D("0.00"), D("0.00"))
    # The move's own day is the new holder's; the bakery then pays more than it was invoiced.
    meter_invoices.add_invoice(meter, "INV-B", D("30000"), MOVE, date(2026, 11, 30))
    meter_payments.add_payment(meter, D("100000"), date(2026, 11, 21))
    assert customer_totals(hotel) == (D("70000.00"), D("0.00"))
    assert customer_totals(bakery) == (D("0.00"), D("70000.00"))
    assert meter_totals(meter) == (D("0.00"), D("0.00"))  # the meter: 100,000 invoiced and 100,000 paid
    assert clean()


def test_a_customer_who_holds_a_meter_again_owes_over_both_periods(app):
    meter = MeterFactory()
    hotel, bakery = assigned(CustomerFactory(), meter), CustomerFactory()
    invoice(meter, "70000")
    move(meter, bakery, date(2026, 11, 10))
    meter_invoices.add_invoice(meter, "INV-B", D("5000"), date(2026, 11, 12), date(2026, 11, 30))
    move(meter, hotel, MOVE)
    meter_payments.add_payment(meter, D("100000"), date(2026, 11, 21))
    assert customer_totals(hotel) == (D("0.00"), D("30000.00"))
    assert customer_totals(bakery) == (D("5000.00"), D("0.00"))
    assert clean()


def test_the_billing_tab_shows_what_is_owed_on_a_meter_held_twice_once(client, auth):
    auth.login("finance")
    meter = MeterFactory()
    hotel, bakery = assigned(CustomerFactory(code="HOTEL"), meter), CustomerFactory()
    move(meter, bakery, date(2026, 11, 10))
    move(meter, hotel, MOVE)
    meter_payments.add_payment(meter, D("30000"), date(2026, 11, 21))
    page = client.get("/customers/HOTEL?tab=billing").get_data(as_text=True)
    periods = page.split("<h2>Meters</h2>", 1)[1].split("</table>", 1)[0]
    assert periods.count("<tr class=") == 2 and periods.count("Rp30.000,00") == 1


def test_an_unconfirmed_move_says_where_the_meter_is_and_what_is_due_writing_nothing(app):
    meter = MeterFactory(serial="M-9")
    hotel, bakery = assigned(CustomerFactory(code="HOTEL"), meter), CustomerFactory(code="BAKERY")
    invoice(meter, "70000")
    before = assignments()
    message = r"M-9 is at HOTEL since 1 Nov 2026, where Rp70\.000,00 is due and Rp0,00 overpaid: confirm the move"
    with pytest.raises(meter_lifecycle.MoveNotConfirmed, match=message) as refused:
        meter_lifecycle.assign_meter(meter, bakery, MOVE)
    assert refused.value.owed == billing.Owed(D("70000.00"), D("0.00"))
    # A confirmation of another assignment than the one there now (a stale page) is no confirmation.
    with pytest.raises(meter_lifecycle.MoveNotConfirmed):
        meter_lifecycle.assign_meter(meter, bakery, MOVE, confirm_move_from=refused.value.current.id + 1)
    assert assignments() == before
    assert customer_totals(hotel) == (D("70000.00"), D("0.00"))


def test_a_move_or_a_deactivation_cannot_take_away_what_is_dated_in_the_period(app):
    meter = MeterFactory()
    hotel, bakery = assigned(CustomerFactory(code="HOTEL"), meter), CustomerFactory()
    meter_invoices.add_invoice(meter, "INV-1", D("5"), date(2026, 11, 10), date(2026, 11, 30))
    before = assignments()
    with pytest.raises(billing.BillingError, match=r"1 invoice\(s\) dated on or after 5 Nov 2026 at HOTEL"):
        move(meter, bakery, date(2026, 11, 5))
    assignment = db.session.scalar(sa.select(MeterAssignment))
    with pytest.raises(billing.BillingError, match="nobody would hold the meter"):
        meter_lifecycle.deactivate(assignment, date(2026, 11, 10))
    assert assignments() == before
    assert customer_totals(hotel) == (D("5.00"), D("0.00"))


def test_deleting_an_invoice_updates_the_meter_and_the_customer(app):
    meter = MeterFactory()
    customer = assigned(CustomerFactory(), meter)
    doomed = invoice(meter, "90000")
    invoice(meter, "10000")
    meter_invoices.withdraw_invoice(doomed, "Issued twice")
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


def journal_of(meters) -> list[tuple]:
    """Each entry of the meters' invoices and payments: what it records, its date, and its lines."""
    db.session.rollback()
    rows = db.session.execute(
        sa.text(
            "SELECT e.source_type, s.number, e.entry_date, e.status, a.code, l.debit, l.credit "
            "FROM journal_entries e "
            "JOIN (SELECT 'invoice' AS type, id, meter_id, number FROM invoices "
            "      UNION ALL SELECT 'payment', id, meter_id, reference FROM payments) s "
            "  ON s.type = e.source_type AND s.id = e.source_id "
            "JOIN journal_lines l ON l.entry_id = e.id JOIN accounts a ON a.id = l.account_id "
            "WHERE s.meter_id = ANY(:meters) ORDER BY s.number, a.code"
        ),
        {"meters": [meter.id for meter in meters]},
    )
    return [tuple(row) for row in rows]


def billed(meters) -> list[tuple]:
    db.session.rollback()
    return [
        (meter_totals(meter), stored("invoices", "outstanding", invoice_id))
        for meter in meters
        for invoice_id in db.session.scalars(
            sa.select(Invoice.id).where(Invoice.meter_id == meter.id).order_by(Invoice.id)
        )
    ]


def test_invoices_and_payments_added_in_a_batch_are_what_the_forms_write_one_by_one(app):
    def installation(prefix):
        meters = [MeterFactory(), MeterFactory()]
        customers = [assigned(CustomerFactory(), meter) for meter in meters]
        invoices = [(0, f"{prefix}-1", "300"), (1, f"{prefix}-2", "120.50"), (0, f"{prefix}-3", "200")]
        payments = [(0, "450", f"{prefix}-P1", (f"{prefix}-3",)), (1, "100", f"{prefix}-P2", ())]
        return meters, customers, invoices, payments

    meters, customers, invoices, payments = installation("ONE")
    for at, number, amount in invoices:
        meter_invoices.add_invoice(meters[at], number, D(amount), DAY, MOVE)
    for at, amount, reference, paid in payments:
        ids = [db.session.scalar(sa.select(Invoice.id).where(Invoice.number == number)) for number in paid]
        meter_payments.add_payment(meters[at], D(amount), DAY, reference, invoice_ids=ids)

    batch_meters, batch_customers, batch_invoices, batch_payments = installation("ALL")
    meter_invoices.add_invoices(
        [
            meter_invoices.NewInvoice(batch_meters[at].id, number, D(amount), DAY, MOVE)
            for at, number, amount in batch_invoices
        ]
    )
    ids = {number: invoice_id for invoice_id, number in db.session.execute(sa.select(Invoice.id, Invoice.number))}
    meter_payments.add_payments(
        [
            meter_payments.NewPayment(batch_meters[at].id, D(amount), DAY, reference, [ids[number] for number in paid])
            for at, amount, reference, paid in batch_payments
        ]
    )

    def same(rows):
        return [tuple(str(value).replace("ONE-", "").replace("ALL-", "") for value in row) for row in rows]

    assert same(journal_of(batch_meters)) == same(journal_of(meters))
    assert len(journal_of(meters)) == 10
    assert billed(batch_meters) == billed(meters)
    assert [customer_totals(c) for c in batch_customers] == [customer_totals(c) for c in customers]
    paid_by_choice = db.session.scalar(sa.select(Invoice.outstanding).where(Invoice.number == "ALL-3"))
    assert paid_by_choice == D("0.00")
    assert clean()


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (
            lambda m: [
                meter_invoices.NewInvoice(m.id, "B-1", D("5"), DAY, DAY),
                meter_invoices.NewInvoice(m.id, "B-1", D("6"), DAY, DAY),
            ],
            "B-1 is already used",
        ),
        (
            lambda m: [
                meter_invoices.NewInvoice(m.id, "B-2", D("5"), DAY, DAY),
                meter_invoices.NewInvoice(m.id, "INV-1", D("6"), DAY, DAY),
            ],
            "INV-1 is already used",
        ),
        (
            lambda m: [
                meter_invoices.NewInvoice(m.id, "B-3", D("5"), DAY, DAY),
                meter_invoices.NewInvoice(m.id, "B-4", D("5"), date(2026, 10, 31), DAY),
            ],
            "not assigned to any",
        ),
        (
            lambda m: [meter_payments.NewPayment(m.id, D("5"), DAY), meter_payments.NewPayment(m.id, D("0"), DAY)],
            "greater than zero",
        ),
        (
            lambda m: [
                meter_payments.NewPayment(m.id, D("5"), DAY),
                meter_payments.NewPayment(m.id, D("5"), tomorrow()),
            ],
            "cannot be dated after today",
        ),
    ],
)
def test_a_batch_with_one_refused_invoice_or_payment_writes_nothing(app, batch, message):
    meter = MeterFactory()
    assigned(CustomerFactory(), meter)
    invoice(meter, "5", number="INV-1")
    before = meter_totals(meter), db.session.scalar(sa.select(sa.func.count(Invoice.id))), journal_of([meter])
    given = batch(db.session.get(Meter, meter.id))
    add = (
        meter_invoices.add_invoices if isinstance(given[0], meter_invoices.NewInvoice) else meter_payments.add_payments
    )
    with pytest.raises(billing.BillingError, match=message):
        add(given)
    db.session.rollback()
    assert (meter_totals(meter), db.session.scalar(sa.select(sa.func.count(Invoice.id))), journal_of([meter])) == before


@pytest.mark.parametrize(
    ("attempt", "message"),
    [
        (lambda m, c: meter_invoices.add_invoice(m, "INV-1", D("5"), DAY, DAY), "already used"),
        (lambda m, c: meter_invoices.add_invoice(m, "INV-2", D("0"), DAY, DAY), "greater than zero"),
        (lambda m, c: meter_invoices.add_invoice(m, "INV-3", D("5"), DAY, date(2026, 10, 1)), "due before"),
        (lambda m, c: meter_payments.add_payment(m, D("-1"), DAY), "must not be negative"),
        (lambda m, c: meter_payments.add_payment(m, D("1.001"), DAY), "2 decimal places"),
        (lambda m, c: meter_invoices.add_invoice(m, "INV-4", D("5"), date(2026, 10, 31), DAY), "not assigned to any"),
        (
            lambda m, c: meter_payments.add_payment(m, D("5"), date(2026, 10, 31)),
            "not assigned to any customer on 31 Oct 2026",
        ),
        (lambda m, c: meter_payments.add_payment(m, D("5"), DAY, customer_id=CustomerFactory().id), "was at C"),
        (lambda m, c: meter_lifecycle.assign_meter(m, c, DAY), "already assigned"),
        (lambda m, c: meter_lifecycle.assign_meter(m, CustomerFactory(), DAY), "a move must be dated after"),
        (
            lambda m, c: meter_lifecycle.assign_meter(MeterFactory(), c, date(9999, 12, 31)),
            "cannot be dated after today",
        ),
        (lambda m, c: meter_lifecycle.deactivate(billing.active_assignment(m.id), date(9999, 12, 31)), "after today"),
        (
            lambda m, c: meter_invoices.add_invoice(m, "INV-5", D("5"), tomorrow(), tomorrow()),
            "An invoice cannot be dated",
        ),
        (lambda m, c: meter_payments.add_payment(m, D("5"), tomorrow()), "A payment cannot be dated after today"),
        (lambda m, c: meter_lifecycle.add_meter(m.serial), "already exists"),
        (lambda m, c: meter_lifecycle.meter_by_serial("M-404"), "M-404 does not exist"),
    ],
)
def test_bad_billing_writes_are_refused_and_write_nothing(app, attempt, message):
    meter = MeterFactory()
    customer = assigned(CustomerFactory(), meter)
    invoice(meter, "5", number="INV-1")

    def state():
        return meter_totals(meter), db.session.scalar(sa.select(sa.func.count(Invoice.id))), assignments()

    before = state()
    with pytest.raises(billing.BillingError, match=message):
        attempt(db.session.get(Meter, meter.id), db.session.get(Customer, customer.id))
    db.session.rollback()
    assert state() == before


def test_a_meter_active_elsewhere_stays_inactive_here_and_the_database_refuses_two(app):
    meter = MeterFactory()
    hotel, bakery = assigned(CustomerFactory(), meter), CustomerFactory()
    move(meter, bakery, MOVE)
    old = db.session.scalar(sa.select(MeterAssignment).where(MeterAssignment.customer_id == hotel.id))
    with pytest.raises(billing.BillingError, match="assigned to another customer"):
        meter_lifecycle.reactivate(old)
    db.session.rollback()
    db.session.add(MeterAssignment(customer_id=hotel.id, meter_id=meter.id, started_on=DAY, is_active=True))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_billing_tab_assigns_meters_and_records_invoices_and_payments(client, auth):
    auth.login("finance")
    customer = CustomerFactory(code="HOTEL")
    meter = MeterFactory(serial="M-77")
    assert (
        client.post(
            "/customers/HOTEL/meters", data={"assign-serial": "m-77", "assign-started_on": "2026-11-01"}
        ).status_code
        == 302
    )
    invoice_form = {
        "invoice-meter_id": meter.serial,
        "invoice-number": "INV-9",
        "invoice-amount": "150.000",
        "invoice-issued_on": "2026-11-01",
        "invoice-due_on": "2026-11-30",
    }
    assert client.post("/customers/HOTEL/invoices", data=invoice_form).status_code == 302
    payment_form = {
        "payment-meter_id": meter.serial,
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
    assert assignments() == [(customer.id, meter.id, local_today())]
    assert customer_totals(customer) == (D("0.00"), D("50000.00"))  # what was paid while it was here stays
    client.post(f"/customers/HOTEL/assignments/{assignment.id}/reactivate")
    assert assignments() == [(customer.id, meter.id, None)]


def test_assigning_an_unknown_serial_is_refused_and_says_how_to_add_the_meter(client, auth):
    auth.login("finance")
    CustomerFactory(code="HOTEL")
    form = {"assign-serial": "m-404", "assign-started_on": "2026-11-01"}
    response = client.post("/customers/HOTEL/meters", data=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Meter M-404 does not exist" in page and "backoffice meters add M-404" in page
    assert db.session.scalar(sa.select(sa.func.count(Meter.id))) == 0
    assert assignments() == []


def test_a_page_move_says_where_the_meter_is_what_is_due_and_moves_once_confirmed(client, auth):
    auth.login("finance")
    meter = MeterFactory(serial="M-1")
    bakery = assigned(CustomerFactory(code="BAKERY", name="Roti Bakery"), meter)
    hotel = CustomerFactory(code="HOTEL")
    invoice(meter, "70000")
    form = {"assign-serial": "M-1", "assign-started_on": "2026-11-20"}
    asked = client.post("/customers/HOTEL/meters", data=form)
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "Move meter M-1 here?" in page and "BAKERY — Roti Bakery" in page and "1 Nov 2026" in page
    assert 'id="move-due">Rp70.000,00' in page and "Confirm the move" in page
    assert assignments() == [(bakery.id, meter.id, None)]
    for stale in ("", "x", "9" * 5000):
        again = client.post("/customers/HOTEL/meters", data=form | {"assign-confirm_move_from": stale})
        assert again.status_code == 200 and "Confirm the move" in again.get_data(as_text=True)
    assert assignments() == [(bakery.id, meter.id, None)]
    current = billing.active_assignment(meter.id)
    moved = client.post("/customers/HOTEL/meters", data=form | {"assign-confirm_move_from": str(current.id)})
    assert moved.status_code == 302
    assert assignments() == [(bakery.id, meter.id, MOVE), (hotel.id, meter.id, None)]
    assert customer_totals(bakery) == (D("70000.00"), D("0.00"))
    assert customer_totals(hotel) == (D("0.00"), D("0.00"))


def test_an_invoice_entered_for_a_customer_not_holding_the_meter_then_is_refused(client, auth):
    auth.login("finance")
    meter = MeterFactory(serial="M-1")
    assigned(CustomerFactory(code="BAKERY"), meter)
    move(meter, CustomerFactory(code="HOTEL"), MOVE)
    form = {
        "invoice-meter_id": meter.serial,
        "invoice-number": "INV-1",
        "invoice-amount": "5",
        "invoice-issued_on": "2026-11-05",
        "invoice-due_on": "2026-11-30",
    }
    response = client.post("/customers/HOTEL/invoices", data=form)
    assert response.status_code == 422
    assert "On 5 Nov 2026 meter M-1 was at BAKERY, not at HOTEL" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 0
    assert client.post("/customers/BAKERY/invoices", data=form).status_code == 302


def test_an_invoice_is_edited_only_on_the_page_of_whoever_held_the_meter_at_issue(client, auth):
    auth.login("finance")
    meter = MeterFactory(serial="M-1")
    assigned(CustomerFactory(code="BAKERY"), meter)
    billed = meter_invoices.add_invoice(meter, "INV-1", D("5"), date(2026, 11, 5), date(2026, 11, 30))
    move(meter, CustomerFactory(code="HOTEL"), MOVE)
    assert client.get(f"/customers/HOTEL/invoices/{billed.id}/edit").status_code == 404
    assert client.get(f"/customers/BAKERY/invoices/{billed.id}/edit").status_code == 200


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
    form = {f"{prefix}-meter_id": meter.serial} | form if prefix != "assign" else form
    before = meter_totals(meter), db.session.scalar(sa.select(sa.func.count(Invoice.id)))
    response = client.post(url, data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert (meter_totals(meter), db.session.scalar(sa.select(sa.func.count(Invoice.id)))) == before


@pytest.mark.parametrize(
    ("url", "form", "field", "message"),
    [
        (
            "/customers/HOTEL/invoices",
            {"invoice-number": "INV-2", "invoice-issued_on": "2026-11-10", "invoice-due_on": "2026-11-09"},
            "invoice-due_on",
            "cannot fall due before it is issued",
        ),
        (
            "/customers/HOTEL/invoices",
            {"invoice-number": "INV-1", "invoice-issued_on": "2026-11-10", "invoice-due_on": "2026-11-30"},
            "invoice-number",
            "Invoice number INV-1 is already used.",
        ),
        (
            "/customers/HOTEL/invoices",
            {"invoice-number": "INV-2", "invoice-issued_on": "2026-10-01", "invoice-due_on": "2026-11-30"},
            "invoice-issued_on",
            "was not assigned to any customer on 1 Oct 2026",
        ),
        (
            "/customers/HOTEL/payments",
            {"payment-paid_on": "2026-10-01"},
            "payment-paid_on",
            "was not assigned to any customer on 1 Oct 2026",
        ),
    ],
)
def test_a_refused_billing_entry_says_why_under_the_field_it_is_about(client, auth, url, form, field, message):
    auth.login("finance")
    meter = MeterFactory(serial="M-1")
    assigned(CustomerFactory(code="HOTEL"), meter)
    invoice(meter, "5", number="INV-1")
    prefix = field.split("-")[0]
    response = client.post(url, data={f"{prefix}-meter_id": meter.serial, f"{prefix}-amount": "5"} | form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)

    def error_under(name: str) -> str:
        return re.search(rf'id="error-{name}">([^<]*)</div>', page).group(1)

    assert message in error_under(field)
    assert error_under(f"{prefix}-amount") == ""
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 1


billing_steps = st.lists(
    st.tuples(
        st.sampled_from(["invoice", "payment", "move", "deactivate", "reactivate", "delete_invoice"]),
        st.integers(min_value=0, max_value=2),
        st.integers(min_value=0, max_value=2),
        st.decimals(min_value=D("0.01"), max_value=D("900000"), places=2),
        st.integers(min_value=0, max_value=20),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=billing_steps)
def test_random_billing_sequences_leave_the_billing_checks_clean(app, steps):
    """Invoices, payments, moves and deactivations on dates in November; the customers' totals are also
    compared with the definition worked out in Python."""
    meters = [MeterFactory() for _ in range(3)]
    customers = [CustomerFactory() for _ in range(3)]
    for meter, customer in zip(meters, customers, strict=True):
        meter_lifecycle.assign_meter(meter, customer, DAY)
    for n, (operation, meter_index, customer_index, amount, day) in enumerate(steps):
        meter, customer, on = meters[meter_index], customers[customer_index], DAY + timedelta(days=day)
        try:
            if operation == "invoice":
                meter_invoices.add_invoice(meter, f"R-{meter.id}-{n}", amount, on, on)
            elif operation == "payment":
                meter_payments.add_payment(meter, amount, on)
            elif operation == "move":
                current = billing.active_assignment(meter.id)
                meter_lifecycle.assign_meter(meter, customer, on, confirm_move_from=current.id if current else None)
            else:
                assignment = db.session.scalar(
                    sa.select(MeterAssignment)
                    .where(MeterAssignment.meter_id == meter.id)
                    .order_by(MeterAssignment.id.desc())
                )
                if operation == "deactivate":
                    meter_lifecycle.deactivate(assignment, on)
                elif operation == "reactivate":
                    meter_lifecycle.reactivate(assignment)
                elif (doomed := db.session.scalar(sa.select(Invoice).where(Invoice.meter_id == meter.id))) is not None:
                    meter_invoices.withdraw_invoice(doomed, "Issued in error")
        except billing.BillingError:
            db.session.rollback()
    assert clean()
    owed = owed_by_period()
    assert {c.id: customer_totals(c) for c in customers} == {c.id: owed[c.id] for c in customers}


def owed_by_period() -> dict[int, tuple[Decimal, Decimal]]:
    """Each customer's (due, overpaid): per meter they held, what is dated in their periods of it (and not
    withdrawn)."""
    periods = db.session.execute(sa.select(MeterAssignment.__table__)).all()
    nets: dict[tuple[int, int], Decimal] = {}
    entries = [(i.meter_id, i.issued_on, i.amount) for i in db.session.scalars(sa.select(Invoice)) if not i.withdrawn]
    entries += [(p.meter_id, p.paid_on, -p.amount) for p in db.session.scalars(sa.select(Payment)) if not p.withdrawn]
    for meter_id, on, amount in entries:
        (holder,) = [
            p.customer_id
            for p in periods
            if p.meter_id == meter_id and p.started_on <= on and (p.ended_on is None or on < p.ended_on)
        ]
        nets[holder, meter_id] = nets.get((holder, meter_id), D(0)) + amount
    owed = {p.customer_id: (D("0.00"), D("0.00")) for p in periods}
    for (customer_id, _meter_id), net in nets.items():
        due, overpaid = owed[customer_id]
        owed[customer_id] = (due + max(net, D(0)), overpaid + max(-net, D(0)))
    return owed


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
                meter_payments.add_payment(db.session.get(Meter, meter_id), D("1000"), DAY)
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
