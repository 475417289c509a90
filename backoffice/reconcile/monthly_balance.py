from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from flask import current_app
from sqlalchemy import FromClause, Subquery, case, func, select, union

from backoffice.models import Customer, MonthlyCustomerBalance, expected_months
from backoffice.reconcile.base import Check, CheckedField, Scope
from backoffice.services import monthly

months = MonthlyCustomerBalance.__table__
customers = Customer.__table__
SCALES = {"total_volume_sm3": 4}


@dataclass(frozen=True)
class _Parts:
    expected: Subquery
    keys: Subquery
    """Every customer month stored or expected: a missing row is found as well as a wrong one."""
    latest: Subquery
    source: FromClause


@cache
def _parts(zone: str) -> _Parts:
    expected = expected_months(zone)
    keys = union(
        select(months.c.customer_id, months.c.year_month), select(expected.c.customer_id, expected.c.year_month)
    ).subquery("customer_months")
    latest = (
        select(months.c.customer_id, func.max(months.c.year_month).label("year_month"))
        .group_by(months.c.customer_id)
        .subquery("latest_months")
    )

    def same(table):
        return (table.c.customer_id == keys.c.customer_id) & (table.c.year_month == keys.c.year_month)

    source = (
        keys.outerjoin(months, same(months))
        .outerjoin(expected, same(expected))
        .outerjoin(latest, same(latest))
        .join(customers, customers.c.id == keys.c.customer_id)
    )
    return _Parts(expected, keys, latest, source)


class MonthlyBalance(Check):
    name = "monthly_balance"
    description = (
        "each customer month's opening (= the previous month's closing), deposits, purchases, closing and "
        "Sm³ = the wallet movements posted in the month and the readings dated in it; the latest closing = "
        "the wallet balance"
    )
    entity_type = "customer"
    table = months

    def _parts(self) -> _Parts:
        return _parts(current_app.config["TIMEZONE"])

    @property
    def source(self):
        return self._parts().source

    @property
    def key(self):
        return self._parts().keys.c.customer_id

    @property
    def period(self):
        return self._parts().keys.c.year_month

    def fields(self):
        expected, latest = self._parts().expected, self._parts().latest
        is_latest = latest.c.year_month.is_not(None)
        return [
            *(
                CheckedField(name, months.c[name], expected.c[name], scale=SCALES.get(name, 2))
                for name in monthly.STORED
            ),
            CheckedField(
                "closing_equals_wallet_balance",
                case((is_latest, months.c.closing_balance)),
                case((is_latest, customers.c.balance)),
            ),
        ]

    def scope_conditions(self, scope: Scope):
        keys = self._parts().keys
        conditions = []
        if scope.customer_ids:
            conditions.append(keys.c.customer_id.in_(scope.customer_ids))
        if scope.from_month:
            conditions.append(keys.c.year_month >= scope.from_month.strftime("%Y-%m"))
        return conditions

    def write(self, connection, ids):
        monthly.recalculate(connection, ids)
