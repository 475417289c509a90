"""A reading given as the meter's index: its volume derived from the index it counts from, in one place.

The volume is the index less the meter's previous index. A lower index is refused unless the reading says the meter
rolled over (its digits given) or was replaced (the new meter's start index given), and a reading by index dated
before the meter's latest one is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel.numbers import format_decimal
from flask_babel import gettext as _
from sqlalchemy import Date, Integer, and_, select, true
from sqlalchemy.engine import Connection

from backoffice.models.metering import MAX_VOLUME, IndexFrom, MeterReading
from backoffice.models.types import given_rows
from backoffice.platform.i18n import named_date, number_locale
from backoffice.services.metering.values import MeteringError, checked_volume

readings = MeterReading.__table__

MAX_DIGITS = 14
"""The most digits before the decimal separator a volume's column holds."""

NO_INDEX = {"meter_index": None, "index_from": None, "counted_from": None, "meter_digits": None}
"""The columns of a reading given as a volume."""


@dataclass(frozen=True)
class MeterIndex:
    """A reading given as the meter's index.

    ``value``: the index as read. ``rollover_digits``: the meter rolled over past its last digit since it was last
    read; its digits before the decimal separator (a 5-digit meter goes from 99999 to 00000). ``start_index``: the
    meter was replaced since it was last read, and this is the new meter's index when it was put in place; or the
    meter has no earlier reading by index, and this is its index to count from. At most one of the two.
    """

    value: Decimal
    rollover_digits: int | None = None
    start_index: Decimal | None = None


@dataclass(frozen=True)
class LastIndex:
    """A reading by index of the meter: its date and index."""

    reading_date: date
    index: Decimal


@dataclass(frozen=True)
class Counted:
    """A reading's volume as its index makes it, and what the reading keeps of how."""

    volume: Decimal
    meter_index: Decimal
    index_from: IndexFrom
    counted_from: Decimal
    meter_digits: int | None = None

    def columns(self) -> dict:
        """The reading's columns that say it was given by index."""
        return {
            "meter_index": self.meter_index,
            "index_from": self.index_from,
            "counted_from": self.counted_from,
            "meter_digits": self.meter_digits,
        }


def counted_by_index(connection: Connection, meter_id: int, on: date, given: MeterIndex, serial: str) -> Counted:
    """The volume of a reading of the meter dated ``on`` given as its index (:func:`derive`, from the meter's readings
    by index); raises :class:`MeteringError` with why not."""
    previous, later = around(connection, [(meter_id, on)])[meter_id, on]
    refuse_later(later, serial)
    return derive(given, previous, serial)


def around(connection: Connection, asked: list[tuple[int, date]]) -> dict[tuple[int, date], tuple]:
    """For each (meter, date) asked, the meter's latest reading by index dated on or before it and its latest one
    dated after it (each a :class:`LastIndex` or ``None``), in one statement however many are asked."""
    if not asked:
        return {}
    keys = given_rows("asked", sorted(set(asked)), meter_id=Integer, reading_date=Date)
    by_index = and_(readings.c.meter_id == keys.c.meter_id, readings.c.meter_index.is_not(None))
    previous = (
        select(readings.c.reading_date, readings.c.meter_index)
        .where(by_index, readings.c.reading_date <= keys.c.reading_date)
        .order_by(readings.c.reading_date.desc(), readings.c.id.desc())
        .limit(1)
        .lateral("previous")
    )
    later = (
        select(readings.c.reading_date, readings.c.meter_index)
        .where(by_index, readings.c.reading_date > keys.c.reading_date)
        .order_by(readings.c.reading_date.desc(), readings.c.id.desc())
        .limit(1)
        .lateral("later")
    )
    rows = connection.execute(
        select(
            keys.c.meter_id,
            keys.c.reading_date,
            previous.c.reading_date,
            previous.c.meter_index,
            later.c.reading_date,
            later.c.meter_index,
        ).select_from(keys.outerjoin(previous, true()).outerjoin(later, true()))
    )
    return {
        (meter_id, on): (
            LastIndex(before_on, before) if before_on is not None else None,
            LastIndex(after_on, after) if after_on is not None else None,
        )
        for meter_id, on, before_on, before, after_on, after in rows
    }


