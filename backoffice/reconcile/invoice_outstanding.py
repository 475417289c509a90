"""What each invoice still asks and what each payment leaves unapplied, against the allocations of payments to
invoices; and the allocations against the payments and invoices (never more applied than paid, never more than
asked, never across holders, never of something withdrawn).

Both fixes settle the meters under their locks, as every billing write does (``services.allocations``).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.models import Invoice, MeterAssignment, Payment
from backoffice.models.formulas import invoice_outstanding_sql, payment_unapplied_sql
from backoffice.models.types import one_of
from backoffice.reconcile.base import Check, CheckedField, Scope

invoices = Invoice.__table__
payments = Payment.__table__
assignments = MeterAssignment.__table__


class _Allocated(Check):
    """A check of a figure stored per invoice or per payment from the allocations."""

    def scope_conditions(self, scope: Scope):
        if not scope.customer_ids:
            return []
        held = select(assignments.c.meter_id).where(one_of(assignments.c.customer_id, scope.customer_ids))
        return [self.table.c.meter_id.in_(held)]

    def sources(self):
        """The invoices and payments of the entity's meter, which its fix applies again: one changed outside the
        application holds the fix."""
        entity = self.table.alias("entity")

        def of_the_meter(source):
            return lambda keys: (
                select(entity.c.id.label("key"), source.c.id.label("row_id"))
                .join(source, source.c.meter_id == entity.c.meter_id)
                .where(entity.c.id.in_(keys))
            )

        return ((invoices, of_the_meter(invoices)), (payments, of_the_meter(payments)))

    def consequences(self):
        """Settling a meter derives every invoice's outstanding and every payment's unapplied credit of the meter."""
        settled = self.table.alias("settled")

        def on_the_meters(table):
            return lambda ids: select(table.c.id).where(
                table.c.meter_id.in_(select(settled.c.meter_id).where(settled.c.id.in_(ids)))
            )

        return (("invoice_outstanding", on_the_meters(invoices)), ("payment_unapplied", on_the_meters(payments)))

    def write(self, connection, ids):
        # Imported by the fix that writes, not with the checks: listing or verifying them needs no allocation.
        from backoffice.services import allocations as allocating

        meter_ids = sorted(
            set(connection.execute(select(self.table.c.meter_id).where(self.table.c.id.in_(ids))).scalars())
        )
        allocating.lock(connection, meter_ids)
        allocating.settle_meters(connection, meter_ids)


class InvoiceOutstanding(_Allocated):
    name = "invoice_outstanding"
    label = _l("Invoices' outstanding amounts")
    description = _l(
        "an invoice's outstanding is its amount less the payments applied to it, nothing once withdrawn; never below "
        "zero (no more is applied than the invoice asks)"
    )
    entity_type = "invoice"
    table = invoices

    def fields(self):
        return [CheckedField("outstanding", invoices.c.outstanding, invoice_outstanding_sql())]


class PaymentUnapplied(_Allocated):
    name = "payment_unapplied"
    label = _l("Payments' unapplied credit")
    description = _l(
        "a payment's unapplied part is its amount less what it pays of invoices, nothing once withdrawn; never below "
        "zero (no more is applied than was paid)"
    )
    entity_type = "payment"
    table = payments
    after = ("invoice_outstanding",)  # its fix applies the meters' payments again, which often leaves none wrong here

    def fields(self):
        return [CheckedField("unapplied", payments.c.unapplied, payment_unapplied_sql())]
