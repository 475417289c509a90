"""Metering: readings priced by effective-dated pricing, charged to the wallet, and re-priced by the check."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import current_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.models import (
    BalanceTransaction,
    Customer,
    Discrepancy,
    Meter,
    MeterAssignment,
    MeterReading,
    MonthlyCustomerBalance,
    RunMode,
    TransactionCalculation,
)
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.reconcile import CHECKS as ALL_CHECKS
from backoffice.reconcile import evidence_review
from backoffice.reconcile.engine import run
from backoffice.services import billing, customers, meter_lifecycle, metering, wallet
from tests.factories import CustomerFactory, MeterFactory, UserFactory, corrupt, metered_customer, stored
from tests.rows import balance

D = Decimal
NOV = date(2026, 11, 1)
MOVE = date(2026, 11, 20)
MOVE_LATER = date(2026, 11, 22)
CHECKS = ["reading_calculation", "customer_wallet", "ledger_chain"]


@pytest.fixture
def site(app):
    """A customer with Rp1.000.000 prepaid, a meter, and a price from November."""
    customer, meter = metered_customer("HOTEL", NOV, D("7500.00"), D("1.012345"), prepaid=D("1000000"))
    return customer.id, meter.id


def calculation(reading_id: int) -> TransactionCalculation:
    db.session.rollback()
    return db.session.scalar(sa.select(TransactionCalculation).where(TransactionCalculation.reading_id == reading_id))


def moved_to_a_bakery(site) -> int:
    """The hotel pays Rp1.000 per Sm³ and the bakery Rp2.000 from November; the meter moves to the bakery on
    ``MOVE``. Returns the bakery's id."""
    hotel_id, meter_id = site
    bakery = CustomerFactory(code="BAKERY")
    metering.set_pricing(hotel_id, NOV, D("1000.00"), D("1"))
    metering.set_pricing(bakery.id, NOV, D("2000.00"), D("1"))
    meter = db.session.get(Meter, meter_id)
    meter_lifecycle.assign_meter(meter, bakery, MOVE, confirm_move_from=billing.active_assignment(meter_id).id)
    return bakery.id


def clean() -> bool:
    return run(RunMode.VERIFY, checks=CHECKS).mismatched == 0


@pytest.mark.parametrize(
    ("volume", "correction", "price", "sm3", "total"),
    [
        ("100.0000", "1.012345", "7500.00", "101.2345", "759258.75"),
        ("1.2345", "1.500000", "0.55", "1.8518", "1.02"),  # 1.85175 → 1.8518; 1.01849 → 1.02
        ("0.5000", "1.000000", "0.05", "0.5000", "0.03"),  # 0.025 → 0.03: half up
        ("0.0000", "1.000000", "7500.00", "0.0000", "0.00"),
    ],
)
def test_worked_examples_of_volume_and_cost_rounding(app, volume, correction, price, sm3, total):
    customer = CustomerFactory()
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, NOV)
    metering.set_pricing(customer.id, NOV, D(price), D(correction))
    reading = metering.record_reading(meter.id, NOV, D(volume))
    calc = calculation(reading)
    assert (calc.volume_sm3, calc.total_price) == (D(sm3), D(total))
    assert calc.pricing["price_per_sm3"] == price
    assert clean()


def test_a_reading_charges_the_wallet_in_the_same_transaction(site):
    customer_id, meter_id = site
    reading = metering.record_reading(meter_id, date(2026, 11, 5), D("10"))
    assert (calculation(reading).volume_sm3, calculation(reading).total_price) == (D("10.1235"), D("75926.25"))
    movement = db.session.scalar(sa.select(BalanceTransaction).order_by(BalanceTransaction.id.desc()))
    assert (movement.kind.value, movement.reference_type, movement.reference_id) == ("charge", "meter_reading", reading)
    assert balance(customer_id) == D("924073.75")
    assert clean()


def test_a_reading_without_pricing_or_assignment_is_refused_and_writes_nothing(site):
    _customer_id, meter_id = site
    unpriced = MeterFactory()
    meter_lifecycle.assign_meter(unpriced, CustomerFactory(), date(2026, 10, 1))
    with pytest.raises(metering.MeteringError, match="No pricing applies on 31 Oct 2026"):
        metering.record_reading(unpriced.id, date(2026, 10, 31), D("1"))
    with pytest.raises(metering.MeteringError, match="not assigned"):
        metering.record_reading(MeterFactory().id, NOV, D("1"))
    for bad, message in ((D("-1"), "negative"), (D("0.00001"), "4 decimal places"), (D("NaN"), "number")):
        with pytest.raises(metering.MeteringError, match=message):
            metering.record_reading(meter_id, NOV, bad)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(MeterReading.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(BalanceTransaction.id))) == 1


