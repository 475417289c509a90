from __future__ import annotations

from datetime import UTC, datetime, time
from functools import cached_property

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, and_, case, func, literal, or_, select, union, union_all

from backoffice.models import BalanceTransaction, Customer, TamperedEvidence
from backoffice.models.types import Balance, one_of
from backoffice.platform.sentences import Sentence
from backoffice.reconcile.base import CheckedField, ChunkedCheck, Part, Scope, differs
from backoffice.reconcile.night import sealed_since

ledger = BalanceTransaction.__table__
customers = Customer.__table__
findings = TamperedEvidence.__table__

# The movements an admin reviewed as tampered evidence: the decision vouched for them as they stand, so they are no
# link of the chain to check. The chain is measured from the rows as they now stand: the movement after a reviewed one
# (in its customer's chain), and the reversal the decision posted, start from their own balance before, whatever the
# reviewed row says (an edited row's rows after it follow what it said when written; a row written past the balance,
# what was there before it; the reversal, the balance the decision carried it in at, ``reconcile.evidence_review``).
reviewed = select(findings.c.row_id).where(
    findings.c.kind == "balance_transactions", findings.c.resolution.is_not(None)
)


def _chain(low: int | None = None, high: int | None = None, part: Part | None = None):
    """Each row beside what the chain says it must hold: its own before plus its amount, and the customer's previous
    row's after (zero for the first row), or its own before where it starts anew after a reviewed movement (the row
    following one, and the reversal of one).

    With ``low`` and ``high``, the rows of those ids and, for each of their customers, the row before the first of
    them: what the chunk's rows are compared with, rather than every row of the ledger for every chunk. With a
    ``part`` (``reconcile.night``), its rows among them, and the row before the first of them in each of its spans."""
    kept = None
    if part is not None:
        spans = part.ranges(ledger.name)
        rows = and_(*_in_part(ledger.c, part))  # its spans lie within the chunk
        in_chunk = (
            select(spans.c.low, ledger.c.customer_id)
            .select_from(spans.join(ledger, ledger.c.id.between(spans.c.low, spans.c.high)))
            .where(rows)
            .distinct()
            .subquery("in_chunk")
        )
    elif low is not None:
        rows = ledger.c.id.between(low, high)
        in_chunk = (
            select(literal(low, BigInteger).label("low"), ledger.c.customer_id)
            .where(rows)
            .distinct()
            .subquery("in_chunk")
        )
    if part is not None or low is not None:
        earlier = ledger.alias("earlier")
        before = select(
            select(func.max(earlier.c.id))
            .where(earlier.c.customer_id == in_chunk.c.customer_id, earlier.c.id < in_chunk.c.low)
            .correlate(in_chunk)
            .scalar_subquery()
        ).select_from(in_chunk)
        if part is None:
            kept = or_(rows, ledger.c.id.in_(before))
        else:
            # A part's rows and those before its spans by one semi-join: beside them, an IN of the latter is run
            # once a row where the planner expects more rows before the spans than a hash holds.
            kept = ledger.c.id.in_(union(select(ledger.c.id).where(rows), before))
    flagged = select(
        ledger,
        ledger.c.id.in_(reviewed).label("reviewed"),
        ledger.c.reverses_id.in_(reviewed).label("reverses_reviewed"),
    )
    if kept is not None:
        flagged = flagged.where(kept)
    flagged = flagged.subquery("flagged")
    in_order = {"partition_by": flagged.c.customer_id, "order_by": flagged.c.id}
    anew = or_(func.coalesce(func.lag(flagged.c.reviewed).over(**in_order), False), flagged.c.reverses_reviewed)
    linked = select(
        flagged.c.id,
        flagged.c.customer_id,
        flagged.c.created_at,
        flagged.c.balance_before,
        flagged.c.balance_after,
        flagged.c.reviewed,
        func.round(flagged.c.balance_before + flagged.c.signed_amount, 2, type_=Balance).label("expected_after"),
        case(
            (anew, flagged.c.balance_before),
            else_=func.coalesce(func.lag(flagged.c.balance_after).over(**in_order), 0),
        ).label("expected_before"),
    ).subquery("linked")
    return (
        select(*(column for column in linked.c if column.name != "reviewed"))
        .where(~linked.c.reviewed)
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
    single_pass = True  # each row's expected balances are a window over its customer's chain: computed once

    @cached_property
    def chain(self):
        return _chain(self.low, self.high, self.part)

    @property
    def source(self):
        return self.chain

    @property
    def key(self):
        return self.chain.c.id

    def key_bounds(self, scope: Scope):
        """The lowest and highest id of the ledger's rows in scope, read from the ledger: the chain's would be read
        through its window."""
        return select(func.min(ledger.c.id), func.max(ledger.c.id)).where(*_in_scope(ledger.c, scope))

    def fields(self):
        chain = self.chain
        return [
            CheckedField("balance_before", chain.c.balance_before, chain.c.expected_before, adds=False),
            CheckedField("balance_after", chain.c.balance_after, chain.c.expected_after, adds=False),
        ]

    def scope_conditions(self, scope: Scope):
        return _in_scope(self.chain.c, scope)

    def marked(self):
        return {ledger.name: (ledger.c.id,)}

    def swept_by(self):
        return {ledger.name: (CUSTOMERS, (ledger.c.customer_id,))}

    def in_part(self):
        return [] if self.part is None else _in_part(self.chain.c, self.part)

    def changed(self, since, after):
        """The movements appended since, and each customer's first movement after one an admin decided on since:
        its balance before now follows the movement before the one reviewed."""
        decided = findings.c.kind == ledger.name, findings.c.resolution.is_not(None), findings.c.resolved_at > since
        following = (
            select(func.min(ledger.c.id))
            .where(
                ledger.c.customer_id == findings.c.customer_id,
                ledger.c.id > findings.c.row_id,
                ledger.c.id.not_in(reviewed),
            )
            .correlate(findings)
            .scalar_subquery()
        )
        return {ledger.name: union_all(sealed_since([ledger.name], since), select(following).where(*decided))}


CUSTOMERS = "customers"
"""What the night's stripes sweep the ledger by: its customers, each chain whole (``reconcile.night``)."""


def _in_part(columns, part: Part) -> list:
    """The conditions of a night's ``part`` on the ledger's ``columns`` (or the chain's): its ids, and in the night's
    stripes its customers' rows whole."""
    whole = [part.holds(columns.customer_id, CUSTOMERS)] if part.constrains(CUSTOMERS) else []
    return [part.holds(columns.id, ledger.name), *whole]


def _in_scope(columns, scope: Scope) -> list:
    """The conditions of ``scope`` on the ledger's ``columns`` (or the chain's)."""
    conditions = []
    if scope.customer_ids:
        conditions.append(one_of(columns.customer_id, scope.customer_ids))
    if scope.from_month:
        conditions.append(columns.created_at >= datetime.combine(scope.from_month, time(), UTC))
    return conditions


def held_customers(connection, customer_ids: list[int]) -> dict[int, str]:
    """Those of these customers whose ledger chain is broken, with why what is derived from their ledger waits."""
    check = LedgerChain()
    chain = check.chain
    broken = (
        select(customers.c.id, customers.c.code, func.min(chain.c.id))
        .select_from(chain.join(customers, customers.c.id == chain.c.customer_id))
        .where(one_of(chain.c.customer_id, customer_ids), differs(check.fields()))
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
