from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, bindparam, func, or_, select, true, union, union_all
from sqlalchemy_continuum.utils import version_class

from backoffice.models import (
    BalanceTransaction,
    Customer,
    CustomerPricing,
    MeterAssignment,
    MeterReading,
    TransactionCalculation,
    charged_for_readings,
    whose_readings,
)
from backoffice.models.formulas import charged_sql, pricing_of, total_price_sql, volume_sm3_sql
from backoffice.models.metering import READING
from backoffice.models.types import one_of
from backoffice.platform.money import unit_places
from backoffice.platform.sentences import Sentence
from backoffice.posting.closed_months import last_closed_day, month_of
from backoffice.reconcile.base import Check, CheckedField, Part, Scope
from backoffice.reconcile.night import sealed_since

calculations = TransactionCalculation.__table__
readings = MeterReading.__table__
ledger = BalanceTransaction.__table__
customers = Customer.__table__
assignments = MeterAssignment.__table__


pricing = CustomerPricing.__table__
# Each reading with whose it is (who held the meter on its date), then the id of that customer's pricing in
# force on its date: each looked up once per reading, then joined.
whose = whose_readings().subquery("whose_readings")
priced = select(whose, pricing_of("id", whose.c.holder_id, whose.c.reading_date).label("pricing_id")).subquery(
    "priced_readings"
)


