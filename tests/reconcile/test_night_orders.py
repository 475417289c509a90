"""A nightly reads the orders written since its last clean night and the night's stripes of the rest: a grand total
changed past the application is found within ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import JobStatus, Order, RunMode, RunTrigger
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.reconcile import engine
from backoffice.services import orders as order_service
from tests.factories import CustomerFactory, OrderFactory, past_the_guards
from tests.nights import FIRST, covered, found, holding, nightly, nights, outside_the_stripes, striped, stripes

CHECK = "order_grand_total"


@pytest.fixture
def orders(app, monkeypatch) -> list[int]:
    """Six orders saved as a clerk saves them, read whole by a first nightly (clean), their seals made two days
    old."""
    striped(app, monkeypatch)
    customer = CustomerFactory()
    made = [order_service.save_order(OrderFactory.build(customer=customer)).id for _ in range(6)]
    assert covered(nightly(FIRST), CHECK)["part"] == "all"
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE seals SET sealed_at = :at"), {"at": utcnow() - timedelta(days=2)})
    return made


def test_a_night_reads_the_orders_written_since_and_its_stripes(orders):
    edited = orders[0]
    night = outside_the_stripes(edited)
    order = db.session.get(Order, edited)
    order.additions += D("1.00")
    order_service.save_order(order)

    run = nightly(night)

    kept = covered(run, CHECK)
    assert kept["part"] == "changed and stripe" and kept["changed"] == 1
    assert kept["swept"] == len([key for key in orders if stripes(night).contains(key)])
    assert not found(run, CHECK)


def test_a_grand_total_changed_past_the_application_is_found_on_its_stripe_s_night(orders):
    forged = orders[3]
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE orders SET grand_total = grand_total + 1 WHERE id = :id"), {"id": forged})
    comes = holding(forged)

    for night in nights()[: nights().index(comes) + 1]:
        assert (forged in found(nightly(night), CHECK)) == (night == comes), night


def _auto_heal(day) -> int:
    record, created = jobs.enqueue("auto_heal", {"date": day.isoformat()}, trigger=RunTrigger.API)
    assert created and record.status is JobStatus.FINISHED, record.error
    return record.run_id


def test_an_auto_heal_reads_the_night_s_share_and_all_of_a_check_with_a_discrepancy(orders):
    edited, forged = orders[0], orders[3]
    day = outside_the_stripes(edited, forged)
    order = db.session.get(Order, edited)
    order.additions += D("1.00")
    order_service.save_order(order)
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE orders SET grand_total = grand_total + 1 WHERE id = :id"), {"id": forged})

    healed = _auto_heal(day)
    kept = covered(healed, CHECK)
    assert kept["part"] == "changed and stripe" and kept["changed"] == 1 and not found(healed, CHECK)

    verified = engine.run(RunMode.VERIFY, checks=[CHECK])  # every row: the forged total is found, left
    assert found(verified.id, CHECK) == {forged}

    healed = _auto_heal(day)
    assert covered(healed, CHECK) is None and found(healed, CHECK) == {forged}
    db.session.expire_all()
    assert engine.run(RunMode.VERIFY, checks=[CHECK]).mismatched == 0
