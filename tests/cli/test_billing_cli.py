"""The ``backoffice billing`` commands: withdrawing an invoice or a payment, and what they refuse; the payments whose
credit waits beside open invoices of the same customer, and the rows dated when nobody held their meter."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Account, Invoice, JournalEntry, JournalLine, MeterAssignment, Payment, RunMode
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.reconcile.engine import run
from backoffice.services import billing, meter_invoices, meter_lifecycle, meter_payments
from tests.factories import CustomerFactory, MeterFactory, stored
from tests.rows import entries

D = Decimal


def lines(entry_id: int) -> list[tuple]:
    return [
        tuple(line)
        for line in db.session.execute(
            sa.select(Account.code, JournalLine.debit, JournalLine.credit)
            .join(Account, Account.id == JournalLine.account_id)
            .where(JournalLine.entry_id == entry_id)
            .order_by(JournalLine.id)
        )
    ]


def test_withdrawing_an_invoice_reverses_it_on_the_value_date_and_it_stops_counting(runner, meter):
    result = runner.invoke(
        args=["billing", "withdraw-invoice", "INV-1", "--reason", "Issued twice", "--value-date", "2026-11-20"]
    )
    assert result.exit_code == 0, result.output
    db.session.rollback()
    invoice = db.session.scalar(sa.select(Invoice))
    entry = db.session.get(JournalEntry, invoice.withdrawal_entry_id)
    assert result.output == f"Invoice INV-1 withdrawn: entry {entry.number} dated 20 Nov 2026.\n"
    assert (invoice.withdrawal_reason, invoice.withdrawn_by_id, entry.entry_date) == (
        "Issued twice",
        None,
        date(2026, 11, 20),
    )
    assert lines(entry.id) == [("4000", D("500000.00"), D("0")), ("1100", D("0"), D("500000.00"))]
    assert (stored("meters", "balance", meter.id), stored("meters", "overpayment", meter.id)) == (D("0"), D("200000"))
    assert run(RunMode.VERIFY).mismatched == 0


def test_withdrawing_a_payment_gives_its_cash_back_dated_today_by_default(runner, meter):
    payment = db.session.scalar(sa.select(Payment))
    result = runner.invoke(args=["billing", "withdraw-payment", str(payment.id), "--reason", "Bounced"])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    payment = db.session.get(Payment, payment.id)
    entry = db.session.get(JournalEntry, payment.withdrawal_entry_id)
    assert f"Payment #{payment.id} withdrawn: entry {entry.number} dated {named_date(local_today())}." in result.output
    assert lines(entry.id) == [("1100", D("200000.00"), D("0")), ("1000", D("0"), D("200000.00"))]
    assert stored("meters", "balance", meter.id) == D("500000")
    assert run(RunMode.VERIFY).mismatched == 0


REFUSALS = [
    (["withdraw-invoice", "INV-9", "--reason", "x"], 1, "No invoice numbered INV-9."),
    (["withdraw-invoice", "INV-1"], 2, "Missing option '--reason'"),
    (["withdraw-invoice", "INV-1", "--reason", "  "], 1, "Say why the invoice is withdrawn."),
    (["withdraw-invoice", "INV-1", "--reason", "x" * 301], 1, "A reason has at most 300 characters."),
    (
        ["withdraw-invoice", "INV-1", "--reason", "x", "--value-date", "20-11-2026"],
        2,
        "Invalid value for '--value-date'",
    ),
    (["withdraw-invoice", "INV-1", "--reason", "x", "--value-date", "{tomorrow}"], 1, "cannot be dated after today"),
    (["withdraw-invoice", "INV-1", "--reason", "x", "--value-date", "2026-11-01"], 1, "before the invoice was issued"),
    (["withdraw-invoice", "INV-0", "--reason", "x"], 1, "This invoice was withdrawn on"),
    (["withdraw-payment", "{payment}"], 2, "Missing option '--reason'"),
    (["withdraw-payment", "{payment}", "--reason", ""], 1, "Say why the payment is withdrawn."),
    (
        ["withdraw-payment", "{payment}", "--reason", "x", "--value-date", "2026-11-09"],
        1,
        "before the payment was paid",
    ),
    (
        ["withdraw-payment", "{payment}", "--reason", "x", "--value-date", "{tomorrow}"],
        1,
        "cannot be dated after today",
    ),
    (["withdraw-payment", "999", "--reason", "x"], 1, "No payment 999."),
    (["withdraw-payment", "one", "--reason", "x"], 2, "Invalid value for 'PAYMENT_ID'"),
    (["withdraw-payment", "{withdrawn}", "--reason", "x"], 1, "This payment was withdrawn on"),
]


@pytest.mark.parametrize(
    ("args", "status", "message"), REFUSALS, ids=lambda v: " ".join(v)[:60] if type(v) is list else None
)
def test_what_makes_no_sense_is_refused_in_one_line_and_writes_nothing(runner, meter, args, status, message):
    meter_invoices.withdraw_invoice(
        meter_invoices.add_invoice(meter, "INV-0", D("1"), date(2026, 11, 2), date(2026, 11, 3)), "Test"
    )
    withdrawn = meter_payments.withdraw_payment(meter_payments.add_payment(meter, D("1"), date(2026, 11, 3)), "Test")
    values = {
        "payment": db.session.scalar(sa.select(Payment.id).where(Payment.reference == "TRF-9")),
        "withdrawn": withdrawn.id,
        "tomorrow": (local_today() + timedelta(days=1)).isoformat(),
    }
    before = entries(), db.session.scalar(sa.select(sa.func.count()).where(Invoice.withdrawn_at.is_not(None)))
    result = runner.invoke(args=["billing", *(arg.format(**values) for arg in args)])
    assert result.exit_code == status, result.output
    assert message in result.output
    if status == 1:
        assert len(result.output.strip().splitlines()) == 1
    assert (entries(), db.session.scalar(sa.select(sa.func.count()).where(Invoice.withdrawn_at.is_not(None)))) == before
    assert db.session.scalar(sa.select(sa.func.count()).where(Payment.withdrawn_at.is_not(None))) == 1


def table_rows(output: str) -> list[list[str]]:
    """The printed table's rows, each as its cells (split on runs of two spaces or more), without its header."""
    rows = [line.split("  ") for line in output.splitlines()[1:-1]]
    return [[cell.strip() for cell in row if cell.strip()] for row in rows]


