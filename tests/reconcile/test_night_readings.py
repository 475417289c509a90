"""A nightly reads the readings written, charged or re-priced since its last clean night, and the night's stripes of
the rest: a calculation changed past the application is found within ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights, a
verification by hand reads every reading."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from backoffice.models import RunMode
from backoffice.models.types import utcnow
from backoffice.platform.clock import local_today
from backoffice.reconcile import engine
from backoffice.services import metering
from tests.factories import metered_customer, past_the_guards
from tests.nights import FIRST, covered, found, holding, nightly, nights, outside_the_stripes, striped, stripes

CHECK = "reading_calculation"


@pytest.fixture
def readings(app, monkeypatch) -> list[tuple[int, int, int]]:
    """Three metered customers, each with four readings over the last two months, read whole by a first nightly
    (clean), their seals made two days old: (customer, meter, reading)."""
    striped(app, monkeypatch)
    since = local_today() - timedelta(days=70)
    made = []
    for n in range(3):
        customer, meter = metered_customer(f"C{n:04d}", since, D("7500"), prepaid=D("100000000"))
        for back in (60, 45, 30, 15):
            reading = metering.record_reading(meter.id, local_today() - timedelta(days=back), D("10") + n)
            made.append((customer.id, meter.id, reading))
    assert covered(nightly(FIRST), CHECK)["part"] == "all"
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE seals SET sealed_at = :at"), {"at": utcnow() - timedelta(days=2)})
    return made


def test_a_night_reads_the_readings_recorded_since_and_its_stripes(readings):
    _customer, meter, _reading = readings[0]
    new = metering.record_reading(meter, local_today(), D("12"))
    night = outside_the_stripes(new)

    run = nightly(night)

    kept = covered(run, CHECK)
    assert kept["part"] == "changed and stripe"
    assert kept["changed"] == 1
    assert kept["swept"] == len([reading for *_ids, reading in readings if stripes(night).contains(reading)])
    assert not found(run, CHECK)


def test_a_price_written_since_has_the_readings_it_prices_read_again(readings):
    customer, _meter, _reading = readings[3]
    repriced = [reading for owner, _meter, reading in readings if owner == customer][2:]  # dated 30 and 15 days ago
    metering.set_pricing(customer, local_today() - timedelta(days=35), D("8000"), D("1"))

    run = nightly(outside_the_stripes(*repriced))

    assert covered(run, CHECK)["changed"] >= 2  # the two readings dated after it, re-priced
    assert not found(run, CHECK)


def test_a_calculation_changed_past_the_application_is_found_on_its_stripe_s_night(readings):
    _customer, _meter, forged = readings[5]
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE transaction_calculations SET total_price = total_price + 1 WHERE reading_id = :r"),
            {"r": forged},
        )
    comes = holding(forged)

    for night in nights()[: nights().index(comes) + 1]:
        assert (forged in found(nightly(night), CHECK)) == (night == comes), night


def test_a_verification_by_hand_reads_every_reading(readings):
    _customer, _meter, forged = readings[7]
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE transaction_calculations SET volume_sm3 = volume_sm3 + 1 WHERE reading_id = :r"),
            {"r": forged},
        )
    assert forged not in found(nightly(outside_the_stripes(forged)), CHECK)

    by_hand = engine.run(RunMode.VERIFY, checks=[CHECK])

    assert forged in found(by_hand.id, CHECK)
