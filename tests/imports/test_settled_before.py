"""What the old system says an invoice still asks is what it asks once imported: the part paid before the move-in,
that no payment imported pays, is recorded as settled in the system before (keyed on its invoice, posted against
opening balance equity, never cash), and the report leads with the old system's figures against backoffice's."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.imports import reported, said
from backoffice.imports import rows as file_rows
from backoffice.models import Import, ImportStatus, Invoice, Meter, Payment, RunMode
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.posting.rules import CASH, OPENING_EQUITY, RECEIVABLES
from backoffice.reconcile.engine import run
from backoffice.services import billing, meter_invoices, meter_payments, settlements
from backoffice.services.descriptions import entries_words
from tests.billing.test_vat import rate
from tests.factories import metered_customer
from tests.imports.test_moving_in import imported, run_on_the_page
from tests.pages import shown

D = Decimal
CHECKS = [
    "invoice_outstanding",
    "payment_unapplied",
    "meter_balance",
    "customer_meter_totals",
    "receivables_agreement",
    "movement_accounts",
    "journal_balanced",
    "account_balance",
    "invoice_tax",
    "balance_sheet",
]
ODOO = (
    "Number,Partner,Invoice/Bill Date,Due Date,Total,Amount Due,Status\n"
    "INV/2026/00001,Rina Kusuma,2026-10-02,2026-11-01,8785095,8785095,Posted\n"
    "INV/2026/00002,Rina Kusuma,2026-10-03,2026-11-02,2000000,500000,Posted\n"
    "INV/2026/00003,Rina Kusuma,2026-10-04,2026-11-03,6693500,0,Paid\n"
)


def moved_in(app):
    rate("11")
    metered_customer("CUST-1", date(2026, 1, 1), D("1000.00"), serial="M-1", name="Rina Kusuma")


def account(code: str) -> Decimal:
    return db.session.scalar(
        sa.text(
            "SELECT coalesce(sum(l.debit - l.credit), 0) FROM journal_lines l JOIN accounts a ON a.id = l.account_id "
            "WHERE a.code = :code"
        ),
        {"code": code},
    )


def figure(report: dict, column: str) -> dict:
    return next(sums for sums in report["stated"]["figures"] if sums["column"] == column)


def clean() -> bool:
    return run(RunMode.VERIFY, checks=CHECKS).mismatched == 0


def test_a_paid_invoice_arrives_paid_settled_before_never_cash(app, runner, tmp_path):
    moved_in(app)
    result = imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.encode())
    assert result.exit_code == 0, result.output + result.stderr
    owed = dict(db.session.execute(sa.select(Invoice.number, Invoice.outstanding)).all())
    assert owed == {"INV/2026/00001": D("8785095"), "INV/2026/00002": D("500000"), "INV/2026/00003": 0}
    settled = db.session.execute(
        sa.select(Payment.reference, Payment.amount, Payment.paid_on, Payment.settled_before).order_by(Payment.id)
    ).all()
    assert [tuple(row) for row in settled] == [
        ("INV/2026/00002", D("1500000"), date(2026, 10, 3), True),
        ("INV/2026/00003", D("6693500"), date(2026, 10, 4), True),
    ]
    assert account(CASH) == 0 and account(OPENING_EQUITY) == D("8193500")
    assert account(RECEIVABLES) == D("9285095")  # what the three still ask
    assert clean()
    report = db.session.scalar(sa.select(Import)).report
    assert figure(report, "outstanding") == {
        "column": "outstanding",
        "by": "number",
        "file": "9285095.00",
        "derived": "9285095.00",
        "compared": 3,
        "different": 0,
    }
    assert said.report_lines(report)[0] == (
        "Against the old system, Outstanding amount by Invoice number: 9.285.095,00 in the file, 9.285.095,00 in "
        "backoffice: agrees, all 3."
    )
    again = imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.encode())
    assert again.exit_code == 0 and "0 to write, 3 unchanged" in again.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 2


def test_payments_imported_before_pay_first_and_only_the_rest_is_settled(app, runner, tmp_path):
    moved_in(app)
    paid = "Meter serial;Payment reference;Amount;Paid on\nM-1;TRF-1;1000000;2026-10-05\n"
    assert imported(runner, tmp_path, "payments", "p.csv", paid.encode()).exit_code == 0
    odoo = ODOO.replace("8785095,8785095", "8785095,7785095")  # TRF-1 paid the oldest in the old system too
    result = imported(runner, tmp_path, "invoices", "account.move.csv", odoo.encode())
    assert result.exit_code == 0, result.output + result.stderr
    owed = dict(db.session.execute(sa.select(Invoice.number, Invoice.outstanding)).all())
    assert owed == {"INV/2026/00001": D("7785095"), "INV/2026/00002": D("500000"), "INV/2026/00003": 0}
    assert db.session.scalar(sa.select(sa.func.count()).where(Payment.settled_before)) == 2
    assert account(CASH) == D("1000000") and clean()
    assert db.session.scalar(sa.select(Import).order_by(Import.id.desc())).report["stated"]["different"] == 0


def test_every_difference_is_listed_and_the_lead_line_says_by_how_much(app, runner, tmp_path, monkeypatch):
    moved_in(app)
    monkeypatch.setattr(file_rows, "BATCH", 4)  # a meter stated in several batches is compared once
    rows = "".join(f"F-{n:02},M-1,2026-10-02,2026-11-01,1000,{1000 if n % 2 else 900},1000\n" for n in range(1, 13))
    data = "Invoice number,Meter serial,Issued on,Due on,Amount,Outstanding amount,Meter's amount due\n" + rows
    result = imported(runner, tmp_path, "invoices", "many.csv", data.encode())
    assert result.exit_code == 0, result.output + result.stderr
    report = db.session.scalar(sa.select(Import)).report
    meter_due = figure(report, "meter_due")
    assert (meter_due["compared"], meter_due["different"], meter_due["derived"]) == (1, 1, "11400.00")
    outstanding = figure(report, "outstanding")
    assert (outstanding["compared"], outstanding["different"]) == (12, 0)  # each paid part settled before
    assert len(report["stated"]["differences"]) == 1
    lines = said.report_lines(report)
    assert any(
        "Meter's amount due by Meter serial: 1.000,00 in the file, 11.400,00 in backoffice: differs by 10.400,00 in 1 "
        "of 1." in line
        for line in lines[:3]
    ), lines
    header, table = said.report_table(report)
    assert table[0][0].startswith("Against the old system: Outstanding amount by Invoice number")
    assert table[1][2:] == [D("1000"), D("11400"), D("10400")]


def test_no_difference_is_left_out(app, runner, tmp_path, monkeypatch):
    moved_in(app)
    monkeypatch.setattr(reported, "SHOWN_REJECTIONS", 2)  # the first rejections a preview shows
    rows = "".join(f"F-{n},M-{n},2026-10-02,2026-11-01,1000,{n}\n" for n in range(1, 6))
    for n in range(2, 6):
        metered_customer(f"CUST-{n}", date(2026, 1, 1), D("1000.00"), serial=f"M-{n}")
    data = "Invoice number,Meter serial,Issued on,Due on,Amount,Meter's amount due\n" + rows
    assert imported(runner, tmp_path, "invoices", "five.csv", data.encode()).exit_code == 0
    report = db.session.scalar(sa.select(Import)).report
    assert [difference["name"] for difference in report["stated"]["differences"]] == [f"M-{n}" for n in range(1, 6)]
    assert len(said.report_table(report)[1]) >= 5 + 6


def test_a_withdrawn_settlement_takes_it_back_from_opening_equity(app, runner, tmp_path):
    moved_in(app)
    assert imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.encode()).exit_code == 0
    settlement = db.session.scalar(sa.select(Payment).where(Payment.reference == "INV/2026/00003"))
    meter_payments.withdraw_payment(settlement, "paid here after all")
    assert account(OPENING_EQUITY) == D("1500000") and account(CASH) == 0
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == "INV/2026/00003"))
    assert invoice.outstanding == D("6693500") and clean()


@pytest.mark.production_path("real workers")
def test_paid_invoices_arrive_paid_through_the_page_and_a_real_worker_as_the_runtime_role(
    app, client, admin, redis_url
):
    moved_in(app)
    address, record = run_on_the_page(app, client, redis_url, "invoices", "account.move.csv", ODOO.encode())
    assert record.status == ImportStatus.DONE, record.error
    page = client.get(address).get_data(as_text=True)
    assert "Against the old system, Outstanding amount by Invoice number" in page and "agrees, all 3" in page
    assert db.session.scalar(sa.select(sa.func.sum(Invoice.outstanding))) == D("9285095")


def test_the_old_systems_payments_imported_after_take_the_place_of_what_was_settled(app, runner, tmp_path):
    moved_in(app)
    assert imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.encode()).exit_code == 0
    paid = (
        "Meter serial;Payment reference;Amount;Paid on;Invoices paid\n"
        "M-1;TRF-2;1000000;2026-10-20;INV/2026/00002\n"  # of the 1.500.000 paid before
        "M-1;TRF-3;6693500;2026-10-21;INV/2026/00003\n"  # all of it
    )
    result = imported(runner, tmp_path, "payments", "payments.csv", paid.encode())
    assert result.exit_code == 0, result.output + result.stderr
    owed = dict(db.session.execute(sa.select(Invoice.number, Invoice.outstanding)).all())
    assert owed == {"INV/2026/00001": D("8785095"), "INV/2026/00002": D("500000"), "INV/2026/00003": 0}
    settled = dict(
        db.session.execute(
            sa.select(Payment.reference, Payment.amount).where(Payment.settled_before, Payment.withdrawn_at.is_(None))
        ).all()
    )
    assert settled == {"INV/2026/00002": D("500000")}  # what no payment imported paid
    assert account(CASH) == D("7693500") and account(OPENING_EQUITY) == D("500000")
    assert clean()


def test_a_payment_received_since_the_move_in_pays_what_is_still_asked(app, runner, tmp_path):
    moved_in(app)
    assert imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.encode()).exit_code == 0
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == "INV/2026/00002"))
    meter = db.session.get(Meter, invoice.meter_id)
    meter_payments.add_payment(meter, D("500000"), local_today(), "TRF-NEW", invoice_ids=[invoice.id])
    db.session.refresh(invoice)
    assert invoice.outstanding == 0
    settlement = db.session.scalar(sa.select(Payment).where(Payment.reference == "INV/2026/00002"))
    assert (settlement.amount, settlement.withdrawn_at) == (D("1500000"), None)
    assert clean()


def test_the_statement_and_the_journal_say_what_was_settled_before(app, runner, tmp_path, client, finance):
    moved_in(app)
    assert imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.encode()).exit_code == 0
    page = shown(client.get("/customers/CUST-1/billing-statement?month=2026-10"))
    assert "Invoice INV/2026/00003, paid in the system before" in page
    assert "Payment, reference INV/2026/00003" not in page
    settlement = db.session.scalar(sa.select(Payment).where(Payment.reference == "INV/2026/00003"))
    assert entries_words([settlement.entry_id]) == {
        settlement.entry_id: "Invoice INV/2026/00003 settled in the system before"
    }


def test_a_payment_dated_on_or_before_the_cut_over_is_the_old_systems(app, runner, tmp_path):
    moved_in(app)
    assert runner.invoke(args=["cut-over", "2026-10-31"]).exit_code == 0
    assert imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.encode()).exit_code == 0
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == "INV/2026/00002"))
    meter = db.session.get(Meter, invoice.meter_id)
    meter_payments.add_payment(meter, D("500000"), date(2026, 10, 25), "TRF-OLD", invoice_ids=[invoice.id])
    db.session.refresh(invoice)
    assert invoice.outstanding == D("500000")  # what the old system says it still asks
    settlement = db.session.scalar(sa.select(Payment).where(Payment.reference == "INV/2026/00002"))
    assert settlement.amount == D("1000000") and clean()


def test_a_payment_marked_settled_before_by_sql_is_never_taken_for_a_settlement(app, runner, tmp_path):
    moved_in(app)
    assert imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.encode()).exit_code == 0
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == "INV/2026/00001"))
    meter = db.session.get(Meter, invoice.meter_id)
    cash = meter_payments.add_payment(meter, D("1000000"), local_today(), "TRF-CASH", invoice_ids=[invoice.id])
    db.session.execute(sa.text("UPDATE payments SET settled_before = true WHERE id = :id"), {"id": cash.id})
    db.session.commit()
    old = "Meter serial;Payment reference;Amount;Paid on;Invoices paid\nM-1;TRF-OLD;1000000;2026-10-20;INV/2026/00001\n"
    assert imported(runner, tmp_path, "payments", "old.csv", old.encode()).exit_code == 0
    db.session.refresh(cash)
    assert (cash.amount, cash.withdrawn_at) == (D("1000000"), None)  # not a settlement: its entry says cash
    meter_payments.withdraw_payment(cash, "entered twice")
    assert account(CASH) == D("1000000") and account(OPENING_EQUITY) == D("8193500")  # taken back from cash


def test_what_is_said_settled_never_goes_beyond_what_the_invoice_asks_whatever_sql_stored(app):
    """What an invoice asks is read from its amount and its allocations under the meter's lock, not from its stored
    figure: raised by SQL, that figure lets no settlement beyond the invoice through, and nothing is written."""
    moved_in(app)
    meter = db.session.scalar(sa.select(Meter).where(Meter.serial == "M-1"))
    invoice = meter_invoices.add_invoice(meter, "OLD-1", D("100000"), date(2026, 10, 2), date(2026, 11, 1))
    invoice_id, total = invoice.id, invoice.amount
    db.session.execute(sa.text("UPDATE invoices SET outstanding = 99999999 WHERE id = :id"), {"id": invoice_id})
    db.session.commit()
    for beyond in (total + D("0.01"), D("5000000")):
        with pytest.raises(
            billing.BillingError, match="Invoice OLD-1 asks less than what is said settled of it before"
        ):
            settlements.settle_before([(invoice_id, beyond)])
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 0
    (settled,) = settlements.settle_before([(invoice_id, total)])
    assert db.session.get(Payment, settled).amount == total
