"""Metering: effective-dated pricing, meter readings, and the calculation derived from each reading.

A reading's price is the customer's pricing row with the latest ``effective_from`` on or
before the reading date. Its calculation: ``volume_sm3 = volume_flow_meter × meter_correction``
rounded to 4 places, ``total_price = volume_sm3 × price_per_sm3`` rounded to the currency's unit, both half up.
The formulas are defined here once, in Python for the write path and in SQL for the check.
"""

import enum
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy import select as sql_select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.functions import FunctionElement

from backoffice.models.billing import Meter, MeterAssignment, covers
from backoffice.models.types import Money, str_enum, utcnow
from backoffice.models.wallet import BalanceTransaction
from backoffice.platform.extensions import db
from backoffice.platform.i18n import number_locale
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.platform.money import MAX_AMOUNT, round_money, shown

Volume = Numeric(18, 4, asdecimal=True)
Correction = Numeric(12, 6, asdecimal=True)
MAX_VOLUME = Decimal("99999999999999.9999")
"""The largest volume a ``NUMERIC(18,4)`` column holds."""
VOLUME_PLACES = Decimal("0.0001")
READING = "meter_reading"
"""The ``reference_type`` of the wallet movements that charge for a reading."""


class CustomerPricing(db.Model):
    __tablename__ = "customer_pricing"
    __versioned__ = {"exclude": ["version"]}
    __table_args__ = (
        UniqueConstraint("customer_id", "effective_from", name="uq_customer_pricing_customer_from"),
        CheckConstraint("price_per_sm3 >= 0", name="price_not_negative"),
        CheckConstraint("meter_correction > 0", name="correction_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    effective_from: Mapped[date] = mapped_column(Date)
    price_per_sm3: Mapped[Decimal] = mapped_column(Money)
    meter_correction: Mapped[Decimal] = mapped_column(Correction)
    version: Mapped[int] = mapped_column(server_default=text("1"))
    """Moved by every change of the row (``set_pricing`` moves it by hand: it writes with Core)."""

    __mapper_args__ = {"version_id_col": version}


class IndexFrom(enum.StrEnum):
    """What the volume of a reading given as the meter's index is counted from (``counted_from``)."""

    PREVIOUS = "previous"
    """The meter's previous index: volume = index − previous index."""
    ROLLED_OVER = "rolled_over"
    """The previous index, the meter having rolled over past its last digit since: volume = index + 10^digits −
    previous index (``meter_digits``: its digits before the decimal separator)."""
    REPLACED = "replaced"
    """The start index of the meter put in place of the one last read: volume = index − start index."""
    FIRST = "first"
    """The start index of a meter with no earlier reading by index: volume = index − start index."""

    @property
    def label(self) -> str:
        """What the volume was counted from, in the reader's language (English outside a request)."""
        return {
            IndexFrom.PREVIOUS: _l("the previous index"),
            IndexFrom.ROLLED_OVER: _l("the previous index, the meter having rolled over"),
            IndexFrom.REPLACED: _l("the start index of a meter put in place of another"),
            IndexFrom.FIRST: _l("the start index of a meter's first reading by index"),
        }[self]


READING_INDEX_CHECKS = {
    "index_whole": "(meter_index IS NULL) = (index_from IS NULL) AND (meter_index IS NULL) = (counted_from IS NULL)",
    "index_from_known": "index_from IN ('previous', 'rolled_over', 'replaced', 'first')",
    "index_not_negative": "meter_index >= 0 AND counted_from >= 0",
    "digits_when_rolled_over": (
        "(meter_digits IS NOT NULL) = (index_from IS NOT DISTINCT FROM 'rolled_over') AND meter_digits BETWEEN 1 AND 14"
    ),
    "volume_from_index": (
        "index_from IS NULL"
        " OR (index_from = 'rolled_over' AND meter_index < counted_from"
        " AND counted_from < power(10::numeric, meter_digits)"
        " AND volume_flow_meter = meter_index + power(10::numeric, meter_digits) - counted_from)"
        " OR (index_from <> 'rolled_over' AND meter_index >= counted_from"
        " AND volume_flow_meter = meter_index - counted_from)"
    ),
}
"""What the database holds of a reading given as the meter's index (migration ``0056``): the index, what its
volume is counted from and how, all or none; and the volume exactly what they make."""


class MeterReading(db.Model):
    __tablename__ = "meter_readings"
    __versioned__ = {"exclude": ["version"]}
    __table_args__ = (
        CheckConstraint("volume_flow_meter >= 0", name="volume_not_negative"),
        *(CheckConstraint(condition, name=name) for name, condition in READING_INDEX_CHECKS.items()),
        Index("ix_meter_readings_customer_date", "customer_id", "reading_date"),
        Index("ix_meter_readings_meter_id", "meter_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    reading_date: Mapped[date] = mapped_column(Date)
    volume_flow_meter: Mapped[Decimal] = mapped_column(Volume)
    """The volume stored, priced and charged, whether given as such or derived from the meter's index."""
    note: Mapped[str] = mapped_column(String(DESCRIPTION_LENGTH), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(server_default=text("1"))
    """Moved by every change of the row (the services move it by hand: they write with Core)."""
    meter_index: Mapped[Decimal | None] = mapped_column(Volume)
    """The meter's index as read; ``None`` for a reading given as a volume."""
    index_from: Mapped[IndexFrom | None] = mapped_column(str_enum(IndexFrom, "index_from"))
    """What the volume was counted from, for a reading given as the meter's index."""
    counted_from: Mapped[Decimal | None] = mapped_column(Volume)
    """The index the volume was counted from: the meter's previous index, or the start index of a new meter."""
    meter_digits: Mapped[int | None] = mapped_column(SmallInteger)
    """A meter that rolled over: its digits before the decimal separator."""

    meter: Mapped[Meter] = relationship()
    calculation: Mapped["TransactionCalculation | None"] = relationship(uselist=False, viewonly=True)

    __mapper_args__ = {"version_id_col": version}


class TransactionCalculation(db.Model):
    """What a reading costs, with the pricing it was priced at (one row per reading)."""

    __tablename__ = "transaction_calculations"
    __table_args__ = (Index("ix_transaction_calculations_customer_month", "customer_id", "year_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    reading_id: Mapped[int] = mapped_column(ForeignKey("meter_readings.id", ondelete="CASCADE"), unique=True)
    year_month: Mapped[str] = mapped_column(String(7))
    transaction_date: Mapped[date] = mapped_column(Date)
    volume_flow_meter: Mapped[Decimal] = mapped_column(Volume)
    meter_correction: Mapped[Decimal] = mapped_column(Correction)
    volume_sm3: Mapped[Decimal] = mapped_column(Volume)
    price_per_sm3: Mapped[Decimal] = mapped_column(Money)
    total_price: Mapped[Decimal] = mapped_column(Money)
    places: Mapped[int] = mapped_column(SmallInteger, server_default=text("2"))
    """The places ``total_price`` was rounded to: the currency's unit when it was priced (cents before migration
    0051 for every currency)."""
    pricing: Mapped[dict] = mapped_column(JSON, default=dict)
    calculated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReadingOutOfRange(ValueError):
    """A reading's volume in Sm³ or total would not fit its column; it is refused before anything is written."""


def volume_sm3_of(volume_flow_meter: Decimal, meter_correction: Decimal) -> Decimal:
    volume = volume_flow_meter * meter_correction
    if volume > MAX_VOLUME:
        limit = format_decimal(MAX_VOLUME, locale=number_locale())
        raise ReadingOutOfRange(_("The volume in Sm³ would exceed %(limit)s, the most a reading holds.", limit=limit))
    return volume.quantize(VOLUME_PLACES, rounding=ROUND_HALF_UP)


def total_price_of(volume_sm3: Decimal, price_per_sm3: Decimal, places: int) -> Decimal:
    """What a reading costs, rounded once to ``places`` (its currency's unit, :func:`~backoffice.platform.money.
    unit_places`)."""
    total = volume_sm3 * price_per_sm3
    if total > MAX_AMOUNT:
        raise ReadingOutOfRange(
            _("The reading's total would exceed %(limit)s, the most a reading holds.", limit=shown(MAX_AMOUNT))
        )
    return round_money(total, places)


def pricing_in_force(customer_id, on_date):
    """The customer's pricing row in force on a date: the latest ``effective_from`` on or before it.

    ``customer_id`` and ``on_date`` are values or columns (the check correlates them to readings).
    """
    pricing = CustomerPricing.__table__
    return (
        sql_select(pricing)
        .where(pricing.c.customer_id == customer_id, pricing.c.effective_from <= on_date)
        .order_by(pricing.c.effective_from.desc())
        .limit(1)
    )


def charged_for_readings():
    """What each wallet was charged for each reading, net of corrections and reversals:
    ``(reading_id, customer_id, amount)``.

    Read from the ledger rows that refer to the reading, not from its calculation, which is what may be wrong.
    """
    ledger = BalanceTransaction.__table__
    return (
        sql_select(
            ledger.c.reference_id.label("reading_id"),
            ledger.c.customer_id,
            (-func.sum(ledger.c.signed_amount)).label("amount"),
        )
        .where(ledger.c.reference_type == READING)
        .group_by(ledger.c.reference_id, ledger.c.customer_id)
    )


def whose_readings():
    """Each reading with ``holder_id``, whose it is: the customer who held its meter on its date, or the customer
    it was recorded for when no assignment covers the date (nothing then says whose else it would be).

    A join, not a lookup per reading: a meter's periods never overlap, so it finds one period at most.
    """
    readings, held = MeterReading.__table__, MeterAssignment.__table__.alias("held")
    holder = func.coalesce(held.c.customer_id, readings.c.customer_id).label("holder_id")
    period = (held.c.meter_id == readings.c.meter_id) & covers(held.c, readings.c.reading_date)
    return sql_select(readings, holder).select_from(readings.outerjoin(held, period))


class pricing_snapshot(FunctionElement):
    """``pricing_snapshot(id, effective_from, price_per_sm3, meter_correction)``: the pricing a calculation was
    priced at, as the JSON the write path stores (``{"pricing_id": 7, "effective_from": "2026-11-01",
    "price_per_sm3": "7500.00", "meter_correction": "1.012345"}``), built in SQL for a set-based re-pricing."""

    type = JSON()
    inherit_cache = True
    name = "pricing_snapshot"


@compiles(pricing_snapshot)
def _pricing_snapshot(element, compiler, **kw):
    pricing_id, since, price, correction = (compiler.process(clause, **kw) for clause in element.clauses)
    return (
        f"json_build_object('pricing_id', {pricing_id}, 'effective_from', to_char({since}, 'YYYY-MM-DD'), "
        f"'price_per_sm3', CAST({price} AS TEXT), 'meter_correction', CAST({correction} AS TEXT))"
    )
