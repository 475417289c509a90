from __future__ import annotations

from datetime import date
from functools import lru_cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, select

from backoffice.models import AccountManager, Order, OrderMonthTotal
from backoffice.models.formulas import order_month_totals_sql
from backoffice.models.types import Month, first_of_month, month_of_date, next_month, one_of
from backoffice.reconcile.base import Check, CheckedField, ExpectedBeside, Scope
from backoffice.services.orm_hooks import recompute_order_month_totals

totals = OrderMonthTotal.__table__
orders = Order.__table__
managers = AccountManager.__table__


@lru_cache(maxsize=32)
def _parts(customer_ids: tuple[int, ...] | None, from_month: date | None) -> ExpectedBeside:
    rows = order_month_totals_sql()
    if customer_ids:
        # Only the months the customers' orders count towards, summed over every order of those months.
        theirs_orders = orders.alias("theirs_orders")
        theirs = (
            select(theirs_orders.c.account_manager_id, first_of_month(theirs_orders.c.closing_date).label("month"))
            .where(one_of(theirs_orders.c.customer_id, customer_ids))
            .distinct()
            .subquery("theirs")
        )
        rows = rows.join(
            theirs,
            and_(
                orders.c.account_manager_id == theirs.c.account_manager_id,
                orders.c.closing_date >= theirs.c.month,
                orders.c.closing_date < next_month(theirs.c.month),
            ),
        )
    if from_month:
        rows = rows.where(orders.c.closing_date >= from_month)
    expected = rows.subquery("expected")
    source = expected.join(
        totals,
        (totals.c.account_manager_id == expected.c.account_manager_id) & (totals.c.month == expected.c.month),
        full=True,
    )
    key = func.coalesce(expected.c.account_manager_id, totals.c.account_manager_id)
    return ExpectedBeside(expected, source, key, func.coalesce(expected.c.month, totals.c.month))


class OrderMonthTotals(Check):
    name = "order_month_totals"
    label = _l("Order totals by month")
    description = _l(
        "per account manager and closing month, the number of the manager's orders closing in the month and the sum "
        "of their grand totals; a month without orders has none"
    )
    entity_type = "account_manager"
    table = totals
    after = ("order_grand_total",)
    single_pass = True

    def __init__(self, customer_ids: tuple[int, ...] | None = None, from_month: date | None = None) -> None:
        self.customer_ids = customer_ids
        self.from_month = from_month

    def scoped(self, scope: Scope) -> OrderMonthTotals:
        """Only the orders of the scope's months are summed (the conditions still select the scope's rows)."""
        return OrderMonthTotals(scope.customer_ids or None, scope.from_month)

    def _parts(self) -> ExpectedBeside:
        return _parts(self.customer_ids, self.from_month)

    @property
    def source(self):
        return self._parts().source

    @property
    def key(self):
        return self._parts().key

    @property
    def period(self):
        return month_of_date(self._parts().period)

    def fields(self):
        expected = self._parts().expected
        return [
            CheckedField("order_count", totals.c.order_count, expected.c.order_count, scale=0),
            CheckedField("grand_total", totals.c.grand_total, expected.c.grand_total),
        ]

    def scope_conditions(self, scope: Scope):
        key, month = self.key, self._parts().period
        conditions = []
        if scope.customer_ids:
            # The months the customers' orders count towards.
            conditions.append(
                exists(
                    select(orders.c.id).where(
                        one_of(orders.c.customer_id, scope.customer_ids),
                        orders.c.account_manager_id == key,
                        orders.c.closing_date >= month,
                        orders.c.closing_date < next_month(month),
                    )
                )
            )
        if scope.from_month:
            conditions.append(month >= scope.from_month)
        return conditions

    def key_bounds(self, scope: Scope):
        """From the account managers: cheaper than the expected months, and a superset of their keys."""
        return select(func.min(managers.c.id), func.max(managers.c.id))

    def keys(self, scope: Scope):
        return select(managers.c.id.label("key"))

    def write_entities(self, connection, entities):
        recompute_order_month_totals(
            connection, {(manager, Month.parse(month).first_day) for manager, month in entities}
        )