def readings_of(meter_id: int) -> list[Decimal]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(MeterReading.volume_flow_meter).where(MeterReading.meter_id == meter_id)))


def test_a_second_reading_of_a_meter_and_date_says_what_is_there_and_writes_nothing(site):
    customer_id, meter_id = site
    clerk = UserFactory(email="dewi@example.com", name="Dewi Lestari")
    first = metering.record_reading(meter_id, NOV, D("10"), user=clerk)
    charged = balance(customer_id)

    with pytest.raises(metering.DuplicateReading) as refused:
        metering.record_reading(meter_id, NOV, D("12.5"))
    assert refused.value.existing.id == first
    assert f"already has a reading on 2026-11-01: #{first}, 10.0000 m³, recorded by Dewi Lestari" in str(refused.value)
    with pytest.raises(metering.DuplicateReading):  # an id other than the reading there confirms nothing
        metering.record_reading(meter_id, NOV, D("12.5"), confirm_duplicate_of=first + 1)
    assert readings_of(meter_id) == [D("10")] and balance(customer_id) == charged
    # Another day of the same meter is no duplicate.
    metering.record_reading(meter_id, NOV + timedelta(days=1), D("1"))


def test_a_confirmed_second_reading_of_the_day_is_recorded_and_charged(site):
    customer_id, meter_id = site
    first = metering.record_reading(meter_id, NOV, D("10"))
    charged = balance(customer_id)
    second = metering.record_reading(meter_id, NOV, D("10"), confirm_duplicate_of=first)
    assert sorted(readings_of(meter_id)) == [D("10"), D("10")]
    assert charged - balance(customer_id) == calculation(second).total_price > 0
    # A third is asked about the latest one there.
    with pytest.raises(metering.DuplicateReading) as refused:
        metering.record_reading(meter_id, NOV, D("1"), confirm_duplicate_of=first)
    assert refused.value.existing.id == second
    assert clean()


def test_a_reading_is_charged_to_the_customer_who_held_the_meter_on_its_date(site):
    hotel_id, meter_id = site
    bakery_id = moved_to_a_bakery(site)
    # Entered after the move, dated before it: the hotel's gas, at the hotel's price.
    before_move = metering.record_reading(meter_id, date(2026, 11, 15), D("10"))
    on_move = metering.record_reading(meter_id, MOVE, D("10"))
    db.session.rollback()
    assert db.session.get(MeterReading, before_move).customer_id == hotel_id
    assert (calculation(before_move).customer_id, calculation(before_move).total_price) == (hotel_id, D("10000.00"))
    assert db.session.get(MeterReading, on_move).customer_id == bakery_id
    assert (calculation(on_move).customer_id, calculation(on_move).total_price) == (bakery_id, D("20000.00"))
    assert balance(hotel_id) == D("990000.00")
    assert balance(bakery_id) == D("-20000.00")
    assert clean()


@pytest.mark.parametrize("day", [date(9999, 12, 31), "tomorrow"])
def test_a_reading_dated_after_today_is_refused_and_writes_nothing(site, day):
    customer_id, meter_id = site
    day = local_today() + timedelta(days=1) if day == "tomorrow" else day
    with pytest.raises(metering.MeteringError, match="A reading cannot be dated after today"):
        metering.record_reading(meter_id, day, D("1"))
    reading = metering.record_reading(meter_id, NOV, D("1"))
    with pytest.raises(metering.MeteringError, match="A reading cannot be dated after today"):
        metering.correct_reading(reading, day, D("1"))
    db.session.rollback()
    assert db.session.scalars(sa.select(MeterReading.reading_date)).all() == [NOV]
    assert db.session.scalars(sa.select(MonthlyCustomerBalance.year_month).distinct()).all() == ["2026-11"]
    assert balance(customer_id) == D("1000000") - calculation(reading).total_price