def refuse_later(later: LastIndex | None, serial: str) -> None:
    """Refuse a reading by index dated before the meter's latest one by index (``later``)."""
    if later is not None:
        raise MeteringError(
            _(
                "Meter %(serial)s has a reading by index dated %(date)s, after this one: the gas up to it was counted "
                "already. Give this reading as a volume.",
                serial=serial,
                date=named_date(later.reading_date),
            )
        )


def derive(given: MeterIndex, previous: LastIndex | None, serial: str) -> Counted:
    """The volume of a reading of meter ``serial`` given as ``given``, the meter's previous reading by index being
    ``previous``; raises :class:`MeteringError` with why not."""
    given = checked(given)
    index = given.value
    if given.start_index is not None:
        start = given.start_index
        if index < start:
            raise MeteringError(
                _(
                    "The index %(index)s is lower than the start index %(start)s.",
                    index=shown(index),
                    start=shown(start),
                )
            )
        how = IndexFrom.FIRST if previous is None else IndexFrom.REPLACED
        return Counted(checked_volume(index - start), index, how, start)
    if previous is None:
        raise MeteringError(
            _(
                "Meter %(serial)s has no earlier reading by index: give the index it started from (its start "
                "index), or the reading as a volume.",
                serial=serial,
            )
        )
    said = {"index": shown(index), "serial": serial, "previous": shown(previous.index)}
    said["date"] = named_date(previous.reading_date)
    if given.rollover_digits is None:
        if index < previous.index:
            raise MeteringError(
                _(
                    "The index %(index)s is lower than meter %(serial)s's previous index, %(previous)s on %(date)s: if "
                    "the meter rolled over, or was replaced, say so.",
                    **said,
                )
            )
        return Counted(checked_volume(index - previous.index), index, IndexFrom.PREVIOUS, previous.index)
    digits = given.rollover_digits
    turn = Decimal(10) ** digits
    if index >= previous.index:
        raise MeteringError(
            _(
                "The index %(index)s is not lower than meter %(serial)s's previous index, %(previous)s on %(date)s: "
                "the meter did not roll over.",
                **said,
            )
        )
    if previous.index >= turn:
        raise MeteringError(
            _(
                "Meter %(serial)s's previous index, %(previous)s, has more than %(digits)s digits: check the meter's "
                "digits.",
                serial=serial,
                previous=shown(previous.index),
                digits=digits,
            )
        )
    return Counted(checked_volume(index + turn - previous.index), index, IndexFrom.ROLLED_OVER, previous.index, digits)


def checked(given: MeterIndex) -> MeterIndex:
    """The index, start index and digits as typed, checked (raises :class:`MeteringError`), whatever the meter's
    readings: each a number a volume's column holds, the digits from 1 to 14, and a rollover or a replacement."""
    if given.rollover_digits is not None and given.start_index is not None:
        raise MeteringError(_("A meter either rolled over or was replaced: say which."))
    return MeterIndex(
        checked_meter_index(given.value),
        None if given.rollover_digits is None else checked_digits(given.rollover_digits),
        None if given.start_index is None else checked_start_index(given.start_index),
    )


def checked_index(value, what: str) -> Decimal:
    """An index as typed (``what`` names it: the meter's index, the start index), checked as a volume is."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise MeteringError(_("%(what)s must be a number.", what=what))
    if value < 0:
        raise MeteringError(_("%(what)s must not be negative.", what=what))
    if value > MAX_VOLUME:
        raise MeteringError(_("%(what)s is too large (at most 14 digits before the decimal separator).", what=what))
    if value != value.quantize(Decimal("0.0001")):
        raise MeteringError(_("%(what)s has at most 4 decimal places.", what=what))
    return value.quantize(Decimal("0.0001"))


def checked_digits(value) -> int:
    """A meter's digits before the decimal separator, as typed (a whole number, or a number with nothing after its
    decimal separator)."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value() and value < 100:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DIGITS:
        raise MeteringError(_("A meter's digits are a whole number from 1 to 14."))
    return value


def checked_meter_index(value) -> Decimal:
    """The meter's index as typed."""
    return checked_index(value, _("The meter's index"))


def checked_start_index(value) -> Decimal:
    """A start index as typed."""
    return checked_index(value, _("The start index"))


def shown(value: Decimal) -> str:
    """An index as the reader's locale writes a number."""
    return format_decimal(value, locale=number_locale())
