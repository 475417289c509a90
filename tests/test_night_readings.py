"""A nightly reads the readings written, charged or re-priced since its last clean night, and the night's stripes of
the rest: a calculation changed past the application is found within ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights, a
verification by hand reads every reading."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import CheckResult, Discrepancy, JobStatus, RunMode
from backoffice.models.types import utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile import engine, evidence_seals
from backoffice.services import metering
from tests.factories import metered_customer, past_the_guards

FIRST = date(2026, 11, 1)
DAYS = 3
STRIPE = 2
CHECK = "reading_calculation"


@pytest.fixture
def readings(app, monkeypatch) -> list[tuple[int, int, int]]:
    """Stripes of two ids swept over three nights; three metered customers, each with four readings over the last
    two months, read whole by a first nightly (clean), their seals made two days old: (customer, meter, reading)."""
    monkeypatch.setattr(evidence_seals, "STRIPE", STRIPE)
    app.config["SEAL_SWEEP_DAYS"] = DAYS
    since = local_today() - timedelta(days=70)
    made = []
    for n in range(3):
        customer, meter = metered_customer(f"C{n:04d}", since, D("7500"), prepaid=D("100000000"))
        for back in (60, 45, 30, 15):
            reading = metering.record_reading(meter.id, local_today() - timedelta(days=back), D("10") + n)
            made.append((customer.id, meter.id, reading))
    first = _nightly(FIRST)
    assert _covered(first)["part"] == "all"
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE seals SET sealed_at = :at"), {"at": utcnow() - timedelta(days=2)})
    return made


def test_a_night_reads_the_readings_recorded_since_and_its_stripes(readings):
    _customer, meter, _reading = readings[0]
    new = metering.record_reading(meter, local_today(), D("12"))
    night = _outside_the_stripes(new)

    run = _nightly(night)

    covered = _covered(run)
    assert covered["part"] == "changed and stripe"
    assert covered["changed"] == 1
    striped = [reading for *_ids, reading in readings if _stripes(night).contains(reading)]
    assert covered["swept"] == len(striped)
    assert not _found(run)


def test_a_price_written_since_has_the_readings_it_prices_read_again(readings):
    customer, _meter, _reading = readings[3]
    repriced = [reading for owner, _meter, reading in readings if owner == customer][2:]  # dated 30 and 15 days ago
    metering.set_pricing(customer, local_today() - timedelta(days=35), D("8000"), D("1"))
    night = next(
        FIRST + timedelta(days=n)
        for n in range(1, DAYS + 1)
        if not any(_stripes(FIRST + timedelta(days=n)).contains(reading) for reading in repriced)
    )

    run = _nightly(night)

    assert _covered(run)["changed"] >= 2  # the two readings dated after it, re-priced
    assert not _found(run)


def test_a_calculation_changed_past_the_application_is_found_the_night_its_stripe_comes(readings):
    _customer, _meter, forged = readings[5]
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE transaction_calculations SET total_price = total_price + 1 WHERE reading_id = :r"),
            {"r": forged},
        )
    nights = [FIRST + timedelta(days=n) for n in range(1, DAYS + 1)]
    holding = next(night for night in nights if _stripes(night).contains(forged))

    for night in nights[: nights.index(holding) + 1]:
        assert (forged in _found(_nightly(night))) == (night == holding), night


def test_a_verification_by_hand_reads_every_reading(readings):
    _customer, _meter, forged = readings[7]
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE transaction_calculations SET volume_sm3 = volume_sm3 + 1 WHERE reading_id = :r"),
            {"r": forged},
        )
    assert forged not in _found(_nightly(_outside_the_stripes(forged)))

    by_hand = engine.run(RunMode.VERIFY, checks=[CHECK])

    assert forged in _found(by_hand.id)


# --- Helpers ---------------------------------------------------------------------------------------------------------


def _nightly(day: date) -> int:
    record, _ = jobs.enqueue_nightly(day)
    assert record.status is JobStatus.FINISHED, record.error
    return record.run_id


def _stripes(night: date):
    return evidence_seals.swept(night, DAYS)


def _outside_the_stripes(reading_id: int) -> date:
    return next(
        FIRST + timedelta(days=n)
        for n in range(1, DAYS + 1)
        if not _stripes(FIRST + timedelta(days=n)).contains(reading_id)
    )


def _covered(run_id: int) -> dict:
    return db.session.scalar(
        sa.select(CheckResult.covered).where(CheckResult.run_id == run_id, CheckResult.check == CHECK)
    )


def _found(run_id: int) -> set[int]:
    return set(
        db.session.scalars(
            sa.select(Discrepancy.entity_id).where(Discrepancy.run_id == run_id, Discrepancy.check == CHECK)
        )
    )
