from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import FromClause, case, func, select

from backoffice.models import BalanceTransaction, Customer, MonthlyCustomerBalance
from backoffice.models.types import Month
from backoffice.posting.months import STORED, expected_months, recalculate
from backoffice.reconcile.base import Check, CheckedField, ExpectedBeside, Scope
from backoffice.reconcile.ledger_chain import held_customers

months = MonthlyCustomerBalance.__table__
customers = Customer.__table__
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
def _parts(customer_ids: tuple[int, ...] | None, between: tuple[int, int] | None) -> _Months:
    expected = expected_months(customer_ids, between)
    stored, owners = months, customers
    if between is not None:
        stored = select(months).where(months.c.customer_id.between(*between)).subquery("months")
        owners = select(customers).where(customers.c.id.between(*between)).subquery("customers")
    key = func.coalesce(expected.c.customer_id, stored.c.customer_id)
    source = expected.join(
        stored,
        (stored.c.customer_id == expected.c.customer_id) & (stored.c.year_month == expected.c.year_month),
        full=True,
    ).join(owners, owners.c.id == key)
    period = func.coalesce(expected.c.year_month, stored.c.year_month)
    return _Months(expected, source, key, period, stored, owners)


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

    def __init__(self, customer_ids: tuple[int, ...] | None = None, between: tuple[int, int] | None = None) -> None:
        self.customer_ids = customer_ids
        self.between = between

    def scoped(self, scope: Scope) -> MonthlyBalance:
        return MonthlyBalance(scope.customer_ids or None)

    def bounded(self, low: int, high: int) -> MonthlyBalance:
        return MonthlyBalance(self.customer_ids, (low, high))

    def _parts(self) -> _Months:
        return _parts(self.customer_ids, self.between)

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
            conditions.append(self.key.in_(scope.customer_ids))
        if scope.from_month:
            conditions.append(self.period >= str(Month.of(scope.from_month)))
        return conditions

    def key_bounds(self, scope: Scope):
        """From the customers: cheaper than the expected months, and a superset of their keys."""
        bounds = select(func.min(customers.c.id), func.max(customers.c.id))
        return bounds.where(customers.c.id.in_(scope.customer_ids)) if scope.customer_ids else bounds

    def keys(self, scope: Scope):
        ids = select(customers.c.id.label("key"))
        return ids.where(customers.c.id.in_(scope.customer_ids)) if scope.customer_ids else ids

    def write_entities(self, connection, entities):
        """Recalculate the customers from the earliest wrong month: earlier months are right and stay as they are."""
        recalculate(connection, sorted({c for c, _ in entities}), Month.parse(min(month for _, month in entities)))

    def held(self, connection, keys):
        return held_customers(connection, keys)
