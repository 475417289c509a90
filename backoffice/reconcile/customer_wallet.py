from __future__ import annotations

from sqlalchemy import func, select, update

from backoffice.models import BalanceTransaction, Customer, ledger_sums
from backoffice.reconcile.base import Check, CheckedField, Scope

customers = Customer.__table__
ledger = BalanceTransaction.__table__
FIELDS = ("balance", "total_recharged", "total_spent")

# One pass over the ledger, grouped by customer.
per_customer = (
    select(ledger.c.customer_id, *(expr.label(name) for name, expr in ledger_sums().items()))
    .group_by(ledger.c.customer_id)
    .subquery("ledger_sums")
)


class CustomerWallet(Check):
    name = "customer_wallet"
    description = "customers.balance, total_recharged and total_spent = the sums of the customer's ledger rows"
    entity_type = "customer"
    table = customers
    source = customers.outerjoin(per_customer, per_customer.c.customer_id == customers.c.id)

    def fields(self):
        return [CheckedField(name, customers.c[name], func.coalesce(per_customer.c[name], 0)) for name in FIELDS]

    def scope_conditions(self, scope: Scope):
        # A balance sums the whole ledger: a month scope does not narrow it.
        return [customers.c.id.in_(scope.customer_ids)] if scope.customer_ids else []

    def write(self, connection, ids):
        correlated = {
            name: select(expr).where(ledger.c.customer_id == customers.c.id).scalar_subquery()
            for name, expr in ledger_sums().items()
        }
        connection.execute(update(customers).where(customers.c.id.in_(ids)).values(correlated))
