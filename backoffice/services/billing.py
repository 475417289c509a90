"""Meters and postpaid billing: each write is one transaction, and the hooks keep the meter and
customer totals right within it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Customer, Invoice, Meter, MeterAssignment, Payment
from backoffice.money import MoneyError, check_amount
from backoffice.services import expect_version, transaction


class BillingError(ValueError):
    """A billing write refused; nothing was written."""


def add_meter(serial: str) -> Meter:
    serial = serial.strip().upper()
    if not serial or len(serial) > 40:
        raise BillingError("A meter needs a serial of at most 40 characters.")
    with transaction() as session:
        if session.scalar(select(Meter.id).where(Meter.serial == serial)) is not None:
            raise BillingError(f"Meter {serial} already exists.")
        meter = Meter(serial=serial)
        session.add(meter)
    return meter


def assign_meter(meter: Meter, customer: Customer, started_on: date) -> MeterAssignment:
    """Put the meter at the customer's site; an active assignment elsewhere ends that day (a move)."""
    with transaction() as session:
        current = active_assignment(meter.id)
        if current is not None:
            if current.customer_id == customer.id:
                raise BillingError(f"Meter {meter.serial} is already assigned to {customer.code}.")
            if started_on < current.started_on:
                raise BillingError(f"Meter {meter.serial} has been at another customer since {current.started_on}.")
            current.is_active, current.ended_on = False, started_on
            session.flush()
        assignment = MeterAssignment(customer_id=customer.id, meter_id=meter.id, started_on=started_on, is_active=True)
        session.add(assignment)
    return assignment


def deactivate(assignment: MeterAssignment, ended_on: date) -> None:
    """The meter stops counting towards the customer's totals."""
    if not assignment.is_active:
        raise BillingError("This assignment is already inactive.")
    if ended_on < assignment.started_on:
        raise BillingError("An assignment cannot end before it started.")
    with transaction():
        assignment.is_active, assignment.ended_on = False, ended_on


def reactivate(assignment: MeterAssignment) -> None:
    """The meter counts towards the customer's totals again, unless it is active elsewhere now."""
    if assignment.is_active:
        raise BillingError("This assignment is already active.")
    with transaction():
        current = active_assignment(assignment.meter_id)
        if current is not None:
            raise BillingError("The meter is assigned to another customer now; move it instead.")
        assignment.is_active, assignment.ended_on = True, None


def add_invoice(meter: Meter, number: str, amount: Decimal, issued_on: date, due_on: date) -> Invoice:
    number, amount = _invoice_values(number, amount, issued_on, due_on)
    with transaction() as session:
        _refuse_number_taken(number)
        invoice = Invoice(meter_id=meter.id, number=number, amount=amount, issued_on=issued_on, due_on=due_on)
        session.add(invoice)
    return invoice


def change_invoice(
    invoice: Invoice, number: str, amount: Decimal, due_on: date, *, version: int | None = None
) -> Invoice:
    """Correct an invoice's number, amount or due date; a new amount moves its meter and is posted to the books.

    ``version``: the one the invoice's form was loaded at; raises ``ChangedMeanwhile`` if it is not the invoice's now.
    """
    number, amount = _invoice_values(number, amount, invoice.issued_on, due_on)
    with transaction():
        expect_version(invoice, version)
        _refuse_number_taken(number, invoice.id)
        invoice.number, invoice.amount, invoice.due_on = number, amount, due_on
    return invoice


def add_payment(meter: Meter, amount: Decimal, paid_on: date, reference: str = "") -> Payment:
    amount = _positive(amount)
    with transaction() as session:
        payment = Payment(meter_id=meter.id, amount=amount, paid_on=paid_on, reference=reference.strip()[:100])
        session.add(payment)
    return payment


def active_assignment(meter_id: int) -> MeterAssignment | None:
    """Where the meter is now: its active assignment, if any."""
    return db.session.scalar(
        select(MeterAssignment).where(MeterAssignment.meter_id == meter_id, MeterAssignment.is_active)
    )


def _invoice_values(number: str, amount: Decimal, issued_on: date, due_on: date) -> tuple[str, Decimal]:
    amount = _positive(amount)
    number = number.strip()
    if not number or len(number) > 40:
        raise BillingError("An invoice needs a number of at most 40 characters.")
    if due_on < issued_on:
        raise BillingError("An invoice cannot fall due before it is issued.")
    return number, amount


def _refuse_number_taken(number: str, invoice_id: int | None = None) -> None:
    query = select(Invoice.id).where(Invoice.number == number, Invoice.id != invoice_id)
    with db.session.no_autoflush:
        if db.session.scalar(query) is not None:
            raise BillingError(f"Invoice number {number} is already used.")


def _positive(amount: Decimal) -> Decimal:
    try:
        amount = check_amount(amount)
    except MoneyError as error:
        raise BillingError(str(error)) from None
    if amount == 0:
        raise BillingError("Enter an amount greater than zero.")
    return amount
