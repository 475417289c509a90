"""A nightly reads the months of the customers whose movements changed since its last clean night, from the month of
the earliest of them on, and the months of the night's stripes of customers whole: a month changed past the
application is found within ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights, a verification by hand reads every month."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from backoffice.models import MonthlyCustomerBalance, RunMode
from backoffice.models.types import Month, utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile import engine
from backoffice.services import wallet
from tests.factories import CustomerFactory, past_the_guards
from tests.nights import FIRST, covered, found_months, holding, nightly, nights, outside_the_stripes, striped, stripes

CHECK = "monthly_balance"


@pytest.fixture
def customers(app, monkeypatch) -> list[int]:
    """Six customers, each with movements in the last three months, read whole by a first nightly (clean), their
    seals made two days old."""
    striped(app, monkeypatch)
    today = local_today()
    made = [CustomerFactory(code=f"C{n:04d}") for n in range(1, 7)]
    for customer in made:
        for back in (62, 31, 0):
            wallet.recharge(customer, D("1000"), value_date=today - timedelta(days=back))
    assert covered(nightly(FIRST), CHECK)["part"] == "all"
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE seals SET sealed_at = :at"), {"at": utcnow() - timedelta(days=2)})
    return [customer.id for customer in made]


def test_a_night_reads_changed_customers_from_the_changed_month_and_its_stripe_whole(
    customers,
):
    changed = customers[0]
    night = outside_the_stripes(changed)
    wallet.recharge(changed, D("50"))
    swept = [customer for customer in customers if stripes(night).contains(customer)]

    run = nightly(night)

    kept = covered(run, CHECK)
    assert kept["part"] == "changed and stripe"
    assert kept["changed"] == 1  # this month's alone: the earlier ones did not move
    assert kept["swept"] == _months_of(swept)
    assert not found_months(run, CHECK)


def test_a_backdated_movement_is_read_from_its_month_opening_from_the_month_before(
    customers,
):
    changed = customers[1]
    night = outside_the_stripes(changed)
    wallet.recharge(changed, D("70"), value_date=local_today() - timedelta(days=31))

    run = nightly(night)

    assert covered(run, CHECK)["changed"] == 2
    assert not found_months(run, CHECK)


def test_a_month_changed_past_the_application_is_found_on_its_customers_stripe_night(customers):
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
    comes = holding(forged)

    for night in nights()[: nights().index(comes) + 1]:
        assert ((forged, month) in found_months(nightly(night), CHECK)) == (night == comes), night


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
    assert (forged, month) not in found_months(nightly(outside_the_stripes(forged)), CHECK)

    by_hand = engine.run(RunMode.VERIFY, checks=[CHECK])

    assert (forged, month) in found_months(by_hand.id, CHECK)


def test_a_changed_customer_s_month_before_tampered_is_found_from_its_changed_month(
    customers,
):
    changed = customers[4]
    night = outside_the_stripes(changed)
    with past_the_guards() as connection:  # the month the night's read opens from, wrong
        connection.execute(
            sa.text(
                "UPDATE monthly_customer_balances SET closing_balance = closing_balance + 5 "
                "WHERE customer_id = :c AND year_month = :m"
            ),
            {"c": changed, "m": _last_month()},
        )
    wallet.recharge(changed, D("50"))

    run = nightly(night)

    assert (changed, str(Month.of(local_today()))) in found_months(run, CHECK)


# --- Helpers ---------------------------------------------------------------------------------------------------------


def _last_month() -> str:
    return str(Month.of(local_today().replace(day=1) - timedelta(days=1)))


def _months_of(customer_ids: list[int]) -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(MonthlyCustomerBalance.customer_id.in_(customer_ids)))
