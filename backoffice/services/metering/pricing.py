"""A customer's effective-dated pricing: pricing a volume on a date, and setting a price from a date with a preview
of what it changes.

A pricing row prices the readings from its date up to the customer's next row. Setting one re-prices
those readings in the same transaction (``repricing``), or, when they are too many for a request or the
customer is not kept in real time, commits a recalculation request for a job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, func, insert, literal, select, tuple_, update

from backoffice.models import (
    ApprovalKind,
    ApprovalRequest,
    Customer,
    CustomerPricing,
    MeterReading,
    RecalculationReason,
    TransactionCalculation,
    User,
    pricing_in_force,
    total_price_of,
    volume_sm3_of,
)
from backoffice.models.formulas import total_price_sql, volume_sm3_sql
from backoffice.models.history import HistoryOperation, record
from backoffice.models.metering import Correction, ReadingOutOfRange
from backoffice.models.types import Money, Month
from backoffice.platform.extensions import db
from backoffice.platform.i18n import count_text, named_date, number_locale
from backoffice.platform.money import MAX_AMOUNT, format_number, round_money, shown, unit_places
from backoffice.posting import months
from backoffice.posting.locking import lock_customers
from backoffice.posting.post import refuse_if_closed
from backoffice.posting.refusals import CustomerClosed
from backoffice.services import ChangedMeanwhile, by_hand, transaction
from backoffice.services.metering import held
from backoffice.services.metering.repricing import reprice_readings
from backoffice.services.metering.values import MeteringError, checked_correction, checked_price, checked_volume

readings = MeterReading.__table__
calculations = TransactionCalculation.__table__
pricing = CustomerPricing.__table__
customers = Customer.__table__


@dataclass(frozen=True)
class Priced:
    """What a reading costs at the pricing in force on its date."""

    volume_flow_meter: Decimal
    meter_correction: Decimal
    volume_sm3: Decimal
    price_per_sm3: Decimal
    total_price: Decimal
    places: int
    """The places ``total_price`` is rounded to: the currency's unit."""
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
    held: ApprovalRequest | None = None
    """Not saved: it gives back more than the approval limit, and waits for a second admin as this request."""

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

    A change whose re-pricing gives back to the wallet more than the approval limit (``held``: what the readings
    cost now less what they cost at the new pricing) is not saved: it is saved as a pending request instead, in
    the impact's ``held``, and applied by :func:`apply_request` when a second admin approves it.
    """
    price_per_sm3, meter_correction = checked_price(price_per_sm3), checked_correction(meter_correction)
    asked = {
        "customer_id": customer_id,
        "effective_from": effective_from.isoformat(),
        "price_per_sm3": str(price_per_sm3),
        "meter_correction": str(meter_correction),
    }
    with transaction() as session:
        return _set_pricing(session.connection(), asked, user, version)


def set_pricings(given: list[tuple[int, date, Decimal, Decimal]], *, user=None) -> None:
    """Set each ``(customer_id, effective_from, price_per_sm3, meter_correction)`` as :func:`set_pricing` does, in
    one write: every price and correction checked first, the customers locked at once in the order of their ids.
    The rows of customers kept in real time who have no reading yet (an installation moving in) re-price nothing and
    are written together; each other row as :func:`set_pricing` writes it."""
    asked = [
        {
            "customer_id": customer_id,
            "effective_from": effective_from.isoformat(),
            "price_per_sm3": str(checked_price(price)),
            "meter_correction": str(checked_correction(correction)),
        }
        for customer_id, effective_from, price, correction in sorted(given, key=lambda row: (row[0], row[1]))
    ]
    with transaction() as session:
        connection = session.connection()
        customer_ids = sorted({one["customer_id"] for one in asked})
        lock_customers(connection, customer_ids)
        unread = set(
            connection.execute(
                select(customers.c.id).where(
                    customers.c.id.in_(customer_ids),
                    customers.c.use_realtime_calculation,
                    ~select(readings.c.id).where(readings.c.customer_id == customers.c.id).exists(),
                )
            ).scalars()
        )
        key = tuple_(pricing.c.customer_id, pricing.c.effective_from)
        keys = [(one["customer_id"], date.fromisoformat(one["effective_from"])) for one in asked]
        existing = set(connection.execute(select(pricing.c.customer_id, pricing.c.effective_from).where(key.in_(keys))))
        new = [
            one
            for one, (customer_id, effective_from) in zip(asked, keys, strict=True)
            if customer_id in unread and (customer_id, effective_from) not in existing
        ]
        for one in asked:
            if one not in new:
                _set_pricing(connection, one, user, None)
        _add_unread(connection, new)


def _add_unread(connection, asked: list[dict]) -> None:
    """Add new pricing rows of customers who have no reading, locked by the caller: nothing to re-price or hold."""
    if not asked:
        return
    _refuse_closed(connection, {one["customer_id"] for one in asked})
    values = [
        {
            "customer_id": one["customer_id"],
            "effective_from": date.fromisoformat(one["effective_from"]),
            "price_per_sm3": Decimal(one["price_per_sm3"]),
            "meter_correction": Decimal(one["meter_correction"]),
        }
        for one in asked
    ]
    connection.execute(insert(pricing), values)
    added = tuple_(pricing.c.customer_id, pricing.c.effective_from).in_(
        [(one["customer_id"], one["effective_from"]) for one in values]
    )
    record(connection, CustomerPricing, added, HistoryOperation.CREATE)


def _refuse_closed(connection, customer_ids) -> None:
    """Refuse the first closed customer among these (their locks held by the caller), as posting refuses one."""
    try:
        refuse_if_closed(connection, customer_ids)
    except CustomerClosed as closed:
        raise MeteringError(
            _("Customer %(code)s is closed: it takes no new pricing. An admin can reopen it.", code=closed.code)
        ) from None


def _set_pricing(connection, asked: dict, user, version: int | None, approving=None) -> Impact:
    customer_id, effective_from = asked["customer_id"], date.fromisoformat(asked["effective_from"])
    price_per_sm3, meter_correction = Decimal(asked["price_per_sm3"]), Decimal(asked["meter_correction"])
    lock_customers(connection, [customer_id])
    _refuse_closed(connection, [customer_id])
    existing = connection.execute(
        select(pricing.c.id, pricing.c.version).where(
            pricing.c.customer_id == customer_id, pricing.c.effective_from == effective_from
        )
    ).one_or_none()
    if version is not None and (existing is None or existing.version != version):
        raise ChangedMeanwhile
    priced_by = _priced_by(customer_id, effective_from)
    impact = _impact(connection, customer_id, price_per_sm3, meter_correction, priced_by)
    credits = {customer_id: -impact.purchases_change}
    row_version = existing.version if existing is not None else None
    if approving is not None:
        if row_version != approving.correction["row_version"]:
            raise held.ChangedSinceAsked(approving, _("the pricing row from %(date)s", date=named_date(effective_from)))
        held.as_asked(approving, credits)
    elif held.beyond_the_limit(credits):
        request = held.ask(
            ApprovalKind.PRICING_CHANGE,
            asked | {"row_version": row_version, "readings": impact.readings},
            credits,
            user=user,
            description=f"Pricing from {effective_from:%Y-%m-%d}: price {price_per_sm3}, correction "
            f"{meter_correction}; re-prices {impact.readings} reading(s)",
            where=_("the customer's pricing tab"),
            customer_id=customer_id,
        )
        return replace(impact, held=request)
    values = {"price_per_sm3": price_per_sm3, "meter_correction": meter_correction}
    if existing is None:
        connection.execute(insert(pricing).values(customer_id=customer_id, effective_from=effective_from, **values))
    else:
        connection.execute(
            update(pricing).where(pricing.c.id == existing.id).values(**values, version=pricing.c.version + 1)
        )
    saved = (pricing.c.customer_id == customer_id) & (pricing.c.effective_from == effective_from)
    record(connection, CustomerPricing, saved, HistoryOperation.EDIT if existing else HistoryOperation.CREATE)
    if not impact.deferred:
        reprice_readings(connection, priced_by, user, by_hand.APPROVED if approving is not None else None)
        return impact
    what = f"Pricing from {effective_from:%Y-%m-%d}: {impact.readings} readings to re-price"
    months.request(connection, customer_id, effective_from, RecalculationReason.PRICING_CHANGE, what, user)
    return impact


def said_request(request: ApprovalRequest) -> str:
    """What a held pricing change does, in the reader's language, from what it asked (one asked before the readings it
    re-prices were counted with it: as its description was written)."""
    asked = request.correction
    if "readings" not in asked:
        return request.description
    return _(
        "Pricing from %(date)s: price %(price)s, correction %(correction)s; re-prices %(readings)s reading(s)",
        date=named_date(date.fromisoformat(asked["effective_from"])),
        price=shown(Decimal(asked["price_per_sm3"])),
        correction=format_number(Decimal(asked["meter_correction"]), number_locale(), "0.000000"),
        readings=count_text(asked["readings"]),
    )


def apply_request(connection, request: ApprovalRequest, user: User) -> Impact:
    """Save the pricing the request asked for, by ``user``, in the caller's transaction (the approving one);
    refuses with ``held.ChangedSinceAsked`` when the row or what it gives back changed since it was asked."""
    return _set_pricing(connection, request.correction, user, None, approving=request)


def pricing_impact(customer_id: int, effective_from: date, price_per_sm3: Decimal, meter_correction: Decimal) -> Impact:
    """What :func:`set_pricing` would change, computed in the database; nothing is written."""
    price_per_sm3, meter_correction = checked_price(price_per_sm3), checked_correction(meter_correction)
    with db.engine.connect() as connection:
        return _impact(
            connection, customer_id, price_per_sm3, meter_correction, _priced_by(customer_id, effective_from)
        )


def price(connection, customer_id: int, reading_date: date, volume_flow_meter: Decimal) -> Priced:
    """Price a volume on a date; raises :class:`MeteringError` when no pricing applies."""
    volume = checked_volume(volume_flow_meter)
    row = connection.execute(pricing_in_force(customer_id, reading_date)).one_or_none()
    if row is None:
        raise MeteringError(
            _(
                "No pricing applies on %(date)s: add a price effective on or before that date first.",
                date=named_date(reading_date),
            )
        )
    try:
        volume_sm3 = volume_sm3_of(volume, row.meter_correction)
        places = unit_places()
        total_price = total_price_of(volume_sm3, row.price_per_sm3, places)
    except ReadingOutOfRange as error:
        raise MeteringError(str(error)) from None
    return Priced(
        volume_flow_meter=volume,
        meter_correction=row.meter_correction,
        volume_sm3=volume_sm3,
        price_per_sm3=row.price_per_sm3,
        total_price=total_price,
        places=places,
        pricing={
            "pricing_id": row.id,
            "effective_from": row.effective_from.isoformat(),
            "price_per_sm3": str(row.price_per_sm3),
            "meter_correction": str(row.meter_correction),
        },
    )


def _priced_by(customer_id: int, effective_from: date) -> ColumnElement:
    """The readings a pricing row from ``effective_from`` prices: up to the customer's next pricing row."""
    later = pricing.alias("later")
    following = (
        select(func.min(later.c.effective_from))
        .where(later.c.customer_id == customer_id, later.c.effective_from > effective_from)
        .scalar_subquery()
    )
    return and_(
        readings.c.customer_id == customer_id,
        readings.c.reading_date >= effective_from,
        following.is_(None) | (readings.c.reading_date < following),
    )


