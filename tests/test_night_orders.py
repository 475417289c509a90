"""A nightly reads the orders written since its last clean night and the night's stripes of the rest: a grand total
changed past the application is found within ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import CheckResult, Discrepancy, JobStatus, Order
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.reconcile import evidence_seals
from backoffice.services import orders as order_service
from tests.factories import CustomerFactory, OrderFactory, past_the_guards

FIRST = date(2026, 11, 1)
DAYS = 3
STRIPE = 2
CHECK = "order_grand_total"


@pytest.fixture
def orders(app, monkeypatch) -> list[int]:
    """Stripes of two ids swept over three nights; six orders saved as a clerk saves them, read whole by a first
    nightly (clean), their seals made two days old."""
    monkeypatch.setattr(evidence_seals, "STRIPE", STRIPE)
    app.config["SEAL_SWEEP_DAYS"] = DAYS
    customer = CustomerFactory()
    made = [order_service.save_order(OrderFactory.build(customer=customer)).id for _ in range(6)]
    first = _nightly(FIRST)
    assert _covered(first)["part"] == "all"
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE seals SET sealed_at = :at"), {"at": utcnow() - timedelta(days=2)})
    return made


def test_a_night_reads_the_orders_written_since_and_its_stripes(orders):
    edited = orders[0]
    night = _outside_the_stripes(edited)
    order = db.session.get(Order, edited)
    order.additions += D("1.00")
    order_service.save_order(order)

    run = _nightly(night)

    covered = _covered(run)
    assert covered["part"] == "changed and stripe" and covered["changed"] == 1
    assert covered["swept"] == len([key for key in orders if _stripes(night).contains(key)])
    assert not _found(run)


def test_a_grand_total_changed_past_the_application_is_found_the_night_its_stripe_comes(orders):
    forged = orders[3]
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE orders SET grand_total = grand_total + 1 WHERE id = :id"), {"id": forged})
    nights = [FIRST + timedelta(days=n) for n in range(1, DAYS + 1)]
    holding = next(night for night in nights if _stripes(night).contains(forged))

    for night in nights[: nights.index(holding) + 1]:
        assert (forged in _found(_nightly(night))) == (night == holding), night


def _nightly(day: date) -> int:
    record, _ = jobs.enqueue_nightly(day)
    assert record.status is JobStatus.FINISHED, record.error
    return record.run_id


def _stripes(night: date):
    return evidence_seals.swept(night, DAYS)


def _outside_the_stripes(key: int) -> date:
    return next(
        FIRST + timedelta(days=n) for n in range(1, DAYS + 1) if not _stripes(FIRST + timedelta(days=n)).contains(key)
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
