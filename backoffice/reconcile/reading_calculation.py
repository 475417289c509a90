from __future__ import annotations

from sqlalchemy import select

from backoffice.models import MeterReading, TransactionCalculation, pricing_sql, total_price_sql, volume_sm3_sql
from backoffice.reconcile.base import Check, CheckedField, Scope
from backoffice.services.metering import reprice

calculations = TransactionCalculation.__table__
readings = MeterReading.__table__


class ReadingCalculation(Check):
    name = "reading_calculation"
    description = (
        "each reading's calculation = its volume × the correction and price in force on its date "
        "(Sm³ to 4 places, cost to cents); a fix re-prices the reading and posts the difference"
    )
    entity_type = "transaction_calculation"
    table = calculations
    source = calculations.join(readings, readings.c.id == calculations.c.reading_id)

    def fields(self):
        correction = pricing_sql("meter_correction", readings.c.customer_id, readings.c.reading_date)
        price = pricing_sql("price_per_sm3", readings.c.customer_id, readings.c.reading_date)
        volume = volume_sm3_sql(readings.c.volume_flow_meter, correction)
        return [
            CheckedField("volume_flow_meter", calculations.c.volume_flow_meter, readings.c.volume_flow_meter, scale=4),
            CheckedField("meter_correction", calculations.c.meter_correction, correction, scale=6),
            CheckedField("price_per_sm3", calculations.c.price_per_sm3, price),
            CheckedField("volume_sm3", calculations.c.volume_sm3, volume, scale=4),
            CheckedField("total_price", calculations.c.total_price, total_price_sql(volume, price)),
        ]

    def scope_conditions(self, scope: Scope):
        conditions = []
        if scope.customer_ids:
            conditions.append(calculations.c.customer_id.in_(scope.customer_ids))
        if scope.from_month:
            conditions.append(calculations.c.transaction_date >= scope.from_month)
        return conditions

    def write(self, connection, ids):
        reading_ids = (
            connection.execute(select(calculations.c.reading_id).where(calculations.c.id.in_(ids))).scalars().all()
        )
        reprice(connection, list(reading_ids))