def test_today_is_the_installations_today(site):
    _customer_id, meter_id = site
    in_time_zone("Pacific/Kiritimati")  # UTC+14: its today is a day or two ahead of Pago Pago's
    ahead = local_today()
    metering.record_reading(meter_id, ahead, D("1"))
    in_time_zone("Pacific/Pago_Pago")  # UTC-11
    shown = f"after today ({named_date(local_today())} in Pacific/Pago_Pago)"
    with pytest.raises(metering.MeteringError, match=re.escape(shown)):
        metering.record_reading(meter_id, ahead, D("1"))


def in_time_zone(zone: str) -> None:
    """The installation's time zone set to ``zone``: the app's setting, and what the posting core is told."""
    current_app.config["TIMEZONE"] = zone
    current_app.extensions.pop("backoffice.installation", None)


def test_a_reading_dated_when_nobody_held_the_meter_is_refused_and_writes_nothing(site):
    customer_id, meter_id = site
    assignment = billing.active_assignment(meter_id)
    meter_lifecycle.deactivate(assignment, date(2026, 11, 10))
    for day in (date(2026, 10, 31), date(2026, 11, 10)):
        with pytest.raises(metering.MeteringError, match=f"not assigned to any customer on {named_date(day)}"):
            metering.record_reading(meter_id, day, D("1"))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(MeterReading.id))) == 0
    # The day before the meter left is still the customer's.
    reading = metering.record_reading(meter_id, date(2026, 11, 9), D("1"))
    assert db.session.get(MeterReading, reading).customer_id == customer_id
    assert clean()


def test_a_reading_cannot_be_corrected_to_a_date_another_customer_held_the_meter(site):
    customer_id, meter_id = site
    reading = metering.record_reading(meter_id, date(2026, 11, 5), D("10"))
    moved_to_a_bakery(site)
    charged = balance(customer_id)
    with pytest.raises(metering.MeteringError, match="On 21 Nov 2026 meter .* was at BAKERY, not at HOTEL"):
        metering.correct_reading(reading, date(2026, 11, 21), D("10"))
    db.session.rollback()
    assert db.session.get(MeterReading, reading).reading_date == date(2026, 11, 5)
    assert balance(customer_id) == charged


def test_a_reading_charged_to_the_wrong_holder_is_found_and_the_fix_moves_its_charge(site):
    hotel_id, meter_id = site
    bakery_id = moved_to_a_bakery(site)
    reading = metering.record_reading(meter_id, date(2026, 11, 21), D("10"))
    # The move was in truth on the 22nd: the reading of the 21st is the hotel's, charged to the bakery.
    periods = sa.update(MeterAssignment)
    db.session.execute(periods.where(MeterAssignment.ended_on == MOVE).values(ended_on=MOVE_LATER))
    db.session.execute(periods.where(MeterAssignment.started_on == MOVE).values(started_on=MOVE_LATER))
    db.session.commit()
    found = run(RunMode.VERIFY, checks=["reading_calculation"])
    assert (found.mismatched, found.left) == (1, 1)
    charged = db.session.scalar(
        sa.select(Discrepancy.stored).where(Discrepancy.run_id == found.id, Discrepancy.field == "charged")
    )
    assert charged == D("0.00")  # nothing charged to the hotel, whose gas it was
    drift = run(RunMode.VERIFY, checks=["history_drift"])
    assert set(db.session.scalars(sa.select(Discrepancy.field).where(Discrepancy.run_id == drift.id))) == {
        "ended_on",
        "started_on",
    }
    # The periods were moved by SQL: the fix moves no money from them until an admin vouches for them.
    run(RunMode.FIX, checks=["reading_calculation"])
    assert (balance(hotel_id), balance(bakery_id)) == (D("1000000.00"), D("-20000.00"))
    found = evidence_review.open_findings()
    assert {(finding.kind, finding.customer_id) for finding in found} == {
        ("meter_assignments", hotel_id),
        ("meter_assignments", bakery_id),
    }
    admin = UserFactory(email="admin@example.com", role="admin")
    evidence_review.accept([finding.id for finding in found], "the move's report says the 22nd", admin)
    run(RunMode.FIX, checks=["reading_calculation"])
    assert db.session.get(MeterReading, reading).customer_id == hotel_id
    assert (calculation(reading).customer_id, calculation(reading).total_price) == (hotel_id, D("10000.00"))
    assert (balance(hotel_id), balance(bakery_id)) == (D("990000.00"), D("0.00"))
    # Every check is clean, the history's too: the periods as the admin accepted them are their latest versions.
    assert run(RunMode.VERIFY, checks=list(ALL_CHECKS)).mismatched == 0


