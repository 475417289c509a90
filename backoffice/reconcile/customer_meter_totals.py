from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.models import Customer, Invoice, MeterAssignment, Payment
from backoffice.posting.formulas import customer_meter_sums_sql
from backoffice.reconcile.base import Check, CheckedField, Scope

customers = Customer.__table__
assignments = MeterAssignment.__table__


class CustomerMeterTotals(Check):
    name = "customer_meter_totals"
    label = _l("Customers' amounts due")
    description = _l(
        "customers.amount_due and overpayment = per meter the customer held, max(invoices - payments, 0) and "
        "max(payments - invoices, 0) of those dated in the customer's periods of it, summed"
    )
    entity_type = "customer"
    table = customers
    after = ("reading_calculation",)

    def fields(self):
        return [CheckedField(name, customers.c[name], expected) for name, expected in customer_meter_sums_sql().items()]

    def scope_conditions(self, scope: Scope):
        return [customers.c.id.in_(scope.customer_ids)] if scope.customer_ids else []

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
