"""Closing months: the books are closed through a month, as a ledger's lock date.

Nothing dated up to a closed month's last day (an entry, an invoice, a payment, a reading) may be inserted, changed or
deleted: the services refuse it, and so does the database (migration 0016). Only admins close and reopen months, only
the latest closed month can be reopened, and each close and reopen is recorded (``period_actions``: who, when, why).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, joinedload

from backoffice.models import EntryStatus, JournalEntry, PeriodAction, PeriodActionKind, User
from backoffice.models.types import month_start, next_month_start, parse_month
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date, named_month, ngettext
from backoffice.posting.closed_months import (
    last_closed_day,
    month_of,
)
from backoffice.services import transaction

actions = PeriodAction.__table__
entries = JournalEntry.__table__

GUARDED = ("meter_readings", "journal_entries", "balance_transactions", "invoices", "payments")
"""The tables whose rows a closed month refuses (see migration 0016), in the order a writer inserts into them:
a close locks them in this order, so it never holds one that a writer in flight needs to finish. On PostgreSQL the
function ``lock_period_writers()`` (migration 0033) locks them so, as the tables' owner: the runtime role may not
lock an append-only table in that mode itself."""

CLOSE_WAIT = "5s"
"""How long a close waits for the writers in flight on PostgreSQL; new writers wait behind it meanwhile."""

NOTE_LENGTH = actions.c.note.type.length


class PeriodError(ValueError):
    """A close or reopen refused; nothing was written."""


@dataclass(frozen=True)
class MonthState:
    month: str
    last: date
    closed: bool
    closable: bool
    """Open, and over: closing it closes the books through it."""
    closes_earlier: bool
    """Closable, and a month before it is open: closing it closes that month too."""
    reopenable: bool
    """The latest closed month."""
    entries: int
    """Posted journal entries dated in it."""
    closed_by: PeriodAction | None
    """The close after which it has stayed closed."""


@dataclass(frozen=True)
class Overview:
    closed_through: str | None
    reopened_through: str | None
    """What the books would be closed through once the latest closed month is reopened."""
    months: list[MonthState]
    """The current month and the ones before it, newest first."""
    history: list[PeriodAction]
    """Every close and reopen, newest first."""


def month_days(month: str) -> tuple[date, date]:
    """The first and last day of a month typed ``YYYY-MM``; :class:`PeriodError` says how to write one."""
    try:
        first = parse_month(month)
    except ValueError as error:
        raise PeriodError(str(error)) from None
    return first, next_month_start(first) - timedelta(days=1)


def closed_through() -> str | None:
    """The latest closed month, or None when no month is closed."""
    last = last_closed_day(db.session)
    return month_of(last) if last else None


def close(month: str, user: User, note: str = "") -> PeriodAction:
    """Close the books through ``month``: every date up to its last day. Raises :class:`PeriodError`."""
    first, last = month_days(month)
    month, note = month_of(first), _text(note, _l("A note"))
    if last >= local_today():
        raise PeriodError(
            _(
                "%(month)s has not ended yet: it can be closed from %(day)s, in the installation's time zone.",
                month=named_month(first),
                day=named_date(last + timedelta(days=1)),
            )
        )
    with transaction() as session:
        closed = _serialise(session)
        if closed is not None and last <= closed:
            raise PeriodError(
                _(
                    "%(month)s is already closed: the books are closed through %(closed)s.",
                    month=named_month(first),
                    closed=named_month(closed),
                )
            )
        _wait_for_writers(session)
        drafts = session.scalar(
            select(func.count()).where(entries.c.status == EntryStatus.DRAFT, entries.c.entry_date <= last)
        )
        if drafts:
            raise PeriodError(
                ngettext(
                    "%(num)s draft journal entry is dated on or before %(day)s: post or void it first.",
                    "%(num)s draft journal entries are dated on or before %(day)s: post or void them first.",
                    drafts,
                    day=named_date(last),
                )
            )
        action = PeriodAction(
            year_month=month, action=PeriodActionKind.CLOSE, closed_through=last, user_id=user.id, note=note
        )
        session.add(action)
    return action


def reopen(month: str, user: User, reason: str) -> PeriodAction:
    """Reopen the latest closed month, saying why. Raises :class:`PeriodError`."""
    first, last = month_days(month)
    month, reason = month_of(first), _text(reason, _l("The reason"))
    if not reason:
        raise PeriodError(_("Say why %(month)s is reopened.", month=named_month(first)))
    with transaction() as session:
        closed = _serialise(session)
        if closed is None or first > closed:
            raise PeriodError(_("%(month)s is not closed.", month=named_month(first)))
        if last != closed:
            raise PeriodError(
                _(
                    "Only the latest closed month, %(month)s, can be reopened: reopen it first.",
                    month=named_month(closed),
                )
            )
        action = PeriodAction(
            year_month=month,
            action=PeriodActionKind.REOPEN,
            closed_through=_after_reopening(session, first),
            user_id=user.id,
            note=reason,
        )
        session.add(action)
    return action


def overview(count: int = 24) -> Overview:
    """The books' closed months: the current month and the ``count`` before it, and every close and reopen."""
    today = local_today()
    firsts = [month_start(today)]
    for _month in range(count):
        firsts.append(month_start(firsts[-1] - timedelta(days=1)))
    history = list(
        db.session.scalars(select(PeriodAction).options(joinedload(PeriodAction.user)).order_by(PeriodAction.id))
    )
    closed = history[-1].closed_through if history else None
    posted = db.session.execute(
        select(entries.c.entry_date, func.count())
        .where(
            entries.c.status == EntryStatus.POSTED,
            entries.c.entry_date >= firsts[-1],
            entries.c.entry_date < next_month_start(firsts[0]),
        )
        .group_by(entries.c.entry_date)
    )
    per_month = Counter()
    for day, n in posted:
        per_month[month_of(day)] += n
    months = []
    for first in firsts:
        last = next_month_start(first) - timedelta(days=1)
        is_closed = closed is not None and last <= closed
        closable = not is_closed and last < today
        months.append(
            MonthState(
                month=month_of(first),
                last=last,
                closed=is_closed,
                closable=closable,
                closes_earlier=closable and (closed is None or closed < first - timedelta(days=1)),
                reopenable=last == closed,
                entries=per_month[month_of(first)],
                closed_by=_closed_by(history, last) if is_closed else None,
            )
        )
    reopened = _after_reopening(db.session, month_start(closed)) if closed else None
    return Overview(
        closed_through=month_of(closed) if closed else None,
        reopened_through=month_of(reopened) if reopened else None,
        months=months,
        history=history[::-1],
    )