def test_a_pricing_change_mid_month_applies_only_from_its_date(site):
    customer_id, meter_id = site
    metering.set_pricing(customer_id, date(2026, 11, 15), D("8000.00"), D("1.000000"))
    before = metering.record_reading(meter_id, date(2026, 11, 14), D("10"))
    on = metering.record_reading(meter_id, date(2026, 11, 15), D("10"))
    assert calculation(before).price_per_sm3 == D("7500.00")
    assert (calculation(on).price_per_sm3, calculation(on).total_price) == (D("8000.00"), D("80000.00"))


def test_correcting_a_reading_posts_the_difference(site):
    customer_id, meter_id = site
    metering.set_pricing(customer_id, NOV, D("1000.00"), D("1.000000"))
    reading = metering.record_reading(meter_id, NOV, D("100"))
    assert balance(customer_id) == D("900000.00")
    metering.correct_reading(reading, NOV, D("130"))
    assert (calculation(reading).total_price, balance(customer_id)) == (D("130000.00"), D("870000.00"))
    metering.correct_reading(reading, NOV, D("40"))
    assert (calculation(reading).total_price, balance(customer_id)) == (D("40000.00"), D("960000.00"))
    kinds = db.session.scalars(sa.select(BalanceTransaction.kind).order_by(BalanceTransaction.id)).all()
    assert [k.value for k in kinds] == ["recharge", "charge", "charge", "reversal"]
    assert db.session.get(Customer, customer_id).total_spent == D("40000.00")
    assert clean()


def test_deleting_a_reading_gives_back_what_it_cost(site):
    customer_id, meter_id = site
    metering.set_pricing(customer_id, NOV, D("1000.00"), D("1.000000"))
    reading = metering.record_reading(meter_id, NOV, D("100"))
    metering.correct_reading(reading, NOV, D("150"))
    metering.delete_reading(reading)
    assert balance(customer_id) == D("1000000.00")
    assert db.session.get(Customer, customer_id).total_spent == D("0.00")
    assert db.session.scalar(sa.select(sa.func.count(TransactionCalculation.id))) == 0
    assert clean()


def test_gas_delivered_is_charged_beyond_the_balance_and_suspends(site):
    customer_id, meter_id = site
    corrupt("customers", "suspend_below", customer_id, "1")
    metering.set_pricing(customer_id, NOV, D("1000.00"), D("1.000000"))
    metering.record_reading(meter_id, NOV, D("1500"))
    db.session.rollback()
    customer = db.session.get(Customer, customer_id)
    assert (customer.balance, customer.status.value) == (D("-500000.00"), "suspended")
    with pytest.raises(wallet.InsufficientBalance):
        wallet.charge(customer_id, D("1"))


def test_a_back_dated_price_reprices_its_readings_at_once_and_the_preview_said_so(site):
    customer_id, meter_id = site
    early = metering.record_reading(meter_id, date(2026, 11, 5), D("10"))
    late = metering.record_reading(meter_id, date(2026, 11, 20), D("10"))
    metering.set_pricing(customer_id, date(2026, 12, 1), D("1.00"), D("1.000000"))
    preview = metering.pricing_impact(customer_id, date(2026, 11, 10), D("9000.00"), D("1.000000"))
    assert (preview.readings, preview.from_month) == (1, "2026-11")
    assert (preview.purchases_before, preview.purchases_after) == (D("75926.25"), D("90000.00"))
    assert calculation(late).total_price == D("75926.25")
    impact = metering.set_pricing(customer_id, date(2026, 11, 10), D("9000.00"), D("1.000000"))
    assert impact == preview
    assert (calculation(early).total_price, calculation(late).total_price) == (D("75926.25"), D("90000.00"))
    assert balance(customer_id) == D("1000000") - D("75926.25") - D("90000.00")
    assert clean()


