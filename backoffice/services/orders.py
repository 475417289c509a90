from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backoffice.models import Order, OrderMonthTotal, User
from backoffice.platform.extensions import db
from backoffice.services import expect_version, transaction

NUMBER_PREFIX = "SO-"


class OrderNumberTaken(ValueError):
    def __init__(self, number: str) -> None:
        super().__init__(_("Order number %(number)s is already used by another order.", number=number))
        self.number = number


def save_order(order: Order, *, user: User | None = None, version: int | None = None) -> Order:
    """Insert or update an order; the hooks persist its grand total and its manager's targets.

    ``version``: the one the order's form was loaded at; raises ``ChangedMeanwhile`` if it is not the order's now.
    """
    number = order.number or next_order_number()
    order_id = order.id
    try:
        with transaction() as session:
            expect_version(order, version)
            if _number_taken(number, order_id):
                raise OrderNumberTaken(number)
            order.number = number
            if order_id is None:
                order.created_by = user
            order.updated_by = user
            session.add(order)
    except IntegrityError:
        if _number_taken(number, order_id):
            raise OrderNumberTaken(number) from None
        raise
    return order


def delete_order(order: Order) -> None:
    """Delete the order in a unit of work of its own."""
    with transaction() as session:
        session.delete(order)


def month_totals(*conditions) -> tuple[int, Decimal]:
    """How many orders the months kept (``order_month_totals``) that ``conditions`` select hold, and the sum of their
    grand totals: exact at any size, without reading an order."""
    count, total = db.session.execute(
        select(
            func.coalesce(func.sum(OrderMonthTotal.order_count), 0),
            func.coalesce(func.sum(OrderMonthTotal.grand_total), 0),
        ).where(*conditions)
    ).one()
    return count, Decimal(total)


def next_order_number() -> str:
    """``SO-000042`` after the highest id so far; numbers typed by hand are stepped over."""
    candidate = (db.session.scalar(select(func.max(Order.id))) or 0) + 1
    while _number_taken(_format(candidate), None):
        candidate += 1
    return _format(candidate)


def _format(sequence: int) -> str:
    return f"{NUMBER_PREFIX}{sequence:06d}"


def _number_taken(number: str, order_id: int | None) -> bool:
    query = select(Order.id).where(Order.number == number)
    if order_id is not None:
        query = query.where(Order.id != order_id)
    with db.session.no_autoflush:
        return db.session.scalar(query) is not None
