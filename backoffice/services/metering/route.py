"""A meter reader's route for a day: the meters of an account manager's customers, each with what it was read last
and how much it usually uses, to read them all in one sheet.

A meter's usual use is its average daily use over its readings of the last :data:`USUAL_DAYS` days before the day
(the volume of its readings after the first of them, over the days between the first and the last): the volume
usual for the day is that times the days since it was last read. A reading beyond :data:`FAR_FACTOR` times the
usual volume, or below a :data:`FAR_FACTOR`-th of it, is far from usual: the clerk confirms it before it is saved.

A meter whose own readings do not tell (just moved in, read once, read as volumes) is bounded by the meters of the
sheet at the same price per Sm³ (its tariff), else by every meter of the sheet: the median of their daily use, times
the days since it was last read or came to its customer (:attr:`RouteRow.typical`). A reading beyond
:data:`FAR_FACTOR` times that is held for the clerk to confirm too; a lower one is not, as a meter's first weeks often
are. A rollover is always confirmed: the sheet says the volume it would mean.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from statistics import median

from sqlalchemy import and_, func, select, true

from backoffice.models import (
    Customer,
    Meter,
    MeterAssignment,
    MeterReading,
    MeterStatus,
    TransactionCalculation,
    covers,
)
from backoffice.models.formulas import pricing_of
from backoffice.models.metering import VOLUME_PLACES
from backoffice.models.types import one_of
from backoffice.platform.extensions import db
from backoffice.services.metering.index import LastIndex

readings = MeterReading.__table__
calculations = TransactionCalculation.__table__
assignments = MeterAssignment.__table__
meters = Meter.__table__
customers = Customer.__table__

USUAL_DAYS = 180
"""How far back a meter's readings tell its usual daily use."""
FAR_FACTOR = 3
"""A reading beyond this many times its usual volume, or below this fraction of it, is far from usual."""


@dataclass(frozen=True)
class Recorded:
    """The meter's reading of the route's day, already recorded."""

    id: int
    volume: Decimal
    meter_index: Decimal | None
    cost: Decimal | None


@dataclass(frozen=True)
class RouteRow:
    """A meter on the route: whose it is on the day, its last index and last reading's date, the volume usual for the
    day (``None``: its readings do not tell), and its reading of the day if one is recorded."""

    meter_id: int
    serial: str
    customer_code: str
    customer_name: str
    last_index: LastIndex | None
    last_read_on: date | None
    usual: Decimal | None
    recorded: Recorded | None
    typical: Decimal | None = None
    """Where the meter's own readings tell no usual volume: what meters like it use in as many days (the sheet's
    meters at its price per Sm³, else all of the sheet's), the bound a reading is held beyond."""
    daily: Decimal | None = None
    """Its own usual daily use, when its readings tell it."""
    tariff: Decimal | None = None
    """Its customer's price per Sm³ on the day."""
    since: date | None = None
    """The day its volume counts from: its last reading, else the day it came to its customer."""


NO_MANAGER = 0
"""The route of the customers no account manager has."""


def routes() -> list[str]:
    """The routes customers are kept on, by name."""
    return list(
        db.session.scalars(
            select(customers.c.route).where(customers.c.route.is_not(None)).distinct().order_by(customers.c.route)
        )
    )


def kept_route(route: str) -> bool:
    """Whether a customer is on the route (one probe of the route's index)."""
    return db.session.scalar(select(customers.c.id).where(customers.c.route == route).limit(1)) is not None


