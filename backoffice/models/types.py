"""Column types and portable SQL functions shared by every module's models."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import (
    ColumnElement,
    Date,
    Enum,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    any_,
    column,
    func,
    literal,
    literal_column,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement, GenericFunction
from sqlalchemy.types import TypeEngine

Money = Numeric(15, 2, asdecimal=True)
"""Every stored amount: ``NUMERIC(15,2)``; Python sees ``Decimal``."""
Rate = Numeric(5, 2, asdecimal=True)
"""A tax rate in per cent (11.00 for 11 %)."""
Balance = Numeric(20, 2, asdecimal=True)
"""A balance or total that accumulates since inception (the books, the wallets, the customers' and meters'
totals, the months, the targets): ``NUMERIC(20,2)``, so that a large distributor never meets the limit."""


def folded(searched: ColumnElement) -> ColumnElement:
    """What the search matches of a column, and its GIN trigram indexes hold: ``search_folded(column)``, the column
    in small letters (``pg_trgm`` folds case itself: the column's trigrams), a function of its own (migration 0079).
    A search index on the column itself also served ``column = …``, which the planner then read from it for a key's
    lookup (its cost misjudged: seconds for a list of keys, where the key's own index takes a millisecond); and one on
    ``lower(column)`` would be the GiST index's expression, read for the order alone (:func:`nearest_index`)."""
    return func.search_folded(searched, type_=String)


def folded_text(text: str) -> ColumnElement:
    """What is typed, folded as the columns it is matched with are (:func:`folded`): without case or marks."""
    return folded(literal(text, String))


def trigram_index(table: str, *columns: str) -> Index:
    """``ix_<table>_search``: a GIN index of the columns' trigrams (``pg_trgm``), of what the search matches of them
    (:func:`folded`), which it reads to find a record by part of what it holds, typed with a slip (``%>``,
    ``ILIKE``; migrations 0059, 0079)."""
    return Index(
        f"ix_{table}_search",
        *(folded(column(name)).label(name) for name in columns),
        postgresql_using="gin",
        postgresql_ops=dict.fromkeys(columns, "gin_trgm_ops"),
    )


def nearest_index(table: str, name: str, *, optional: bool = False) -> Index:
    """``ix_<table>_<name>_nearest``: a GiST index of the column's trigrams (``pg_trgm``), which the search reads in
    order of likeness to what was typed (``lower(<name>) <->> …``, migration 0069). It is on ``lower(<name>)``, whose
    trigrams are the column's (``pg_trgm`` folds case), so that the planner reads it for that order alone: whether a
    column has a word like what was typed is the GIN index's to answer (:func:`trigram_index`), which reads the
    trigrams typed alone where a GiST index of keys alike reads most of itself. ``optional``: a column a row may leave
    empty, indexed for the rows that fill it alone (a row written without one writes nothing to it)."""
    return Index(
        f"ix_{table}_{name}_nearest",
        func.lower(column(name)).label(name),
        postgresql_using="gist",
        postgresql_ops={name: "gist_trgm_ops"},
        postgresql_where=text(f"{name} IS NOT NULL") if optional else None,
    )


def str_enum(cls: type[enum.Enum], name: str) -> Enum:
    """A string enum column stored as its values (a VARCHAR with no database enum type)."""
    return Enum(
        cls, name=name, native_enum=False, length=20, values_callable=lambda members: [m.value for m in members]
    )


def given_rows(name: str, rows: Sequence[tuple], **columns: TypeEngine):
    """Rows the application gives a statement, as a table of it named ``name`` with these typed ``columns``: one
    array a column, unnested, so that the statement is compiled once however many rows it is given (a ``VALUES``
    list is a bind parameter a cell, its statement compiled again for each number of rows)."""
    arrays = [literal([row[at] for row in rows], postgresql.ARRAY(kind)) for at, kind in enumerate(columns.values())]
    return (
        func.unnest(*arrays)
        .table_valued(*(column(label, kind) for label, kind in columns.items()))
        .render_derived(name)
    )


def one_of(column: ColumnElement, values: Iterable) -> ColumnElement[bool]:
    """``column`` among ``values`` (ids, codes, numbers), given as one array of the column's type: the statement is
    compiled once and sends one parameter, however many values (an ``IN`` list is a parameter a value, each rendered,
    cast and planned: a verify of ten thousand customers took 4.1 s by lists, 2.4 s by arrays; a lookup of 500 ids,
    2.9 ms, 1.1 ms)."""
    return column == any_(literal(sorted(values), postgresql.ARRAY(column.type)))


def utcnow() -> datetime:
    return datetime.now(UTC)


def constant(value: str | int | Decimal | None) -> ColumnElement:
    """A constant written into the statement rather than bound as a parameter, in SQL every database reads: a
    statement run at every commit then binds only what changes from one run to the next."""
    if value is None:
        return literal_column("NULL")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise TypeError(f"not a constant this writes: {value!r}")
    if isinstance(value, int):
        return literal_column(str(value), Integer)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a constant this writes: {value!r}")
        return literal_column(format(value, "f"), Numeric())
    if "%" in value or "\\" in value or not value.isprintable():
        raise ValueError(f"not a constant this writes: {value!r}")
    return literal_column("'" + value.replace("'", "''") + "'", String)


def as_utc(moment: datetime | None) -> datetime | None:
    """The moment, aware, a naive one taken to be UTC as every stored moment is. Every column is ``timestamptz``,
    which the database hands back aware: a naive moment is one made in Python (set on a row and not read back yet,
    say)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month: stored, typed and shown as ``YYYY-MM``; months order as time does.

    Periods are half-open month ranges, so a month's following month must exist too (at most 9999-11).
    """

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """A month typed as ``YYYY-MM``; :class:`ValueError` says how to write one."""
        try:
            parsed = cls.of(datetime.strptime(text.strip(), "%Y-%m").date())
            if parsed.year == MAXYEAR and parsed.month == 12:
                raise ValueError
        except ValueError:
            raise ValueError(_("Write the month as YYYY-MM, e.g. 2026-11 (at most 9999-11).")) from None
        return parsed

    @classmethod
    def of(cls, day: date) -> Month:
        """The month a date falls in."""
        return cls(day.year, day.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def parse_month(text: str) -> date:
    """A month typed as ``YYYY-MM``, as its first day; :class:`ValueError` says how to write one."""
    return Month.parse(text).first_day


def month_start(day: date) -> date:
    return Month.of(day).first_day


def next_month_start(day: date) -> date:
    return Month.of(day).next().first_day


def upsert(table: Table):
    """An ``INSERT`` into ``table`` that can take ``ON CONFLICT … DO UPDATE`` (the statements that keep a row per
    key, creating it with its first value)."""
    return postgresql.insert(table)


class next_month(FunctionElement):
    """The same day one month later, as a SQL expression (periods are half-open month ranges)."""

    type = Date()
    inherit_cache = True
    name = "next_month"


@compiles(next_month)
def _next_month(element, compiler, **kw):
    return f"CAST(({compiler.process(element.clauses, **kw)}) + INTERVAL '1 month' AS DATE)"


class first_of_month(FunctionElement):
    """``first_of_month(day)``: the first day of a date's month, as a SQL date."""

    type = Date()
    inherit_cache = True
    name = "first_of_month"


@compiles(first_of_month)
def _first_of_month(element, compiler, **kw):
    return f"CAST(date_trunc('month', CAST(({compiler.process(element.clauses, **kw)}) AS TIMESTAMP)) AS DATE)"


class days_between(FunctionElement):
    """``days_between(later, earlier)``: the whole days from one date to another (negative when ``later`` is
    earlier), as a SQL integer."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


@compiles(days_between)
def _days_between(element, compiler, **kw):
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(CAST({later} AS DATE) - CAST({earlier} AS DATE))"


class local_month(FunctionElement):
    """``local_month(moment, zone)``: the ``YYYY-MM`` of a stored UTC moment in a time zone, as SQL."""

    type = String(7)
    inherit_cache = True
    name = "local_month"


@compiles(local_month)
def _local_month(element, compiler, **kw):
    moment, zone = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"to_char(timezone({zone}, {moment}), 'YYYY-MM')"


def local_date_of(moment: datetime, zone: str) -> date:
    """The date of a moment in a time zone (a naive moment is UTC)."""
    return as_utc(moment).astimezone(ZoneInfo(zone)).date()


def local_month_of(moment: datetime, zone: str) -> str:
    return str(Month.of(local_date_of(moment, zone)))


class month_of_date(FunctionElement):
    """``month_of_date(day)``: the ``YYYY-MM`` of a date column, as SQL."""

    type = String(7)
    inherit_cache = True
    name = "month_of_date"


@compiles(month_of_date)
def _month_of_date(element, compiler, **kw):
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM')"


class rounded_product(GenericFunction):
    """``rounded_product(a, b, places)``: ``a × b`` rounded half up to ``places``, exactly as ``Decimal`` does
    (PostgreSQL's numeric is exact)."""

    inherit_cache = True
    name = "rounded_product"
    type = Numeric()


@compiles(rounded_product)
def _rounded_product(element, compiler, **kw):
    a, b, places = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"round(({a}) * ({b}), {places})"
