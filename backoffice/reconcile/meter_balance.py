from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.models import Invoice, Meter, MeterAssignment, Payment
from backoffice.models.formulas import meter_balance_sql, meter_overpayment_sql
from backoffice.models.types import one_of
from backoffice.reconcile.base import Check, CheckedField, Scope

meters = Meter.__table__
assignments = MeterAssignment.__table__
invoices = Invoice.__table__
payments = Payment.__table__


class MeterBalance(Check):
    name = "meter_balance"
    label = _l("Meter balances")
    description = _l(
        "a meter's balance due is what its invoices exceed its payments by, and its overpayment what its payments "
        "exceed its invoices by (else zero)"
    )
    entity_type = "meter"
    table = meters

    def fields(self):
        return [
            CheckedField("balance", meters.c.balance, meter_balance_sql()),
            CheckedField("overpayment", meters.c.overpayment, meter_overpayment_sql()),
        ]

    def scope_conditions(self, scope: Scope):
        # A meter's balance is all-time; a customer scope takes the meters ever assigned to them.
        if not scope.customer_ids:
            return []
        return [
            meters.c.id.in_(select(assignments.c.meter_id).where(one_of(assignments.c.customer_id, scope.customer_ids)))
        ]

    def sources(self):
        """The meter's invoices and payments."""
        return tuple(
            (
                table,
                lambda keys, table=table: select(table.c.meter_id.label("key"), table.c.id.label("row_id")).where(
                    table.c.meter_id.in_(keys)
                ),
            )
            for table in (invoices, payments)
        )
