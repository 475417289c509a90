"""Payments applied to the invoices they pay: chosen first, then the oldest open ones, credit kept for the next
invoice; reversed and applied again when a payment or an invoice changes; checked and fixed like every figure."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from backoffice import register_migrations
from backoffice.models import Invoice, Payment, PaymentAllocation, RunMode
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import discrepancies, run
from backoffice.reconcile.report import csv_lines
from backoffice.services import ChangedMeanwhile, billing, meter_invoices, meter_payments
from tests.allocating import CHECKS, clean, meter_with_invoices, outstanding_agrees, state, unapplied
from tests.concurrency import race
from tests.factories import corrupt, deletions_forgotten, stored

D = Decimal
allocations = PaymentAllocation.__table__


def paid_by(invoice) -> list[tuple[int, Decimal]]:
    rows = db.session.execute(
        sa.select(allocations.c.payment_id, sa.func.sum(allocations.c.amount))
        .where(allocations.c.invoice_id == invoice.id)
        .group_by(allocations.c.payment_id)
        .having(sa.func.sum(allocations.c.amount) != 0)
        .order_by(allocations.c.payment_id)
    )
    return [(payment_id, D(amount).quantize(D("0.01"))) for payment_id, amount in rows]


def test_a_payment_applied_to_a_chosen_invoice_leaves_the_older_one_open(app):
    meter, _customer, (first, second, third) = meter_with_invoices("100", "200", "300")
    meter_payments.add_payment(meter, D("300"), date(2026, 11, 10), "pays INV-03", invoice_ids=[third.id])
    assert state(first, second, third) == [(D("100.00"), "open"), (D("200.00"), "open"), (D("0.00"), "paid")]
    assert db.session.get(Invoice, first.id).status_on(date(2026, 11, 10)) == "overdue"
    assert outstanding_agrees() and clean()


def test_what_the_choice_leaves_pays_the_oldest_and_any_excess_waits_for_the_next(app):
    meter, customer, (first, second) = meter_with_invoices("100", "200")
    payment = meter_payments.add_payment(meter, D("450"), date(2026, 11, 10), invoice_ids=[second.id])
    assert state(first, second) == [(D("0.00"), "paid"), (D("0.00"), "paid")]
    assert unapplied(payment) == D("150.00") == stored("meters", "overpayment", meter.id)
    later = meter_invoices.add_invoice(meter, "INV-NEXT", D("100"), date(2026, 11, 12), date(2026, 11, 20))
    assert state(later) == [(D("0.00"), "paid")] and unapplied(payment) == D("50.00")
    assert paid_by(later) == [(payment.id, D("100.00"))]
    assert outstanding_agrees() and clean()


def test_part_of_an_invoice_paid_is_partly_paid(app):
    meter, _customer, (first,) = meter_with_invoices("100")
    meter_payments.add_payment(meter, D("40"), date(2026, 11, 10))
    assert state(first) == [(D("60.00"), "partly_paid")]


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        ("paid", "is already paid"),
        ("other meter", "Choose open invoices of the payment's meter and customer"),
        ("withdrawn", "Choose open invoices of the payment's meter and customer"),
    ],
)
def test_a_payment_applied_to_what_it_cannot_pay_is_refused_and_nothing_is_written(app, maker, chosen, message):
    meter, _customer, (first, second) = meter_with_invoices("100", "200")
    meter_payments.add_payment(meter, D("100"), date(2026, 11, 10), invoice_ids=[first.id])
    target = {
        "paid": first,
        "other meter": meter_with_invoices("50")[2][0],
        "withdrawn": meter_invoices.withdraw_invoice(second, "issued twice", user=maker),
    }[chosen]
    payments = db.session.scalar(sa.select(sa.func.count(Payment.id)))
    with pytest.raises(billing.BillingError, match=message) as refused:
        meter_payments.add_payment(meter, D("10"), date(2026, 11, 10), invoice_ids=[target.id])
    assert refused.value.field == "invoice_ids"
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == payments


def test_a_reallocation_reverses_with_the_reason_and_applies_again(app, maker):
    meter, _customer, (first, second) = meter_with_invoices("100", "100")
    payment = meter_payments.add_payment(meter, D("100"), date(2026, 11, 10))
    assert state(first, second) == [(D("0.00"), "paid"), (D("100.00"), "open")]
    version = meter_payments.allocation_version(payment.id)
    meter_payments.reallocate(payment, [second.id], "the customer paid INV-02", version=version, user=maker)
    assert state(first, second) == [(D("100.00"), "open"), (D("0.00"), "paid")]
    reversal = db.session.execute(
        sa.select(PaymentAllocation).where(PaymentAllocation.reverses_id.is_not(None))
    ).scalar_one()
    assert (reversal.amount, reversal.reason, reversal.created_by_id) == (
        D("-100.00"),
        "the customer paid INV-02",
        maker.id,
    )
    with pytest.raises(ChangedMeanwhile):
        meter_payments.reallocate(payment, [first.id], "back again", version=version, user=maker)
    assert outstanding_agrees() and clean()


@pytest.mark.parametrize(("reason", "chosen", "field"), [("  ", True, "reason"), ("why", False, "invoice_ids")])
def test_a_reallocation_without_a_reason_or_an_invoice_is_refused(app, maker, reason, chosen, field):
    meter, _customer, (first, second) = meter_with_invoices("100", "100")
    payment = meter_payments.add_payment(meter, D("100"), date(2026, 11, 10))
    rows = db.session.scalar(sa.select(sa.func.count(PaymentAllocation.id)))
    with pytest.raises(billing.BillingError) as refused:
        meter_payments.reallocate(payment, [second.id] if chosen else [], reason, user=maker)
    assert refused.value.field == field
    assert db.session.scalar(sa.select(sa.func.count(PaymentAllocation.id))) == rows


def test_a_payment_corrected_down_gives_back_what_it_paid_last(app, maker):
    meter, _customer, (first, second) = meter_with_invoices("100", "100")
    payment = meter_payments.add_payment(meter, D("200"), date(2026, 11, 10))
    meter_payments.change_payment(payment, D("150"), user=maker)
    assert state(first, second) == [(D("0.00"), "paid"), (D("50.00"), "partly_paid")]
    meter_payments.withdraw_payment(payment, "bounced", user=maker)
    assert state(first, second) == [(D("100.00"), "open"), (D("100.00"), "open")]
    assert outstanding_agrees() and clean()


def test_an_invoice_withdrawn_or_corrected_down_frees_its_payment_for_the_next(app, maker):
    meter, _customer, (first, second) = meter_with_invoices("100", "100")
    payment = meter_payments.add_payment(meter, D("100"), date(2026, 11, 10), invoice_ids=[first.id])
    meter_invoices.change_invoice(first, first.number, D("60"), first.due_on, user=maker)
    assert state(first, second) == [(D("0.00"), "paid"), (D("60.00"), "partly_paid")]
    meter_invoices.withdraw_invoice(db.session.get(Invoice, first.id), "issued in error", user=maker)
    assert state(second) == [(D("0.00"), "paid")] and unapplied(payment) == D("0.00")
    assert db.session.get(Invoice, first.id).status == "withdrawn"
    assert outstanding_agrees() and clean()


def test_an_allocation_is_never_changed_nor_removed(app):
    meter, _customer, _invoices = meter_with_invoices("100")
    meter_payments.add_payment(meter, D("100"), date(2026, 11, 10))
    for statement in ("UPDATE payment_allocations SET amount = 1", "DELETE FROM payment_allocations"):
        with pytest.raises(sa.exc.DatabaseError):
            db.session.execute(sa.text(statement))
        db.session.rollback()


def test_a_corrupted_outstanding_is_found_by_its_invoice_and_fixed_with_an_audit_row(app):
    meter, _customer, (first,) = meter_with_invoices("100")
    meter_payments.add_payment(meter, D("30"), date(2026, 11, 10))
    corrupt("invoices", "outstanding", first.id, "100")
    found = run(RunMode.VERIFY, checks=CHECKS)
    assert {(r.check, r.mismatched) for r in found.results if r.mismatched} == {("invoice_outstanding", 1)}
    assert any(f"invoice {first.number} on meter {meter.serial}" in line for line in csv_lines(found.id))
    fixed = run(RunMode.FIX, checks=CHECKS)
    audit = db.session.scalars(discrepancies(fixed.id, "invoice_outstanding")).all()
    assert [(d.entity_id, d.stored, d.expected, d.fixed) for d in audit] == [(first.id, D("100"), D("70"), True)]
    assert state(first) == [(D("70.00"), "partly_paid")] and clean()


def test_a_forged_allocation_is_found_reversed_by_the_fix_and_stays_reported(app):
    meter, _customer, (first, second) = meter_with_invoices("100", "100")
    payment = meter_payments.add_payment(meter, D("100"), date(2026, 11, 10))
    db.session.execute(
        sa.text(
            "INSERT INTO payment_allocations (meter_id, payment_id, invoice_id, amount, how, created_at) "
            "VALUES (:meter, :payment, :invoice, 100, 'chosen', CURRENT_TIMESTAMP)"
        ),
        {"meter": meter.id, "payment": payment.id, "invoice": second.id},
    )
    db.session.commit()
    found = run(RunMode.VERIFY, checks=CHECKS)
    wrong = {(r.check, r.mismatched) for r in found.results if r.mismatched}
    assert wrong == {("invoice_outstanding", 1), ("payment_unapplied", 1)}
    assert any(f"invoice {second.number}" in line for line in csv_lines(found.id, "invoice_outstanding"))
    fixed = run(RunMode.FIX, checks=CHECKS)
    audit = db.session.scalars(discrepancies(fixed.id, "invoice_outstanding")).all()
    assert [(d.entity_id, d.fixed) for d in audit] == [(second.id, True)]
    assert state(first, second) == [(D("0.00"), "paid"), (D("100.00"), "open")]
    assert unapplied(payment) == D("0.00") and outstanding_agrees()
    assert run(RunMode.VERIFY, checks=CHECKS).mismatched == 0
    assert run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched == 1  # the forged row itself, for review


def test_two_payments_on_one_meter_at_once_never_over_allocate(app):
    meter, _customer, (first, second) = meter_with_invoices("100", "100")
    meter_id, first, second = meter.id, Invoice(id=first.id), Invoice(id=second.id)

    def pay():
        meter_payments.add_payment(db.session.get(type(meter), meter_id), D("150"), date(2026, 11, 10))

    race(app, pay, pay, hold_after="commit")
    assert state(first, second) == [(D("0.00"), "paid"), (D("0.00"), "paid")]
    credit = db.session.scalar(sa.select(sa.func.sum(Payment.unapplied)).where(Payment.meter_id == meter_id))
    assert D(credit) == D("100.00") == stored("meters", "overpayment", meter_id)
    assert outstanding_agrees() and clean()


def test_the_migration_applies_existing_payments_oldest_first_and_verifies_clean(app):
    meter, customer, (first, second, third) = meter_with_invoices("100", "200", "300")
    meter_payments.add_payment(meter, D("250"), date(2026, 11, 10), invoice_ids=[third.id])
    meter_payments.add_payment(meter, D("150"), date(2026, 11, 11))
    other, _customer, (alone,) = meter_with_invoices("80")
    meter_payments.add_payment(other, D("100"), date(2026, 11, 10))
    first, second, third, alone = (Invoice(id=invoice.id) for invoice in (first, second, third, alone))
    other_id = other.id
    db.session.remove()
    register_migrations(app)
    try:
        downgrade(revision="0041")
        deletions_forgotten()  # a database at 0041 never held the allocations' seals the downgrade removed
    finally:
        upgrade()
    # As the lists showed them before: the meter's payments cover its invoices oldest first.
    assert state(first, second, third, alone) == [
        (D("0.00"), "paid"),
        (D("0.00"), "paid"),
        (D("200.00"), "partly_paid"),
        (D("0.00"), "paid"),
    ]
    assert stored(
        "payments", "unapplied", db.session.scalar(sa.select(Payment.id).where(Payment.meter_id == other_id))
    ) == D("20.00")
    assert outstanding_agrees() and clean()


def test_a_fix_leaves_a_meter_whose_payment_was_changed_outside_the_application(app):
    meter, _customer, (first,) = meter_with_invoices("100")
    payment = meter_payments.add_payment(meter, D("30"), date(2026, 11, 10))
    corrupt("payments", "amount", payment.id, "100")
    corrupt("invoices", "outstanding", first.id, "100")
    fixed = run(RunMode.FIX, checks=["invoice_outstanding"])
    held = db.session.scalars(discrepancies(fixed.id, "invoice_outstanding")).all()
    assert [(d.entity_id, d.fixed) for d in held] == [(first.id, False)]
    assert "changed outside the application" in held[0].reason
    assert state(first) == [(D("100.00"), "open")]


def test_an_invoice_corrected_below_what_is_paid_of_it_leaves_the_rest_as_credit(app, maker):
    meter, _customer, (first,) = meter_with_invoices("500")
    payment = meter_payments.add_payment(meter, D("200"), date(2026, 11, 10))
    meter_invoices.change_invoice(first, first.number, D("150"), first.due_on, user=maker)
    assert state(first) == [(D("0.00"), "paid")] and unapplied(payment) == D("50.00")
    meter_payments.change_payment(payment, D("100"), user=maker)
    assert state(first) == [(D("50.00"), "partly_paid")] and unapplied(payment) == D("0.00")
    assert outstanding_agrees() and clean()


def test_a_billing_write_never_builds_on_an_allocation_written_by_sql(app):
    """An allocation nothing vouches for is reversed by the next write on its meter, not kept as paying."""
    meter, _customer, (first, second) = meter_with_invoices("100", "100")
    payment = meter_payments.add_payment(meter, D("100"), date(2026, 11, 10))
    db.session.execute(
        sa.text(
            "INSERT INTO payment_allocations (meter_id, payment_id, invoice_id, amount, how, created_at) "
            "VALUES (:meter, :payment, :invoice, 100, 'chosen', CURRENT_TIMESTAMP)"
        ),
        {"meter": meter.id, "payment": payment.id, "invoice": second.id},
    )
    db.session.commit()
    meter_invoices.add_invoice(meter, "INV-LATER", D("50"), date(2026, 11, 12), date(2026, 11, 20))
    assert state(first, second) == [(D("0.00"), "paid"), (D("100.00"), "open")]
    assert unapplied(payment) == D("0.00") and outstanding_agrees()
    assert run(RunMode.VERIFY, checks=CHECKS).mismatched == 0


def test_a_dry_run_only_says_what_a_rebuild_of_the_outstanding_writes(app):
    meter, _customer, (first,) = meter_with_invoices("100")
    meter_payments.add_payment(meter, D("30"), date(2026, 11, 10))
    corrupt("invoices", "outstanding", first.id, "100")
    dry = run(RunMode.DRY_RUN, checks=["invoice_outstanding"])
    assert dry.mismatched == 1 and state(first) == [(D("100.00"), "open")]
    rebuilt = run(RunMode.REBUILD, checks=["invoice_outstanding", "payment_unapplied"])
    assert rebuilt.fixed >= 1 and state(first) == [(D("70.00"), "partly_paid")]
    assert run(RunMode.VERIFY, checks=CHECKS).mismatched == 0