def _impact(connection, customer_id, price_per_sm3, meter_correction, priced_by: ColumnElement) -> Impact:
    """What pricing these readings so would change, and whether a job would do it (the one rule for both)."""
    realtime = connection.execute(
        select(customers.c.use_realtime_calculation).where(customers.c.id == customer_id)
    ).scalar_one()
    volume = volume_sm3_sql(readings.c.volume_flow_meter, literal(meter_correction, Correction))
    total = total_price_sql(volume, literal(price_per_sm3, Money), unit_places())
    count, before, after, largest, first = connection.execute(
        select(
            func.count(readings.c.id),
            func.coalesce(func.sum(calculations.c.total_price), 0),
            func.coalesce(func.sum(total), 0),
            func.max(total),
            func.min(readings.c.reading_date),
        )
        .select_from(readings.outerjoin(calculations, calculations.c.reading_id == readings.c.id))
        .where(priced_by)
    ).one()
    deferred = not realtime or count > current_app.config["REPRICE_IN_REQUEST_LIMIT"]
    if not count:
        return Impact(0, None, Decimal("0.00"), Decimal("0.00"), deferred)
    if Decimal(largest) > MAX_AMOUNT:
        raise MeteringError(
            _("At this price a reading's total would exceed %(limit)s, the most one holds.", limit=shown(MAX_AMOUNT))
        )
    return Impact(count, str(Month.of(first)), round_money(Decimal(before)), round_money(Decimal(after)), deferred)
