from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func

from backoffice.models import Order, grand_total_of
from backoffice.models.types import Money
from backoffice.reconcile.base import Check, CheckedField, Scope

orders = Order.__table__


def expected_grand_total():
    return func.round(
        grand_total_of(orders.c.total_price, orders.c.additions, orders.c.promo, orders.c.reductions), 2, type_=Money
    )


class OrderGrandTotal(Check):
    name = "order_grand_total"
    label = _l("Order grand totals")
    description = _l("an order's grand total is its total price plus additions, less promo and reductions")
    entity_type = "order"
    table = orders

    def fields(self):
        return [CheckedField("grand_total", orders.c.grand_total, expected_grand_total())]

    def scope_conditions(self, scope: Scope):
        conditions = []
        if scope.customer_ids:
            conditions.append(orders.c.customer_id.in_(scope.customer_ids))
        if scope.from_month:
            conditions.append(orders.c.closing_date >= scope.from_month)
        return conditions

    def untouched_columns(self):
        return {"updated_at": orders.c.updated_at}
