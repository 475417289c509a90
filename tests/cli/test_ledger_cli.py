"""The ``backoffice ledger`` commands: value dates, adjustments and reversals, and what they refuse."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Account, BalanceTransaction, JournalEntry, JournalLine, Kind, RunMode
from backoffice.models.metering import READING
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.reconcile.engine import run
from backoffice.services import meter_lifecycle, metering, wallet
from tests.factories import CustomerFactory, MeterFactory
from tests.rows import newest, written

D = Decimal


WRITTEN = (BalanceTransaction, JournalEntry)
"""What a refused door must leave as it was, read by :func:`tests.rows.written`."""


def entry_of(movement: BalanceTransaction) -> tuple[date, list[tuple[str, Decimal, Decimal]]]:
    """The movement's journal entry: its date and (account, debit, credit) lines."""
    entry = db.session.get(JournalEntry, movement.entry_id)
    lines = db.session.execute(
        sa.select(Account.code, JournalLine.debit, JournalLine.credit)
        .join(Account, Account.id == JournalLine.account_id)
        .where(JournalLine.entry_id == entry.id)
        .order_by(JournalLine.id)
    ).all()
    return entry.entry_date, [tuple(line) for line in lines]


@pytest.fixture
def plain_hotel(app):
    """The hotel (HOTEL), under the factories' name, with Rp100.000 recharged on 2026-10-01."""
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, D("100000"), value_date=date(2026, 10, 1))
    return customer


def test_a_recharge_and_a_charge_dated_in_the_past_count_in_that_month(runner, plain_hotel):
    recharged = runner.invoke(args=["ledger", "recharge", "HOTEL", "50.000", "--value-date", "2026-10-15"])
    assert recharged.exit_code == 0, recharged.output
    row = newest()
    assert recharged.output == f"recharge #{row.id} dated 15 Oct 2026: HOTEL balance Rp150.000,00.\n"
    assert entry_of(row) == (date(2026, 10, 15), [("1000", D("50000.00"), D("0")), ("2000", D("0"), D("50000.00"))])
    charged = runner.invoke(args=["ledger", "charge", "HOTEL", "20.000", "--value-date", "2026-10-20"])
    assert charged.exit_code == 0, charged.output
    assert (newest().value_date, newest().signed_amount) == (date(2026, 10, 20), D("-20000.00"))
    plain = runner.invoke(args=["ledger", "charge", "HOTEL", "1"])
    assert f"dated {named_date(local_today())}" in plain.output
    assert run(RunMode.VERIFY).mismatched == 0


def test_an_adjustment_up_or_down_carries_its_reason_and_books_revenue(runner, plain_hotel):
    up = runner.invoke(
        args=["ledger", "adjust", "HOTEL", "5.000", "--reason", "goodwill", "--value-date", "2026-11-02"]
    )
    assert up.exit_code == 0, up.output
    row = newest()
    assert (row.kind, row.signed_amount, row.reason, row.value_date) == (
        Kind.ADJUSTMENT,
        D("5000.00"),
        "goodwill",
        date(2026, 11, 2),
    )
    assert entry_of(row)[1] == [("4000", D("5000.00"), D("0")), ("2000", D("0"), D("5000.00"))]
    down = runner.invoke(args=["ledger", "adjust", "HOTEL", "-2.500", "--reason", "other", "--description", "bank fee"])
    assert down.exit_code == 0, down.output
    row = newest()
    assert (row.signed_amount, row.reason, row.description) == (D("-2500.00"), "other", "bank fee")
    assert "balance Rp102.500,00" in down.output
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_reversed_recharge_goes_back_to_cash_and_a_reversed_adjustment_stays_one(runner, plain_hotel):
    recharge = wallet.recharge(plain_hotel, D("40000"), value_date=date(2026, 11, 1))
    reversed_ = runner.invoke(
        args=["ledger", "reverse", str(recharge.id), "--value-date", "2026-11-03", "--description", "Wrong customer"]
    )
    assert reversed_.exit_code == 0, reversed_.output
    row = newest()
    assert (row.kind, row.signed_amount, row.reverses_id) == (Kind.REVERSAL, D("-40000.00"), recharge.id)
    assert entry_of(row) == (date(2026, 11, 3), [("2000", D("40000.00"), D("0")), ("1000", D("0"), D("40000.00"))])
    assert f"reversal #{row.id} dated 3 Nov 2026: HOTEL balance Rp100.000,00." in reversed_.output
    goodwill = wallet.adjust(plain_hotel, D("700"), reason="goodwill")
    undone = runner.invoke(args=["ledger", "reverse", str(goodwill.id), "--description", "Given twice"])
    assert undone.exit_code == 0, undone.output
    row = newest()
    assert (row.kind, row.signed_amount, row.reason, row.reverses_id) == (
        Kind.ADJUSTMENT,
        D("-700.00"),
        "goodwill",
        goodwill.id,
    )
    assert run(RunMode.VERIFY).mismatched == 0


