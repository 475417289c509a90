from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer as SQLInteger
from sqlalchemy import func, literal, select, values

from backoffice.models import Figure, Tally, tallies
from backoffice.reconcile.base import Check, CheckedField, Scope

table = Tally.__table__
KEYS = values(literal(0, SQLInteger).label("key"), name="figures").data([(figure.value,) for figure in Figure])
"""The figures, each a key."""


def _source():
    kept, expected = tallies.kept(), tallies.expected()
    joined = expected.join(kept, (kept.c.figure == expected.c.figure) & (kept.c.period == expected.c.period), full=True)
    return kept, expected, joined


class Tallies(Check):
    name = "home_tallies"
    label = _l("Tallies of the home page")
    description = _l(
        "what postpaid customers owe and overpaid, how many owe and are suspended, and each month's Sm³, purchases "
        "and invoices not withdrawn, as the database keeps them = the same summed from the customers, the monthly "
        "balances and the invoices"
    )
    entity_type = "tally"
    by_customer = False
    table = table

    def __init__(self) -> None:
        self._kept, self._expected, self._joined = _source()

    @property
    def source(self):
        return self._joined

    @property
    def key(self):
        return func.coalesce(self._expected.c.figure, self._kept.c.figure)

    @property
    def period(self):
        return func.nullif(func.coalesce(self._expected.c.period, self._kept.c.period), "")

    def fields(self):
        return [
            CheckedField(
                "value", func.coalesce(self._kept.c.value, 0), func.coalesce(self._expected.c.value, 0), scale=4
            )
        ]

    def scope_conditions(self, scope: Scope):
        return []

    def key_bounds(self, scope: Scope):
        return select(literal(min(Figure).value), literal(max(Figure).value))

    def keys(self, scope: Scope):
        return select(KEYS.c.key)

    def write_entities(self, connection, entities):
        """Every tally written again from what it counts, in one statement: a few rows for each month."""
        tallies.rebuild(connection)
