"""The ``movement_accounts`` check: every movement's posted entry debits and credits exactly the accounts and amounts
its rule names; it reports a wrong entry and never rewrites posted lines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from backoffice.models import JournalEntry, JournalLine, RunMode
from backoffice.platform.extensions import db
from backoffice.posting.rules import CASH, CUSTOMER_DEPOSITS, GAS_REVENUE
from backoffice.reconcile import CHECKS
from backoffice.reconcile.engine import discrepancies, run
from backoffice.services import meter_invoices, meter_lifecycle, meter_payments, wallet
from tests.factories import CustomerFactory, MeterFactory, past_the_guards
from tests.rows import account_id

D = Decimal
DAY = date(2026, 10, 5)


def _every_kind_of_movement():
    customer = CustomerFactory()
    wallet.recharge(customer.id, D("500000"))
    charged = wallet.charge(customer.id, D("120000"))
    wallet.adjust(customer.id, D("5000"), description="Goodwill")
    wallet.adjust(customer.id, D("-2000"), description="Correction")
    mistaken = wallet.recharge(customer.id, D("50000"))
    wallet.reverse(mistaken.id, description="Entered by mistake")
    wallet.reverse(charged.id, description="Entered by mistake")
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, DAY)
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("300000"), DAY, DAY)
    meter_payments.add_payment(meter, D("100000"), DAY)
    meter_invoices.withdraw_invoice(invoice, "Issued in error")
    return customer


def _found() -> dict[tuple[int, str], tuple[Decimal, Decimal]]:
    record = run(RunMode.VERIFY, checks=["movement_accounts"])
    return {(d.entity_id, d.field): (d.stored, d.expected) for d in db.session.scalars(discrepancies(record.id))}


def _entry_of(source_type: str, position: int = 0) -> JournalEntry:
    query = sa.select(JournalEntry).where(JournalEntry.source_type == source_type).order_by(JournalEntry.id)
    return db.session.scalars(query).all()[position]


def _lines() -> list[tuple]:
    db.session.rollback()
    return db.session.execute(
        sa.select(JournalLine.id, JournalLine.account_id, JournalLine.debit, JournalLine.credit).order_by(
            JournalLine.id
        )
    ).all()


def test_every_kind_of_movement_posts_the_accounts_its_rule_names(app):
    _every_kind_of_movement()
    record = run(RunMode.VERIFY, checks=["movement_accounts"])
    result = record.results[0]
    assert (result.checked, result.mismatched) == (10, 0)
    assert not CHECKS["movement_accounts"].fixable


def test_a_line_moved_to_another_account_is_reported_and_left_as_it_is(app):
    _every_kind_of_movement()
    recharge = _entry_of("balance_transaction")
    credit = next(line for line in recharge.lines if line.credit)
    with past_the_guards() as connection:
        connection.execute(
            sa.update(JournalLine).where(JournalLine.id == credit.id).values(account_id=account_id(GAS_REVENUE))
        )
    before = _lines()
    found = _found()
    assert found == {
        (recharge.id, f"account_{CUSTOMER_DEPOSITS}"): (D("0.00"), D("-500000.00")),
        (recharge.id, f"account_{GAS_REVENUE}"): (D("-500000.00"), D("0.00")),
    }
    run(RunMode.FIX, checks=["movement_accounts"])
    assert _lines() == before


def test_an_amount_changed_on_both_lines_or_a_line_added_is_reported(app):
    _every_kind_of_movement()
    payment = _entry_of("payment")
    invoice = _entry_of("invoice")
    with past_the_guards() as connection:
        connection.execute(
            sa.update(JournalLine)
            .where(JournalLine.entry_id == payment.id)
            .values(
                debit=sa.case((JournalLine.debit > 0, D("90000")), else_=0),
                credit=sa.case((JournalLine.credit > 0, D("90000")), else_=0),
            )
        )
        for debit, credit in ((D("7"), D("0")), (D("0"), D("7"))):
            connection.execute(
                sa.insert(JournalLine).values(
                    entry_id=invoice.id, account_id=account_id(CASH), debit=debit, credit=credit, description=""
                )
            )
    found = _found()
    # The payment's entry is its own amount: 90.000 on the accounts its rule names is a payment of 90.000, which the
    # rule allows; the wallet's ledger keeps no amount of it. An invoice's entry with two more lines is not.
    assert (invoice.id, "lines_total") in found
    assert found[invoice.id, "lines_total"] == (D("600014.00"), D("600000.00"))
    assert not any(entity == payment.id for entity, _field in found)


def test_a_wallet_movements_entry_for_another_amount_than_its_ledger_row_is_reported(app):
    _every_kind_of_movement()
    charge = _entry_of("balance_transaction", 1)
    with past_the_guards() as connection:
        connection.execute(
            sa.update(JournalLine)
            .where(JournalLine.entry_id == charge.id)
            .values(
                debit=sa.case((JournalLine.debit > 0, D("100000")), else_=0),
                credit=sa.case((JournalLine.credit > 0, D("100000")), else_=0),
            )
        )
    assert _found() == {
        (charge.id, f"account_{CUSTOMER_DEPOSITS}"): (D("100000.00"), D("120000.00")),
        (charge.id, f"account_{GAS_REVENUE}"): (D("-100000.00"), D("-120000.00")),
        (charge.id, "lines_total"): (D("200000.00"), D("240000.00")),
    }


def test_the_nightly_fix_of_every_check_runs_it(app):
    _every_kind_of_movement()
    record = run(RunMode.FIX)
    (result,) = [result for result in record.results if result.check == "movement_accounts"]
    assert (result.checked, result.mismatched) == (10, 0)


def test_a_verify_in_chunks_reads_each_chunks_lines_and_finds_what_one_chunk_finds(app):
    _every_kind_of_movement()
    charge, payment = _entry_of("balance_transaction", 1), _entry_of("payment")
    with past_the_guards() as connection:
        connection.execute(
            sa.update(JournalLine).where(JournalLine.entry_id == charge.id, JournalLine.debit > 0).values(debit=D("1"))
        )
        connection.execute(
            sa.insert(JournalLine).values(
                entry_id=payment.id, account_id=account_id(CASH), debit=D("7"), credit=0, description=""
            )
        )
    whole = {
        name: {(d.entity_id, d.field) for d in db.session.scalars(discrepancies(run(RunMode.VERIFY, checks=[name]).id))}
        for name in ("movement_accounts", "journal_balanced")
    }
    app.config["RECONCILE_CHUNK_SIZE"] = 3
    for name, found in whole.items():
        record = run(RunMode.VERIFY, checks=[name])
        assert {(d.entity_id, d.field) for d in db.session.scalars(discrepancies(record.id))} == found
        assert record.results[0].checked == 10
    assert {entity for entity, _field in whole["movement_accounts"]} == {charge.id, payment.id}
    assert {entity for entity, _field in whole["journal_balanced"]} == {charge.id, payment.id}