def test_a_price_changed_past_the_write_path_is_found_and_the_fix_reprices_and_posts(site):
    customer_id, meter_id = site
    reading = metering.record_reading(meter_id, date(2026, 11, 20), D("10"))
    db.session.execute(sa.text("UPDATE customer_pricing SET price_per_sm3 = 9000, meter_correction = 1"))
    db.session.commit()
    found = run(RunMode.VERIFY, checks=["reading_calculation"])
    assert found.mismatched == 1 and found.left == 1
    run(RunMode.FIX, checks=["reading_calculation"])
    assert calculation(reading).total_price == D("75926.25")  # changed outside the application: not yet money
    admin = UserFactory(email="admin@example.com", role="admin")
    evidence_review.accept([f.id for f in evidence_review.open_findings()], "the contract says Rp9.000", admin)
    run(RunMode.FIX, checks=["reading_calculation"])
    assert calculation(reading).total_price == D("90000.00")
    assert balance(customer_id) == D("1000000") - D("90000.00")
    assert clean()


@pytest.mark.parametrize(
    ("price", "correction", "message"),
    [
        (D("-1"), D("1"), "must not be negative"),
        (D("1.001"), D("1"), "2 decimal places"),
        (D("1"), D("0"), "greater than zero"),
        (D("1"), D("1.0000001"), "6 decimal places"),
    ],
)
def test_bad_pricing_is_refused_and_writes_nothing(site, price, correction, message):
    customer_id, _meter_id = site
    with pytest.raises(metering.MeteringError, match=message):
        metering.set_pricing(customer_id, date(2026, 12, 1), price, correction)
    db.session.rollback()
    assert db.session.scalar(sa.text("SELECT count(*) FROM customer_pricing")) == 1


def test_a_corrupted_calculation_is_repriced_without_charging_twice(site):
    customer_id, meter_id = site
    reading = metering.record_reading(meter_id, NOV, D("10"))
    charged = balance(customer_id)
    corrupt("transaction_calculations", "total_price", calculation(reading).id, "1")
    run(RunMode.FIX, checks=["reading_calculation"])
    assert stored("transaction_calculations", "total_price", calculation(reading).id) == D("1000000") - charged
    assert balance(customer_id) == charged
    assert clean()


metering_steps = st.lists(
    st.tuples(
        st.sampled_from(["read", "correct", "delete", "price", "deposit", "assignment", "realtime"]),
        st.integers(min_value=0, max_value=120),
        st.decimals(min_value=D("0"), max_value=D("5000"), places=4),
    ),
    min_size=1,
    max_size=15,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=metering_steps)
def test_random_metering_sequences_leave_every_check_clean(site, steps):
    """Readings, corrections, deletions, deposits, pricing and assignment changes over four months."""
    customer_id, meter_id = site
    first = date(2026, 8, 1)
    metering.set_pricing(customer_id, first, D("1000.00"), D("1"))
    recorded = list(db.session.scalars(sa.select(MeterReading.id).where(MeterReading.customer_id == customer_id)))
    for operation, day, number in steps:
        on = first + timedelta(days=day)
        if operation == "read":
            same_day = metering.same_day_reading(meter_id, on)
            try:
                recorded.append(
                    metering.record_reading(meter_id, on, number, confirm_duplicate_of=same_day and same_day.id)
                )
            except metering.MeteringError as error:
                assert "not assigned" in str(error) or "after today" in str(error)
        elif operation == "correct" and recorded:
            try:
                metering.correct_reading(recorded[day % len(recorded)], on, number)
            except metering.MeteringError as error:
                assert "not assigned" in str(error) or "after today" in str(error)
        elif operation == "delete" and recorded:
            metering.delete_reading(recorded.pop(day % len(recorded)))
        elif operation == "price":
            correction = (D(1) + number / 100_000).quantize(D("0.000001"))
            metering.set_pricing(customer_id, on, (number * 10).quantize(D("0.01")), correction)
        elif operation == "deposit" and number > 0:
            wallet.recharge(customer_id, number.quantize(D("0.01")) + 1)
        elif operation == "assignment":
            assignment = db.session.scalar(sa.select(MeterAssignment).where(MeterAssignment.meter_id == meter_id))
            try:
                if assignment.is_active:
                    meter_lifecycle.deactivate(assignment, max(on, assignment.started_on))
                else:
                    meter_lifecycle.reactivate(assignment)
            except billing.BillingError as error:  # it would leave readings to nobody, or ends after today
                assert "nobody would hold" in str(error) or "after today" in str(error)
        elif operation == "realtime":
            db.session.rollback()
            customers.set_realtime(customer_id, not db.session.get(Customer, customer_id).use_realtime_calculation)
    metering.process_recalculations()
    assert run(RunMode.VERIFY).mismatched == 0