def _serialise(session: Session) -> date | None:
    """Make another close or reopen wait until this one commits; returns the state this one starts from."""
    session.execute(text("SELECT lock_period_actions()"))  # SHARE ROW EXCLUSIVE, as the owner (migration 0033)
    return last_closed_day(session)


def _wait_for_writers(session: Session) -> None:
    """Wait until the writers of the guarded tables in flight commit, and hold new ones until this close does.

    What committed before the close was allowed; what comes after reads the close (the database's
    triggers do).
    """
    session.execute(text(f"SET LOCAL lock_timeout = '{CLOSE_WAIT}'"))
    try:
        session.execute(text("SELECT lock_period_writers()"))  # GUARDED, IN SHARE ROW EXCLUSIVE MODE
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise PeriodError(
            _(
                "Money was still being written after %(wait)s; nothing was closed. Try again in a moment.",
                wait=CLOSE_WAIT,
            )
        ) from None


def _after_reopening(session: Session, first: date) -> date | None:
    """What the books are closed through once the latest closed month, from ``first``, is reopened: the month
    before it, or nothing when no earlier month was ever closed (the first close closed all that came before)."""
    earlier = session.scalar(
        select(exists().where(actions.c.action == PeriodActionKind.CLOSE, actions.c.year_month < month_of(first)))
    )
    return first - timedelta(days=1) if earlier else None


def _closed_by(history: list[PeriodAction], last: date) -> PeriodAction | None:
    by = None
    for action in history:
        if action.closed_through is None or action.closed_through < last:
            by = None
        elif by is None:
            by = action
    return by


def _text(value: str, what: str) -> str:
    value = value.strip()
    if len(value) > NOTE_LENGTH:
        raise PeriodError(_("%(what)s has at most %(length)s characters.", what=what, length=NOTE_LENGTH))
    return value
