"""Records found by part of what they hold, as a clerk types it: a fragment, a word left out, a letter wrong.

Each kind of record is one query with PostgreSQL's ``pg_trgm`` (migrations 0059 and 0069): a column matches when one of
its words is like what was typed, or when it holds it whole. The record whose key is what was typed ranks first, then
the closest. However many records are alike, only a few candidates are ranked: those whose key is what was typed and,
per column, its :data:`CANDIDATES` rows most like it and its first :data:`CANDIDATES` rows that hold it whole. A
customer's candidates are first sought by the words the database keeps for each customer (migration 0086): those of
the rarest word typed, read off an index in a bounded range (:func:`_rarest`); the trigram lists are read only when
those are not enough. Each query is built once for its shape and bound to what was typed (:func:`_bound`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import NamedTuple

from sqlalchemy import (
    CTE,
    ColumnElement,
    Row,
    Select,
    String,
    any_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union,
)

from backoffice.models import (
    AccountManager,
    Customer,
    CustomerWord,
    Invoice,
    Meter,
    MeterAssignment,
    Order,
    Payment,
    User,
    covers,
    customer_vocabulary,
)
from backoffice.models.types import folded
from backoffice.platform.extensions import db

LONGEST = 200
"""The most characters a search reads: a customer's name, the longest of what is matched."""
SHORTEST = 2
"""Fewer characters than this find nothing: one letter is in most records."""
WORD_SIMILARITY = 0.5
"""How like a word of a column what was typed must be (pg_trgm's default, 0.6, misses a fragment with a slip)."""
CANDIDATES = 32
"""The most rows each column offers the ranking from each of its lists: four times the most a caller asks for (the
search box's and a picker's eight), so that the best are among them however many records are alike."""
KINDS = ("customer", "meter", "invoice", "payment", "order", "manager", "user")


def found(text: str, kinds: Iterable[str], per_kind: int) -> dict[str, list[Row]]:
    """The records of each kind whose columns hold ``text`` or a word like it, best first, at most ``per_kind``
    each; none when ``text`` is too short. Each row has ``key`` (what the record is known by) and ``exact``
    (its key is what was typed, in any case), and the columns its kind shows."""
    text = text.strip()
    if len(text) < SHORTEST:
        return {kind: [] for kind in kinds}
    _settled()
    return {kind: db.session.execute(QUERIES[kind](text).limit(per_kind)).all() for kind in kinds}


def customers(text: str) -> Select:
    """Customers, with their account manager's email and name (``manager_email``, ``manager_name``)."""
    return _bound(_customers, text)


@cache
def _customers(typed: Typed) -> Select:
    exact, score, _, nearest = _matching(
        typed,
        Customer.id,
        Customer.code,
        Customer.name,
        Customer.contact_person,
        Customer.email,
        Customer.phone,
        words=(CustomerWord.word, CustomerWord.customer_id, customer_vocabulary.c.word),
    )
    return (
        select(
            Customer.id,
            Customer.code.label("key"),
            Customer.name,
            Customer.contact_person,
            Customer.phone,
            Customer.closed_at,
            AccountManager.email.label("manager_email"),
            AccountManager.name.label("manager_name"),
            exact,
        )
        .outerjoin(Customer.account_manager)
        .where(nearest)
        .order_by(exact.desc(), score.desc(), Customer.code)
    )


def meters(text: str, *, held_by: int | None = None) -> Select:
    """Meters, with the customer each is at now (``holder``, ``holder_name``); ``held_by``: only the meters that
    customer holds or held (``holds``: holds now)."""
    return _bound(_meters, text, held=held_by is not None).params(held_by=held_by)


@cache
def _meters(typed: Typed, *, held: bool) -> Select:
    at = MeterAssignment.__table__.alias("at")
    now = Customer.__table__.alias("now")
    exact, score, matches, nearest = _matching(typed, Meter.id, Meter.serial)
    query = (
        select(
            Meter.id,
            Meter.serial.label("key"),
            Meter.status,
            now.c.code.label("holder"),
            now.c.name.label("holder_name"),
            exact,
        )
        .outerjoin(at, (at.c.meter_id == Meter.id) & at.c.is_active)
        .outerjoin(now, now.c.id == at.c.customer_id)
    )
    if not held:
        return query.where(nearest).order_by(exact.desc(), score.desc(), Meter.serial)
    # The customer's meters are few: every one that matches is ranked.
    held = MeterAssignment.__table__.alias("held")
    holds = func.bool_or(held.c.is_active).label("holds")
    return (
        query.add_columns(holds)
        .where(matches)
        .join(held, (held.c.meter_id == Meter.id) & (held.c.customer_id == bindparam("held_by")))
        .group_by(Meter.id, now.c.code, now.c.name)
        .order_by(exact.desc(), holds.desc(), score.desc(), Meter.serial)
    )


