"""Records found by part of what they hold, as a clerk types it: a fragment, a word left out, a letter wrong.

Each kind of record is matched on the columns a clerk knows it by (a customer's code, name, contact, email and phone;
a meter's serial; an invoice's and an order's number; a payment's reference; an account manager's and a user's name
and email) with PostgreSQL's ``pg_trgm``: a column matches when one of its words is like what was typed
(``%>``: the word similarity above :data:`WORD_SIMILARITY`) or when it holds it whole (``ILIKE``, from three
characters). Each kind is one query over its GIN index of trigrams (migration 0059), ranked: the record whose key is
what was typed first, then the closest. The search box and the pickers read the same queries.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Row, Select, false, func, literal, or_, select, true

from backoffice.models import (
    AccountManager,
    Customer,
    Invoice,
    Meter,
    MeterAssignment,
    Order,
    Payment,
    User,
    covers,
)
from backoffice.platform.extensions import db

LONGEST = 200
"""The most characters a search reads: a customer's name, the longest of what is matched."""
SHORTEST = 2
"""Fewer characters than this find nothing: one letter is in most records."""
WORD_SIMILARITY = 0.5
"""How like a word of a column what was typed must be (pg_trgm's default, 0.6, misses a fragment with a slip)."""
KINDS = ("customer", "meter", "invoice", "payment", "order", "manager", "user")


def found(text: str, kinds: Iterable[str], per_kind: int) -> dict[str, list[Row]]:
    """The records of each kind whose columns hold ``text`` or a word like it, best first, at most ``per_kind``
    each; none when ``text`` is too short. Each row has ``key`` (what the record is known by) and ``exact``
    (its key is what was typed, in any case), and the columns its kind shows."""
    text = text.strip()
    if len(text) < SHORTEST:
        return {kind: [] for kind in kinds}
    _lenient()
    return {kind: db.session.execute(QUERIES[kind](text).limit(per_kind)).all() for kind in kinds}


def customers(text: str) -> Select:
    """Customers, with their account manager's email and name (``manager_email``, ``manager_name``)."""
    exact, score, matches = _matching(
        text, Customer.code, Customer.name, Customer.contact_person, Customer.email, Customer.phone
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
        .where(matches)
        .order_by(exact.desc(), score.desc(), Customer.code)
    )


def meters(text: str, *, held_by: int | None = None) -> Select:
    """Meters, with the customer each is at now (``holder``, ``holder_name``); ``held_by``: only the meters that
    customer holds or held (``holds``: holds now)."""
    at = MeterAssignment.__table__.alias("at")
    now = Customer.__table__.alias("now")
    exact, score, matches = _matching(text, Meter.serial)
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
        .where(matches)
    )
    if held_by is None:
        return query.order_by(exact.desc(), score.desc(), Meter.serial)
    held = MeterAssignment.__table__.alias("held")
    holds = func.bool_or(held.c.is_active).label("holds")
    return (
        query.add_columns(holds)
        .join(held, (held.c.meter_id == Meter.id) & (held.c.customer_id == held_by))
        .group_by(Meter.id, now.c.code, now.c.name)
        .order_by(exact.desc(), holds.desc(), score.desc(), Meter.serial)
    )


def invoices(text: str) -> Select:
    """Invoices dated while a customer held their meter (``holder``: whose page they are on)."""
    exact, score, matches = _matching(text, Invoice.number)
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
        .where(matches)
        .order_by(exact.desc(), score.desc(), Invoice.number)
    )


def payments(text: str) -> Select:
    """Payments dated while a customer held their meter (``holder``: whose page they are on)."""
    exact, score, matches = _matching(text, Payment.reference)
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
        .where(matches)
        .order_by(exact.desc(), score.desc(), Payment.paid_on.desc(), Payment.id.desc())
    )


def orders(text: str) -> Select:
    exact, score, matches = _matching(text, Order.number)
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
        .where(matches)
        .order_by(exact.desc(), score.desc(), Order.number)
    )


def managers(text: str, *, active_only: bool = False) -> Select:
    """Account managers (``active_only``: those who may take new customers and orders)."""
    exact, score, matches = _matching(text, AccountManager.email, AccountManager.name)
    query = select(
        AccountManager.id, AccountManager.email.label("key"), AccountManager.name, AccountManager.active, exact
    ).where(matches)
    if active_only:
        query = query.where(AccountManager.active)
    return query.order_by(exact.desc(), score.desc(), AccountManager.name, AccountManager.id)


def users(text: str) -> Select:
    exact, score, matches = _matching(text, User.email, User.name)
    return (
        select(User.id, User.email.label("key"), User.name, User.role, User.active, exact)
        .where(matches)
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
    _lenient()
    return db.session.execute(query.limit(limit)).all()


def spellings(text: str) -> list[str]:
    """A key as typed, in capitals and in small letters: the ways keys are stored (``C0042``, ``dewi@…``)."""
    return list(dict.fromkeys((text, text.upper(), text.lower())))


def _matching(text: str, key: ColumnElement, *others: ColumnElement):
    """Whether the key is what was typed (``exact``), how like it the closest column is (``score``), and whether a
    column holds it or a word like it (``matches``): each condition one the columns' trigram index answers. Nothing
    typed matches every row."""
    if not text:
        return false().label("exact"), literal(0), true()
    columns = (key, *others)
    exact = key.in_(spellings(text)).label("exact")
    score = func.greatest(*(func.word_similarity(text, column) for column in columns))
    matches = [exact, *(column.op("%>")(text) for column in columns)]
    if len(text) >= 3:  # fewer characters hold no trigram of their own: every row would be read
        held = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matches += [column.ilike(held, escape="\\") for column in columns]
    return exact, score, or_(*matches)


def _holder(meter_id: ColumnElement, on: ColumnElement):
    """The customer who held the meter on the date (a lateral subquery: ``code`` and ``name``)."""
    return (
        select(Customer.code, Customer.name)
        .join(MeterAssignment, MeterAssignment.customer_id == Customer.id)
        .where(MeterAssignment.meter_id == meter_id, covers(MeterAssignment, on))
        .limit(1)
        .lateral("holder")
    )


def _lenient() -> None:
    """A word is like what was typed from :data:`WORD_SIMILARITY` on, for this transaction only (a pooler's
    server connection goes back as it came)."""
    db.session.execute(select(func.set_config("pg_trgm.word_similarity_threshold", str(WORD_SIMILARITY), True)))
