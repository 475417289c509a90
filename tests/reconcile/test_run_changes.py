"""Every stored value a run changes is its own discrepancy row, those it changes as a consequence too (a month
recalculated because a reading was); "fixed" only when the value changed to the expected one; and a dry run says
exactly what the real run then does."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import sqlalchemy as sa

from backoffice.models import Discrepancy, MonthlyCustomerBalance, RunMode, TransactionCalculation
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import metering
from tests.factories import corrupt, hotel_with_meter


def _rows(run_id: int) -> set[tuple]:
    return {
        (row.check, row.entity_type, row.entity_id, row.period, row.field, row.stored, row.expected)
        for row in db.session.scalars(sa.select(Discrepancy).where(Discrepancy.run_id == run_id))
    }


def _broken_reading_and_month(app) -> tuple[int, int]:
    """The hotel's November: two readings, the second's price and volume corrupted, and the month's deposits
    +1,000."""
    customer, meter = hotel_with_meter(date(2026, 10, 1))
    metering.record_reading(meter.id, date(2026, 11, 5), D("10"))
    metering.record_reading(meter.id, date(2026, 11, 6), D("20"))
    db.session.commit()
    calculation = db.session.scalar(sa.select(sa.func.max(TransactionCalculation.id)))
    corrupt("transaction_calculations", "total_price", calculation, "5000")
    corrupt("transaction_calculations", "volume_sm3", calculation, "815.44")  # the month's Sm³ read from it
    month = db.session.scalar(
        sa.select(MonthlyCustomerBalance).where(
            MonthlyCustomerBalance.customer_id == customer.id, MonthlyCustomerBalance.year_month == "2026-11"
        )
    )
    corrupt("monthly_customer_balances", "total_deposits", month.id, str(month.total_deposits + 1000))
    return customer.id, month.id


def test_a_month_a_rebuild_of_a_reading_recalculates_is_recorded_with_what_it_held(app):
    customer_id, month_id = _broken_reading_and_month(app)
    held = db.session.get(MonthlyCustomerBalance, month_id).total_deposits

    rebuilt = run(RunMode.REBUILD)

    recorded = db.session.scalars(
        sa.select(Discrepancy).where(
            Discrepancy.run_id == rebuilt.id,
            Discrepancy.check == "monthly_balance",
            Discrepancy.entity_id == customer_id,
            Discrepancy.field == "total_deposits",
        )
    ).all()
    assert [(row.period, row.stored, row.expected, row.fixed) for row in recorded] == [
        ("2026-11", held, held - 1000, True)
    ]
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_dry_run_says_exactly_what_the_rebuild_then_does(app):
    _broken_reading_and_month(app)

    dry = run(RunMode.DRY_RUN)
    rebuilt = run(RunMode.REBUILD)

    assert _rows(dry.id) == _rows(rebuilt.id) != set()
    assert not db.session.scalar(sa.select(sa.func.count()).where(Discrepancy.run_id == dry.id, Discrepancy.fixed))


def test_a_fix_that_leaves_a_value_other_than_expected_does_not_say_it_fixed_it(app):
    customer, _meter = hotel_with_meter(date(2026, 10, 1))
    corrupt("customers", "balance", customer.id, "999")  # the wallet, which the months' fix does not write

    fixed = run(RunMode.FIX, checks=["monthly_balance"])

    (row,) = db.session.scalars(sa.select(Discrepancy).where(Discrepancy.run_id == fixed.id)).all()
    assert (row.field, row.fixed, row.fixed_at) == ("closing_equals_wallet_balance", False, None)
    assert fixed.results[0].fixed == 0
