"""A closed customer takes no new movement: the posting core refuses every kind, a tariff leaves it out; and the
``customers`` commands add, edit, close and reopen customers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import literal

from backoffice.models import (
    BalanceTransaction,
    Customer,
    CustomerPricing,
    CustomerStatus,
    Discrepancy,
    JournalEntry,
    MeterAssignment,
    Payment,
    RunMode,
    RunStatus,
    TransactionCalculation,
)
from backoffice.models.types import Money, utcnow
from backoffice.platform.extensions import db
from backoffice.posting.locking import lock_customers
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import post
from backoffice.posting.refusals import CustomerClosed
from backoffice.posting.rules import Kind
from backoffice.posting.wallet_batches import post_many
from backoffice.reconcile.engine import run
from backoffice.services import billing, customers, installation, meter_lifecycle, metering, wallet
from tests.factories import AccountManagerFactory, CustomerFactory, MeterFactory, UserFactory, unit_of_work
from tests.rows import customer, written

D = Decimal
OCTOBER = date(2026, 10, 1)


def close(customer_id: int) -> None:
    """Close the customer as a concurrent admin would have, past the screens' own refusals."""
    db.session.execute(sa.update(Customer).where(Customer.id == customer_id).values(closed_at=utcnow()))
    db.session.commit()


WRITTEN = (BalanceTransaction, JournalEntry, Payment)
"""What a refused door must leave as it was, read by :func:`tests.rows.written`."""


@pytest.fixture
def hotel_id(app):
    """The id of the hotel (HOTEL), with Rp10.000 recharged."""
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer.id, D("10000"))
    return customer.id


@pytest.mark.parametrize(
    "movement",
    [
        Movement(kind=Kind.RECHARGE, amount=D("1000")),
        Movement(kind=Kind.CHARGE, amount=D("-1000")),
        Movement(kind=Kind.ADJUSTMENT, amount=D("-1000"), reason="goodwill", description="x"),
        Movement(kind=Kind.PAYMENT, amount=D("1000"), reference=Reference("payment", None)),
    ],
    ids=["recharge", "charge", "adjustment", "payment"],
)
def test_the_posting_core_refuses_any_movement_of_a_closed_customer(hotel_id, movement):
    close(hotel_id)
    before = written(*WRITTEN)
    with pytest.raises(CustomerClosed, match="Customer HOTEL is closed: it takes no new movement"):
        with unit_of_work() as connection:
            lock_customers(connection, [hotel_id])
            post(installation(), connection, Movement(**{**vars(movement), "customer_id": hotel_id}))
    assert written(*WRITTEN) == before


def test_movements_posted_together_are_refused_when_one_customer_is_closed(hotel_id):
    close(hotel_id)
    values = {
        "customer_id": literal(hotel_id),
        "position": literal(1),
        "kind": literal("charge"),
        "signed_amount": literal(D("-1.00"), Money),
        "value_date": literal(date.today()),
        "reference_type": literal(None, sa.String),
        "reference_id": literal(None, sa.Integer),
        "description": literal("Re-pricing"),
    }
    before = written(*WRITTEN)
    with pytest.raises(CustomerClosed):
        with unit_of_work() as connection:
            lock_customers(connection, [hotel_id])
            post_many(installation(), connection, sa.select(*(value.label(name) for name, value in values.items())))
    assert written(*WRITTEN) == before


def test_the_posting_core_refuses_a_payment_to_a_customer_closed_meanwhile_clearly(client, auth, hotel_id, monkeypatch):
    """The screen refuses it under the field (see test_customers_web); a customer closed after that check is
    refused by the posting core, and the answer says so rather than failing."""
    auth.login("finance")
    meter = MeterFactory(serial="M-1")
    meter_lifecycle.assign_meter(meter, db.session.get(Customer, hotel_id), OCTOBER)
    close(hotel_id)
    monkeypatch.setattr(billing, "refuse_closed", lambda customer: None)  # the check made before it was closed
    before = written(*WRITTEN)
    form = {"payment-meter_id": meter.serial, "payment-amount": "5.000", "payment-paid_on": "2026-10-05"}
    response = client.post("/customers/HOTEL/payments", data=form)
    assert response.status_code == 409
    assert "Customer HOTEL is closed: it takes no new movement." in response.get_data(as_text=True)
    assert written(*WRITTEN) == before


