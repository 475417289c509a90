from __future__ import annotations

from datetime import UTC, datetime, time

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from backoffice.models import BalanceTransaction, Customer
from backoffice.models.types import Balance
from backoffice.reconcile.base import Check, CheckedField, Scope, differs

ledger = BalanceTransaction.__table__
customers = Customer.__table__

# Each row beside what the chain says it must hold: its own before plus its amount, and the
# customer's previous row's after (zero for the first row).
chain = select(
    ledger.c.id,
    ledger.c.customer_id,
    ledger.c.created_at,
    ledger.c.balance_before,
    ledger.c.balance_after,
    func.round(ledger.c.balance_before + ledger.c.signed_amount, 2, type_=Balance).label("expected_after"),
    func.coalesce(
        func.lag(ledger.c.balance_after).over(partition_by=ledger.c.customer_id, order_by=ledger.c.id), 0
    ).label("expected_before"),
).subquery("ledger_chain")


class LedgerChain(Check):
    name = "ledger_chain"
    label = _l("Wallet ledger chains")
    description = (
        "each ledger row: balance_after = balance_before + signed amount, "
        "and balance_before = the customer's previous balance_after"
    )
    entity_type = "balance_transaction"
    table = ledger
    source = chain
    after = ("reading_calculation",)
    fixable = False  # a broken chain is evidence of what happened, not drift to overwrite

    @property
    def key(self):
        return chain.c.id

    def fields(self):
        return [
            CheckedField("balance_before", chain.c.balance_before, chain.c.expected_before, adds=False),
            CheckedField("balance_after", chain.c.balance_after, chain.c.expected_after, adds=False),
        ]

    def scope_conditions(self, scope: Scope):
        conditions = []
        if scope.customer_ids:
            conditions.append(chain.c.customer_id.in_(scope.customer_ids))
        if scope.from_month:
            conditions.append(chain.c.created_at >= datetime.combine(scope.from_month, time(), UTC))
        return conditions


def held_customers(connection, customer_ids: list[int]) -> dict[int, str]:
    """Those of these customers whose ledger chain is broken, with why what is derived from their ledger waits."""
    broken = (
        select(customers.c.id, customers.c.code, func.min(chain.c.id))
        .select_from(chain.join(customers, customers.c.id == chain.c.customer_id))
        .where(chain.c.customer_id.in_(customer_ids), differs(LedgerChain().fields()))
        .group_by(customers.c.id, customers.c.code)
    )
    return {
        customer_id: f"left unfixed: the ledger chain of {code} is broken at movement #{movement}; "
        "deal with the ledger first"
        for customer_id, code, movement in connection.execute(broken)
    }
