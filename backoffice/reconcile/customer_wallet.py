from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from backoffice.models import BalanceTransaction, Customer
from backoffice.models.types import one_of
from backoffice.posting.locking import lock_customers
from backoffice.posting.sql import ledger_sums
from backoffice.reconcile.base import Check, CheckedField, Scope
from backoffice.reconcile.ledger_chain import held_customers

customers = Customer.__table__
ledger = BalanceTransaction.__table__
FIELDS = tuple(ledger_sums(ledger))


def _per_customer(customer_ids: tuple[int, ...] | None):
    """One pass over the ledger (of these customers), grouped by customer."""
    query = select(ledger.c.customer_id, *(expr.label(name) for name, expr in ledger_sums(ledger).items()))
    if customer_ids:
        query = query.where(one_of(ledger.c.customer_id, customer_ids))
    return query.group_by(ledger.c.customer_id).subquery("ledger_sums")


class CustomerWallet(Check):
    name = "customer_wallet"
    label = _l("Customer wallets")
    description = _l("a customer's balance, total recharged and total spent are the sums of their wallet movements")
    entity_type = "customer"
    table = customers
    after = ("reading_calculation",)

    def __init__(self, customer_ids: tuple[int, ...] | None = None) -> None:
        self.per_customer = _per_customer(customer_ids)

    def scoped(self, scope: Scope) -> CustomerWallet:
        return CustomerWallet(scope.customer_ids or None)

    @property
    def source(self):
        return customers.outerjoin(self.per_customer, self.per_customer.c.customer_id == customers.c.id)

    def fields(self):
        return [CheckedField(name, customers.c[name], func.coalesce(self.per_customer.c[name], 0)) for name in FIELDS]

    def scope_conditions(self, scope: Scope):
        # A balance sums the whole ledger: a month scope does not narrow it.
        return [one_of(customers.c.id, scope.customer_ids)] if scope.customer_ids else []

    def write(self, connection, ids):
        lock_customers(connection, ids)  # a movement in flight commits first, and is then included
        correlated = {
            name: select(expr).where(ledger.c.customer_id == customers.c.id).scalar_subquery()
            for name, expr in ledger_sums(ledger).items()
        }
        connection.execute(update(customers).where(customers.c.id.in_(ids)).values(correlated))

    def held(self, connection, keys):
        return held_customers(connection, keys)