def test_a_tariff_leaves_closed_customers_out_and_refuses_one_named(app):
    open_one, closed_one = CustomerFactory(code="OPEN"), CustomerFactory(code="SHUT")
    for one in (open_one, closed_one):
        metering.set_pricing(one.id, OCTOBER, D("1000"), D("1"))
    close(closed_one.id)
    tariff = metering.checked_tariff(date(2026, 11, 1), D("2000"), None)
    assert metering.change_tariff(tariff).customers == 1
    db.session.rollback()
    assert (
        db.session.scalar(
            sa.select(sa.func.count(CustomerPricing.id)).where(CustomerPricing.customer_id == closed_one.id)
        )
        == 1
    )
    with pytest.raises(metering.TariffInputError, match="Closed customer\\(s\\), which take no new pricing: SHUT."):
        metering.checked_tariff(date(2026, 11, 1), D("2000"), None, customer_codes=["shut"])


def test_deleting_a_closed_customers_reading_is_refused(app):
    customer = CustomerFactory(code="HOTEL")
    meter = MeterFactory()
    assignment = meter_lifecycle.assign_meter(meter, customer, OCTOBER)
    metering.set_pricing(customer.id, OCTOBER, D("1000"), D("1"))
    wallet.recharge(customer.id, D("100000"))
    reading = metering.record_reading(meter.id, date(2026, 10, 5), D("1"))
    meter_lifecycle.deactivate(db.session.get(MeterAssignment, assignment.id), date(2026, 10, 10))
    close(customer.id)
    before = written(*WRITTEN)
    with pytest.raises(metering.MeteringError, match="Customer HOTEL is closed: its readings stay as they are."):
        metering.delete_reading(reading)
    assert written(*WRITTEN) == before


def test_customers_add_and_edit_keep_the_contact_fields(runner):
    AccountManagerFactory(email="dewi@example.com")
    added = runner.invoke(
        args=[
            "customers",
            "add",
            "c100",
            "Hotel Melati",
            "--manager",
            "Dewi@Example.com",
            "--suspend-below",
            "50.000",
            "--email",
            "Info@Melati.example",
            "--phone",
            "+62 21 555-0123",
        ]
    )
    assert added.exit_code == 0, added.output
    row = customer("C100")
    assert (row.suspend_below, row.email, row.phone, row.contact_person) == (
        D("50000.00"),
        "info@melati.example",
        "+62 21 555-0123",
        None,
    )
    edited = runner.invoke(
        args=[
            "customers",
            "edit",
            "C100",
            "--name",
            "Hotel Melati Baru",
            "--contact-person",
            "Ibu Sari",
            "--email",
            "",
            "--no-manager",
        ]
    )
    assert edited.exit_code == 0, edited.output
    assert "Saved customer C100 — Hotel Melati Baru." in edited.output
    row = customer("C100")
    assert (row.name, row.contact_person, row.email, row.phone, row.account_manager_id) == (
        "Hotel Melati Baru",
        "Ibu Sari",
        None,
        "+62 21 555-0123",
        None,
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["add", "C200", "Hotel", "--email", "nope"], 1, "is not an email address"),
        (["add", "C200", "Hotel", "--phone", "abc"], 1, "Not a phone number"),
        (["add", "C200", "Hotel", "--suspend-below", "1,234.5"], 2, "The separators are not read that way here."),
        (["edit", "C404", "--name", "X"], 1, "Unknown customer code: C404."),
        (["edit", "C100", "--name", " "], 1, "A customer needs a name"),
        (["edit", "C100", "--manager", "ghost@example.com"], 1, "No account manager with email ghost@example.com."),
        (["edit", "C100", "--manager", "dewi@example.com", "--no-manager"], 2, "Give --manager or --no-manager"),
        (["edit", "C100", "--suspend-below", "-1"], 2, "The amount must not be negative."),
    ],
)
def test_customers_commands_refuse_bad_input_with_a_message_and_write_nothing(runner, args, code, message):
    AccountManagerFactory(email="dewi@example.com")
    CustomerFactory(code="C100", name="Hotel")
    before = (customer("C100").version, db.session.scalar(sa.select(sa.func.count(Customer.id))))
    result = runner.invoke(args=["customers", *args])
    assert result.exit_code == code
    assert message in result.output
    assert (customer("C100").version, db.session.scalar(sa.select(sa.func.count(Customer.id)))) == before


