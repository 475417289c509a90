from __future__ import annotations

from backoffice.models import Customer, customer_meter_sums_sql
from backoffice.reconcile.base import Check, CheckedField, Scope

customers = Customer.__table__


class CustomerMeterTotals(Check):
    name = "customer_meter_totals"
    description = "customers.amount_due and overpayment = sums over the meters actively assigned to the customer"
    entity_type = "customer"
    table = customers

    def fields(self):
        return [CheckedField(name, customers.c[name], expected) for name, expected in customer_meter_sums_sql().items()]

    def scope_conditions(self, scope: Scope):
        return [customers.c.id.in_(scope.customer_ids)] if scope.customer_ids else []
