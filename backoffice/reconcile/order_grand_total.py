from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlalchemy_continuum.utils import version_class

from backoffice.models import Order, grand_total_of
from backoffice.models.types import Money, one_of
from backoffice.reconcile.base import CheckedField, ChunkedCheck, Scope
from backoffice.reconcile.night import sealed_since

orders = Order.__table__


def expected_grand_total():
    return func.round(
        grand_total_of(orders.c.total_price, orders.c.additions, orders.c.promo, orders.c.reductions), 2, type_=Money
    )


class OrderGrandTotal(ChunkedCheck):
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
            conditions.append(one_of(orders.c.customer_id, scope.customer_ids))
        if scope.from_month:
            conditions.append(orders.c.closing_date >= scope.from_month)
        return conditions

    def marked(self):
        return {orders.name: (orders.c.id,)}

    def changed(self, since, after):
        """The orders written since: each write adds a version, sealed as it is written."""
        return {orders.name: sealed_since([version_class(Order).__table__.name], since)}

    def untouched_columns(self):
        return {"updated_at": orders.c.updated_at}
