"""Metering: pricing rows, and readings that are purchases.

A reading is the purchase of the customer who held the meter on the reading's date (not of
whoever holds it now), and no reading is dated after today. Recording a reading prices it at
that customer's pricing, stores its calculation and charges their wallet, in one transaction
that holds the customer's lock. Correcting a reading re-prices it and posts
the difference (a charge when it costs more, a reversal when less); deleting it reverses what
it cost. So the ledger stays append-only and ``total_spent`` is always the gas sold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask import current_app
from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.orm import selectinload

from backoffice.extensions import db
from backoffice.models import (
    BalanceTransaction,
    Customer,
    CustomerPricing,
    MeterReading,
    RecalculationReason,
    RecalculationRequest,
    TransactionCalculation,
    User,
    pricing_in_force,
    total_price_of,
    total_price_sql,
    volume_sm3_of,
    volume_sm3_sql,
    whose_readings,
)
from backoffice.models.metering import MAX_VOLUME, READING, Correction, ReadingOutOfRange
from backoffice.models.types import Money, as_utc, utcnow
from backoffice.money import MAX_AMOUNT, MoneyError, check_amount, round_money, shown
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import post
from backoffice.posting.rules import Kind
from backoffice.services import ChangedMeanwhile, billing, digest_version, monthly, periods, transaction
from backoffice.services.locking import lock_customers

readings = MeterReading.__table__
calculations = TransactionCalculation.__table__
pricing = CustomerPricing.__table__
ledger = BalanceTransaction.__table__
customers = Customer.__table__
requests = RecalculationRequest.__table__


class MeteringError(ValueError):
    """A metering write refused; nothing was written."""


@dataclass(frozen=True)
class Priced:
    """What a reading costs at the pricing in force on its date."""

    volume_flow_meter: Decimal
    meter_correction: Decimal
    volume_sm3: Decimal
    price_per_sm3: Decimal
    total_price: Decimal
    pricing: dict


@dataclass(frozen=True)
class Impact:
    """What a pricing row would change: the readings it prices, from which month, and their cost."""

    readings: int
    from_month: str | None
    purchases_before: Decimal
    purchases_after: Decimal
    deferred: bool
    """Saving leaves the re-pricing to a job (a recalculation request): the change is too large for a request,
    or the customer is not calculated in real time."""

    @property
    def purchases_change(self) -> Decimal:
        return self.purchases_after - self.purchases_before


def set_pricing(
    customer_id: int,
    effective_from: date,
    price_per_sm3: Decimal,
    meter_correction: Decimal,
    *,
    user=None,
    version: int | None = None,
) -> Impact:
    """Add (or replace) the customer's pricing from a date, and re-price the readings it now prices.

    Each re-priced reading's difference is posted to the wallet and the months are recalculated,
    in the same transaction; beyond ``REPRICE_IN_REQUEST_LIMIT`` readings, or for a customer not
    kept in real time, a recalculation request is committed instead and a job does the rest.
    ``version``: the one the pricing row's form was loaded at; raises ``ChangedMeanwhile`` if the
    row from that date is not at that version now (the customer's lock makes the comparison final).
    """
    price_per_sm3, meter_correction = _pricing_values(price_per_sm3, meter_correction)
    with transaction() as session:
        connection = session.connection()
        lock_customers(connection, [customer_id])
        existing = connection.execute(
            select(pricing.c.id, pricing.c.version).where(
                pricing.c.customer_id == customer_id, pricing.c.effective_from == effective_from
            )
        ).one_or_none()
        if version is not None and (existing is None or existing.version != version):
            raise ChangedMeanwhile
        ids = _priced_by(connection, customer_id, effective_from)
        impact = _impact(connection, customer_id, price_per_sm3, meter_correction, ids)
        values = {"price_per_sm3": price_per_sm3, "meter_correction": meter_correction}
        if existing is None:
            connection.execute(insert(pricing).values(customer_id=customer_id, effective_from=effective_from, **values))
        else:
            connection.execute(
                update(pricing).where(pricing.c.id == existing.id).values(**values, version=pricing.c.version + 1)
            )
        if not impact.deferred:
            reprice(connection, ids, user)
            return impact
        what = f"Pricing from {effective_from:%Y-%m-%d}: {impact.readings} readings to re-price"
        monthly.request(connection, customer_id, effective_from, RecalculationReason.PRICING_CHANGE, what, user)
    return impact


def pricing_impact(customer_id: int, effective_from: date, price_per_sm3: Decimal, meter_correction: Decimal) -> Impact:
    """What :func:`set_pricing` would change, computed in the database; nothing is written."""
    price_per_sm3, meter_correction = _pricing_values(price_per_sm3, meter_correction)
    with db.engine.connect() as connection:
        ids = _priced_by(connection, customer_id, effective_from)
        return _impact(connection, customer_id, price_per_sm3, meter_correction, ids)


def price(connection, customer_id: int, reading_date: date, volume_flow_meter: Decimal) -> Priced:
    """Price a volume on a date; raises :class:`MeteringError` when no pricing applies."""
    volume = checked_volume(volume_flow_meter)
    row = connection.execute(pricing_in_force(customer_id, reading_date)).one_or_none()
    if row is None:
        raise MeteringError(
            f"No pricing applies on {reading_date:%Y-%m-%d}: add a price effective on or before that date first."
        )
    try:
        volume_sm3 = volume_sm3_of(volume, row.meter_correction)
        total_price = total_price_of(volume_sm3, row.price_per_sm3)
    except ReadingOutOfRange as error:
        raise MeteringError(str(error)) from None
    return Priced(
        volume_flow_meter=volume,
        meter_correction=row.meter_correction,
        volume_sm3=volume_sm3,
        price_per_sm3=row.price_per_sm3,
        total_price=total_price,
        pricing={
            "pricing_id": row.id,
            "effective_from": row.effective_from.isoformat(),
            "price_per_sm3": str(row.price_per_sm3),
            "meter_correction": str(row.meter_correction),
        },
    )


def record_reading(
    meter_id: int,
    reading_date: date,
    volume_flow_meter: Decimal,
    *,
    customer_id: int | None = None,
    note: str = "",
    user: User | None = None,
) -> int:
    """Record a reading of the meter for the customer who held it on ``reading_date``; returns the reading's id.

    Given ``customer_id`` (the customer the clerk is recording for), a reading another customer's is refused.
    """
    customer_id = reading_customer(meter_id, reading_date, customer_id)
    with transaction() as session:
        connection = session.connection()
        (customer,) = lock_customers(connection, [customer_id])
        priced = price(connection, customer_id, reading_date, volume_flow_meter)
        reading_id = connection.execute(
            insert(readings).returning(readings.c.id),
            {
                "meter_id": meter_id,
                "customer_id": customer_id,
                "reading_date": reading_date,
                "volume_flow_meter": priced.volume_flow_meter,
                "note": note.strip()[:300],
                "created_at": utcnow(),
                "created_by_id": user.id if user else None,
            },
        ).scalar_one()
        if customer.use_realtime_calculation:
            _store_calculation(connection, customer_id, reading_id, reading_date, priced)
            _post(connection, customer_id, reading_id, reading_date, priced.total_price, user, "Gas")
        else:
            _defer(connection, customer_id, reading_date, f"Reading #{reading_id}", user)
    return reading_id


def correct_reading(
    reading_id: int,
    reading_date: date,
    volume_flow_meter: Decimal,
    *,
    note: str = "",
    user: User | None = None,
    version: int | None = None,
) -> None:
    """Change a reading's date or volume; the difference in cost is posted to the wallet.

    The new date must be one when the reading's customer held the meter. ``version``: the
    :func:`reading_version` its form was loaded at; raises ``ChangedMeanwhile`` if it is not the reading's now.
    """
    reading = _reading(reading_id)
    reading_customer(reading.meter_id, reading_date, reading.customer_id)
    with transaction() as session:
        connection = session.connection()
        (customer,) = lock_customers(connection, [reading.customer_id])
        current = connection.execute(select(readings).where(readings.c.id == reading_id)).one_or_none()
        if current is None or (version is not None and reading_version(current) != version):
            raise ChangedMeanwhile
        priced = price(connection, reading.customer_id, reading_date, volume_flow_meter)
        connection.execute(
            update(readings)
            .where(readings.c.id == reading_id)
            .values(reading_date=reading_date, volume_flow_meter=priced.volume_flow_meter, note=note.strip()[:300])
        )
        if not customer.use_realtime_calculation:
            _defer(connection, customer.id, min(reading.reading_date, reading_date), f"Reading #{reading_id}", user)
            return
        _remove_calculation(connection, reading_id)
        _store_calculation(connection, reading.customer_id, reading_id, reading_date, priced)
        _post(connection, customer.id, reading_id, reading_date, priced.total_price, user, "Correction of gas")


def reading_version(reading) -> int:
    """The version a reading's correction form carries (readings have no version column)."""
    return digest_version(reading.reading_date, f"{reading.volume_flow_meter:.4f}", reading.note)


def reading_customer(meter_id: int, reading_date: date, customer_id: int | None = None) -> int:
    """Whose a reading of the meter dated so is: the customer who held the meter that day (``customer_id``,
    if given). A reading dated after today, in a closed month, or when nobody held the meter, is refused."""
    periods.refuse_if_closed(db.session, reading_date)
    try:
        billing.not_after_today(reading_date, "A reading")
        return billing.holder_on(meter_id, reading_date, customer_id).customer_id
    except billing.BillingError as error:
        raise MeteringError(str(error)) from None


def reprice(connection, reading_ids: list[int], user: User | None = None) -> None:
    """Price readings again at the pricing in force now, posting each difference and recalculating the months.

    A reading charged to a customer who did not hold the meter on its date (as readings were once charged
    to whoever held it when they were entered) is first moved to the one who did: what it cost is given
    back where it was charged, and charged to its holder. Within the caller's transaction.
    """
    query = whose_readings().where(readings.c.id.in_(reading_ids)).order_by(readings.c.id)
    rows = connection.execute(query).all()
    if not rows:
        return
    customer_ids = sorted({r.customer_id for r in rows} | {r.holder_id for r in rows})
    lock_customers(connection, customer_ids)  # all at once, in id order
    if moved := [r for r in rows if r.holder_id != r.customer_id]:
        for reading in moved:
            _move_to_holder(connection, reading, user)
        rows = connection.execute(query).all()
    _price_again(connection, rows, user)
    monthly.recalculate(connection, customer_ids, monthly.month_of(min(r.reading_date for r in rows)))


def _move_to_holder(connection, reading, user) -> None:
    """Give back what the reading cost where it was charged, and make it its holder's (whom the caller prices and
    charges, replacing its calculation)."""
    connection.execute(update(readings).where(readings.c.id == reading.id).values(customer_id=reading.holder_id))
    _post(connection, reading.customer_id, reading.id, None, Decimal(0), user, "Gas of the meter's holder on its date")


def pending_recalculations(customer_id: int, limit: int | None = None) -> list[RecalculationRequest]:
    """The customer's pending requests, oldest first (the first ``limit`` of them)."""
    return list(
        db.session.scalars(
            select(RecalculationRequest)
            .options(selectinload(RecalculationRequest.requested_by))
            .where(RecalculationRequest.customer_id == customer_id, RecalculationRequest.done_at.is_(None))
            .order_by(RecalculationRequest.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Pending:
    requests: int
    customers: int
    oldest: datetime | None
    from_date: date | None
    """The earliest date a pending request recalculates from."""


def pending_summary(customer_id: int | None = None) -> Pending:
    """How much recalculation work waits, for one customer or over every customer (for monitoring)."""
    query = select(
        func.count(RecalculationRequest.id),
        func.count(RecalculationRequest.customer_id.distinct()),
        func.min(RecalculationRequest.requested_at),
        func.min(RecalculationRequest.from_date),
    ).where(RecalculationRequest.done_at.is_(None))
    if customer_id is not None:
        query = query.where(RecalculationRequest.customer_id == customer_id)
    requests_, customers_, oldest, from_date = db.session.execute(query).one()
    return Pending(requests_, customers_, as_utc(oldest), from_date)


def process_recalculations(customer_ids: list[int] | None = None, user: User | None = None) -> int:
    """Do the pending recalculation requests (of these customers, or all); returns how many were done.

    Each customer is one transaction: its readings from the earliest requested date are priced
    again (the difference posted) and its months from that month on recalculated.
    """
    waiting = select(requests.c.customer_id).where(requests.c.done_at.is_(None)).distinct()
    if customer_ids is not None:
        waiting = waiting.where(requests.c.customer_id.in_(customer_ids))
    done = 0
    for customer_id in sorted(db.session.scalars(waiting)):
        db.session.rollback()
        with transaction() as session:
            connection = session.connection()
            lock_customers(connection, [customer_id])
            pending = connection.execute(
                select(requests.c.id, requests.c.from_date).where(
                    requests.c.customer_id == customer_id, requests.c.done_at.is_(None)
                )
            ).all()
            if not pending:
                continue
            start = min(p.from_date for p in pending)
            rows = connection.execute(
                select(readings)
                .where(readings.c.customer_id == customer_id, readings.c.reading_date >= start)
                .order_by(readings.c.id)
            ).all()
            _price_again(connection, rows, user)
            monthly.recalculate(connection, [customer_id], monthly.month_of(start))
            # The charges just posted for a customer not kept in real time asked for this recalculation too.
            connection.execute(
                update(requests)
                .where(requests.c.customer_id == customer_id, requests.c.done_at.is_(None))
                .values(done_at=utcnow())
            )
            done += len(pending)
    return done


def _price_again(connection, rows, user) -> None:
    for reading in rows:
        priced = price(connection, reading.customer_id, reading.reading_date, reading.volume_flow_meter)
        connection.execute(delete(calculations).where(calculations.c.reading_id == reading.id))
        _store_calculation(connection, reading.customer_id, reading.id, reading.reading_date, priced, roll_up=False)
        _post(
            connection,
            reading.customer_id,
            reading.id,
            reading.reading_date,
            priced.total_price,
            user,
            "Re-pricing of gas",
        )


def delete_reading(reading_id: int, *, user: User | None = None) -> None:
    """Remove a reading; what it cost is given back by a reversal."""
    reading = _reading(reading_id)
    periods.refuse_if_closed(db.session, reading.reading_date)
    with transaction() as session:
        connection = session.connection()
        (customer,) = lock_customers(connection, [reading.customer_id])
        if customer.use_realtime_calculation:
            _remove_calculation(connection, reading_id)
        else:
            connection.execute(delete(calculations).where(calculations.c.reading_id == reading_id))
            _defer(connection, customer.id, reading.reading_date, f"Deleted reading #{reading_id}", user)
        connection.execute(delete(readings).where(readings.c.id == reading_id))
        _post(connection, customer.id, reading_id, None, Decimal(0), user, "Deleted reading of gas")


def _priced_by(connection, customer_id: int, effective_from: date) -> list[int]:
    """The readings a pricing row from ``effective_from`` prices: up to the customer's next pricing row."""
    following = (
        select(func.min(pricing.c.effective_from))
        .where(pricing.c.customer_id == customer_id, pricing.c.effective_from > effective_from)
        .scalar_subquery()
    )
    return list(
        connection.execute(
            select(readings.c.id).where(
                readings.c.customer_id == customer_id,
                readings.c.reading_date >= effective_from,
                (following.is_(None)) | (readings.c.reading_date < following),
            )
        ).scalars()
    )


def _impact(connection, customer_id, price_per_sm3, meter_correction, ids: list[int]) -> Impact:
    """What pricing these readings so would change, and whether a job would do it (the one rule for both)."""
    realtime = connection.execute(
        select(customers.c.use_realtime_calculation).where(customers.c.id == customer_id)
    ).scalar_one()
    deferred = not realtime or len(ids) > current_app.config["REPRICE_IN_REQUEST_LIMIT"]
    if not ids:
        return Impact(0, None, Decimal("0.00"), Decimal("0.00"), deferred)
    volume = volume_sm3_sql(readings.c.volume_flow_meter, literal(meter_correction, Correction))
    total = total_price_sql(volume, literal(price_per_sm3, Money))
    before, after, largest, first = connection.execute(
        select(
            func.coalesce(func.sum(calculations.c.total_price), 0),
            func.coalesce(func.sum(total), 0),
            func.max(total),
            func.min(readings.c.reading_date),
        )
        .select_from(readings.outerjoin(calculations, calculations.c.reading_id == readings.c.id))
        .where(readings.c.id.in_(ids))
    ).one()
    if Decimal(largest) > MAX_AMOUNT:
        raise MeteringError(f"At this price a reading's total would exceed {shown(MAX_AMOUNT)}, the most one holds.")
    return Impact(
        len(ids), first.strftime("%Y-%m"), round_money(Decimal(before)), round_money(Decimal(after)), deferred
    )


def _pricing_values(price_per_sm3: Decimal, meter_correction: Decimal) -> tuple[Decimal, Decimal]:
    try:
        price_per_sm3 = check_amount(price_per_sm3)
    except MoneyError as error:
        raise MeteringError(f"Price per Sm³: {error}") from None
    return price_per_sm3, checked_correction(meter_correction)


def _store_calculation(connection, customer_id, reading_id, reading_date, priced: Priced, *, roll_up=True) -> None:
    """Store the reading's calculation and, unless the caller recalculates the months, add it to its month."""
    connection.execute(
        insert(calculations),
        {
            "customer_id": customer_id,
            "reading_id": reading_id,
            "year_month": reading_date.strftime("%Y-%m"),
            "transaction_date": reading_date,
            "volume_flow_meter": priced.volume_flow_meter,
            "meter_correction": priced.meter_correction,
            "volume_sm3": priced.volume_sm3,
            "price_per_sm3": priced.price_per_sm3,
            "total_price": priced.total_price,
            "pricing": priced.pricing,
            "calculated_at": utcnow(),
        },
    )
    if roll_up:
        monthly.shift(
            connection,
            customer_id,
            monthly.month_of(reading_date),
            volume=priced.volume_sm3,
            details={"reading_id": reading_id},
        )


def _remove_calculation(connection, reading_id: int) -> None:
    """Delete the reading's calculation and take it out of its month."""
    removed = connection.execute(
        delete(calculations)
        .where(calculations.c.reading_id == reading_id)
        .returning(calculations.c.customer_id, calculations.c.year_month, calculations.c.volume_sm3)
    ).one_or_none()
    if removed is not None:
        monthly.shift(
            connection,
            removed.customer_id,
            removed.year_month,
            volume=-removed.volume_sm3,
            details={"reading_id": reading_id, "removed": True},
        )


def _defer(connection, customer_id: int, from_date: date, what: str, user) -> None:
    monthly.request(connection, customer_id, from_date, RecalculationReason.DEFERRED, what, user)


def _post(connection, customer_id: int, reading_id: int, on: date | None, cost: Decimal, user, what: str) -> None:
    """Bring what the customer's ledger has charged for the reading to ``cost``, dated ``on`` (the reading's date):
    what was charged on another date is given back on that date, so that each month holds what its readings cost.
    ``on`` is ``None`` when nothing is to be charged any more."""
    charged = connection.execute(
        select(ledger.c.value_date, -func.sum(ledger.c.signed_amount))
        .where(
            ledger.c.reference_type == READING,
            ledger.c.reference_id == reading_id,
            ledger.c.customer_id == customer_id,
        )
        .group_by(ledger.c.value_date)
        .order_by(ledger.c.value_date)
    ).all()
    owed = {day: -Decimal(amount) for day, amount in charged if day != on and amount}
    if on is not None:
        owed[on] = cost - sum((Decimal(amount) for day, amount in charged if day == on), Decimal(0))
    for day, difference in owed.items():
        if difference == 0:
            continue
        post(
            connection,
            Movement(
                kind=Kind.CHARGE if difference > 0 else Kind.REVERSAL,
                amount=-difference,
                customer_id=customer_id,
                value_date=day,
                reference=Reference(READING, reading_id),
                description=f"{what}, reading #{reading_id}",
                user=user,
                allow_overdraft=True,
            ),
        )


def _reading(reading_id: int) -> MeterReading:
    reading = db.session.get(MeterReading, reading_id)
    if reading is None:
        raise MeteringError(f"No reading {reading_id}.")
    return reading


def checked_volume(value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise MeteringError("The flow-meter volume must be a number.")
    if value < 0:
        raise MeteringError("The flow-meter volume must not be negative.")
    # The range first: a number wider than Decimal's precision cannot be quantized at all.
    if value > MAX_VOLUME:
        raise MeteringError("The flow-meter volume is too large (at most 14 digits before the decimal separator).")
    if value != value.quantize(Decimal("0.0001")):
        raise MeteringError("Use at most 4 decimal places for the flow-meter volume.")
    return value.quantize(Decimal("0.0001"))


def checked_correction(value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise MeteringError("The meter correction factor must be a number greater than zero.")
    if value >= 1_000_000 or value != value.quantize(Decimal("0.000001")):
        raise MeteringError("The meter correction factor has at most 6 decimal places and 6 digits before them.")
    return value.quantize(Decimal("0.000001"))