def invoices(text: str) -> Select:
    """Invoices dated while a customer held their meter (``holder``: whose page they are on)."""
    return _bound(_invoices, text)


@cache
def _invoices(typed: Typed) -> Select:
    exact, score, _, nearest = _matching(typed, Invoice.id, Invoice.number)
    holder = _holder(Invoice.meter_id, Invoice.issued_on)
    return (
        select(
            Invoice.id,
            Invoice.number.label("key"),
            Invoice.amount,
            Invoice.status,
            Invoice.issued_on,
            holder.c.code.label("holder"),
            holder.c.name.label("holder_name"),
            exact,
        )
        .join(holder, true())
        .where(nearest)
        .order_by(exact.desc(), score.desc(), Invoice.number)
    )


def payments(text: str) -> Select:
    """Payments dated while a customer held their meter (``holder``: whose page they are on)."""
    return _bound(_payments, text)


@cache
def _payments(typed: Typed) -> Select:
    exact, score, _, nearest = _matching(typed, Payment.id, Payment.reference)
    holder = _holder(Payment.meter_id, Payment.paid_on)
    return (
        select(
            Payment.id,
            Payment.reference.label("key"),
            Payment.amount,
            Payment.paid_on,
            holder.c.code.label("holder"),
            holder.c.name.label("holder_name"),
            exact,
        )
        .join(holder, true())
        .where(nearest)
        .order_by(exact.desc(), score.desc(), Payment.paid_on.desc(), Payment.id.desc())
    )


def orders(text: str) -> Select:
    """The orders the search ``text`` finds, as a select."""
    return _bound(_orders, text)


@cache
def _orders(typed: Typed) -> Select:
    exact, score, _, nearest = _matching(typed, Order.id, Order.number)
    return (
        select(
            Order.id,
            Order.number.label("key"),
            Order.closing_date,
            Order.grand_total,
            Customer.code.label("holder"),
            Customer.name.label("holder_name"),
            exact,
        )
        .join(Order.customer)
        .where(nearest)
        .order_by(exact.desc(), score.desc(), Order.number)
    )


def managers(text: str, *, active_only: bool = False) -> Select:
    """Account managers (``active_only``: those who may take new customers and orders)."""
    return _bound(_managers, text, active_only=active_only)


@cache
def _managers(typed: Typed, *, active_only: bool) -> Select:
    chosen = (AccountManager.active,) if active_only else ()
    exact, score, _, nearest = _matching(
        typed, AccountManager.id, AccountManager.email, AccountManager.name, where=chosen
    )
    query = select(
        AccountManager.id, AccountManager.email.label("key"), AccountManager.name, AccountManager.active, exact
    ).where(nearest, *chosen)
    return query.order_by(exact.desc(), score.desc(), AccountManager.name, AccountManager.id)


def users(text: str) -> Select:
    """The users the search ``text`` finds, as a select."""
    return _bound(_users, text)


@cache
def _users(typed: Typed) -> Select:
    exact, score, _, nearest = _matching(typed, User.id, User.email, User.name)
    return (
        select(User.id, User.email.label("key"), User.name, User.role, User.active, exact)
        .where(nearest)
        .order_by(exact.desc(), score.desc(), User.email)
    )


QUERIES = {
    "customer": customers,
    "meter": meters,
    "invoice": invoices,
    "payment": payments,
    "order": orders,
    "manager": managers,
    "user": users,
}


def suggested(query: Select, limit: int) -> list[Row]:
    """A picker's suggestions: ``query``'s first rows (a query of this module, read as :func:`found` reads it)."""
    _settled()
    return db.session.execute(query.limit(limit)).all()


def spellings(text: str) -> list[str]:
    """A key as typed, in capitals and in small letters: the ways keys are stored (``C0042``, ``dewi@…``)."""
    return list(dict.fromkeys((text, text.upper(), text.lower())))


