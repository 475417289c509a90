from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select

from backoffice.models import Order, Target
from backoffice.models.formulas import achieved_amount_sql
from backoffice.models.types import next_month, one_of
from backoffice.reconcile.base import Check, CheckedField, Scope

targets = Target.__table__
orders = Order.__table__


class TargetAchieved(Check):
    name = "target_achieved"
    label = _l("Targets achieved")
    description = _l(
        "a target's achieved amount is the sum of the grand totals of the manager's orders closing in the month"
    )
    entity_type = "target"
    table = targets
    after = ("order_grand_total",)

    def fields(self):
        return [CheckedField("achieved_amount", targets.c.achieved_amount, achieved_amount_sql())]

    def scope_conditions(self, scope: Scope):
        conditions = []
        if scope.customer_ids:
            # The targets the customers' orders count towards.
            conditions.append(
                exists(
                    select(orders.c.id).where(
                        one_of(orders.c.customer_id, scope.customer_ids),
                        orders.c.account_manager_id == targets.c.account_manager_id,
                        orders.c.closing_date >= targets.c.period_start,
                        orders.c.closing_date < next_month(targets.c.period_start),
                    )
                )
            )
        if scope.from_month:
            conditions.append(targets.c.period_start >= scope.from_month)
        return conditions
