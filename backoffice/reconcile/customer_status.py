from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, update

from backoffice.models import Customer, CustomerStatus
from backoffice.models.formulas import status_sql
from backoffice.models.types import one_of
from backoffice.posting.locking import lock_customers
from backoffice.reconcile.base import Check, CheckedField, Scope

customers = Customer.__table__
SUSPENDED = CustomerStatus.SUSPENDED.value


class CustomerStatusCheck(Check):
    name = "customer_status"
    label = _l("Customer suspensions")
    description = _l("a customer is suspended while their balance is below their suspension threshold, else active")
    entity_type = "customer"
    table = customers
    after = ("reading_calculation", "customer_wallet")

    def fields(self):
        expected = status_sql(customers.c.balance, customers.c.suspend_below)
        return [
            CheckedField(
                "suspended",
                case((customers.c.status == SUSPENDED, 1), else_=0),
                case((expected == SUSPENDED, 1), else_=0),
                scale=0,
            )
        ]

    def scope_conditions(self, scope: Scope):
        return [one_of(customers.c.id, scope.customer_ids)] if scope.customer_ids else []

    def write(self, connection, ids):
        lock_customers(connection, ids)  # a movement in flight commits first, and its balance is then read
        connection.execute(
            update(customers)
            .where(customers.c.id.in_(ids))
            .values(status=status_sql(customers.c.balance, customers.c.suspend_below))
        )
