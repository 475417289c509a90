"""A nightly reads the months of the customers whose movements changed since its last clean night, from the month of
the earliest of them on, and the months of the night's stripes of customers whole: a month changed past the
application is found within ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights, a verification by hand reads every month."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import CheckResult, Discrepancy, JobStatus, MonthlyCustomerBalance, RunMode
from backoffice.models.types import Month, utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile import engine, evidence_seals
from backoffice.services import wallet
from tests.factories import CustomerFactory, past_the_guards

FIRST = date(2026, 11, 1)
DAYS = 3
STRIPE = 2
CHECK = "monthly_balance"


@pytest.fixture
def customers(app, monkeypatch) -> list[int]:
    """Stripes of two ids swept over three nights; six customers, each with movements in the last three months, read
    whole by a first nightly (clean), their seals made two days old."""
    monkeypatch.setattr(evidence_seals, "STRIPE", STRIPE)
    app.config["SEAL_SWEEP_DAYS"] = DAYS
    today = local_today()
    made = [CustomerFactory(code=f"C{n:04d}") for n in range(1, 7)]
    for customer in made:
        for back in (62, 31, 0):
            wallet.recharge(customer, D("1000"), value_date=today - timedelta(days=back))
    first = _nightly(FIRST)
    assert _covered(first)["part"] == "all"
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE seals SET sealed_at = :at"), {"at": utcnow() - timedelta(days=2)})
    return [customer.id for customer in made]


def test_a_night_reads_a_changed_customer_s_months_from_its_changed_month_on_and_its_stripe_s_customers_whole(
    customers,
):
    changed = customers[0]
    night = _outside_the_stripes(changed)
    wallet.recharge(changed, D("50"))
    striped = [customer for customer in customers if _stripes(night).contains(customer)]

    run = _nightly(night)

    covered = _covered(run)
    assert covered["part"] == "changed and stripe"
    assert covered["changed"] == 1  # this month's alone: the earlier ones did not move
    assert covered["swept"] == _months_of(striped)
    assert not _found(run)


def test_a_movement_dated_in_an_earlier_month_is_read_from_that_month_on_its_opening_from_the_month_before(
    customers,
):
    changed = customers[1]
    night = _outside_the_stripes(changed)
    wallet.recharge(changed, D("70"), value_date=local_today() - timedelta(days=31))

    run = _nightly(night)

    assert _covered(run)["changed"] == 2
    assert not _found(run)


def test_a_month_changed_past_the_application_is_found_the_night_its_customer_s_stripe_comes(customers):
    forged = customers[2]
    month = _last_month()
    with past_the_guards() as connection:
        connection.execute(
            sa.text(
                "UPDATE monthly_customer_balances SET total_deposits = total_deposits + 1 "
                "WHERE customer_id = :c AND year_month = :m"
            ),
            {"c": forged, "m": month},
        )
    nights = [FIRST + timedelta(days=n) for n in range(1, DAYS + 1)]
    holding = next(night for night in nights if _stripes(night).contains(forged))

    for night in nights[: nights.index(holding) + 1]:
        assert ((forged, month) in _found(_nightly(night))) == (night == holding), night


def test_a_verification_by_hand_reads_every_month(customers):
    forged = customers[3]
    month = _last_month()
    with past_the_guards() as connection:
        connection.execute(
            sa.text(
                "UPDATE monthly_customer_balances SET total_volume_sm3 = total_volume_sm3 + 1 "
                "WHERE customer_id = :c AND year_month = :m"
            ),
            {"c": forged, "m": month},
        )
    night = _nightly(_outside_the_stripes(forged))
    assert (forged, month) not in _found(night)

    by_hand = engine.run(RunMode.VERIFY, checks=[CHECK])

    assert (forged, month) in _found(by_hand.id)


def test_a_changed_customer_whose_month_before_was_changed_past_the_application_is_found_on_its_changed_month(
    customers,
):
    changed = customers[4]
    night = _outside_the_stripes(changed)
    with past_the_guards() as connection:  # the month the night's read opens from, wrong
        connection.execute(
            sa.text(
                "UPDATE monthly_customer_balances SET closing_balance = closing_balance + 5 "
                "WHERE customer_id = :c AND year_month = :m"
            ),
            {"c": changed, "m": _last_month()},
        )
    wallet.recharge(changed, D("50"))

    run = _nightly(night)

    assert (changed, str(Month.of(local_today()))) in _found(run)


# --- Helpers ---------------------------------------------------------------------------------------------------------


def _nightly(day: date) -> int:
    record, _ = jobs.enqueue_nightly(day)
    assert record.status is JobStatus.FINISHED, record.error
    return record.run_id


def _stripes(night: date):
    return evidence_seals.swept(night, DAYS)


def _outside_the_stripes(customer_id: int) -> date:
    """A night after the first whose stripes do not hold the customer: what reads its months is not the sweep."""
    return next(
        FIRST + timedelta(days=n)
        for n in range(1, DAYS + 1)
        if not _stripes(FIRST + timedelta(days=n)).contains(customer_id)
    )


def _last_month() -> str:
    return str(Month.of(local_today().replace(day=1) - timedelta(days=1)))


def _months_of(customer_ids: list[int]) -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(MonthlyCustomerBalance.customer_id.in_(customer_ids)))


def _covered(run_id: int) -> dict:
    return db.session.scalar(
        sa.select(CheckResult.covered).where(CheckResult.run_id == run_id, CheckResult.check == CHECK)
    )


def _found(run_id: int) -> set[tuple[int, str]]:
    return set(
        db.session.execute(
            sa.select(Discrepancy.entity_id, Discrepancy.period).where(
                Discrepancy.run_id == run_id, Discrepancy.check == CHECK
            )
        ).all()
    )