REFUSALS = [
    (["ledger", "recharge", "HOTEL", "1", "--value-date", "2026-13-01"], 2, "Invalid value for '--value-date'"),
    (["ledger", "charge", "HOTEL", "1", "--value-date", "yesterday"], 2, "Invalid value for '--value-date'"),
    (["ledger", "recharge", "HOTEL", "1", "--value-date", "{tomorrow}"], 1, "cannot be dated after today"),
    (["ledger", "adjust", "HOTEL", "1", "--reason", "goodwill", "--value-date", "{tomorrow}"], 1, "after today"),
    (["ledger", "adjust", "HOTEL", "1", "--reason", "typo"], 2, "Invalid value for '--reason'"),
    (["ledger", "adjust", "HOTEL", "1"], 2, "Missing option '--reason'"),
    (["ledger", "adjust", "HOTEL", "1", "--reason", "other"], 1, "needs a description saying why"),
    (["ledger", "adjust", "HOTEL", "0", "--reason", "goodwill"], 1, "non-zero amount"),
    (["ledger", "adjust", "HOTEL", "1,234.5", "--reason", "goodwill"], 2, "separators"),
    (["ledger", "adjust", "HOTEL", "-200.000", "--reason", "write_off"], 1, "Insufficient balance"),
    (["ledger", "adjust", "NOPE", "1", "--reason", "goodwill"], 1, "Unknown customer code: NOPE"),
    (
        ["ledger", "reverse", "--description", "Entered twice", "{reversed}"],
        1,
        "Movement #{reversed} was already reversed by #{reversal}.",
    ),
    (["ledger", "reverse", "--description", "Entered twice", "{reversal}"], 1, "A reversal cannot itself be reversed"),
    (["ledger", "reverse", "--description", "Entered twice", "{undone}"], 1, "A reversal cannot itself be reversed"),
    (
        ["ledger", "reverse", "--description", "Entered twice", "{gas}"],
        1,
        "Movement #{gas} is what reading #{reading} cost: correct or delete",
    ),
    (
        ["ledger", "reverse", "--description", "Entered twice", "{charge}", "--value-date", "2026-10-31"],
        1,
        "cannot be dated before the movement",
    ),
    (
        ["ledger", "reverse", "--description", "Entered twice", "{charge}", "--value-date", "{tomorrow}"],
        1,
        "cannot be dated after today",
    ),
    (["ledger", "reverse", "--description", "Entered twice", "999"], 1, "No ledger movement 999"),
    (["ledger", "reverse", "--description", "Entered twice", "x"], 2, "Invalid value for 'MOVEMENT_ID'"),
    (["ledger", "reverse", "{charge}"], 2, "Missing option '--description'"),
    (["ledger", "reverse", "{charge}", "--description", "  "], 1, "Say why the movement is reversed"),
]


@pytest.mark.parametrize(
    ("args", "status", "message"), REFUSALS, ids=lambda v: " ".join(v) if type(v) is list else None
)
def test_what_makes_no_sense_is_refused_in_one_line_and_writes_nothing(runner, plain_hotel, args, status, message):
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, plain_hotel, date(2026, 10, 1))
    metering.set_pricing(plain_hotel.id, date(2026, 10, 1), D("1000"), D("1"))
    reading = metering.record_reading(meter.id, date(2026, 11, 5), D("3"))
    ids = {
        "tomorrow": (local_today() + timedelta(days=1)).isoformat(),
        "reading": reading,
        "gas": db.session.scalar(sa.select(BalanceTransaction.id).where(BalanceTransaction.reference_type == READING)),
        "charge": wallet.charge(plain_hotel, D("10"), value_date=date(2026, 11, 1)).id,
    }
    recharge = wallet.recharge(plain_hotel, D("5"))
    ids |= {"reversed": recharge.id, "reversal": wallet.reverse(recharge, description="Entered by mistake").id}
    adjustment = wallet.adjust(plain_hotel, D("3"), reason="goodwill")
    ids["undone"] = wallet.reverse(adjustment, description="Entered by mistake").id
    before = written(*WRITTEN)
    result = runner.invoke(args=[arg.format(**ids) for arg in args])
    assert result.exit_code == status, result.output
    assert message.format(**ids) in result.output
    if status == 1:
        assert len(result.output.strip().splitlines()) == 1
    assert written(*WRITTEN) == before