def forged_entry(name: str) -> int:
    """A journal entry written with SQL, for a forged row to refer to."""
    return db.session.execute(
        sa.text(
            "INSERT INTO journal_entries (number, entry_date, description, status, created_at) "
            "VALUES (:number, CURRENT_DATE, 'forged', 'draft', CURRENT_TIMESTAMP) RETURNING id"
        ),
        {"number": f"F-{name}"},
    ).scalar_one()


def forged(table, **values) -> int:
    """A row written with SQL, past the billing service, as a bad import would, with its forged journal entry (and
    its withdrawal's, if withdrawn)."""
    name = values.get("number") or values["reference"]
    if values.get("withdrawn_at") is not None:
        values["withdrawal_entry_id"] = forged_entry(f"{name}-W")
    row_id = db.session.execute(
        sa.insert(table).values(entry_id=forged_entry(name), **values).returning(table.c.id)
    ).scalar_one()
    db.session.commit()
    return row_id


def test_unapplied_lists_credit_waiting_beside_open_invoices_of_the_same_customer(runner, meter):
    payment = db.session.scalar(sa.select(Payment).where(Payment.reference == "TRF-9"))
    meter_invoices.add_invoice(meter, "INV-2", D("100000"), date(2026, 11, 15), date(2026, 11, 30))
    withdrawn = meter_payments.withdraw_payment(
        meter_payments.add_payment(meter, D("5000"), date(2026, 11, 12), "TRF-10"), "Bounced"
    )
    # The stored figures out of step with the allocations: TRF-9 as if it paid nothing, the withdrawn TRF-10 (which
    # counts nowhere) as if it were credit.
    db.session.execute(sa.update(Payment.__table__).where(Payment.id == payment.id).values(unapplied=D("200000")))
    db.session.execute(sa.update(Payment.__table__).where(Payment.id == withdrawn.id).values(unapplied=D("5000")))
    db.session.execute(sa.update(Invoice.__table__).where(Invoice.number == "INV-1").values(outstanding=D("500000")))
    db.session.commit()

    result = runner.invoke(args=["billing", "unapplied"])

    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[0].split() == [
        "payment", "paid", "on", "meter", "customer", "unapplied", "open", "invoices"
    ]  # fmt: skip
    assert table_rows(result.output) == [
        [str(payment.id), "2026-11-10", "M-1", "HOTEL", "Rp200.000,00", "INV-1 Rp500.000,00, INV-2 Rp100.000,00"]
    ]
    assert result.output.splitlines()[-1] == (
        "1 payment(s) hold Rp200.000,00 of unapplied credit beside 2 open invoice(s) of the same customer."
    )

    # Any billing write on the meter applies the credit: the payment saved again, unchanged.
    meter_payments.change_payment(db.session.get(Payment, payment.id), D("200000"), "TRF-9")
    result = runner.invoke(args=["billing", "unapplied"])
    assert (result.exit_code, result.output) == (
        0,
        "No payment holds unapplied credit beside an open invoice of the same customer.\n",
    )
    inv_1 = db.session.scalar(sa.select(Invoice.id).where(Invoice.number == "INV-1"))
    assert (stored("payments", "unapplied", payment.id), stored("invoices", "outstanding", inv_1)) == (0, D("300000"))