class ReadingCalculation(Check):
    name = "reading_calculation"
    label = _l("Reading charges")
    description = _l(
        "each reading has a calculation = its volume × the correction and price in force on its date for "
        "the customer who held the meter that day (Sm³ to 4 places, cost to the currency's unit), and that customer's "
        "wallet was charged that cost (nothing for a reading dated on or before the cut-over); a fix re-prices the "
        "reading, moves it to that customer if it was charged to another, and posts the differences"
    )
    entity_type = "meter_reading"
    table = readings

    def __init__(self, customer_ids: tuple[int, ...] | None = None, part: Part | None = None) -> None:
        self.customer_ids, self.part = customer_ids, part
        charged = charged_for_readings()
        if customer_ids:
            charged = charged.where(one_of(ledger.c.customer_id, customer_ids))
        if part is not None:  # by the index of the movements' references: the part's readings' alone
            charged = charged.where(part.holds(ledger.c.reference_id, readings.name))
        self.charged = charged.subquery("charged")
        self.source = (
            priced.outerjoin(pricing, pricing.c.id == priced.c.pricing_id)
            .outerjoin(calculations, calculations.c.reading_id == priced.c.id)
            .outerjoin(
                self.charged,
                (self.charged.c.reading_id == priced.c.id) & (self.charged.c.customer_id == priced.c.holder_id),
            )
        )

    def consequences(self):
        """A re-priced reading posts to its holder's wallet and recalculates their months, and those of the customer
        it was charged to."""

        def customers_of(ids: list[int]):
            charged = charged_for_readings().subquery("charged_before")
            return union_all(
                select(whose.c.holder_id).where(whose.c.id.in_(ids), whose.c.holder_id.is_not(None)),
                select(charged.c.customer_id).where(charged.c.reading_id.in_(ids)),
            )

        return (("monthly_balance", customers_of), ("customer_wallet", customers_of))

    def scoped(self, scope: Scope) -> ReadingCalculation:
        return ReadingCalculation(scope.customer_ids or None)

    def restricted(self, part: Part) -> ReadingCalculation:
        return ReadingCalculation(self.customer_ids, part)

    def in_part(self):
        return [] if self.part is None else [self.part.holds(priced.c.id, readings.name)]

    def marked(self):
        return {readings.name: (readings.c.id,)}

    def watched(self):
        return {ledger.name: (ledger.c.id,)}

    def changed(self, since, after):
        """The readings written since (each write adds a version, sealed as it is written); those a movement written
        since, or added past the marks, charges or refunds; those priced by a price written since (from its date
        on, of its customer's) and those of a meter whose assignment was written since (from its start on)."""
        history = {model: version_class(model).__table__ for model in (MeterReading, CustomerPricing, MeterAssignment)}
        mark = after.get(ledger.name)
        moved = or_(
            ledger.c.id > mark if mark is not None else true(), ledger.c.id.in_(sealed_since([ledger.name], since))
        )
        repriced = select(readings.c.id).join(
            pricing,
            (pricing.c.customer_id == readings.c.customer_id) & (readings.c.reading_date >= pricing.c.effective_from),
        )
        reassigned = select(readings.c.id).join(
            assignments,
            (assignments.c.meter_id == readings.c.meter_id) & (readings.c.reading_date >= assignments.c.started_on),
        )
        return {
            readings.name: union(
                sealed_since([history[MeterReading].name], since),
                select(ledger.c.reference_id).where(ledger.c.reference_type == READING, moved),
                repriced.where(pricing.c.id.in_(sealed_since([history[CustomerPricing].name], since))),
                reassigned.where(assignments.c.id.in_(sealed_since([history[MeterAssignment].name], since))),
            )
        }

    @property
    def key(self):
        return priced.c.id

    def fields(self):
        volume = volume_sm3_sql(priced.c.volume_flow_meter, pricing.c.meter_correction)
        # Rounded as it was priced: to the cents every reading priced before migration 0051 was rounded to, else to the
        # currency's unit (read as the check runs).
        places = func.coalesce(calculations.c.places, bindparam("unit_places", callable_=unit_places, type_=Integer))
        cost = total_price_sql(volume, pricing.c.price_per_sm3, places)
        return [
            CheckedField("volume_flow_meter", calculations.c.volume_flow_meter, priced.c.volume_flow_meter, scale=4),
            CheckedField(
                "meter_correction", calculations.c.meter_correction, pricing.c.meter_correction, scale=6, adds=False
            ),
            CheckedField("price_per_sm3", calculations.c.price_per_sm3, pricing.c.price_per_sm3, adds=False),
            CheckedField("volume_sm3", calculations.c.volume_sm3, volume, scale=4),
            CheckedField("total_price", calculations.c.total_price, cost),
            CheckedField(
                "charged",
                func.round(func.coalesce(self.charged.c.amount, 0), 2),
                charged_sql(priced.c.reading_date, cost),
            ),
        ]

    def scope_conditions(self, scope: Scope):
        conditions = []
        if scope.customer_ids:
            conditions.append(one_of(priced.c.customer_id, scope.customer_ids))
        if scope.from_month:
            conditions.append(priced.c.reading_date >= scope.from_month)
        return conditions

    def sources(self):
        """The reading, its customer's and its holder's pricing rows, and its meter's assignments (whose it is)."""
        of_readings = whose_readings().subquery("read_readings")
        return (
            (
                readings,
                lambda keys: select(readings.c.id.label("key"), readings.c.id.label("row_id")).where(
                    readings.c.id.in_(keys)
                ),
            ),
            (
                pricing,
                lambda keys: (
                    select(of_readings.c.id.label("key"), pricing.c.id.label("row_id"))
                    .join(pricing, pricing.c.customer_id.in_([of_readings.c.customer_id, of_readings.c.holder_id]))
                    .where(of_readings.c.id.in_(keys))
                ),
            ),
            (
                assignments,
                lambda keys: (
                    select(readings.c.id.label("key"), assignments.c.id.label("row_id"))
                    .join(assignments, assignments.c.meter_id == readings.c.meter_id)
                    .where(readings.c.id.in_(keys))
                ),
            ),
        )

    def held(self, connection, keys):
        """A reading dated in a closed month, or of a closed customer, is left as it is: its fix would post into
        that month, or a movement of that customer."""
        found = whose_readings().where(readings.c.id.in_(keys)).subquery("found")
        of_closed = (
            select(found.c.id, func.min(customers.c.code))
            .join(customers, customers.c.id.in_([found.c.customer_id, found.c.holder_id]))
            .where(customers.c.closed_at.is_not(None))
            .group_by(found.c.id)
        )
        held = self._beyond_the_limit(connection, keys) | {
            reading_id: CUSTOMER_CLOSED.write(code=code) for reading_id, code in connection.execute(of_closed)
        }
        closed = last_closed_day(connection)
        if closed is None:
            return held
        dated = select(readings.c.id, readings.c.reading_date).where(
            readings.c.id.in_(keys), readings.c.reading_date <= closed
        )
        return held | {
            reading_id: MONTH_CLOSED.write(month=month_of(day)) for reading_id, day in connection.execute(dated)
        }

    def _beyond_the_limit(self, connection, keys) -> dict[int, str]:
        """The readings whose fix would move, on a customer's wallet, more than the approval limit: the money the
        fix gives back and takes, counted without sign over the customer's readings it fixes. A fix is nobody's
        decision: what would take a second admin's approval as a clerk's correction is left for a correction,
        which asks for it."""
        from backoffice.services.by_hand import limit as approval_limit  # as ``write``: only a fix needs the services

        volume = volume_sm3_sql(priced.c.volume_flow_meter, pricing.c.meter_correction)
        owed = (
            select(priced.c.id.label("reading_id"), priced.c.holder_id.label("customer_id"))
            .add_columns(total_price_sql(volume, pricing.c.price_per_sm3, unit_places()).label("amount"))
            .select_from(priced.outerjoin(pricing, pricing.c.id == priced.c.pricing_id))
            .where(priced.c.id.in_(keys))
        )
        charged = charged_for_readings().subquery("charged_before")
        paid = select(charged.c.reading_id, charged.c.customer_id, -charged.c.amount).where(
            charged.c.reading_id.in_(keys)
        )
        moves = union_all(owed, paid).subquery("moves")
        net = func.sum(moves.c.amount)
        found = connection.execute(
            select(moves.c.reading_id, moves.c.customer_id, customers.c.code, net)
            .join(customers, customers.c.id == moves.c.customer_id)
            .group_by(moves.c.reading_id, moves.c.customer_id, customers.c.code)
            .having(net != 0)
        ).all()
        moved: dict[str, Decimal] = {}
        for _reading_id, _customer_id, code, amount in found:
            moved[code] = moved.get(code, Decimal(0)) + abs(Decimal(amount))
        limit = approval_limit()
        return {
            reading_id: ABOVE_LIMIT.write(moved=moved[code], code=code, limit=limit)
            for reading_id, _customer_id, code, _amount in found
            if moved[code] > limit
        }

    def write(self, connection, ids):
        # Imported by the fix that writes, not with the checks: listing or verifying them needs no re-pricing.
        from backoffice.services.metering import reprice

        reprice(connection, ids)


CUSTOMER_CLOSED = Sentence(
    "customer_closed",
    "customer {code} is closed: its fix would post a movement; reopen the customer to fix it",
    _l("customer %(code)s is closed: its fix would post a movement; reopen the customer to fix it"),
)
"""Why a fix leaves a reading of a closed customer as it is."""

MONTH_CLOSED = Sentence(
    "month_closed",
    "{month} is closed: its fix would post into it; reopen the month to fix the reading",
    _l("%(month)s is closed: its fix would post into it; reopen the month to fix the reading"),
    months=("month",),
)
"""Why a fix leaves a reading dated in a closed month as it is."""

ABOVE_LIMIT = Sentence(
    "above_limit",
    "left unfixed: its fix would move {moved} on customer {code}'s wallet, above the approval limit ({limit}): "
    "correct the reading on the customer's page, which asks a second admin to approve it",
    _l(
        "left unfixed: its fix would move %(moved)s on customer %(code)s's wallet, above the approval limit "
        "(%(limit)s): correct the reading on the customer's page, which asks a second admin to approve it"
    ),
    amounts=("moved", "limit"),
)
"""Why a fix leaves a reading as it is: it would move more than the approval limit on its customer's wallet."""
