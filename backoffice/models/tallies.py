"""Tallies: sums and counts over every customer, invoice or month that the database keeps as it writes them.

The home page's figures, which summing their rows made grow with the customers. Each figure's definition is one SQL
function of a row of the table it counts (``<table>_tallies``, migration 0085), read by the table's statement trigger,
which appends what a statement changed to ``tally_changes`` (never waiting for another writer), by
``tallies_expected()`` (the nightly's ``home_tallies`` check) and by ``tallies_rebuild()``. ``tallies_fold`` folds the
changes into ``tallies`` once 64 wait, from the triggers, in the one transaction that holds its advisory lock. A
figure is its tally plus its changes not folded yet (:func:`kept`): a few rows, however many it counts.
"""

from __future__ import annotations

import enum
from decimal import Decimal

from sqlalchemy import BigInteger, Identity, Index, Numeric, SmallInteger, String, func, select, text, union_all
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.platform.extensions import db


class Figure(enum.IntEnum):
    """What is tallied; a monthly figure has a tally per ``YYYY-MM``, the others one of period ``''``."""

    OWED = 1
    """What postpaid customers owe: their ``amount_due``, summed."""
    OWING = 2
    """How many customers owe something."""
    OVERPAID = 3
    """What they paid beyond what they owe: their ``overpayment``, summed."""
    SUSPENDED = 4
    """How many customers are suspended."""
    VOLUME_SM3 = 5
    """A month's Sm³, as the monthly balances count it."""
    PURCHASES = 6
    """What a month's purchases cost, as the monthly balances count them."""
    INVOICED = 7
    """A month's invoices (by issue date) not withdrawn, summed."""


class Tally(db.Model):
    """A figure of a period, folded from its changes."""

    __tablename__ = "tallies"

    figure: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    period: Mapped[str] = mapped_column(String(7), primary_key=True, server_default="")
    value: Mapped[Decimal] = mapped_column(Numeric, server_default=text("0"))


class TallyChange(db.Model):
    """What a statement changed of a figure, not folded into its tally yet."""

    __tablename__ = "tally_changes"
    __table_args__ = (Index("ix_tally_changes_figure", "figure", "period"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    figure: Mapped[int] = mapped_column(SmallInteger)
    period: Mapped[str] = mapped_column(String(7), server_default="")
    value: Mapped[Decimal] = mapped_column(Numeric)


def kept():
    """Each figure of each period as kept: its tally plus its changes not folded yet (``figure``, ``period``,
    ``value``), a subquery."""
    tallies, changes = Tally.__table__, TallyChange.__table__
    both = union_all(
        select(tallies.c.figure, tallies.c.period, tallies.c.value),
        select(changes.c.figure, changes.c.period, changes.c.value),
    ).subquery("both")
    return (
        select(both.c.figure, both.c.period, func.sum(both.c.value).label("value"))
        .group_by(both.c.figure, both.c.period)
        .subquery("kept")
    )


def expected():
    """Each figure of each period summed from every row it counts (``tallies_expected()``, migration 0085)."""
    return func.tallies_expected().table_valued("figure", "period", "value", name="expected")


def figures(period: str) -> dict[Figure, Decimal]:
    """The figures of no month and those of ``period`` (``YYYY-MM``), as kept, in one statement; a figure nothing
    was counted in is 0."""
    held = kept()
    rows = db.session.execute(select(held.c.figure, held.c.value).where(held.c.period.in_(["", period])))
    found = {Figure(figure): Decimal(value) for figure, value in rows}
    return {figure: found.get(figure, Decimal(0)) for figure in Figure}


def rebuild(connection) -> None:
    """Every tally written again from what it counts (``tallies_rebuild()``): after rows were written with the
    triggers off, and the ``home_tallies`` check's fix."""
    connection.execute(select(func.tallies_rebuild()))
