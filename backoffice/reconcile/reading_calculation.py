from __future__ import annotations

from functools import lru_cache

from sqlalchemy import func, select

from backoffice.models import (
    BalanceTransaction,
    MeterReading,
    TransactionCalculation,
    pricing_sql,
    total_price_sql,
    volume_sm3_sql,
)
from backoffice.models.metering import READING
from backoffice.reconcile.base import Check, CheckedField, Scope
from backoffice.services.metering import reprice

calculations = TransactionCalculation.__table__
readings = MeterReading.__table__
ledger = BalanceTransaction.__table__


@lru_cache(maxsize=32)
def _charged(customer_ids: tuple[int, ...] | None):
    """What the wallet has been charged for each reading (of these customers), net of corrections and reversals."""
    query = select(
        ledger.c.reference_id.label("reading_id"), (-func.sum(ledger.c.signed_amount)).label("amount")
    ).where(ledger.c.reference_type == READING)
    if customer_ids:
        query = query.where(ledger.c.customer_id.in_(customer_ids))
    return query.group_by(ledger.c.reference_id).subquery("charged")


class ReadingCalculation(Check):
    name = "reading_calculation"
    description = (
        "each reading has a calculation = its volume × the correction and price in force on its date "
        "(Sm³ to 4 places, cost to cents), and the wallet was charged that cost; a fix re-prices the "
        "reading and posts the difference"
    )
    entity_type = "meter_reading"
    table = readings

    def __init__(self, customer_ids: tuple[int, ...] | None = None) -> None:
        self.charged = _charged(customer_ids)

    def scoped(self, scope: Scope) -> ReadingCalculation:
        return ReadingCalculation(scope.customer_ids or None)

    @property
    def source(self):
        return readings.outerjoin(calculations, calculations.c.reading_id == readings.c.id).outerjoin(
            self.charged, self.charged.c.reading_id == readings.c.id
        )

    def fields(self):
        correction = pricing_sql("meter_correction", readings.c.customer_id, readings.c.reading_date)
        price = pricing_sql("price_per_sm3", readings.c.customer_id, readings.c.reading_date)
        volume = volume_sm3_sql(readings.c.volume_flow_meter, correction)
        cost = total_price_sql(volume, price)
        return [
            CheckedField("volume_flow_meter", calculations.c.volume_flow_meter, readings.c.volume_flow_meter, scale=4),
            CheckedField("meter_correction", calculations.c.meter_correction, correction, scale=6),
            CheckedField("price_per_sm3", calculations.c.price_per_sm3, price),
            CheckedField("volume_sm3", calculations.c.volume_sm3, volume, scale=4),
            CheckedField("total_price", calculations.c.total_price, cost),
            CheckedField("charged", func.round(func.coalesce(self.charged.c.amount, 0), 2), cost),
        ]

    def scope_conditions(self, scope: Scope):
        conditions = []
        if scope.customer_ids:
            conditions.append(readings.c.customer_id.in_(scope.customer_ids))
        if scope.from_month:
            conditions.append(readings.c.reading_date >= scope.from_month)
        return conditions

    def write(self, connection, ids):
        reprice(connection, ids)
