from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.models import Customer, Invoice, MeterAssignment, Payment
from backoffice.models.formulas import customer_meter_sums_sql
from backoffice.models.types import one_of
from backoffice.reconcile.base import Check, CheckedField, Scope

customers = Customer.__table__
assignments = MeterAssignment.__table__


class CustomerMeterTotals(Check):
    name = "customer_meter_totals"
    label = _l("Customers' amounts due")
    description = _l(
        "a customer's amount due and overpayment are, over each meter the customer held, what its invoices exceed its "
        "payments by and what its payments exceed its invoices by, of those dated while the customer held it, summed"
    )
    entity_type = "customer"
    table = customers
    after = ("reading_calculation",)

    def fields(self):
        return [CheckedField(name, customers.c[name], expected) for name, expected in customer_meter_sums_sql().items()]

    def scope_conditions(self, scope: Scope):
        return [one_of(customers.c.id, scope.customer_ids)] if scope.customer_ids else []

    def sources(self):
        """The customer's periods of its meters, and those meters' invoices and payments."""
        periods = (
            assignments,
            lambda keys: select(assignments.c.customer_id.label("key"), assignments.c.id.label("row_id")).where(
                assignments.c.customer_id.in_(keys)
            ),
        )
        return (
            periods,
            *(
                (
                    table,
                    lambda keys, table=table: (
                        select(assignments.c.customer_id.label("key"), table.c.id.label("row_id"))
                        .join(table, table.c.meter_id == assignments.c.meter_id)
                        .where(assignments.c.customer_id.in_(keys))
                    ),
                )
                for table in (Invoice.__table__, Payment.__table__)
            ),
        )