def test_customers_close_asks_first_and_reopen_reopens(runner):
    admin = UserFactory(email="boss@example.com", role="admin")
    CustomerFactory(code="C100")
    declined = runner.invoke(args=["customers", "close", "C100", "--user", "boss@example.com"], input="n\n")
    assert declined.exit_code == 1 and "Aborted!" in declined.output
    assert "refuses every new movement" in declined.output
    assert customer("C100").closed_at is None
    accepted = runner.invoke(args=["customers", "close", "c100", "--user", "boss@example.com"], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert customer("C100").closed_by_id == admin.id
    reopened = runner.invoke(args=["customers", "reopen", "C100", "--user", "boss@example.com"])
    assert reopened.exit_code == 0, reopened.output
    assert customer("C100").closed_at is None


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["close", "C100", "--user", "clerk@example.com"], 1, "only an admin closes a customer"),
        (["close", "C100", "--user", "ghost@example.com"], 2, "No active user ghost@example.com."),
        (["close", "C404", "--user", "boss@example.com"], 1, "Unknown customer code: C404."),
        (["close", "RICH", "--user", "boss@example.com"], 1, "Its prepaid balance is Rp10.000,00"),
        (["reopen", "C100", "--user", "boss@example.com"], 1, "Customer C100 is not closed."),
    ],
)
def test_customers_close_and_reopen_refuse_with_a_message_and_write_nothing(runner, args, code, message):
    UserFactory(email="boss@example.com", role="admin")
    UserFactory(email="clerk@example.com")
    CustomerFactory(code="C100")
    wallet.recharge(CustomerFactory(code="RICH").id, D("10000"))
    result = runner.invoke(args=["customers", *args, *(["--yes"] if args[0] == "close" else [])])
    assert result.exit_code == code
    assert message in result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Customer.id)).where(Customer.closed_at.is_not(None))) == 0


def test_a_fix_leaves_a_closed_customers_reading_as_it_is_saying_why(app):
    customer = CustomerFactory(code="HOTEL")
    meter = MeterFactory()
    assignment = meter_lifecycle.assign_meter(meter, customer, OCTOBER)
    metering.set_pricing(customer.id, OCTOBER, D("1000"), D("1"))
    wallet.recharge(customer.id, D("100000"))
    reading = metering.record_reading(meter.id, date(2026, 10, 5), D("1"))
    meter_lifecycle.deactivate(db.session.get(MeterAssignment, assignment.id), date(2026, 10, 10))
    corrupt_calculation = sa.update(TransactionCalculation).where(TransactionCalculation.reading_id == reading)
    db.session.execute(corrupt_calculation.values(total_price=D("1.00")))
    db.session.commit()
    close(customer.id)
    before = written(*WRITTEN)
    record = run(RunMode.FIX, checks=["reading_calculation"])
    assert record.status is RunStatus.SUCCEEDED
    found = db.session.scalars(sa.select(Discrepancy)).all()
    assert {(d.entity_id, d.fixed) for d in found} == {(reading, False)}
    assert {d.reason for d in found} == {
        "customer HOTEL is closed: its fix would post a movement; reopen the customer to fix it"
    }
    assert written(*WRITTEN) == before


@pytest.mark.parametrize(("threshold", "status"), [("1000000", CustomerStatus.SUSPENDED), ("0", CustomerStatus.ACTIVE)])
def test_a_new_customer_is_saved_in_the_status_its_threshold_and_balance_give(app, threshold, status):
    customers.create_customer("c300", customers.Details(name="Hotel", suspend_below=D(threshold)))
    assert (customer("C300").balance, customer("C300").status) == (D("0"), status)
    assert run(RunMode.VERIFY, checks=["customer_status"]).mismatched == 0


def test_customers_add_with_a_threshold_above_the_balance_saves_it_suspended(runner):
    added = runner.invoke(args=["customers", "add", "C300", "Hotel", "--suspend-below", "5.000"])
    assert added.exit_code == 0, added.output
    assert customer("C300").status is CustomerStatus.SUSPENDED
    verified = runner.invoke(args=["reconcile", "verify", "--check", "customer_status"])
    assert verified.exit_code == 0, verified.output
