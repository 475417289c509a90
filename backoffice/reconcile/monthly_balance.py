from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, FromClause, case, cast, func, select, true, union

from backoffice.models import BalanceTransaction, Customer, MonthlyCustomerBalance
from backoffice.models.types import Month, month_of_date, one_of
from backoffice.posting.months import STORED, expected_months, recalculate
from backoffice.reconcile.base import Check, CheckedField, ExpectedBeside, Part, Scope
from backoffice.reconcile.ledger_chain import held_customers
from backoffice.reconcile.night import sealed_since

months = MonthlyCustomerBalance.__table__
customers = Customer.__table__
ledger = BalanceTransaction.__table__
SCALES = {"total_volume_sm3": 4}
BALANCES = ("opening_balance", "closing_balance")
"""A month's opening and closing are balances at a moment: summed over months they count the same money again."""


@dataclass(frozen=True)
class _Months(ExpectedBeside):
    """The expected months beside the stored ones, and the stored months and their customers as the source reads them:
    for a chunk, those of its customers alone, so that each chunk reads its share and not every month again."""

    stored: FromClause
    owners: FromClause


@lru_cache(maxsize=32)
def _parts(customer_ids: tuple[int, ...] | None, between: tuple[int, int] | None, part: Part | None) -> _Months:
    within = None if part is None else (lambda column: part.holds(column, customers.name))
    starts = None if part is None or part.swept else _starts(part)
    expected = expected_months(customer_ids, between, within, starts)
    stored, owners = months, customers
    if between is not None or part is not None:
        chosen = [] if between is None else [months.c.customer_id.between(*between)]
        if within is not None:
            chosen.append(within(months.c.customer_id))
        if starts is not None:  # each customer's months from its start on, by the index of its months (as read)
            since = (
                select(*months.c)
                .where(
                    months.c.customer_id == starts.c.customer_id,
                    months.c.year_month >= func.coalesce(starts.c.year_month, ""),
                )
                .offset(0)
                .lateral("since")
            )
            stored = select(*since.c).select_from(starts.join(since, true())).subquery("months")
        else:
            stored = select(months).where(*chosen).subquery("months")
        held = [] if between is None else [customers.c.id.between(*between)]
        if within is not None:
            held.append(within(customers.c.id))
        owners = select(customers).where(*held).subquery("customers")
    key = func.coalesce(expected.c.customer_id, stored.c.customer_id)
    source = expected.join(
        stored,
        (stored.c.customer_id == expected.c.customer_id) & (stored.c.year_month == expected.c.year_month),
        full=True,
    ).join(owners, owners.c.id == key)
    period = func.coalesce(expected.c.year_month, stored.c.year_month)
    return _Months(expected, source, key, period, stored, owners)


def _starts(part: Part):
    """The customers of a nightly's part of their months (those added or whose movements changed since its last clean
    night), each with the month its part starts at: that of the earliest value date of its movements sealed since
    (every movement written is sealed as it is written), and the closing of its stored month before it, where the
    first month read opens. A customer with no movement sealed since (one found wrong before) is read whole."""
    changed = (
        select(ledger.c.customer_id, func.min(ledger.c.value_date).label("first"))
        .where(
            ledger.c.id.in_(sealed_since([ledger.name], part.since)),
            part.holds(ledger.c.customer_id, customers.name),
        )
        .group_by(ledger.c.customer_id)
        .subquery("changed")
    )
    first_day = cast(func.date_trunc("month", changed.c.first), Date)
    year_month = month_of_date(changed.c.first)
    before = months.alias("before")
    base = (
        select(before.c.closing_balance)
        .where(before.c.customer_id == customers.c.id, before.c.year_month < year_month)
        .order_by(before.c.year_month.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            customers.c.id.label("customer_id"),
            first_day.label("first_day"),
            year_month.label("year_month"),
            case((changed.c.first.is_(None), 0), else_=func.coalesce(base, 0)).label("base"),
        )
        .select_from(customers.outerjoin(changed, changed.c.customer_id == customers.c.id))
        .where(part.holds(customers.c.id, customers.name))
        .cte("starts")
    )


class MonthlyBalance(Check):
    name = "monthly_balance"
    label = _l("Monthly balances")
    description = _l(
        "each customer month's opening (= the previous month's closing), deposits, purchases, closing and "
        "Sm³ = the wallet movements dated in the month and the readings' volumes; the latest closing = "
        "the wallet balance"
    )
    entity_type = "customer"
    table = months
    after = ("reading_calculation", "customer_wallet")
    single_pass = True

    reads_per_key = BalanceTransaction.__table__

    def __init__(
        self,
        customer_ids: tuple[int, ...] | None = None,
        between: tuple[int, int] | None = None,
        part: Part | None = None,
    ) -> None:
        self.customer_ids = customer_ids
        self.between = between
        self.part = part

    def scoped(self, scope: Scope) -> MonthlyBalance:
        return MonthlyBalance(scope.customer_ids or None)

    def bounded(self, low: int, high: int) -> MonthlyBalance:
        return MonthlyBalance(self.customer_ids, (low, high), self.part)

    def restricted(self, part: Part) -> MonthlyBalance:
        return MonthlyBalance(self.customer_ids, self.between, part)

    def marked(self):
        return {customers.name: (customers.c.id,)}

    def watched(self):
        return {ledger.name: (ledger.c.id,)}

    def changed(self, since, after):
        """The customers whose movements were written since (each sealed as it is written) or added past the marks
        (whatever wrote them): a nightly reads their months from the earliest such movement's on (:func:`_starts`),
        and the night's stripes of customers whole."""
        mark = after.get(ledger.name)
        added = select(ledger.c.customer_id).where(ledger.c.id > mark if mark is not None else true())
        written = select(ledger.c.customer_id).where(ledger.c.id.in_(sealed_since([ledger.name], since)))
        return {customers.name: union(added, written)}

    def _parts(self) -> _Months:
        return _parts(self.customer_ids, self.between, self.part)

    @property
    def source(self):
        return self._parts().source

    @property
    def key(self):
        return self._parts().key

    @property
    def period(self):
        return self._parts().period

    def fields(self):
        parts = self._parts()
        expected, stored = parts.expected, parts.stored
        is_latest = expected.c.is_latest
        return [
            *(
                CheckedField(
                    name, stored.c[name], expected.c[name], scale=SCALES.get(name, 2), adds=name not in BALANCES
                )
                for name in STORED
            ),
            CheckedField(
                "closing_equals_wallet_balance",
                case((is_latest, stored.c.closing_balance)),
                case((is_latest, parts.owners.c.balance)),
            ),
        ]

    def scope_conditions(self, scope: Scope):
        conditions = []
        if scope.customer_ids:
            conditions.append(one_of(self.key, scope.customer_ids))
        if scope.from_month:
            conditions.append(self.period >= str(Month.of(scope.from_month)))
        return conditions

    def key_bounds(self, scope: Scope):
        """From the customers: cheaper than the expected months, and a superset of their keys."""
        bounds = select(func.min(customers.c.id), func.max(customers.c.id))
        return bounds.where(one_of(customers.c.id, scope.customer_ids)) if scope.customer_ids else bounds

    def keys(self, scope: Scope):
        ids = select(customers.c.id.label("key"))
        return ids.where(one_of(customers.c.id, scope.customer_ids)) if scope.customer_ids else ids

    def write_entities(self, connection, entities):
        """Recalculate the customers from the earliest wrong month: earlier months are right and stay as they are."""
        recalculate(connection, sorted({c for c, _ in entities}), Month.parse(min(month for _, month in entities)))

    def held(self, connection, keys):
        return held_customers(connection, keys)
