"""Allocations written past the application, their invoices' and payments' figures moved to match: found the night
they appear, left out of what the receivables are derived from, and undone by an admin's review, never built on.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import RunMode, TamperedEvidence
from backoffice.platform.extensions import db
from backoffice.reconcile import evidence_review
from backoffice.reconcile.engine import run
from backoffice.services import meter_lifecycle, meter_payments, receivables
from tests.allocating import CHECKS, clean, meter_with_invoices, outstanding_agrees, state, unapplied
from tests.factories import CustomerFactory, MeterFactory, past_the_guards

D = Decimal
AS_OF = date(2026, 11, 25)


def _forge(meter_id: int, payment_id: int, invoice_id: int, amount: str, *, customer_id=None, reverses=None) -> int:
    """An allocation (or, with ``reverses``, a reversal) inserted by SQL; the invoice's outstanding and the payment's
    unapplied moved by it, as its forger would, so that every stored figure agrees with the allocations."""
    forged = db.session.execute(
        sa.text(
            "INSERT INTO payment_allocations (meter_id, customer_id, payment_id, invoice_id, amount, how, reverses_id,"
            " created_at) VALUES (:meter, :customer, :payment, :invoice, :amount, :how, :reverses, CURRENT_TIMESTAMP)"
            " RETURNING id"
        ),
        {
            "meter": meter_id,
            "customer": customer_id,
            "payment": payment_id,
            "invoice": invoice_id,
            "amount": amount,
            "how": "reversal" if reverses else "chosen",
            "reverses": reverses,
        },
    ).scalar_one()
    db.session.execute(
        sa.text("UPDATE invoices SET outstanding = outstanding - :a WHERE id = :i"), {"a": amount, "i": invoice_id}
    )
    db.session.execute(
        sa.text("UPDATE payments SET unapplied = unapplied - :a WHERE id = :p"), {"a": amount, "p": payment_id}
    )
    db.session.commit()
    return forged


def _finding(row_id: int) -> TamperedEvidence:
    run(RunMode.VERIFY, checks=["evidence_seals"])
    return db.session.scalars(
        sa.select(TamperedEvidence).where(
            TamperedEvidence.kind == "payment_allocations", TamperedEvidence.row_id == row_id
        )
    ).one()


def _aged(invoice) -> bool:
    return invoice.id in set(db.session.execute(receivables.open_invoice_ids(AS_OF)).scalars())


@pytest.mark.parametrize("whose", ["the customer's", "no one's"])
def test_reversing_a_forged_allocation_leaves_the_invoice_asking_and_on_the_aging(app, admin, whose):
    meter, customer, (first, second) = meter_with_invoices("100", "470")
    payment = meter_payments.add_payment(meter, D("100"), date(2026, 11, 10))
    forged = _forge(meter.id, payment.id, second.id, "470", customer_id=customer.id if whose != "no one's" else None)
    assert state(second) == [(D("0.00"), "paid")] and not _aged(second)

    finding = _finding(forged)
    evidence_review.reverse([finding.id], "Never paid: written by SQL", admin)

    assert state(first, second) == [(D("0.00"), "paid"), (D("470.00"), "open")]
    assert unapplied(payment) == D("0.00") and _aged(second) and outstanding_agrees()
    assert run(RunMode.VERIFY, checks=CHECKS).mismatched == 0 and clean()


def test_a_fix_derives_the_receivables_from_the_sealed_allocations_only(app):
    meter, _customer, (first, second) = meter_with_invoices("100", "470")
    payment = meter_payments.add_payment(meter, D("100"), date(2026, 11, 10))
    forged = _forge(meter.id, payment.id, second.id, "470")
    _finding(forged)

    fixed = run(RunMode.FIX, checks=CHECKS)

    assert fixed.fixed >= 1
    assert state(first, second) == [(D("0.00"), "paid"), (D("470.00"), "open")]
    assert unapplied(payment) == D("0.00") and outstanding_agrees()
    assert run(RunMode.VERIFY, checks=CHECKS).mismatched == 0


def test_reversing_a_forged_reversal_of_a_genuine_allocation_restores_the_payment(app, admin):
    meter, _customer, (first,) = meter_with_invoices("560")
    payment = meter_payments.add_payment(meter, D("560"), date(2026, 11, 10))
    genuine = db.session.scalar(sa.text("SELECT id FROM payment_allocations WHERE payment_id = :p"), {"p": payment.id})
    forged = _forge(meter.id, payment.id, first.id, "-560", reverses=genuine)
    assert state(first) == [(D("560.00"), "open")]

    finding = _finding(forged)
    evidence_review.reverse([finding.id], "The payment was applied: the reversal is forged", admin)
    run(RunMode.FIX, checks=CHECKS)

    assert state(first) == [(D("0.00"), "paid")] and unapplied(payment) == D("0.00") and not _aged(first)
    assert outstanding_agrees() and run(RunMode.VERIFY, checks=CHECKS).mismatched == 0


def test_another_meter_s_payment_is_not_allocated_and_a_forged_one_fails_no_payment(app):
    meter, customer, (first,) = meter_with_invoices("470")
    other = MeterFactory()
    meter_lifecycle.assign_meter(other, CustomerFactory(), date(2026, 11, 1))
    elsewhere = meter_payments.add_payment(other, D("470"), date(2026, 11, 10))
    with pytest.raises(sa.exc.DBAPIError, match="an allocation pays an invoice of its meter"):
        _forge(meter.id, elsewhere.id, first.id, "470", customer_id=customer.id)
    db.session.rollback()
    with past_the_guards() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO payment_allocations (meter_id, payment_id, invoice_id, amount, how, created_at)"
                " VALUES (:meter, :payment, :invoice, 470, 'chosen', CURRENT_TIMESTAMP)"
            ),
            {"meter": meter.id, "payment": elsewhere.id, "invoice": first.id},
        )

    payment = meter_payments.add_payment(meter, D("470"), date(2026, 11, 12))  # not built on the row: no error

    assert run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched >= 1  # the row itself, for review
    run(RunMode.FIX, checks=CHECKS)
    assert state(first) == [(D("0.00"), "paid")] and unapplied(payment) == D("0.00") and outstanding_agrees()
