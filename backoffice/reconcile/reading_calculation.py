from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from backoffice.models import (
    BalanceTransaction,
    Customer,
    CustomerPricing,
    MeterReading,
    TransactionCalculation,
    charged_for_readings,
    pricing_sql,
    total_price_sql,
    volume_sm3_sql,
    whose_readings,
)
from backoffice.posting.periods import last_closed_day, month_of
from backoffice.reconcile.base import Check, CheckedField, Scope

calculations = TransactionCalculation.__table__
readings = MeterReading.__table__
ledger = BalanceTransaction.__table__
customers = Customer.__table__


pricing = CustomerPricing.__table__
# Each reading with whose it is (who held the meter on its date), then the id of that customer's pricing in
# force on its date: each looked up once per reading, then joined.
whose = whose_readings().subquery("whose_readings")
priced = select(whose, pricing_sql("id", whose.c.holder_id, whose.c.reading_date).label("pricing_id")).subquery(
    "priced_readings"
)


class ReadingCalculation(Check):
    name = "reading_calculation"
    label = _l("Reading charges")
    description = _l(
        "each reading has a calculation = its volume × the correction and price in force on its date for "
        "the customer who held the meter that day (Sm³ to 4 places, cost to cents), and that customer's "
        "wallet was charged that cost; a fix re-prices the reading, moves it to that customer if it was "
        "charged to another, and posts the differences"
    )
    entity_type = "meter_reading"
    table = readings

    def __init__(self, customer_ids: tuple[int, ...] | None = None) -> None:
        charged = charged_for_readings()
        if customer_ids:
            charged = charged.where(ledger.c.customer_id.in_(customer_ids))
        self.charged = charged.subquery("charged")
        self.source = (
            priced.outerjoin(pricing, pricing.c.id == priced.c.pricing_id)
            .outerjoin(calculations, calculations.c.reading_id == priced.c.id)
            .outerjoin(
                self.charged,
                (self.charged.c.reading_id == priced.c.id) & (self.charged.c.customer_id == priced.c.holder_id),
            )
        )

    def scoped(self, scope: Scope) -> ReadingCalculation:
        return ReadingCalculation(scope.customer_ids or None)

    @property
    def key(self):
        return priced.c.id

    def fields(self):
        volume = volume_sm3_sql(priced.c.volume_flow_meter, pricing.c.meter_correction)
        cost = total_price_sql(volume, pricing.c.price_per_sm3)
        return [
            CheckedField("volume_flow_meter", calculations.c.volume_flow_meter, priced.c.volume_flow_meter, scale=4),
            CheckedField(
                "meter_correction", calculations.c.meter_correction, pricing.c.meter_correction, scale=6, adds=False
            ),
            CheckedField("price_per_sm3", calculations.c.price_per_sm3, pricing.c.price_per_sm3, adds=False),
            CheckedField("volume_sm3", calculations.c.volume_sm3, volume, scale=4),
            CheckedField("total_price", calculations.c.total_price, cost),
            CheckedField("charged", func.round(func.coalesce(self.charged.c.amount, 0), 2), cost),
        ]

    def scope_conditions(self, scope: Scope):
        conditions = []
        if scope.customer_ids:
            conditions.append(priced.c.customer_id.in_(scope.customer_ids))
        if scope.from_month:
            conditions.append(priced.c.reading_date >= scope.from_month)
        return conditions

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
        held = {
            reading_id: f"customer {code} is closed: its fix would post a movement; reopen the customer to fix it"
            for reading_id, code in connection.execute(of_closed)
        }
        closed = last_closed_day(connection)
        if closed is None:
            return held
        dated = select(readings.c.id, readings.c.reading_date).where(
            readings.c.id.in_(keys), readings.c.reading_date <= closed
        )
        return held | {
            reading_id: f"{month_of(day)} is closed: its fix would post into it; reopen the month to fix the reading"
            for reading_id, day in connection.execute(dated)
        }

    def write(self, connection, ids):
        # Imported by the fix that writes, not with the checks: listing or verifying them needs no re-pricing.
        from backoffice.services.metering import reprice

        reprice(connection, ids)
