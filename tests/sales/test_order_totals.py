"""The grand total is persisted by the flush hook, whatever path saves the order."""

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import NegativeGrandTotal, Order
from backoffice.platform.extensions import db
from backoffice.platform.money import MoneyError
from tests.factories import CustomerFactory, OrderFactory


def stored_grand_total(order_id: int) -> Decimal:
    return db.session.execute(sa.text("SELECT grand_total FROM orders WHERE id = :id"), {"id": order_id}).scalar_one()


@pytest.mark.parametrize(
    ("components", "expected"),
    [
        (("10000000", "500000", "1000000", "200000"), "9300000.00"),
        (("50000000", "2000000", "5000000", "1000000"), "46000000.00"),
        (("0", "0", "0", "0"), "0.00"),
        (("100.10", "0.20", "0.15", "0.05"), "100.10"),
        (("9999999999999.99", "0", "0", "0"), "9999999999999.99"),
        (("1000", "0", "600", "400"), "0.00"),
    ],
)
def test_grand_total_is_persisted_on_create(app, components, expected):
    total_price, additions, promo, reductions = map(Decimal, components)
    order = OrderFactory(total_price=total_price, additions=additions, promo=promo, reductions=reductions)
    assert order.grand_total == Decimal(expected)
    assert Decimal(str(stored_grand_total(order.id))).quantize(Decimal("0.01")) == Decimal(expected)


def test_changing_one_component_updates_the_grand_total(app):
    order = OrderFactory()
    order.promo = Decimal("2000000.00")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Order, order.id).grand_total == Decimal("8300000.00")


def test_an_order_built_with_the_orm_outside_any_form_gets_its_total(app):
    customer = CustomerFactory()
    order = Order(
        number="SCRIPT-1",
        customer=customer,
        account_manager=customer.account_manager,
        closing_date=date(2026, 3, 4),
        total_price=Decimal("50000000"),
        additions=Decimal("2000000"),
        promo=Decimal("5000000"),
        reductions=Decimal("1000000"),
        grand_total=Decimal("1.00"),
    )
    db.session.add(order)
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalar(sa.select(Order.grand_total).where(Order.number == "SCRIPT-1")) == Decimal("46000000.00")


def test_a_grand_total_set_by_hand_is_overwritten_on_flush(app):
    order = OrderFactory()
    order.grand_total = Decimal("1.00")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Order, order.id).grand_total == Decimal("9300000.00")


def test_discounts_beyond_the_gross_are_refused_and_nothing_is_written(app):
    order = OrderFactory()
    order.promo = Decimal("20000000.00")
    with pytest.raises(NegativeGrandTotal, match="Promo and reductions"):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(Order, order.id).promo == Decimal("1000000.00")
    assert stored_grand_total(order.id) == Decimal("9300000.00")


@pytest.mark.parametrize(
    "value",
    [Decimal("-1"), Decimal("0.001"), Decimal("10000000000000"), Decimal("NaN"), 12.5],
)
def test_a_component_that_cannot_be_money_is_refused_by_the_model(app, value):
    order = OrderFactory()
    with pytest.raises(MoneyError):
        order.total_price = value


def test_the_database_refuses_a_negative_component_written_with_raw_sql(app):
    order = OrderFactory()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.text("UPDATE orders SET promo = -1 WHERE id = :id"), {"id": order.id})
        db.session.commit()
    db.session.rollback()
