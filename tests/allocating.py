"""Payments applied to invoices: meters with invoices to pay, and what the invoices, the payments and the checks say
after."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from backoffice.models import Customer, Invoice, Payment, RunMode
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import meter_invoices, meter_lifecycle
from tests.factories import CustomerFactory, MeterFactory, stored

D = Decimal
DAY = date(2026, 11, 1)
CHECKS = ["invoice_outstanding", "payment_unapplied", "meter_balance", "customer_meter_totals"]
"""The checks of what payments applied to invoices make."""


def meter_with_invoices(*amounts, customer=None):
    """A meter at a customer's, with one invoice per amount, issued a day apart (the first the oldest)."""
    meter = MeterFactory()
    customer = customer or CustomerFactory()
    meter_lifecycle.assign_meter(meter, customer, DAY)
    found = [
        meter_invoices.add_invoice(
            meter, f"INV-{meter.id}-{n:02d}", D(amount), date(2026, 11, 1 + n), date(2026, 11, 5 + n)
        )
        for n, amount in enumerate(amounts, start=1)
    ]
    return meter, customer, found


def state(*invoices) -> list[tuple[Decimal, str]]:
    """Each invoice's outstanding amount and status, read anew."""
    db.session.expire_all()
    return [(db.session.get(Invoice, i.id).outstanding, db.session.get(Invoice, i.id).status) for i in invoices]


def unapplied(payment) -> Decimal:
    """The payment's credit not yet applied, as stored."""
    return stored("payments", "unapplied", payment.id)


def clean() -> bool:
    """Whether the allocations' checks, the seals and the history find nothing."""
    return run(RunMode.VERIFY, checks=[*CHECKS, "evidence_seals", "history_drift"]).mismatched == 0


def outstanding_agrees() -> bool:
    """The invoices' outstanding adds up to the customers' amounts due, and the payments' credit to theirs."""
    outstanding = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Invoice.outstanding), 0)))
    credit = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Payment.unapplied), 0)))
    due, over = db.session.execute(sa.select(sa.func.sum(Customer.amount_due), sa.func.sum(Customer.overpayment))).one()
    return (D(outstanding), D(credit)) == (D(due or 0), D(over or 0))