def test_credit_unmet_by_an_open_invoice_is_listed_and_applied_by_saving_the_payment(runner, app):
    moved = MeterFactory(serial="M-2")
    farm = CustomerFactory(code="FARM")
    meter_lifecycle.assign_meter(moved, farm, date(2026, 10, 1))
    credit = meter_payments.add_payment(moved, D("40000"), date(2026, 10, 5), "FARM-1")
    current = billing.active_assignment(moved.id)
    meter_lifecycle.assign_meter(moved, CustomerFactory(code="SHOP"), date(2026, 10, 10), confirm_move_from=current.id)
    invoice = meter_invoices.add_invoice(moved, "SHOP-1", D("90000"), date(2026, 10, 15), date(2026, 10, 30))
    # The credit is the first customer's, the open invoice the second's: nothing to apply.
    assert stored("payments", "unapplied", credit.id) == D("40000")
    assert runner.invoke(args=["billing", "unapplied"]).exit_code == 0
    # The second period given to the first customer, as a bad import of the assignments would.
    db.session.execute(
        sa.update(MeterAssignment.__table__).where(MeterAssignment.is_active).values(customer_id=farm.id)
    )
    db.session.commit()

    result = runner.invoke(args=["billing", "unapplied"])

    assert result.exit_code == 1, result.output
    assert table_rows(result.output) == [
        [str(credit.id), "2026-10-05", "M-2", "FARM", "Rp40.000,00", "SHOP-1 Rp90.000,00"]
    ]
    meter_payments.change_payment(db.session.get(Payment, credit.id), D("40000"), "FARM-1")
    assert runner.invoke(args=["billing", "unapplied"]).exit_code == 0
    assert (stored("payments", "unapplied", credit.id), stored("invoices", "outstanding", invoice.id)) == (
        0,
        D("50000"),
    )


def test_unapplied_finds_nothing_where_every_payment_pays_what_its_customer_owes(runner, meter):
    meter_payments.add_payment(meter, D("400000"), date(2026, 11, 12), "TRF-10")
    assert stored("payments", "unapplied", db.session.scalar(sa.select(sa.func.max(Payment.id)))) == D("100000")

    result = runner.invoke(args=["billing", "unapplied"])

    assert (result.exit_code, result.output) == (
        0,
        "No payment holds unapplied credit beside an open invoice of the same customer.\n",
    )


def test_orphans_lists_what_is_dated_when_nobody_held_the_meter_marking_withdrawn(runner, meter):
    invoice = forged(
        Invoice.__table__,
        meter_id=meter.id,
        number="INV-0",
        amount=D("75000"),
        issued_on=date(2026, 9, 20),
        due_on=date(2026, 9, 30),
        outstanding=D("75000"),
    )
    payment = forged(
        Payment.__table__,
        meter_id=meter.id,
        amount=D("10000"),
        paid_on=date(2026, 9, 25),
        reference="CASH-0",
        withdrawn_at=sa.func.now(),
        withdrawal_reason="Not ours",
    )

    result = runner.invoke(args=["billing", "orphans"])

    assert result.exit_code == 1, result.output
    assert table_rows(result.output) == [
        ["invoice", "INV-0", "M-1", "2026-09-20", "Rp75.000,00", "no"],
        ["payment", str(payment), "M-1", "2026-09-25", "Rp10.000,00", "yes"],
    ]
    assert result.output.splitlines()[-1] == (
        "1 invoice(s) and 1 payment(s) dated when nobody held their meter, 1 of them withdrawn (they count nowhere)."
    )
    # An orphan cannot be withdrawn: its reversal has nobody to post to.
    with pytest.raises(billing.BillingError, match="was not assigned to any customer on 20 Sept 2026"):
        meter_invoices.withdraw_invoice(db.session.get(Invoice, invoice), "Not ours")

    # Withdrawn ones alone count nowhere: listed, and nothing to do.
    db.session.execute(
        sa.update(Invoice.__table__)
        .where(Invoice.id == invoice)
        .values(withdrawn_at=sa.func.now(), withdrawal_entry_id=forged_entry("INV-0-W"), outstanding=0)
    )
    db.session.commit()
    result = runner.invoke(args=["billing", "orphans"])
    assert result.exit_code == 0, result.output
    assert [row[-1] for row in table_rows(result.output)] == ["yes", "yes"]


def test_orphans_finds_nothing_once_the_meter_is_assigned_for_the_period(runner, meter):
    assert runner.invoke(args=["billing", "orphans"]).output == (
        "Every invoice and payment is dated in a period when a customer held its meter.\n"
    )
    hotel = db.session.scalar(sa.select(MeterAssignment).where(MeterAssignment.meter_id == meter.id))
    meter_lifecycle.deactivate(hotel, date(2026, 11, 16))
    forged(
        Invoice.__table__,
        meter_id=meter.id,
        number="INV-3",
        amount=D("60000"),
        issued_on=date(2026, 11, 18),
        due_on=date(2026, 12, 5),
        outstanding=D("60000"),
    )
    result = runner.invoke(args=["billing", "orphans"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1] == "1 invoice(s) and 0 payment(s) dated when nobody held their meter."

    meter_lifecycle.assign_meter(meter, CustomerFactory(code="SHOP"), date(2026, 11, 17))

    result = runner.invoke(args=["billing", "orphans"])
    assert (result.exit_code, result.output) == (
        0,
        "Every invoice and payment is dated in a period when a customer held its meter.\n",
    )
