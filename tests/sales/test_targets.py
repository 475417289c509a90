"""A target's achieved amount follows every change to its manager's orders, in the same transaction."""

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from backoffice.models import Target
from backoffice.platform.extensions import db
from tests.factories import AccountManagerFactory, CustomerFactory, OrderFactory, TargetFactory

NOV = date(2026, 11, 1)
DEC = date(2026, 12, 1)


def achieved(target: Target) -> Decimal:
    """Read straight from the table, past the session's identity map."""
    return db.session.execute(
        sa.text("SELECT achieved_amount FROM targets WHERE id = :id"), {"id": target.id}
    ).scalar_one()


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_an_order_counts_towards_its_managers_target_for_its_closing_month(app):
    manager = AccountManagerFactory()
    target = TargetFactory(account_manager=manager, period_start=NOV)
    other_month = TargetFactory(account_manager=manager, period_start=DEC)
    customer = CustomerFactory(account_manager=manager)
    OrderFactory(customer=customer, closing_date=date(2026, 11, 1))
    OrderFactory(customer=customer, closing_date=date(2026, 11, 30))
    OrderFactory(customer=customer, closing_date=date(2026, 12, 1))
    assert money(achieved(target)) == Decimal("18600000.00")
    assert money(achieved(other_month)) == Decimal("9300000.00")
    assert target.achieved_amount == Decimal("18600000.00")


def test_a_target_created_after_the_orders_starts_with_their_sum(app):
    manager = AccountManagerFactory()
    OrderFactory(customer=CustomerFactory(account_manager=manager), closing_date=date(2026, 11, 15))
    target = TargetFactory(account_manager=manager, period_start=NOV)
    assert target.achieved_amount == Decimal("9300000.00")
    assert money(achieved(target)) == Decimal("9300000.00")


def test_editing_a_component_updates_the_target(app):
    manager = AccountManagerFactory()
    target = TargetFactory(account_manager=manager)
    order = OrderFactory(customer=CustomerFactory(account_manager=manager))
    order.total_price = Decimal("20000000.00")
    db.session.commit()
    assert money(achieved(target)) == Decimal("19300000.00")
    assert target.achieved_amount == Decimal("19300000.00")


def test_moving_an_order_to_another_manager_updates_both_targets(app):
    first, second = AccountManagerFactory(), AccountManagerFactory()
    first_target = TargetFactory(account_manager=first)
    second_target = TargetFactory(account_manager=second)
    order = OrderFactory(customer=CustomerFactory(account_manager=first))
    order.account_manager = second
    db.session.commit()
    assert money(achieved(first_target)) == Decimal("0.00")
    assert money(achieved(second_target)) == Decimal("9300000.00")


def test_moving_an_order_to_another_month_updates_both_targets(app):
    manager = AccountManagerFactory()
    november = TargetFactory(account_manager=manager, period_start=NOV)
    december = TargetFactory(account_manager=manager, period_start=DEC)
    order = OrderFactory(customer=CustomerFactory(account_manager=manager), closing_date=date(2026, 11, 30))
    order.closing_date = date(2026, 12, 1)
    db.session.commit()
    assert money(achieved(november)) == Decimal("0.00")
    assert money(achieved(december)) == Decimal("9300000.00")


def test_moving_manager_and_month_at_once_updates_all_four_keys(app):
    first, second = AccountManagerFactory(), AccountManagerFactory()
    targets = {
        (manager.id, month): TargetFactory(account_manager=manager, period_start=month)
        for manager in (first, second)
        for month in (NOV, DEC)
    }
    order = OrderFactory(customer=CustomerFactory(account_manager=first), closing_date=date(2026, 11, 5))
    OrderFactory(customer=CustomerFactory(account_manager=first), closing_date=date(2026, 12, 5))
    order.account_manager_id = second.id
    order.closing_date = date(2026, 12, 6)
    db.session.commit()
    assert {key: money(achieved(t)) for key, t in targets.items()} == {
        (first.id, NOV): Decimal("0.00"),
        (first.id, DEC): Decimal("9300000.00"),
        (second.id, NOV): Decimal("0.00"),
        (second.id, DEC): Decimal("9300000.00"),
    }


def test_deleting_an_order_updates_the_target(app):
    manager = AccountManagerFactory()
    target = TargetFactory(account_manager=manager)
    keep = OrderFactory(customer=CustomerFactory(account_manager=manager))
    gone = OrderFactory(customer=CustomerFactory(account_manager=manager))
    db.session.commit()
    db.session.expire_all()
    db.session.delete(gone)
    db.session.commit()
    assert money(achieved(target)) == keep.grand_total


def test_moving_a_target_to_another_month_recomputes_it(app):
    manager = AccountManagerFactory()
    OrderFactory(customer=CustomerFactory(account_manager=manager), closing_date=date(2026, 12, 3))
    target = TargetFactory(account_manager=manager, period_start=NOV)
    assert target.achieved_amount == Decimal("0.00")
    target.period_start = DEC
    db.session.commit()
    assert money(achieved(target)) == Decimal("9300000.00")


def test_other_managers_orders_do_not_count(app):
    target = TargetFactory()
    OrderFactory()
    assert money(achieved(target)) == Decimal("0.00")
