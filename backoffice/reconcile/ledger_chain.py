from __future__ import annotations

from datetime import UTC, datetime, time
from functools import cached_property

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from backoffice.models import BalanceTransaction, Customer, TamperedEvidence
from backoffice.models.types import Balance
from backoffice.platform.sentences import Sentence
from backoffice.reconcile.base import CheckedField, ChunkedCheck, Scope, differs

ledger = BalanceTransaction.__table__
customers = Customer.__table__
findings = TamperedEvidence.__table__

# The movements an admin reviewed as tampered evidence: written past the balance, they are no link of the chain;
# their money enters it at the decision, which posts their reversal from there (``reconcile.evidence_review``).
reviewed = select(findings.c.row_id).where(
    findings.c.kind == "balance_transactions", findings.c.resolution.is_not(None)
)
carried = select(ledger.c.id, ledger.c.signed_amount).where(ledger.c.id.in_(reviewed)).subquery("carried")


def _chain(low: int | None = None, high: int | None = None):
    """Each row beside what the chain says it must hold: its own before plus its amount, and the customer's previous
    row's after (zero for the first row), plus, for the reversal of a reviewed movement, that movement's money.

    With ``low`` and ``high``, the rows of those ids and, for each of their customers, the row before the first of
    them: what the chunk's rows are compared with, rather than every row of the ledger for every chunk."""
    kept = ledger.c.id.not_in(reviewed)
    if low is not None:
        earlier = ledger.alias("earlier")
        in_chunk = select(ledger.c.customer_id).where(ledger.c.id.between(low, high)).distinct().subquery("in_chunk")
        before = select(
            select(func.max(earlier.c.id))
            .where(earlier.c.customer_id == in_chunk.c.customer_id, earlier.c.id < low, earlier.c.id.not_in(reviewed))
            .correlate(in_chunk)
            .scalar_subquery()
        ).select_from(in_chunk)
        kept = and_(kept, or_(ledger.c.id.between(low, high), ledger.c.id.in_(before)))
    return (
        select(
            ledger.c.id,
            ledger.c.customer_id,
            ledger.c.created_at,
            ledger.c.balance_before,
            ledger.c.balance_after,
            func.round(ledger.c.balance_before + ledger.c.signed_amount, 2, type_=Balance).label("expected_after"),
            (
                func.coalesce(
                    func.lag(ledger.c.balance_after).over(partition_by=ledger.c.customer_id, order_by=ledger.c.id), 0
                )
                + func.coalesce(carried.c.signed_amount, 0)
            ).label("expected_before"),
        )
        .select_from(ledger.outerjoin(carried, carried.c.id == ledger.c.reverses_id))
        .where(kept)
        .subquery("ledger_chain")
    )


class LedgerChain(ChunkedCheck):
    name = "ledger_chain"
    label = _l("Wallet ledger chains")
    description = _l(
        "each wallet movement's balance after is its balance before plus its amount, and its balance before is the "
        "customer's balance after their previous movement"
    )
    entity_type = "balance_transaction"
    table = ledger
    after = ("reading_calculation",)
    fixable = False  # a broken chain is evidence of what happened, not drift to overwrite

    @cached_property
    def chain(self):
        return _chain(self.low, self.high)

    @property
    def source(self):
        return self.chain

    @property
    def key(self):
        return self.chain.c.id

    def fields(self):
        chain = self.chain
        return [
            CheckedField("balance_before", chain.c.balance_before, chain.c.expected_before, adds=False),
            CheckedField("balance_after", chain.c.balance_after, chain.c.expected_after, adds=False),
        ]

    def scope_conditions(self, scope: Scope):
        chain = self.chain
        conditions = []
        if scope.customer_ids:
            conditions.append(chain.c.customer_id.in_(scope.customer_ids))
        if scope.from_month:
            conditions.append(chain.c.created_at >= datetime.combine(scope.from_month, time(), UTC))
        return conditions


def held_customers(connection, customer_ids: list[int]) -> dict[int, str]:
    """Those of these customers whose ledger chain is broken, with why what is derived from their ledger waits."""
    check = LedgerChain()
    chain = check.chain
    broken = (
        select(customers.c.id, customers.c.code, func.min(chain.c.id))
        .select_from(chain.join(customers, customers.c.id == chain.c.customer_id))
        .where(chain.c.customer_id.in_(customer_ids), differs(check.fields()))
        .group_by(customers.c.id, customers.c.code)
    )
    return {
        customer_id: BROKEN.write(code=code, movement=movement)
        for customer_id, code, movement in connection.execute(broken)
    }


BROKEN = Sentence(
    "broken_chain",
    "left unfixed: the ledger chain of {code} is broken at movement #{movement}; deal with the ledger first",
    _l("left unfixed: the ledger chain of %(code)s is broken at movement #%(movement)s; deal with the ledger first"),
)
"""Why a fix leaves what is derived from a customer's ledger as it is: its chain is broken."""
