"""Meters and postpaid billing: each write is one transaction, and the hooks keep the meter and
customer totals right within it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Customer, Invoice, Meter, MeterAssignment, Payment
from backoffice.money import MoneyError, check_amount
from backoffice.services import transaction


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
    amount = _positive(amount)
    number = number.strip()
    if not number or len(number) > 40:
        raise BillingError("An invoice needs a number of at most 40 characters.")
    if due_on < issued_on:
        raise BillingError("An invoice cannot fall due before it is issued.")
    with transaction() as session:
        if session.scalar(select(Invoice.id).where(Invoice.number == number)) is not None:
            raise BillingError(f"Invoice number {number} is already used.")
        invoice = Invoice(meter_id=meter.id, number=number, amount=amount, issued_on=issued_on, due_on=due_on)
        session.add(invoice)
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


def _positive(amount: Decimal) -> Decimal:
    try:
        amount = check_amount(amount)
    except MoneyError as error:
        raise BillingError(str(error)) from None
    if amount == 0:
        raise BillingError("Enter an amount greater than zero.")
    return amount
