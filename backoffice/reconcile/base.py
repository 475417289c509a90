"""What a check is: a derived field, its expected value as SQL, and how to write it back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache, cached_property
from typing import ClassVar, NamedTuple

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    FromClause,
    Select,
    Subquery,
    Table,
    and_,
    any_,
    false,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.util import find_tables

from backoffice.models.types import Month
from backoffice.posting.locking import lock_where


@dataclass(frozen=True)
class Scope:
    """Which entities a run covers: everything, some customers, and/or from a month on."""

    customer_ids: tuple[int, ...] = ()
    customer_codes: tuple[str, ...] = ()
    from_month: date | None = None

    def describe(self) -> dict:
        described: dict = {}
        if self.customer_codes:
            described["customers"] = list(self.customer_codes)
        if self.from_month:
            described["from_month"] = str(Month.of(self.from_month))
        return described


@dataclass(frozen=True)
class CheckedField:
    """One stored column and the SQL expression of the value it must hold."""

    name: str
    stored: ColumnElement
    expected: ColumnElement
    scale: int = 2
    adds: bool = True
    """Whether the field's values add up across entities: amounts, volumes and counts do; a price, a factor, a
    running balance or a balance kept per month does not (a run's totals leave such a field out)."""


class Found(NamedTuple):
    """One field of a wrong entity, as its discrepancy records it (a tuple: a frozen dataclass took longer to make
    than the rest of a wrong row's record)."""

    entity_id: int
    period: str | None
    field: str
    stored: Decimal | None
    expected: Decimal | None
    entity_type: str | None = None
    """The entity's type when not the check's own (a check over the rows of several tables)."""
    reason: str | None = None
    """What a check that only reports says of it, when its figures cannot say it."""


@dataclass(frozen=True)
class ExpectedBeside:
    """The rows a check expects beside the stored ones, fully joined: a missing or a stray row is found as well as a
    wrong one (for checks of a table of rows derived per key and month)."""

    expected: Subquery
    source: FromClause
    key: ColumnElement
    period: ColumnElement


Span = tuple[int | None, int | None]
"""Ids from the first to the second, both included; ``None``: no bound on that side."""

_LOWEST, _HIGHEST = -(2**63), 2**63 - 1
"""The ends of a span without a bound, where a bound must be written (a bigint's)."""


@dataclass(frozen=True)
class Part:
    """Some of a check's rows, by the ids of the tables it reads by id (:meth:`Check.marked`): what a nightly reads of
    a check that grows with the journal (``reconcile.night``), either the rows added or changed since its last clean
    night, or the night's stripes of the rest (``swept``)."""

    spans: tuple[tuple[str, tuple[Span, ...]], ...]
    swept: bool = False
    since: datetime | None = None
    """Of the rows added or changed, the moment since which they changed (shortly before the last clean night's run
    started), for a check that reads from there on what its changed rows moved (a customer's months)."""

    def of(self, table: str) -> tuple[Span, ...]:
        return dict(self.spans).get(table, ())

    def constrains(self, table: str) -> bool:
        return table in dict(self.spans)

    def holds(self, column: ColumnElement, table: str) -> ColumnElement:
        """Whether the id ``column`` of a row of ``table`` is in the part: by ranges of the id's index, each span a
        range and the single ids one array (those ids alone, however close: the rows between them are not the
        part's)."""
        spans = self.of(table)
        single = sorted(low for low, high in spans if low is not None and low == high)
        arms = [_between(column, low, high) for low, high in spans if low is None or low != high]
        if single:
            arms.append(column == any_(literal(single, ARRAY(BigInteger))))
        return or_(*arms) if arms else false()

    def ranges(self, table: str):
        """The part's spans of ``table`` as rows ``(low, high)``, for a check that reads what lies before each."""
        spans = self.of(table)
        lows = [_LOWEST if low is None else low for low, _high in spans]
        highs = [_HIGHEST if high is None else high for _low, high in spans]
        ids = ARRAY(BigInteger)
        return func.unnest(literal(lows, ids), literal(highs, ids)).table_valued("low", "high").render_derived("spans")


class Check(ABC):
    """A derived field registered with the engine.

    Subclasses give the table, the fields with their expected-value expressions, and the
    conditions that select a scope; the engine does the rest set-based, chunk by chunk.
    A check that is not ``fixable`` only reports: what it finds is evidence, not drift.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    """What a clerk calls it: "Order grand totals" (the name is for commands and the API)."""
    description: ClassVar[str]
    entity_type: ClassVar[str]
    table: ClassVar[Table]
    fixable: ClassVar[bool] = True
    by_customer: ClassVar[bool] = True
    """The check's entities belong to customers. The books' do not: a customer scope leaves them out."""
    after: ClassVar[tuple[str, ...]] = ()
    """The checks whose fixes change what this one reads: in a run that writes, it starts once they have ended
    (the registry lists them before it). A re-priced reading posts a movement through the posting core, which
    moves the customer's wallet, status and month, appends to the ledger and the journal, and moves the accounts:
    every check of those follows ``reading_calculation``."""

    def consequences(self) -> tuple[tuple[str, Callable[[list[int]], Select]], ...]:
        """The other checks whose stored values a fix of this one writes as a consequence, each with the select of
        their keys a fix of some of this one's keys may change (a re-priced reading recalculates its customer's
        months): each value so changed is recorded as a discrepancy of that check (``engine``)."""
        return ()

    keeps_sums: ClassVar[bool] = False
    """A check of sums over the whole journal that a nightly reads by what it kept of them the night before
    (:meth:`tonight`) rather than by parts of its rows (an account's balance, of every line posted on it)."""

    def tonight(self, share) -> Check:
        """For a check that :attr:`keeps_sums`, the check as a nightly's ``share`` (``reconcile.night.Share``) reads
        it, with ``swept`` (rows of the night's stripes read), and ``carried``, what it keeps for the next night."""
        raise NotImplementedError

    reads_per_key: ClassVar[Table | None] = None
    """A table the check reads many rows of for each of its keys (the ledger, for a customer's months): a chunk of
    it then spans as many keys as hold about ``RECONCILE_CHUNK_SIZE`` of those rows (``engine.key_ranges``), so
    that its chunks take about as long as another check's, and a run split into jobs shares it among its workers."""
    examines: ClassVar[bool] = False
    """Computed outside SQL, by :meth:`examine` (the seals: an HMAC needs the key the database does not hold)."""
    single_pass: ClassVar[bool] = False
    """Count and find the wrong entities in one statement: for a source costlier to compute twice than
    to keep aside (a cheap source, one table, is better scanned twice than copied once)."""

    @abstractmethod
    def fields(self) -> list[CheckedField]: ...

    @abstractmethod
    def scope_conditions(self, scope: Scope) -> list[ColumnElement]: ...

    source: ClassVar[FromClause | None] = None
    """What the stored and expected values are read from, when not the table itself (a join, a window)."""
    counted_on_table: ClassVar[bool] = False
    """The entities in scope are counted on the table alone: its source only adds columns to the table's rows (each
    of its joins an outer one to one row at most) and its scope reads the table alone, and the source's aggregates
    are not computed twice, once to be counted."""

    @property
    def key(self) -> ColumnElement:
        """The entity's id: what chunks are ranges of and what ``write`` is given."""
        return self.table.c.id

    @property
    def period(self) -> ColumnElement | None:
        """With the key, the entity's month, for entities that are a key and a month (a customer's month)."""
        return None

    def details(self) -> list[ColumnElement]:
        """More columns of the source, read by :meth:`found` from each wrong row after its stored and expected
        values."""
        return []

    def found(self, row) -> Iterator[Found]:
        """What a wrong row ``(key, period, stored…, expected…, details…)`` records: each field whose stored value
        differs from the expected one at the field's scale."""
        scales = self.scales
        width = len(scales)
        stored_values, expected_values = row[2 : 2 + width], row[2 + width : 2 + 2 * width]
        for (name, scale), stored, expected in zip(scales, stored_values, expected_values, strict=True):
            stored_d, expected_d = at_scale(stored, scale), at_scale(expected, scale)
            if stored_d != expected_d:
                yield Found(row[0], row[1], name, stored_d, expected_d)

    @cached_property
    def scales(self) -> tuple[tuple[str, int], ...]:
        """Each field's name and scale, all :meth:`found` needs of the fields: their SQL expressions are built once
        a check, not once a wrong row (a thousand wrong orders built them for half of their verify's time)."""
        return tuple((f.name, f.scale) for f in self.fields())

    def write(self, connection: Connection, ids: list[int]) -> None:
        """Store the expected values for these entities.

        Their rows are locked first, in id order, by a statement of its own: a writer in flight
        commits first, and the expected values, read by the update that follows, include it.
        """
        lock_where(connection, self.table, self.key.in_(ids))
        connection.execute(
            update(self.table)
            .where(self.key.in_(ids))
            .values({f.name: f.expected for f in self.fields()} | self.untouched_columns())
        )

    def scoped(self, scope: Scope) -> Check:
        """The check as it runs on ``scope``: one whose aggregates read only the scope's customers, where that
        is cheaper than filtering their result (the "Recalculate customer" job)."""
        return self

    def bounded(self, low: int, high: int) -> Check:
        """The check as it reads the chunk of keys from ``low`` to ``high``: one whose aggregates over another
        table read only that chunk's rows, where they would otherwise read all of that table for every chunk."""
        return self

    def key_bounds(self, scope: Scope) -> Select:
        """The lowest and highest key in scope: the chunks are ranges between them. Read from the check's table
        alone when the key and the scope read nothing else: the source's aggregates are not computed for it."""
        return (
            select(func.min(self.key), func.max(self.key))
            .select_from(self._keyed(scope))
            .where(*self.scope_conditions(scope))
        )

    def key_starts(self, scope: Scope, size: int) -> Select:
        """The first key of every ``size`` keys in scope, in order: the chunks' lower bounds when the keys are too
        sparse for ranges of ``size`` between the lowest and the highest (a row forged far from the others)."""
        keys = self.keys(scope).distinct().subquery()
        numbered = select(keys.c.key, (func.row_number().over(order_by=keys.c.key) - 1).label("place")).subquery()
        return select(numbered.c.key).where(numbered.c.place % size == 0).order_by(numbered.c.key)

    def keys(self, scope: Scope) -> Select:
        """The keys in scope, as a column ``key`` (a superset will do, as for :meth:`key_bounds`)."""
        return select(self.key.label("key")).select_from(self._keyed(scope)).where(*self.scope_conditions(scope))

    def _keyed(self, scope: Scope):
        conditions = self.scope_conditions(scope)
        read = {table for clause in (self.key, *conditions) for table in find_tables(clause, check_columns=True)}
        return self.table if read <= {self.table} or self.source is None else self.source

    def marked(self) -> dict[str, tuple[ColumnElement, ...]]:
        """For a check that grows with the journal, per table it reads by id, the id columns of its rows (a record's
        and its versions'): a nightly maintenance reads of it the rows added or changed since its last clean night
        and the night's stripes of the rest (``reconcile.night``). Empty for any other check: every run reads it
        whole."""
        return {}

    def marked_as(self, entity_type: str) -> str | None:
        """The table of :meth:`marked` whose row an entity of ``entity_type`` the check found is (its only one)."""
        tables = list(self.marked())
        return tables[0] if len(tables) == 1 else None

    def swept_by(self) -> dict[str, tuple[str, tuple[ColumnElement, ...]]]:
        """Per table of :meth:`marked` whose rows the night's stripes of another id sweep (a customer's, for a chain
        of a customer's rows, read whole where a stripe of rows would read each one's previous row by itself): the
        name of that id and its columns."""
        return {}

    def watched(self) -> dict[str, tuple[ColumnElement, ...]]:
        """For a check whose rows are groups of other tables' rows (an account, of the invoices and the payments):
        per table whose new rows touch a group, its id columns, marked as :meth:`marked`'s are."""
        return {}

    def changed(self, since: datetime, after: dict[str, int | None]) -> dict[str, Select]:
        """Per table of :meth:`marked`, the select of the ids of the rows the application changed since ``since``,
        whatever their ids, or whose groups rows added above the last clean night's marks (``after``, by table of
        :meth:`watched`) touch: a nightly reads them besides the rows added since its last clean night."""
        return {}

    def restricted(self, part: Part) -> Check:
        """The check as it reads the ``part`` of its rows alone (``reconcile.night``)."""
        raise NotImplementedError

    def in_part(self) -> list[ColumnElement]:
        """The conditions on the entities of the part :meth:`restricted` reads, which the engine adds to a chunk's."""
        return []

    def write_entities(self, connection: Connection, entities: set[tuple[int, str | None]]) -> None:
        """Store the expected values for these ``(key, period)`` entities; by key unless a check knows better."""
        self.write(connection, sorted({key for key, _period in entities}))

    def untouched_columns(self) -> dict:
        """Columns whose ``onupdate`` must not fire when the engine writes (a fix is not an edit)."""
        return {}

    def examine(self, run_id: int | None, chunk_size: int, piece: tuple[int, int] | None = None) -> tuple[int, list]:
        """For a check that :attr:`examines`: how many rows it checked, and what it found wrong (of one of its
        :meth:`pieces` alone, when given)."""
        raise NotImplementedError

    def pieces(self, chunk_size: int) -> list[tuple[int, int]]:
        """For a check that :attr:`examines`: the parts of its examination, each a range of positions of its own, that
        a run split into jobs examines side by side, a chunk each."""
        raise NotImplementedError

    def sources(self) -> tuple[tuple[Table, Callable[[list[int]], Select]], ...]:
        """The source rows a fix of some entities reads, per source table: ``(table, rows)``, ``rows(keys)`` the
        select of ``(key, row_id)`` pairs, each entity's key with the id of a row of ``table`` its fix reads. Each
        is examined before the fix writes (``reconcile.sources``)."""
        return ()

    def held(self, connection: Connection, keys: list[int]) -> dict[int, str]:
        """Which of these wrong entities a fix must leave as they are, each with the reason why.

        An entity whose append-only source breaks an invariant of its own (an unbalanced entry, a
        broken ledger chain) is evidence: writing the derived value to match that source would
        make the books look clean. It is reported, and waits until the source is dealt with.
        """
        return {}


class ChunkedCheck(Check):
    """A check whose source aggregates another table by the check's key (an entry's lines, a record's versions, a
    customer's previous movement): an instance is built for one chunk of keys, ``low`` to ``high``, or for all of
    them, and of a part of them (``reconcile.night``) or all of them, and builds its SQL when it is first read."""

    def __init__(self, low: int | None = None, high: int | None = None, part: Part | None = None) -> None:
        self.low, self.high, self.part = low, high, part

    def bounded(self, low: int, high: int) -> Check:
        return type(self)(low, high, self.part)

    def restricted(self, part: Part) -> Check:
        return type(self)(self.low, self.high, part)

    def in_part(self) -> list[ColumnElement]:
        return [] if self.part is None else [self.part.holds(self.key, self.table.name)]

    def within(self, key: ColumnElement, table: str) -> list[ColumnElement]:
        """The conditions on the id ``key`` of a row of ``table`` (one of :meth:`marked`) that the instance reads:
        its part's, whose spans lie within its chunk, or its chunk's."""
        if self.part is not None:
            return [self.part.holds(key, table)]
        return [] if self.low is None else [key.between(self.low, self.high)]


def differs(fields: list[CheckedField]) -> ColumnElement:
    """The entity is wrong: one of its stored values differs from the expected one."""
    return or_(*(f.stored.is_distinct_from(f.expected) for f in fields))


def at_scale(value, scale: int) -> Decimal | None:
    if value is None:
        return None
    return Decimal(value).quantize(_quantum(scale))


@cache
def _quantum(scale: int) -> Decimal:
    return Decimal(1).scaleb(-scale)


def _between(column: ColumnElement, low: int | None, high: int | None) -> ColumnElement:
    bounds = ([] if low is None else [column >= low]) + ([] if high is None else [column <= high])
    return and_(*bounds) if bounds else column.is_not(None)