def route_sheet(
    on: date, *, manager_id: int | None = None, route: str | None = None, meter_ids: list[int] | None = None
) -> list[RouteRow]:
    """The meters in service held on ``on`` by the customers on the ``route``, in the order of its stops (a customer
    with no stop after them), or by those of the account manager (:data:`NO_MANAGER`: of the customers with none),
    by customer; then by serial. Each with what the route sheet shows of it; one statement. ``meter_ids``: these
    meters alone (a row checked as a cell is left), with no ``typical`` of their own: that is the sheet's."""
    before = readings.alias("before")
    last = (
        select(before.c.reading_date)
        .where(before.c.meter_id == meters.c.id, before.c.reading_date < on)
        .order_by(before.c.reading_date.desc(), before.c.id.desc())
        .limit(1)
        .lateral("last")
    )
    indexed = readings.alias("indexed")
    last_index = (
        select(indexed.c.reading_date, indexed.c.meter_index)
        .where(indexed.c.meter_id == meters.c.id, indexed.c.reading_date < on, indexed.c.meter_index.is_not(None))
        .order_by(indexed.c.reading_date.desc(), indexed.c.id.desc())
        .limit(1)
        .lateral("last_index")
    )
    recent = readings.alias("recent")
    first_seen = (
        select(func.min(recent.c.reading_date).label("first"))
        .where(
            recent.c.meter_id == meters.c.id,
            recent.c.reading_date < on,
            recent.c.reading_date >= on - timedelta(days=USUAL_DAYS),
        )
        .lateral("first_seen")
    )
    after_first = readings.alias("after_first")
    usual = (
        select(
            func.max(after_first.c.reading_date).label("latest"),
            func.sum(after_first.c.volume_flow_meter).label("used"),
        )
        .where(
            after_first.c.meter_id == meters.c.id,
            after_first.c.reading_date < on,
            after_first.c.reading_date > first_seen.c.first,
        )
        .lateral("usual")
    )
    today = readings.alias("today")
    recorded = (
        select(today.c.id, today.c.volume_flow_meter, today.c.meter_index, calculations.c.total_price)
        .select_from(today.outerjoin(calculations, calculations.c.reading_id == today.c.id))
        .where(today.c.meter_id == meters.c.id, today.c.reading_date == on)
        .order_by(today.c.id.desc())
        .limit(1)
        .lateral("recorded")
    )
    order = [customers.c.code, meters.c.serial]
    if meter_ids is not None:
        whose = one_of(meters.c.id, meter_ids)
    elif route is not None:
        whose = customers.c.route == route
        order.insert(0, customers.c.route_stop.asc().nulls_last())
    elif manager_id == NO_MANAGER:
        whose = customers.c.account_manager_id.is_(None)
    else:
        whose = customers.c.account_manager_id == manager_id
    rows = db.session.execute(
        select(
            meters.c.id,
            meters.c.serial,
            customers.c.code,
            customers.c.name,
            last_index.c.reading_date.label("index_on"),
            last_index.c.meter_index,
            last.c.reading_date.label("last_on"),
            first_seen.c.first,
            usual.c.latest,
            usual.c.used,
            recorded.c.id.label("recorded_id"),
            recorded.c.volume_flow_meter.label("recorded_volume"),
            recorded.c.meter_index.label("recorded_index"),
            recorded.c.total_price,
            assignments.c.started_on,
            pricing_of("price_per_sm3", customers.c.id, on).label("tariff"),
        )
        .select_from(
            assignments.join(meters, meters.c.id == assignments.c.meter_id)
            .join(customers, customers.c.id == assignments.c.customer_id)
            .outerjoin(last, true())
            .outerjoin(last_index, true())
            .outerjoin(first_seen, true())
            .outerjoin(usual, true())
            .outerjoin(recorded, true())
        )
        .where(and_(covers(assignments.c, on), meters.c.status == MeterStatus.ACTIVE.value, whose))
        .order_by(*order)
    )
    found = [
        RouteRow(
            row.id,
            row.serial,
            row.code,
            row.name,
            LastIndex(row.index_on, row.meter_index) if row.index_on is not None else None,
            row.last_on,
            _usual(_daily(row.first, row.latest, row.used), row.latest, on),
            Recorded(row.recorded_id, row.recorded_volume, row.recorded_index, row.total_price)
            if row.recorded_id is not None
            else None,
            daily=_daily(row.first, row.latest, row.used),
            tariff=row.tariff,
            since=row.last_on or row.started_on,
        )
        for row in rows
    ]
    return found if meter_ids is not None else _bounded(found, on)


def _bounded(rows: list[RouteRow], on: date) -> list[RouteRow]:
    """Each row whose own readings tell no usual volume, with what the sheet's meters like it use (its ``typical``)."""
    known = [row for row in rows if row.daily is not None]
    overall = median(row.daily for row in known) if known else None
    by_tariff: dict[Decimal | None, list[Decimal]] = {}
    for row in known:
        by_tariff.setdefault(row.tariff, []).append(row.daily)
    bounded = []
    for row in rows:
        peers = by_tariff.get(row.tariff)
        daily = median(peers) if peers else overall
        if row.usual is None and daily is not None and row.since is not None and row.since < on:
            row = replace(row, typical=(daily * (on - row.since).days).quantize(VOLUME_PLACES, rounding=ROUND_HALF_UP))
        bounded.append(row)
    return bounded


def _daily(first: date | None, latest: date | None, used: Decimal | None) -> Decimal | None:
    """The daily use between the first and the latest reading of the window."""
    if first is None or latest is None or used is None or latest <= first:
        return None
    return used / (latest - first).days


def _usual(daily: Decimal | None, latest: date | None, on: date) -> Decimal | None:
    """The volume usual for ``on``: the daily use times the days since the latest reading."""
    if daily is None or latest is None:
        return None
    return (daily * (on - latest).days).quantize(VOLUME_PLACES, rounding=ROUND_HALF_UP)


def far_from_usual(volume: Decimal, usual: Decimal | None) -> bool:
    """Whether the volume is beyond :data:`FAR_FACTOR` times the usual one, or below its :data:`FAR_FACTOR`-th."""
    if usual is None or usual <= 0:
        return False
    return volume > usual * FAR_FACTOR or volume * FAR_FACTOR < usual


def beyond_typical(volume: Decimal, row: RouteRow) -> bool:
    """Whether a meter whose readings tell no usual volume reads beyond :data:`FAR_FACTOR` times its typical one."""
    return row.usual is None and row.typical is not None and volume > row.typical * FAR_FACTOR