class Typed(NamedTuple):
    """What the shape of a query depends on of what was typed: whether anything was (``some``), and whether it is
    three characters or more (``long``), which hold a trigram of their own."""

    some: bool
    long: bool


TEXT = bindparam("text", type_=String)
"""What was typed."""
PATTERN = bindparam("pattern", type_=String)
"""What was typed, as a pattern of ``ILIKE`` that a column holding it whole matches."""
SPELLINGS = bindparam("spellings", type_=String, expanding=True)
"""What was typed, as a key may be stored (:func:`spellings`)."""


def _bound(build: Callable[..., Select], text: str, **chosen) -> Select:
    """The query ``build`` makes for what was typed: built once for its shape (:class:`Typed`) and the choices of
    its caller (building one is most of what a search costs its server), bound to ``text`` each time."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    typed = Typed(some=bool(text), long=len(text) >= 3)
    return build(typed, **chosen).params(text=text, pattern=pattern, spellings=spellings(text))


def _matching(
    typed: Typed,
    among: ColumnElement,
    key: ColumnElement,
    *others: ColumnElement,
    where=(),
    words: tuple[ColumnElement, ColumnElement, ColumnElement] | None = None,
):
    """Whether the key is what was typed (``exact``), how like it the closest column is (``score``), whether a
    column holds it or a word like it (``matches``), and whether the row is one of the candidates the module
    describes (``nearest``, which implies ``matches``). ``among``: the rows' id; ``where``: what a candidate must be
    besides; ``words``: the word and the row's id of a table of the rows' words, and the word of their vocabulary
    (:func:`_rarest`). Nothing typed
    matches every row."""
    if not typed.some:
        return false().label("exact"), literal(0), true(), true()
    columns = (key, *others)
    exact = key.in_(SPELLINGS)
    text = folded(TEXT)  # as the columns are matched: without case or marks
    score = func.greatest(*(func.word_similarity(text, folded(column)) for column in columns))
    alike = [folded(column).op("%>")(text) for column in columns]
    held = []
    if typed.long:  # fewer characters hold no trigram of their own: every row would be read
        held = [folded(column).ilike(folded(PATTERN), escape="\\") for column in columns]
    lists = [select(among).where(exact, *where)]
    trigrams = where  # what a trigram list reads its index for
    if words is not None:
        rarest, enough = _rarest(*words)
        lists.append(select(among).where(among.in_(rarest), or_(*alike, *held), *where))
        trigrams = (~enough, *where)  # not read at all when the rarest word's rows are enough
    lists += [_nearest(text, among, column, trigrams) for column in columns]
    lists += [select(_whole(among, holds, trigrams).c.id).limit(CANDIDATES) for holds in held]
    # An array of ids, read by the primary key however many the planner guesses there are.
    nearest = among == any_(func.array(union(*lists).scalar_subquery()))
    return exact.label("exact"), score, or_(exact, *alike, *held), nearest


def _nearest(text: ColumnElement, among: ColumnElement, column: ColumnElement, where) -> Select:
    """The column's :data:`CANDIDATES` rows with the words most like what was typed (all of them while fewer), read
    in order off its GiST index (``<->>``: the distance of the word most like it) when its GIN index finds one: the
    GIN index reads the trigrams typed alone, where a GiST index of keys alike reads most of itself to find that
    none is like what was typed."""
    filled = (column.is_not(None),) if column.expression.nullable else ()
    nearest = (
        select(among.label("id"), folded(column).label("near"))
        .where(*filled, *where)
        .order_by(func.lower(column).op("<->>")(text))
        .limit(CANDIDATES)
        .subquery()
    )
    some = exists(select(_whole(among, folded(column).op("%>")(text), where).c.id))
    return select(nearest.c.id).where(nearest.c.near.op("%>")(text), some)


def _rarest(word: ColumnElement, row: ColumnElement, vocabulary: ColumnElement) -> tuple[Select, ColumnElement]:
    """The first :data:`CANDIDATES` rows, in the words' order, holding the rarest of the words typed (or a word
    beginning with it), and whether they are candidates enough: every word typed is found, or the rarest is held by
    no more rows than those. A word typed with a slip, which no row's word begins with, is read as the word of the
    vocabulary likest it, if one is like it (``%>``, as a column is like what was typed); a part of a word or a slip
    like no word is found by the trigram lists, which are read then, unless a word found is rare enough to find the
    rows alone. ``word``, ``row``: a table of the rows' words (``customer_words``, in the words' byte order), each
    read up to a bound however many rows hold it; ``vocabulary``: the words of letters they hold, by a GIN index of
    their trigrams (``customer_vocabulary``)."""
    typed = func.unnest(func.search_words(TEXT)).table_valued("word").render_derived("typed")
    first = select(word).where(word >= typed.c.word).order_by(word).limit(1).scalar_subquery()
    likest = (
        select(vocabulary)
        .where(func.lower(vocabulary).op("%>")(typed.c.word))
        .order_by(func.word_similarity(typed.c.word, vocabulary).desc(), vocabulary)
        .limit(1)
        .scalar_subquery()
    )
    spelled = (
        select(
            typed.c.word.label("typed"), case((_begins(first, typed.c.word), typed.c.word), else_=likest).label("word")
        )
        .cte("spelled")
        .prefix_with("MATERIALIZED")
    )  # each word spelled once, not once a row it is joined to
    ahead = _ahead(word, spelled.c.word, CANDIDATES + 1).lateral("ahead")
    counted = (
        select(spelled.c.word, func.count(ahead.c.word).filter(_begins(ahead.c.word, spelled.c.word)).label("rows"))
        .select_from(spelled.outerjoin(ahead, true()))
        .group_by(spelled.c.typed, spelled.c.word)
        .cte("counted")
    )
    rarest = (
        select(counted.c.word)
        .where(counted.c.rows > 0)
        .order_by(counted.c.rows, counted.c.word)
        .limit(1)
        .scalar_subquery()
    )
    enough = select(
        func.coalesce(
            func.bool_and(counted.c.rows > 0) | (func.min(func.nullif(counted.c.rows, 0)) <= CANDIDATES), false()
        )
    ).scalar_subquery()
    held = _ahead(word, rarest, CANDIDATES, row).subquery("held")
    return select(held.c.row).where(_begins(held.c.word, rarest)), enough


def _ahead(word: ColumnElement, beginning: ColumnElement, limit: int, *row: ColumnElement) -> Select:
    """The first ``limit`` words (with ``row``) from ``beginning`` on, in their order: a bounded read of their index
    however many rows are alike, whatever the planner guesses of a range's rows (a bitmap of a range reads it
    whole). Those beginning with it are the first of them (:func:`_begins`)."""
    return (
        select(word.label("word"), *(each.label("row") for each in row))
        .where(word >= beginning)
        .order_by(word, *row)
        .limit(limit)
    )


def _begins(word: ColumnElement, beginning: ColumnElement) -> ColumnElement:
    """Whether ``word`` begins with ``beginning``: said of the few words a bounded read gave (:func:`_ahead`)."""
    return func.starts_with(word, beginning)


def _whole(among: ColumnElement, condition, where) -> CTE:
    """The ids of the rows that meet ``condition``, planned as for all of them and read for as many as the query
    takes: a plan made for its first rows reads a whole table, or a whole index, to find few when the planner's guess
    of how many rows a trigram condition holds is many (a guess from a sample of the column)."""
    return select(among.label("id")).where(condition, *where).cte().prefix_with("MATERIALIZED")


def _holder(meter_id: ColumnElement, on: ColumnElement):
    """The customer who held the meter on the date (a lateral subquery: ``code`` and ``name``)."""
    return (
        select(Customer.code, Customer.name)
        .join(MeterAssignment, MeterAssignment.customer_id == Customer.id)
        .where(MeterAssignment.meter_id == meter_id, covers(MeterAssignment, on))
        .limit(1)
        .lateral("holder")
    )


def _settled() -> None:
    """The search's settings, for this transaction only (a pooler's server connection goes back as it came): a word
    is like what was typed from :data:`WORD_SIMILARITY` on, and no plan is parallel: a list planned as for many rows
    and not read at all (a trigram list when the words found are enough) would start workers all the same, which
    costs more than the few rows a search reads."""
    db.session.execute(
        select(
            func.set_config("pg_trgm.word_similarity_threshold", str(WORD_SIMILARITY), True),
            func.set_config("max_parallel_workers_per_gather", "0", True),
        )
    )
